#include "request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "urls.h"

static bool user_has(const struct config *cfg, const char *name)
{
	size_t n = strlen(name);
	for (unsigned i = 0; i < cfg->nheaders; i++)
		if (strncasecmp(cfg->headers[i], name, n) == 0 && cfg->headers[i][n] == ':')
			return true;
	return false;
}

/* Methods whose servers expect a length even for an empty body (or send 411). */
static bool wants_length(const char *method)
{
	return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
}

static size_t format_http(char *out, size_t cap, const struct config *cfg,
			  const struct target *t, bool close)
{
	size_t n = 0;
#define PUT(...) do { int w_ = snprintf(out ? out + n : NULL, out ? cap - n : 0, __VA_ARGS__); \
		      n += (size_t)w_; } while (0)
	PUT("%s %.*s HTTP/1.1\r\n", cfg->method ? cfg->method : "GET", (int)t->path_len, t->path);
	if (!user_has(cfg, "host"))
		PUT("Host: %s\r\n", cfg->url.hostport);
	for (unsigned i = 0; i < cfg->nheaders; i++)
		PUT("%s\r\n", cfg->headers[i]);
	if ((cfg->has_body || (cfg->method && wants_length(cfg->method))) &&
	    !user_has(cfg, "content-length"))
		PUT("Content-Length: %zu\r\n", cfg->body_len);
	if ((close || cfg->mode == MODE_CLOSE) && !user_has(cfg, "connection"))
		PUT("Connection: close\r\n");
	PUT("\r\n");
#undef PUT
	if (cfg->body_len && out)
		memcpy(out + n, cfg->body, cfg->body_len);
	return n + cfg->body_len;
}

static int build_var(struct request_var *v, const struct config *cfg, const struct target *t,
		     bool close)
{
	size_t one = cfg->url.proto == PROTO_HTTP ? format_http(NULL, 0, cfg, t, close)
						  : cfg->payload;
	v->one_len = one;
	v->batch_len = one * cfg->pipeline;
	/* +1: snprintf's terminator for the last copy */
	v->batch = malloc(v->batch_len + 1);
	if (!v->batch)
		return -1;
	if (cfg->url.proto == PROTO_HTTP)
		format_http(v->batch, one + 1, cfg, t, close);
	else
		for (size_t i = 0; i < one; i++)
			v->batch[i] = echo_byte(i);
	for (unsigned k = 1; k < cfg->pipeline; k++)
		memcpy(v->batch + k * one, v->batch, one);
	return 0;
}

int request_build(struct request *rq, const struct config *cfg, char *err, size_t errlen)
{
	memset(rq, 0, sizeof(*rq));
	unsigned n = cfg->ntargets ? cfg->ntargets : 1;
	rq->var = calloc(n, sizeof(*rq->var));
	rq->last = cfg->conn_rate > 0 ? calloc(n, sizeof(*rq->last)) : NULL;
	rq->cum = calloc(n, sizeof(*rq->cum));
	bool ok = rq->var && rq->cum && (rq->last || cfg->conn_rate <= 0);
	for (unsigned i = 0; ok && i < n; i++) {
		/* a config made by hand (tests) may have the URL only */
		struct target only = { .path = cfg->url.path, .path_len = strlen(cfg->url.path) };
		const struct target *t = cfg->ntargets ? &cfg->targets[i] : &only;
		ok = build_var(&rq->var[i], cfg, t, false) == 0 &&
		     (!rq->last || build_var(&rq->last[i], cfg, t, true) == 0);
		rq->nvar = i + 1;
		if (ok && rq->var[i].batch_len > rq->max_batch)
			rq->max_batch = rq->var[i].batch_len;
		if (ok && rq->last && rq->last[i].batch_len > rq->max_batch)
			rq->max_batch = rq->last[i].batch_len;
	}
	if (!ok) {
		snprintf(err, errlen, "out of memory for the requests");
		request_free(rq);
		return -1;
	}
	if (cfg->ntargets)
		urls_cumulative(cfg, rq->cum);
	else
		rq->cum[0] = 1;
	rq->batch = rq->var[0].batch;
	rq->one_len = rq->var[0].one_len;
	rq->batch_len = rq->var[0].batch_len;
	return 0;
}

void request_free(struct request *rq)
{
	for (unsigned i = 0; i < rq->nvar; i++) {
		if (rq->var)
			free(rq->var[i].batch);
		if (rq->last)
			free(rq->last[i].batch);
	}
	free(rq->var);
	free(rq->last);
	free(rq->cum);
	memset(rq, 0, sizeof(*rq));
}
