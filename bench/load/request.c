#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool user_has(const struct config *cfg, const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < cfg->nheaders; i++)
		if (strncasecmp(cfg->headers[i], name, n) == 0 && cfg->headers[i][n] == ':')
			return true;
	return false;
}

static size_t format_http(char *out, size_t cap, const struct config *cfg)
{
	size_t n = 0;
#define PUT(...) do { int w_ = snprintf(out ? out + n : NULL, out ? cap - n : 0, __VA_ARGS__); \
		      n += (size_t)w_; } while (0)
	PUT("GET %s HTTP/1.1\r\n", cfg->url.path);
	if (!user_has(cfg, "host"))
		PUT("Host: %s\r\n", cfg->url.hostport);
	for (unsigned i = 0; i < cfg->nheaders; i++)
		PUT("%s\r\n", cfg->headers[i]);
	if (cfg->mode == MODE_CLOSE && !user_has(cfg, "connection"))
		PUT("Connection: close\r\n");
	PUT("\r\n");
#undef PUT
	return n;
}

int request_build(struct request *rq, const struct config *cfg, char *err, size_t errlen)
{
	memset(rq, 0, sizeof(*rq));
	size_t one = cfg->url.proto == PROTO_HTTP ? format_http(NULL, 0, cfg) : cfg->payload;
	rq->one_len = one;
	rq->batch_len = one * cfg->pipeline;
	/* +1: snprintf's terminator for the last copy */
	rq->batch = malloc(rq->batch_len + 1);
	if (!rq->batch) {
		snprintf(err, errlen, "out of memory for %zu request bytes", rq->batch_len);
		return -1;
	}
	if (cfg->url.proto == PROTO_HTTP)
		format_http(rq->batch, one + 1, cfg);
	else
		for (size_t i = 0; i < one; i++)
			rq->batch[i] = echo_byte(i);
	for (unsigned k = 1; k < cfg->pipeline; k++)
		memcpy(rq->batch + k * one, rq->batch, one);
	return 0;
}

void request_free(struct request *rq)
{
	free(rq->batch);
	rq->batch = NULL;
}
