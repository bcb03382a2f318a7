/* The replaceable TLS context (see net/tls_slot.h).  A mutex, not an atomic
 * pointer: between loading a pointer and taking a reference the old context
 * could be freed by a reload; the lock is held for a reference count's
 * increment, once per accepted TLS connection. */
#include "net/tls_slot.h"

#include "net/tls_ctx.h"

void tls_slot_init(struct tls_slot *s, struct tls_ctx *ctx)
{
	pthread_mutex_init(&s->mu, NULL);
	s->cur = ctx;
}

void tls_slot_destroy(struct tls_slot *s)
{
	if (s->cur)
		tls_ctx_unref(s->cur);
	s->cur = NULL;
	pthread_mutex_destroy(&s->mu);
}

struct tls_ctx *tls_slot_get(struct tls_slot *s)
{
	pthread_mutex_lock(&s->mu);
	struct tls_ctx *c = s->cur;
	if (c)
		tls_ctx_ref(c);
	pthread_mutex_unlock(&s->mu);
	return c;
}

void tls_slot_set(struct tls_slot *s, struct tls_ctx *ctx)
{
	pthread_mutex_lock(&s->mu);
	struct tls_ctx *old = s->cur;
	s->cur = ctx;
	pthread_mutex_unlock(&s->mu);
	if (old)
		tls_ctx_unref(old);
}
