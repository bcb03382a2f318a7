/* HTTP/1.1 over the protocol boundary: frames requests, routes them to the
 * built-in endpoints, skips request bodies so the next request stays framed. */
#include <string.h>

#include "core/counters.h"
#include "net/file_cache.h"
#include "net/http_response.h"
#include "net/http_static.h"
#include "net/proto.h"

/* Bodies are discarded, so their size only needs a sanity bound here. */
#define HTTP_SKIP_BODY_MAX (UINT64_C(1) << 62)

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int route(const struct http_slice *target)
{
	size_t len = target->len;
	const char *q = memchr(target->p, '?', len);
	if (q)
		len = (size_t)(q - target->p);
	if (len == 10 && memcmp(target->p, "/plaintext", 10) == 0)
		return HTTP_CANNED_PLAINTEXT;
	if (len == 5 && memcmp(target->p, "/json", 5) == 0)
		return HTTP_CANNED_JSON;
	return -1;
}

static void answer(struct proto_state *st, const struct http_request *req,
		   struct proto_env *env)
{
	unsigned flags = 0;
	if (!req->keep_alive || env->draining) {
		flags |= HTTP_RESP_CLOSE;
		st->flags |= PROTO_CLOSE;
	} else if (req->version_minor == 0) {
		flags |= HTTP_RESP_KEEPALIVE;
	}

	int which = route(&req->target);
	if (which < 0 && env->files) {
		http_static_answer(st, req, env, flags);
		return;
	}
	if (which < 0) {
		static const char body[] = "404 Not Found\n";
		http_response(env->out, env->clock, 404, "text/plain", body, sizeof(body) - 1,
			      flags | (req->method == HTTP_M_HEAD ? HTTP_RESP_HEAD : 0));
		return;
	}
	if (req->method == HTTP_M_GET) {
		http_response_builtin(env->out, env->clock, (enum http_canned)which, flags);
	} else if (req->method == HTTP_M_HEAD) {
		http_response_builtin(env->out, env->clock, (enum http_canned)which,
				      flags | HTTP_RESP_HEAD);
	} else {
		static const char body[] = "405 Method Not Allowed\n";
		http_response(env->out, env->clock, 405, "text/plain", body, sizeof(body) - 1,
			      flags | HTTP_RESP_ALLOW_GET);
	}
}

static void fail(struct proto_state *st, struct proto_env *env, int status)
{
	http_response_error(env->out, env->clock, status);
	st->flags |= PROTO_LINGER;
	CTR_ADD(env->ctr, errors[HERD_ERR_PROTOCOL], 1);
}

size_t http_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env)
{
	size_t off = 0;

	size_t room = env->files ? HTTP_STATIC_ROOM : HTTP_RESPONSE_MAX;
	while (off < len) {
		/* After a final response nothing more is read as a request. */
		if (st->flags & (PROTO_CLOSE | PROTO_LINGER))
			return len;
		/* A file body goes out before anything that follows it. */
		if (st->flags & PROTO_FILE)
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
				fail(st, env, (int)-n);
				return len;
			}
			off += (size_t)n;
			if (done)
				st->body_kind = HTTP_BODY_NONE;
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
			return len;
		}
		off += (size_t)r;
		if (req.body == HTTP_BODY_LENGTH && env->max_body && req.content_length > env->max_body) {
			fail(st, env, 413);
			return len;
		}
		CTR_ADD(env->ctr, requests, 1);
		if (req.body != HTTP_BODY_NONE && req.expect_continue)
			outbuf_put(env->out, continue_100, sizeof(continue_100) - 1);
		answer(st, &req, env);
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

void http_timeout_response(struct proto_env *env)
{
	if (outbuf_room(env->out) >= HTTP_RESPONSE_MAX)
		http_response_error(env->out, env->clock, 408);
}
