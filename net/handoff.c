#include "net/handoff.h"

#include <stdlib.h>

struct handoff *handoff_new(uint32_t capacity)
{
	uint32_t cap = 2;
	while (cap < capacity && cap < (1u << 30))
		cap <<= 1;
	struct handoff *q = calloc(1, sizeof(*q) + sizeof(q->slots[0]) * cap);
	if (q)
		q->mask = cap - 1;
	return q;
}

void handoff_free(struct handoff *q)
{
	free(q);
}

bool handoff_push(struct handoff *q, int fd, bool tls)
{
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	if (tail - head > q->mask)
		return false;
	q->slots[tail & q->mask] = (struct handoff_slot){.fd = fd, .tls = tls};
	/* Release: the slot's fd is visible before the new tail is. */
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return true;
}

bool handoff_pop(struct handoff *q, int *fd, bool *tls)
{
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	if (head == tail)
		return false;
	*fd = q->slots[head & q->mask].fd;
	*tls = q->slots[head & q->mask].tls;
	/* Release: the slot is read before the producer may reuse it. */
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return true;
}
