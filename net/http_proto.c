/* HTTP/1.1 over the protocol boundary: frames requests, routes them to the
 * built-in endpoints, skips request bodies so the next request stays framed. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/access_log.h"
#include "net/http_app.h"
#include "net/file_cache.h"
#include "net/http_range.h"
#include "net/http_redirect.h"
#include "net/http_response.h"
#include "net/http_static.h"
#include "net/http_upstream.h"
#include "net/proto.h"
#include "net/upstream.h"

/* Bodies are discarded, so their size only needs a sanity bound here. */
#define HTTP_SKIP_BODY_MAX (UINT64_C(1) << 62)

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Answers decided from the head alone, before or instead of a route's. */
enum plan {
	PLAN_NONE,
	PLAN_NOT_FOUND,
	PLAN_NOT_ALLOWED,
	PLAN_NOT_IMPLEMENTED,
	PLAN_EXPECTATION_FAILED,
	PLAN_PRECONDITION_FAILED,
	PLAN_NOT_MODIFIED,
	PLAN_OPTIONS_SERVER,
	PLAN_COUNT
};

static const uint16_t plan_status[PLAN_COUNT] = {
	[PLAN_NOT_FOUND] = 404,		  [PLAN_NOT_ALLOWED] = 405,
	[PLAN_NOT_IMPLEMENTED] = 501,	  [PLAN_EXPECTATION_FAILED] = 417,
	[PLAN_PRECONDITION_FAILED] = 412, [PLAN_NOT_MODIFIED] = 304,
	[PLAN_OPTIONS_SERVER] = 200,
};

/* What no resource changes: the method, the expectation, the target form. */
static enum plan plan_early(const struct http_request *req)
{
	if (req->method == HTTP_M_OTHER)
		return PLAN_NOT_IMPLEMENTED; /* RFC 9110 9.1 */
	if (req->expect_unknown)
		return PLAN_EXPECTATION_FAILED; /* RFC 9110 10.1.1 */
	if (req->form == HTTP_TARGET_ASTERISK)
		return PLAN_OPTIONS_SERVER; /* the parser lets only OPTIONS use it */
	if (req->form == HTTP_TARGET_AUTHORITY)
		return PLAN_NOT_ALLOWED; /* CONNECT: herd is no tunnel */
	return PLAN_NONE;
}

/* A route's resource exists, and has no validators herd knows of: only
 * "*" conditions are decided here (RFC 9110 13.1). */
static enum plan plan_conditional(const struct http_request *req)
{
	if (!req->conditionals || (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD))
		return PLAN_NONE;
	static const struct http_validators none = {0};
	switch (http_preconditions(req, true, &none)) {
	case HTTP_PRECOND_FAILED:
		return PLAN_PRECONDITION_FAILED;
	case HTTP_PRECOND_NOT_MODIFIED:
		return PLAN_NOT_MODIFIED;
	case HTTP_PRECOND_PASS:
		break;
	}
	return PLAN_NONE;
}

/* "<status> <reason>\n" as a text/plain answer (headers only for HEAD). */
static void status_text(struct proto_env *env, int status, unsigned flags)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	http_response(env->out, env->clock, status, "text/plain", body, (size_t)n, flags);
}

/* 405 naming the methods the path's routes take. */
static void not_allowed(struct proto_state *st, struct proto_env *env, const struct app_match *m,
			unsigned flags)
{
	static const char body[] = "405 Method Not Allowed\n";
	if (flags & HTTP_RESP_CLOSE)
		st->flags |= PROTO_CLOSE;
	http_response_head(env->out, env->clock, 405, "text/plain", sizeof(body) - 1, m->allow,
			   m->allow_len, flags);
	if (!(flags & HTTP_RESP_HEAD))
		outbuf_put(env->out, body, sizeof(body) - 1);
}

static void emit(struct proto_state *st, struct proto_env *env, enum plan plan, unsigned flags)
{
	if (flags & HTTP_RESP_CLOSE)
		st->flags |= PROTO_CLOSE;
	switch (plan) {
	case PLAN_NOT_ALLOWED:
		status_text(env, 405, (flags & ~(unsigned)HTTP_RESP_HEAD) | HTTP_RESP_ALLOW_GET);
		break;
	case PLAN_NOT_MODIFIED:
		http_response_head(env->out, env->clock, 304, NULL, 0, NULL, 0,
				   flags | HTTP_RESP_NO_LENGTH);
		break;
	case PLAN_OPTIONS_SERVER:
		/* What the server as a whole supports (RFC 9110 9.3.7). */
		http_response(env->out, env->clock, 200, NULL, NULL, 0, flags | HTTP_RESP_ALLOW_GET);
		break;
	case PLAN_NOT_FOUND:
	case PLAN_NOT_IMPLEMENTED:
	case PLAN_EXPECTATION_FAILED:
	case PLAN_PRECONDITION_FAILED:
		status_text(env, plan_status[plan], flags);
		break;
	case PLAN_NONE:
	case PLAN_COUNT:
		break;
	}
}

static unsigned conn_flags(const struct http_request *req, const struct proto_env *env)
{
	if (!req->keep_alive || env->draining)
		return HTTP_RESP_CLOSE;
	return req->version_minor == 0 ? HTTP_RESP_KEEPALIVE : 0;
}

static void fail(struct proto_state *st, struct proto_env *env, int status)
{
	http_response_error(env->out, env->clock, status);
	st->flags |= PROTO_LINGER;
	st->deferred_kind = PLAN_NONE;
	env->tally.errors++;
}

/* The held line of a deferred answer, now that its status is known. */
static void log_deferred(struct proto_state *st, struct proto_env *env, int status)
{
	if (env->log)
		access_log_release(env->log, st->log_ticket, env->peer, status,
				   env->out->last_length, env->clock->sec);
	st->log_ticket = 0;
}

/* A body that breaks its framing or limit after its request was answered:
 * a second response would desynchronise the client, so only close. */
static void fail_body(struct proto_state *st, struct proto_env *env, int status)
{
	if (st->deferred_kind) {
		fail(st, env, status);
		log_deferred(st, env, status);
		return;
	}
	st->flags |= PROTO_LINGER;
	env->tally.errors++;
}

/* A request for a reverse-proxy route: its head for the upstream, and a
 * stop (PROTO_PROXY) so the engine takes over its body and its answer. */
static void proxy_request(struct proto_state *st, const struct http_request *req,
			  struct proto_env *env, int route, unsigned flags)
{
	const struct upstream_route *r = &env->routes->routes[route];
	char ip[INET6_ADDRSTRLEN];
	peer_addr_format(env->peer, ip, sizeof(ip));
	uint32_t strip = 0;
	if (r->strip)
		strip = r->prefix_len - (r->prefix[r->prefix_len - 1] == '/');
	struct upstream_request u = {.req = req, .strip = strip, .client_ip = ip,
				     .https = env->https,
				     .default_host = env->routes->addrs[r->first].host};
	int n = upstream_request_head(env->up_head->p, env->up_head->cap, &u);
	if (n < 0) {
		fail(st, env, 431); /* the fields herd adds do not fit */
		return;
	}
	env->up_head->len = (size_t)n;
	uint8_t pf = 0;
	if (req->method == HTTP_M_HEAD)
		pf |= PROXY_HEAD;
	if (flags & HTTP_RESP_CLOSE)
		pf |= PROXY_CLOSE;
	if (flags & HTTP_RESP_KEEPALIVE)
		pf |= PROXY_KEEPALIVE;
	if (req->version_minor == 0)
		pf |= PROXY_HTTP10;
	if (http_request_is_websocket(req))
		pf |= PROXY_UPGRADE;
	bool idempotent = req->method == HTTP_M_GET || req->method == HTTP_M_HEAD ||
			  req->method == HTTP_M_OPTIONS || req->method == HTTP_M_PUT ||
			  req->method == HTTP_M_DELETE || req->method == HTTP_M_TRACE;
	if (idempotent && req->body == HTTP_BODY_NONE)
		pf |= PROXY_RETRY;
	env->proxy = (struct proto_proxy){
		.route = route, .flags = pf,
		.log_line = env->log ? access_log_prepare(env->peer, req, env->clock->sec) : NULL};
	st->flags |= PROTO_PROXY;
}

/* A request for an application route: answered now, or once its body
 * was read whole (st->app_in: the head is kept with it, as the handler
 * sees the request whole). */
static void app_request(struct proto_state *st, const struct http_request *req,
			struct proto_env *env, const char *raw, int route, unsigned flags)
{
	if (req->body == HTTP_BODY_NONE) {
		app_answer(st, env, req, route, (struct herd_str){NULL, 0}, flags);
		return;
	}
	/* Grown as the body arrives: a head alone does not get its
	 * announced length (64 KiB first). */
	uint64_t first = req->body != HTTP_BODY_LENGTH ? 4096
			 : req->content_length < 65536 ? req->content_length
							 : 65536;
	size_t cap = req->header_bytes + (size_t)first;
	struct app_collect *c = app_collect_get(env->aw, cap);
	if (!c) {
		fail(st, env, 503);
		return;
	}
	*c = (struct app_collect){.route = route, .head_len = req->header_bytes,
				  .len = req->header_bytes, .cap = c->cap};
	memcpy(c->buf, raw, req->header_bytes);
	st->app_in = c;
}

/* A body read whole for its handler: the handler's turn.  false: no room
 * for the answer yet (PROTO_OUT_FULL). */
static bool app_collected(struct proto_state *st, struct proto_env *env)
{
	if (outbuf_room(env->out) < APP_HEAD_ROOM) {
		st->flags |= PROTO_OUT_FULL;
		return false;
	}
	struct app_collect *c = st->app_in;
	st->app_in = NULL;
	struct http_request req;
	(void)http_parse_request(c->buf, c->head_len, &req); /* parsed before */
	unsigned flags = conn_flags(&req, env) | (req.method == HTTP_M_HEAD ? HTTP_RESP_HEAD : 0);
	app_answer(st, env, &req, c->route,
		   (struct herd_str){c->buf + c->head_len, c->len - c->head_len}, flags);
	if (env->log && !(st->flags & PROTO_APP))
		access_log_request(env->log, env->peer, &req, env->out->last_status,
				   req.method == HTTP_M_HEAD ? 0 : env->out->last_length,
				   env->clock->sec);
	app_collect_put(env->aw, c);
	return true;
}

/* Body bytes for a handler.  false: over --max-body (answered 413). */
static bool app_collect_more(struct proto_state *st, struct proto_env *env, const char *p,
			     size_t n, bool chunked, size_t *used, bool *done)
{
	struct app_collect *c = st->app_in;
	/* Room for n more (decoded chunked bytes are never more than the
	 * input; a Content-Length body's n is within what it announced). */
	if (c->cap - c->len < n) {
		size_t cap = c->len + n > 2 * c->cap ? c->len + n : 2 * c->cap;
		struct app_collect *g = realloc(c, sizeof(*c) + cap);
		if (!g) {
			fail(st, env, 503);
			return false;
		}
		c = st->app_in = g;
		c->cap = cap;
	}
	if (!chunked) {
		memcpy(c->buf + c->len, p, n);
		c->len += n;
		*used = n;
		return true;
	}
	size_t out = 0;
	ssize_t k = http_chunked_decode(&st->chunked, p, n, c->buf + c->len, &out, done);
	if (k < 0) {
		fail(st, env, 400);
		return false;
	}
	c->len += out;
	if (env->max_body && c->len - c->head_len > env->max_body) {
		fail(st, env, 413);
		return false;
	}
	*used = (size_t)k;
	return true;
}

/* A body a handler will not see (malformed, over --max-body, no memory):
 * fail() answered; the log names its request. */
static void app_collect_failed(struct proto_state *st, struct proto_env *env)
{
	struct app_collect *c = st->app_in;
	st->app_in = NULL;
	st->body_kind = HTTP_BODY_NONE;
	if (env->log && c) {
		struct http_request req;
		(void)http_parse_request(c->buf, c->head_len, &req);
		access_log_request(env->log, env->peer, &req, env->out->last_status,
				   env->out->last_length, env->clock->sec);
	}
	if (c)
		app_collect_put(env->aw, c);
}

/* Answers a parsed head, or holds the answer back (see deferred_kind). */
static void answer(struct proto_state *st, const struct http_request *req,
		   struct proto_env *env, const char *raw)
{
	unsigned flags = conn_flags(req, env);
	unsigned head = req->method == HTTP_M_HEAD ? HTTP_RESP_HEAD : 0;
	if (env->https_port) {
		/* Every request on plain HTTP, whatever its method: the
		 * client is told where the resource lives (nginx's
		 * `return 301 https://$host$request_uri`). */
		if (!http_redirect_https(env->out, env->clock, req, env->https_port, flags | head)) {
			fail(st, env, 400);
			return;
		}
		if (flags & HTTP_RESP_CLOSE)
			st->flags |= PROTO_CLOSE;
		return;
	}
	enum plan plan = plan_early(req);
	/* A route takes any method (the application knows its own), but
	 * not CONNECT or OPTIONS *, which address herd itself. */
	if (env->routes && (plan == PLAN_NONE || plan == PLAN_NOT_IMPLEMENTED)) {
		int route = upstream_route_match(env->routes, req->path.p, req->path.len);
		if (route >= 0) {
			proxy_request(st, req, env, route, flags);
			return;
		}
	}
	if (env->app && (plan == PLAN_NONE || plan == PLAN_NOT_IMPLEMENTED)) {
		struct app_match m;
		app_table_match(env->app, req, &m);
		if (m.route >= 0 && env->app->routes[m.route].files) {
			if (plan == PLAN_NONE) {
				if (flags & HTTP_RESP_CLOSE)
					st->flags |= PROTO_CLOSE;
				http_static_answer(st, req, env, flags);
				return;
			}
		} else if (m.route >= 0) {
			plan = plan_conditional(req);
			if (plan == PLAN_NONE) {
				app_request(st, req, env, raw, m.route, flags | head);
				return;
			}
		} else if (plan == PLAN_NONE && m.status == 405) {
			static const char get_head[] = "Allow: GET, HEAD\r\n";
			if (req->body != HTTP_BODY_CHUNKED || !env->max_body ||
			    m.allow_len != sizeof(get_head) - 1 ||
			    memcmp(m.allow, get_head, m.allow_len) != 0) {
				not_allowed(st, env, &m, flags | head);
				return;
			}
			/* The common Allow fits the answer held behind a
			 * chunked body (below); other lists are sent now. */
			plan = PLAN_NOT_ALLOWED;
		} else if (plan == PLAN_NONE) {
			plan = PLAN_NOT_FOUND;
		}
	}
	if (plan == PLAN_NONE)
		plan = PLAN_NOT_FOUND;
	if (req->body == HTTP_BODY_CHUNKED && env->max_body) {
		st->deferred_kind = (uint8_t)plan;
		st->deferred_flags = (uint8_t)(flags | head);
		return;
	}
	emit(st, env, plan, flags | head);
}

size_t http_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env)
{
	size_t off = 0;

	size_t room = env->files ? HTTP_STATIC_ROOM : HTTP_RESPONSE_MAX;
	if (env->app && room < APP_HEAD_ROOM)
		room = APP_HEAD_ROOM;
	if (env->https_port)
		room = HTTP_REDIRECT_ROOM;
	for (;;) {
		/* A body read whole: its handler answers before anything
		 * that follows it is parsed. */
		if (st->app_in && st->body_kind == HTTP_BODY_NONE && !app_collected(st, env))
			break;
		if (off >= len)
			break;
		/* After a final response nothing more is read as a request. */
		if (st->flags & (PROTO_CLOSE | PROTO_LINGER))
			return len;
		/* A file or a handler's body goes out before anything that
		 * follows it; a proxied request's body and answer are the
		 * engine's, and so is a deferred answer's wait. */
		if (st->flags & (PROTO_FILE | PROTO_PROXY | PROTO_APP | PROTO_BODY))
			break;

		if (st->body_kind != HTTP_BODY_NONE && st->app_in) {
			size_t n = len - off, used = 0;
			bool chunked = st->body_kind == HTTP_BODY_CHUNKED, done = false;
			if (!chunked && n > st->body_left)
				n = (size_t)st->body_left;
			if (!app_collect_more(st, env, in + off, n, chunked, &used, &done)) {
				app_collect_failed(st, env);
				return len;
			}
			off += used;
			if (!chunked) {
				st->body_left -= used;
				done = st->body_left == 0;
			}
			if (done)
				st->body_kind = HTTP_BODY_NONE;
			continue;
		}
		if (st->body_kind == HTTP_BODY_LENGTH) {
			size_t n = len - off;
			if (n > st->body_left)
				n = (size_t)st->body_left;
			off += n;
			st->body_left -= n;
			if (st->body_left == 0)
				st->body_kind = HTTP_BODY_NONE;
			continue;
		}
		if (st->body_kind == HTTP_BODY_CHUNKED) {
			bool done = false;
			ssize_t n = http_chunked_skip(&st->chunked, in + off, len - off,
						      env->max_body ? env->max_body
								    : HTTP_SKIP_BODY_MAX,
						      &done);
			if (n < 0) {
				fail_body(st, env, (int)-n);
				return len;
			}
			off += (size_t)n;
			if (done) {
				st->body_kind = HTTP_BODY_NONE;
				/* Room was reserved when the head was parsed and
				 * skipping a body writes nothing. */
				if (st->deferred_kind) {
					emit(st, env, (enum plan)st->deferred_kind, st->deferred_flags);
					log_deferred(st, env, plan_status[st->deferred_kind]);
				}
				st->deferred_kind = PLAN_NONE;
			}
			continue;
		}

		if (outbuf_room(env->out) < room + sizeof(continue_100)) {
			st->flags |= PROTO_OUT_FULL;
			break;
		}
		struct http_request req;
		int r = http_parse_request(in + off, len - off, &req);
		if (r == HTTP_NEED_MORE)
			break;
		if (r < 0) {
			fail(st, env, -r);
			if (env->log)
				access_log_rejected(env->log, env->peer, in + off, len - off, &req, -r,
						    env->out->last_length, env->clock->sec);
			return len;
		}
		off += (size_t)r;
		if (req.body == HTTP_BODY_LENGTH && env->max_body && req.content_length > env->max_body) {
			fail(st, env, 413);
			if (env->log)
				access_log_request(env->log, env->peer, &req, 413,
						   env->out->last_length, env->clock->sec);
			return len;
		}
		env->tally.requests++;
		if (req.body != HTTP_BODY_NONE && req.expect_continue && !req.expect_unknown)
			outbuf_put(env->out, continue_100, sizeof(continue_100) - 1);
		answer(st, &req, env, in + off - r);
		if (st->flags & PROTO_APP)
			break; /* a deferred answer: logged when it is sent */
		if (st->flags & PROTO_PROXY) {
			st->body_kind = (uint8_t)req.body;
			if (req.body == HTTP_BODY_LENGTH)
				st->body_left = req.content_length;
			else if (req.body == HTTP_BODY_CHUNKED)
				http_chunked_init(&st->chunked);
			break;
		}
		if (env->log && st->deferred_kind)
			st->log_ticket = access_log_hold(env->log, env->peer, &req, env->clock->sec);
		else if (env->log && !st->app_in) /* logged once its handler answered */
			access_log_request(env->log, env->peer, &req, env->out->last_status,
					   req.method == HTTP_M_HEAD ? 0 : env->out->last_length,
					   env->clock->sec);
		/* Closing while the client still sends its body would reset the
		 * connection under our response: drain it instead. */
		if ((st->flags & PROTO_CLOSE) && req.body != HTTP_BODY_NONE)
			st->flags |= PROTO_LINGER;
		st->body_kind = (uint8_t)req.body;
		if (req.body == HTTP_BODY_LENGTH)
			st->body_left = req.content_length;
		else if (req.body == HTTP_BODY_CHUNKED)
			http_chunked_init(&st->chunked);
	}
	return off;
}

static void http_timeout_answer(struct proto_state *st, const char *in, size_t len,
				struct proto_env *env)
{
	if (outbuf_room(env->out) < HTTP_RESPONSE_MAX)
		return;
	http_response_error(env->out, env->clock, 408);
	if (st->app_in) {
		/* A body a handler was waiting for: its request gets the 408
		 * (logged with it), and the buffer goes. */
		st->flags |= PROTO_LINGER;
		app_collect_failed(st, env);
		return;
	}
	if (!env->log)
		return;
	if (st->deferred_kind) {
		/* The body its answer was waiting for stopped arriving. */
		log_deferred(st, env, 408);
		st->deferred_kind = PLAN_NONE;
	} else if (proto_in_message(st)) {
		/* A body after an answer already logged: the kept input is a
		 * piece of it, nothing to show of a request. */
		access_log_rejected(env->log, env->peer, NULL, 0, NULL, 408, env->out->last_length,
				    env->clock->sec);
	} else {
		/* A head cut short: its request line and the fields that came. */
		struct http_request req;
		(void)http_parse_request(in, len, &req);
		access_log_rejected(env->log, env->peer, in, len, &req, 408, env->out->last_length,
				    env->clock->sec);
	}
}

const struct proto proto_http = {
	.name = "http",
	.feed = http_feed,
	.timeout_answer = http_timeout_answer,
	.drain_waits_for_next = true,
	.client_first = true,
};
