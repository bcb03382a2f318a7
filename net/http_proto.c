/* HTTP/1.1 over the protocol boundary: frames requests, routes them to the
 * built-in endpoints, skips request bodies so the next request stays framed. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/access_log.h"
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

static int route(const struct http_slice *path)
{
	if (path->len == 10 && memcmp(path->p, "/plaintext", 10) == 0)
		return HTTP_CANNED_PLAINTEXT;
	if (path->len == 5 && memcmp(path->p, "/json", 5) == 0)
		return HTTP_CANNED_JSON;
	return -1;
}

/* Answers decided from the head alone (the built-in endpoints, and what
 * comes before any resource is looked at). */
enum plan {
	PLAN_NONE,
	PLAN_PLAINTEXT,
	PLAN_JSON,
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
	[PLAN_PLAINTEXT] = 200,		  [PLAN_JSON] = 200,
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

static enum plan plan_builtin(const struct http_request *req, int which)
{
	if (which < 0)
		return PLAN_NOT_FOUND;
	if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD)
		return PLAN_NOT_ALLOWED;
	if (req->conditionals) {
		/* No validators: only "*" matches, as the resource exists. */
		static const struct http_validators none = {0};
		switch (http_preconditions(req, true, &none)) {
		case HTTP_PRECOND_FAILED:
			return PLAN_PRECONDITION_FAILED;
		case HTTP_PRECOND_NOT_MODIFIED:
			return PLAN_NOT_MODIFIED;
		case HTTP_PRECOND_PASS:
			break;
		}
	}
	return which == HTTP_CANNED_PLAINTEXT ? PLAN_PLAINTEXT : PLAN_JSON;
}

/* "<status> <reason>\n" as a text/plain answer (headers only for HEAD). */
static void status_text(struct proto_env *env, int status, unsigned flags)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	http_response(env->out, env->clock, status, "text/plain", body, (size_t)n, flags);
}

static void emit(struct proto_state *st, struct proto_env *env, enum plan plan, unsigned flags)
{
	if (flags & HTTP_RESP_CLOSE)
		st->flags |= PROTO_CLOSE;
	switch (plan) {
	case PLAN_PLAINTEXT:
	case PLAN_JSON:
		http_response_builtin(env->out, env->clock,
				      plan == PLAN_PLAINTEXT ? HTTP_CANNED_PLAINTEXT : HTTP_CANNED_JSON,
				      flags);
		break;
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

/* Answers a parsed head, or holds the answer back (see deferred_kind). */
static void answer(struct proto_state *st, const struct http_request *req,
		   struct proto_env *env)
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
	if (plan == PLAN_NONE) {
		int which = route(&req->path);
		if (which < 0 && env->files) {
			if (flags & HTTP_RESP_CLOSE)
				st->flags |= PROTO_CLOSE;
			http_static_answer(st, req, env, flags);
			return;
		}
		plan = plan_builtin(req, which);
	}
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
	if (env->https_port)
		room = HTTP_REDIRECT_ROOM;
	while (off < len) {
		/* After a final response nothing more is read as a request. */
		if (st->flags & (PROTO_CLOSE | PROTO_LINGER))
			return len;
		/* A file body goes out before anything that follows it; a
		 * proxied request's body and answer are the engine's. */
		if (st->flags & (PROTO_FILE | PROTO_PROXY))
			break;

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
		answer(st, &req, env);
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
		else if (env->log)
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
