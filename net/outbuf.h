/* A worker's response buffer: every response produced from one read is
 * appended here and leaves in one send. */
#ifndef HERD_OUTBUF_H
#define HERD_OUTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct outbuf {
	char *p;
	size_t len, cap;
	/* The latest response head written: for the access log. */
	int last_status;
	uint64_t last_length;
};

static inline size_t outbuf_room(const struct outbuf *o)
{
	return o->cap - o->len;
}

/* Callers check outbuf_room() first; protocols never write past cap. */
static inline void outbuf_put(struct outbuf *o, const void *src, size_t n)
{
	memcpy(o->p + o->len, src, n);
	o->len += n;
}

#endif
