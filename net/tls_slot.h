/* The certificates new handshakes use, replaceable while workers accept:
 * a reload (SIGHUP) puts a new context here; connections already open keep
 * the one they started with (each holds a reference). */
#ifndef HERD_TLS_SLOT_H
#define HERD_TLS_SLOT_H

#include <pthread.h>

struct tls_ctx;

struct tls_slot {
	pthread_mutex_t mu;
	struct tls_ctx *cur;
};

/* Takes over the caller's reference of ctx. */
void tls_slot_init(struct tls_slot *s, struct tls_ctx *ctx);
void tls_slot_destroy(struct tls_slot *s);
/* A reference of the current context (the caller unrefs it), or NULL. */
struct tls_ctx *tls_slot_get(struct tls_slot *s);
/* Replaces the current context, taking over the caller's reference. */
void tls_slot_set(struct tls_slot *s, struct tls_ctx *ctx);

#endif
