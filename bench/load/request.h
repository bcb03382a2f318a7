/* The bytes sent per request, formatted once before the run. */
#ifndef HERD_LOAD_REQUEST_H
#define HERD_LOAD_REQUEST_H

#include <stddef.h>

#include "config.h"

/* One URL's request, repeated cfg->pipeline times. */
struct request_var {
	char *batch;
	size_t one_len;   /* bytes of a single request (echo: the payload) */
	size_t batch_len;
};

struct request {
	/* the first URL's (echo: the payload), kept apart for the echo check */
	char *batch;
	size_t one_len;
	size_t batch_len;
	struct request_var *var;  /* one per cfg->targets (echo: one) */
	struct request_var *last; /* --conn-rate: var with Connection: close, else NULL */
	unsigned nvar;
	double *cum;              /* cumulative weights, for urls_pick */
	size_t max_batch;         /* largest batch_len */
};

int request_build(struct request *rq, const struct config *cfg, char *err, size_t errlen);
void request_free(struct request *rq);

/* Byte i of every echo payload; varied so that shifted or mixed data shows. */
static inline char echo_byte(size_t i)
{
	return (char)(33 + (i * 7 + i / 94) % 94);
}

#endif
