/* The bytes sent per request, formatted once before the run. */
#ifndef HERD_LOAD_REQUEST_H
#define HERD_LOAD_REQUEST_H

#include <stddef.h>

#include "config.h"

struct request {
	char *batch;     /* one request repeated cfg->pipeline times */
	size_t one_len;  /* bytes of a single request (echo: the payload) */
	size_t batch_len;
};

int request_build(struct request *rq, const struct config *cfg, char *err, size_t errlen);
void request_free(struct request *rq);

/* Byte i of every echo payload; varied so that shifted or mixed data shows. */
static inline char echo_byte(size_t i)
{
	return (char)(33 + (i * 7 + i / 94) % 94);
}

#endif
