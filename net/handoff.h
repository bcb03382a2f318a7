/* Single-producer single-consumer queue of file descriptors: the listener
 * mode's acceptor thread hands each accepted connection to one worker,
 * with the one thing the worker cannot learn from the fd: whether the
 * listener it came from speaks TLS. */
#ifndef HERD_HANDOFF_H
#define HERD_HANDOFF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct handoff {
	_Atomic uint32_t head; /* next slot the consumer reads */
	char pad1[60];
	_Atomic uint32_t tail; /* next slot the producer writes */
	char pad2[60];
	uint32_t mask;
	struct handoff_slot {
		int fd;
		bool tls;
	} slots[];
};

/* capacity is rounded up to a power of two. NULL when out of memory. */
struct handoff *handoff_new(uint32_t capacity);
void handoff_free(struct handoff *q);
/* Producer side only.  false when full. */
bool handoff_push(struct handoff *q, int fd, bool tls);
/* Consumer side only.  false when empty. */
bool handoff_pop(struct handoff *q, int *fd, bool *tls);

#endif
