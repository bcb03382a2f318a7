/* Tests for net/http_upstream.c and net/http_upstream_resp.c, the heads of
 * the reverse proxy (the request herd sends upstream, the response head it
 * reads back and the one it passes on): exact outputs, every split point of
 * every input, limits, garbage.  The chunked decoder: test_http_dechunk.c. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"
#include "net/http_upstream.h"

#include "unit_util.h"

static bool slice_is(struct http_slice s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* ---- request head ------------------------------------------------------ */

struct req_case {
	const char *name;
	const char *raw; /* the client's head */
	uint32_t strip;
	const char *ip;
	bool https;
	const char *want;
};

#define XF "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nVia: 1.1 herd\r\n"

static const struct req_case req_cases[] = {
	{"plain GET", "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n", 0, "10.0.0.1", false,
	 "GET /a?b=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n" XF "\r\n"},
	{"hop-by-hop dropped",
	 "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret , close\r\nKeep-Alive: 5\r\n"
	 "Proxy-Connection: x\r\nProxy-Authorization: Basic y\r\nTE: trailers\r\nTrailer: T\r\n"
	 "X-Secret: s\r\nx-secret: s2\r\nUpgrade: h2c\r\nX-Kept: k\r\n\r\n",
	 0, "1.2.3.4", false,
	 "GET / HTTP/1.1\r\nHost: h\r\nX-Kept: k\r\nX-Forwarded-For: 1.2.3.4\r\n" XF "\r\n"},
	{"several Connection fields",
	 "GET / HTTP/1.1\r\nHost: h\r\nConnection: a\r\nA: 1\r\nB: 2\r\nconnection: ,b,\r\nC: 3\r\n\r\n", 0,
	 "1.2.3.4", false,
	 "GET / HTTP/1.1\r\nHost: h\r\nC: 3\r\nX-Forwarded-For: 1.2.3.4\r\n" XF "\r\n"},
	{"XFF and Via appended, joined in order",
	 "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a, b\r\nVia: 1.0 p\r\nX: y\r\n"
	 "x-forwarded-for: c\r\nVIA: 1.1 q\r\n\r\n",
	 0, "9.9.9.9", false,
	 "GET / HTTP/1.1\r\nHost: h\r\nX: y\r\nX-Forwarded-For: a, b, c, 9.9.9.9\r\n"
	 "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\nVia: 1.0 p, 1.1 q, 1.1 herd\r\n\r\n"},
	{"client XFP/XFH replaced, https",
	 "GET / HTTP/1.1\r\nX-Forwarded-Proto: http\r\nHost: h:8443\r\nX-Forwarded-Host: evil\r\n\r\n",
	 0, "::1", true,
	 "GET / HTTP/1.1\r\nHost: h:8443\r\nX-Forwarded-For: ::1\r\nX-Forwarded-Proto: https\r\n"
	 "X-Forwarded-Host: h:8443\r\nVia: 1.1 herd\r\n\r\n"},
	{"unknown client ip", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0, "", false,
	 "GET / HTTP/1.1\r\nHost: h\r\n" XF "\r\n"},
	{"unknown ip, existing XFF", "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a\r\n\r\n", 0, "",
	 false, "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: a\r\n" XF "\r\n"},
	{"Content-Length re-added, Expect dropped",
	 "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 05\r\nExpect: 100-continue\r\n\r\n", 0,
	 "i", false,
	 "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"Content-Length: 0 kept", "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", 0, "i",
	 false, "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"chunked re-added",
	 "PUT /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: h\r\n\r\n", 0, "i", false,
	 "PUT /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nX-Forwarded-For: i\r\n" XF
	 "\r\n"},
	{"strip prefix", "GET /api/users?x HTTP/1.1\r\nHost: h\r\n\r\n", 4, "i", false,
	 "GET /users?x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"strip all", "GET /api?x HTTP/1.1\r\nHost: h\r\n\r\n", 4, "i", false,
	 "GET /?x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"strip leaves no slash", "GET /apix HTTP/1.1\r\nHost: h\r\n\r\n", 4, "i", false,
	 "GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"strip longer than path", "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 40, "i", false,
	 "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"absolute-form to origin-form", "GET http://auth:81/p?q#f HTTP/1.1\r\nHost: other\r\n\r\n", 0,
	 "i", false,
	 "GET /p?q HTTP/1.1\r\nHost: auth:81\r\nX-Forwarded-For: i\r\nX-Forwarded-Proto: http\r\n"
	 "X-Forwarded-Host: auth:81\r\nVia: 1.1 herd\r\n\r\n"},
	{"absolute-form without path", "GET https://auth HTTP/1.1\r\nHost: auth\r\n\r\n", 0, "i",
	 false,
	 "GET / HTTP/1.1\r\nHost: auth\r\nX-Forwarded-For: i\r\nX-Forwarded-Proto: http\r\n"
	 "X-Forwarded-Host: auth\r\nVia: 1.1 herd\r\n\r\n"},
	{"HTTP/1.0 without Host", "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, "i", false,
	 "GET /x HTTP/1.1\r\nHost: up:3000\r\nX-Forwarded-For: i\r\nX-Forwarded-Proto: http\r\n"
	 "Via: 1.1 herd\r\n\r\n"},
	{"method as received", "M-SEARCH /x HTTP/1.1\r\nHost: h\r\n\r\n", 0, "i", false,
	 "M-SEARCH /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 0, "i", false,
	 "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
	{"websocket",
	 "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
	 "Sec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n\r\n",
	 0, "i", false,
	 "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k==\r\nSec-WebSocket-Version: 13\r\n"
	 "X-Forwarded-For: i\r\n" XF "Connection: upgrade\r\nUpgrade: WebSocket\r\n\r\n"},
	{"Upgrade without websocket dropped",
	 "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
	 "HTTP2-Settings: x\r\n\r\n",
	 0, "i", false, "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: i\r\n" XF "\r\n"},
};

static int build_req(const struct req_case *c, char *out, size_t cap, struct http_request *req)
{
	int r = http_parse_request(c->raw, strlen(c->raw), req);
	cr_assert_eq(r, (int)strlen(c->raw), "%s: client head does not parse (%d)", c->name, r);
	struct upstream_request u = {.req = req, .strip = c->strip, .client_ip = c->ip,
				     .https = c->https, .default_host = "up:3000"};
	return upstream_request_head(out, cap, &u);
}

Test(http_upstream, request_heads)
{
	for (size_t i = 0; i < N(req_cases); i++) {
		const struct req_case *c = &req_cases[i];
		struct http_request req;
		char out[4096];
		int n = build_req(c, out, sizeof(out), &req);
		cr_assert_eq(n, (int)strlen(c->want), "%s: %d bytes:\n%.*s", c->name, n,
			     n > 0 ? n : 0, out);
		cr_assert(memcmp(out, c->want, (size_t)n) == 0, "%s:\n%.*s\nwant\n%s", c->name, n,
			  out, c->want);
		/* Any smaller buffer is refused, never overrun. */
		for (size_t cap = 0; cap < (size_t)n; cap++) {
			char *small = malloc(cap ? cap : 1);
			cr_assert_eq(build_req(c, small, cap, &req), -1, "%s: cap %zu", c->name, cap);
			free(small);
		}
	}
}

Test(http_upstream, websocket_detection)
{
	static const struct {
		const char *raw;
		bool ws;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: h\r\nconnection: x, UPGRADE\r\nupgrade: foo, WEBSOCKET\r\n\r\n",
		 true},
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: u\r\nConnection: upgrade\r\n\r\n",
		 true},
		{"POST / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgraded\r\n\r\n", false},
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct http_request req;
		cr_assert_gt(http_parse_request(cases[i].raw, strlen(cases[i].raw), &req), 0);
		cr_assert_eq(http_request_is_websocket(&req), cases[i].ws, "case %zu", i);
	}
}

/* The largest client head with the most fields still fits in its size plus
 * UPSTREAM_HEAD_EXTRA. */
Test(http_upstream, request_head_room)
{
	static char raw[HTTP_MAX_HEADER_BYTES], out[HTTP_MAX_HEADER_BYTES + UPSTREAM_HEAD_EXTRA];
	int k = snprintf(raw, sizeof(raw), "GET /p HTTP/1.1\r\nHost: h\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS - 2; i++)
		k += snprintf(raw + k, sizeof(raw) - (size_t)k, "X-Forwarded-For: %0100d\r\n", i);
	k += snprintf(raw + k, sizeof(raw) - (size_t)k, "Via: v\r\n\r\n");
	struct http_request req;
	cr_assert_eq(http_parse_request(raw, (size_t)k, &req), k);
	struct upstream_request u = {.req = &req, .client_ip = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
				     .default_host = "x"};
	int n = upstream_request_head(out, sizeof(out), &u);
	cr_assert_gt(n, 0, "%d for %d", n, k);
	cr_assert(memmem(out, (size_t)n, "0000061, ffff:", 14));

	/* The worst growth: every field as "N:v" with LF, a long Host, a
	 * long default... all within header_bytes + UPSTREAM_HEAD_EXTRA. */
	k = snprintf(raw, sizeof(raw), "POST http://");
	memset(raw + k, 'h', UPSTREAM_HEAD_EXTRA / 2);
	k += UPSTREAM_HEAD_EXTRA / 2;
	k += snprintf(raw + k, sizeof(raw) - (size_t)k, "/p HTTP/1.1\nContent-Length:1\nHost:x\nVia:v\nX-Forwarded-For:f\n");
	for (int i = 0; i < HTTP_MAX_HEADERS - 4; i++)
		k += snprintf(raw + k, sizeof(raw) - (size_t)k, "A%d:b\n", i);
	k += snprintf(raw + k, sizeof(raw) - (size_t)k, "\n");
	cr_assert_eq(http_parse_request(raw, (size_t)k, &req), k);
	n = upstream_request_head(out, (size_t)k + UPSTREAM_HEAD_EXTRA, &u);
	cr_assert_gt(n, k, "%d for %d", n, k);
	/* A longer Host does not fit: refused, not overrun. */
	k = snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: ");
	memset(raw + k, 'h', 3000);
	k += 3000;
	k += snprintf(raw + k, sizeof(raw) - (size_t)k, "\r\n\r\n");
	cr_assert_eq(http_parse_request(raw, (size_t)k, &req), k);
	cr_assert_eq(upstream_request_head(out, (size_t)k + UPSTREAM_HEAD_EXTRA, &u), -1);
}

/* ---- response parser ----------------------------------------------------- */

struct resp_case {
	const char *name;
	const char *raw;
	bool head_req;
	size_t head; /* 0: the whole input */
	int status, minor;
	const char *reason;
	bool keep_alive, upgrade;
	enum upstream_body body;
	uint64_t cl;
	uint32_t nheaders;
};

static const struct resp_case resp_cases[] = {
	{"200 CL", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false, 0, 200, 1, "OK", true, false,
	 UP_BODY_LENGTH, 5, 1},
	{"body bytes after head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false,
	 sizeof("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") - 1, 200, 1, "OK", true, false,
	 UP_BODY_LENGTH, 5, 1},
	{"empty reason with SP", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", false, 0, 200, 1, "",
	 true, false, UP_BODY_LENGTH, 1, 1},
	{"empty reason without SP", "HTTP/1.1 404\r\nContent-Length: 1\r\n\r\n", false, 0, 404, 1, "",
	 true, false, UP_BODY_LENGTH, 1, 1},
	{"reason with spaces and obs-text", "HTTP/1.1 418 I'm a \xe2\x98\x95\tpot\r\n\r\n", false, 0, 418,
	 1, "I'm a \xe2\x98\x95\tpot", false, false, UP_BODY_CLOSE, 0, 0},
	{"LF only", "HTTP/1.1 200 OK\nContent-Length: 2\nX: y\n\n", false, 0, 200, 1, "OK", true,
	 false, UP_BODY_LENGTH, 2, 2},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", false, 0, 200, 1,
	 "OK", true, false, UP_BODY_CHUNKED, 0, 1},
	{"TE not chunked: close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false,
	 0, 200, 1, "OK", false, false, UP_BODY_CLOSE, 0, 1},
	{"neither: close", "HTTP/1.1 200 OK\r\nServer: s\r\n\r\n", false, 0, 200, 1, "OK", false, false,
	 UP_BODY_CLOSE, 0, 1},
	{"CL 0: none", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 0, 200, 1, "OK", true,
	 false, UP_BODY_NONE, 0, 1},
	{"identical CLs", "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\ncontent-length: 7\r\n\r\n", false,
	 0, 200, 1, "OK", true, false, UP_BODY_LENGTH, 7, 2},
	{"HEAD: none", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", true, 0, 200, 1, "OK", true,
	 false, UP_BODY_NONE, 99, 1},
	{"HEAD chunked: none", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, 0, 200, 1,
	 "OK", true, false, UP_BODY_NONE, 0, 1},
	{"204", "HTTP/1.1 204 No Content\r\n\r\n", false, 0, 204, 1, "No Content", true, false,
	 UP_BODY_NONE, 0, 0},
	{"304 with CL", "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", false, 0, 304, 1,
	 "Not Modified", true, false, UP_BODY_NONE, 50, 1},
	{"100", "HTTP/1.1 100 Continue\r\n\r\n", false, 0, 100, 1, "Continue", true, false,
	 UP_BODY_NONE, 0, 0},
	{"103", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", false, 0, 103, 1,
	 "Early Hints", true, false, UP_BODY_NONE, 0, 1},
	{"101 upgrade", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	 false, 0, 101, 1, "Switching Protocols", true, true, UP_BODY_NONE, 0, 2},
	{"101 without Upgrade", "HTTP/1.1 101 Switching Protocols\r\n\r\n", false, 0, 101, 1,
	 "Switching Protocols", true, false, UP_BODY_NONE, 0, 0},
	{"200 with Upgrade is no upgrade", "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 0\r\n\r\n",
	 false, 0, 200, 1, "OK", true, false, UP_BODY_NONE, 0, 2},
	{"1.1 close", "HTTP/1.1 200 OK\r\nConnection: foo, Close\r\nContent-Length: 1\r\n\r\n", false,
	 0, 200, 1, "OK", false, false, UP_BODY_LENGTH, 1, 2},
	{"1.0 default close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, 0, 200, 0, "OK",
	 false, false, UP_BODY_LENGTH, 1, 1},
	{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n",
	 false, 0, 200, 0, "OK", true, false, UP_BODY_LENGTH, 1, 2},
	{"1.0 keep-alive but close-delimited", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
	 false, 0, 200, 0, "OK", false, false, UP_BODY_CLOSE, 0, 1},
	{"599", "HTTP/1.1 599 X\r\n\r\n", true, 0, 599, 1, "X", true, false, UP_BODY_NONE, 0, 0},
	{"OWS trimmed, empty value", "HTTP/1.1 200 OK\r\nA: \t x \t\r\nB:\r\nContent-Length: 1\r\n\r\n",
	 false, 0, 200, 1, "OK", true, false, UP_BODY_LENGTH, 1, 3},
};

static int parse_resp_exact(const char *buf, size_t len, bool head_req, struct upstream_response *r)
{
	char *copy = dup_exact(buf, len);
	int n = http_parse_response(copy, len, head_req, r);
	free(copy);
	return n;
}

Test(http_upstream, responses_at_every_split)
{
	for (size_t i = 0; i < N(resp_cases); i++) {
		const struct resp_case *c = &resp_cases[i];
		size_t len = strlen(c->raw), head = c->head ? c->head : len;
		struct upstream_response r;
		memset(&r, 0xA5, sizeof(r));
		int n = http_parse_response(c->raw, len, c->head_req, &r);
		cr_assert_eq(n, (int)head, "%s: %d", c->name, n);
		cr_assert_eq(r.header_bytes, head, "%s", c->name);
		cr_assert_eq(r.status, c->status, "%s", c->name);
		cr_assert_eq(r.version_minor, c->minor, "%s", c->name);
		cr_assert(slice_is(r.reason, c->reason), "%s: reason '%s'", c->name,
			  esc(r.reason.p, r.reason.len));
		cr_assert_eq(r.keep_alive, c->keep_alive, "%s: keep_alive", c->name);
		cr_assert_eq(r.upgrade, c->upgrade, "%s: upgrade", c->name);
		cr_assert_eq(r.body, c->body, "%s: body %d", c->name, r.body);
		if (c->body == UP_BODY_LENGTH || c->cl)
			cr_assert_eq(r.content_length, c->cl, "%s: cl", c->name);
		cr_assert_eq(r.nheaders, c->nheaders, "%s: nheaders", c->name);
		for (size_t k = 0; k <= len; k++) {
			int got = parse_resp_exact(c->raw, k, c->head_req, &r);
			cr_assert_eq(got, k < head ? 0 : (int)head, "%s: prefix %zu gave %d", c->name, k,
				     got);
		}
	}
}

Test(http_upstream, bad_responses)
{
	static const char *bad[] = {
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTP/1.2 200 OK\r\n\r\n",
		"HTTP/0.9 200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 099 X\r\n\r\n",
		"HTTP/1.1 600 X\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 20x OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1\t200 OK\r\n\r\n",
		"HTTP/1.1 200 O\x01K\r\n\r\n",
		"HTTP/1.1 200 OK\rX: y\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: y\rZ\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: y\r\n\r\r\n",
		"\r\nHTTP/1.1 200 OK\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX : y\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: y\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n\tfolded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX(y): a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1,\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387905\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 304 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	for (size_t i = 0; i < N(bad); i++) {
		size_t len = strlen(bad[i]);
		struct upstream_response r;
		cr_assert_eq(parse_resp_exact(bad[i], len, false, &r), -1, "case %zu: %s", i,
			     esc(bad[i], len));
		/* No prefix is ever complete, and none is worse than -1. */
		for (size_t k = 0; k < len; k++) {
			int got = parse_resp_exact(bad[i], k, false, &r);
			cr_assert(got == 0 || got == -1, "case %zu prefix %zu: %d", i, k, got);
		}
	}
}

Test(http_upstream, response_limits)
{
	static char buf[UPSTREAM_MAX_HEAD + 64];
	struct upstream_response r;
	/* 64 fields: fine; 65: refused. */
	int k = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		k += snprintf(buf + k, sizeof(buf) - (size_t)k, "F%d: v\r\n", i);
	int full = k + snprintf(buf + k, sizeof(buf) - (size_t)k, "\r\n");
	cr_assert_eq(parse_resp_exact(buf, (size_t)full, false, &r), full);
	cr_assert_eq(r.nheaders, HTTP_MAX_HEADERS);
	k += snprintf(buf + k, sizeof(buf) - (size_t)k, "One: more\r\n\r\n");
	cr_assert_eq(parse_resp_exact(buf, (size_t)k, false, &r), -1);

	/* A head of exactly UPSTREAM_MAX_HEAD bytes is accepted; one byte more
	 * is not, and an unfinished one stops at the limit. */
	k = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nBig: ");
	memset(buf + k, 'x', UPSTREAM_MAX_HEAD - (size_t)k - 4);
	memcpy(buf + UPSTREAM_MAX_HEAD - 4, "\r\n\r\n", 4);
	cr_assert_eq(parse_resp_exact(buf, UPSTREAM_MAX_HEAD, false, &r), UPSTREAM_MAX_HEAD);
	cr_assert_eq(parse_resp_exact(buf, UPSTREAM_MAX_HEAD - 1, false, &r), 0);
	memset(buf + k, 'x', UPSTREAM_MAX_HEAD - (size_t)k - 3);
	memcpy(buf + UPSTREAM_MAX_HEAD - 3, "\r\n\r\n", 4);
	cr_assert_eq(parse_resp_exact(buf, UPSTREAM_MAX_HEAD + 1, false, &r), -1);
	cr_assert_eq(parse_resp_exact(buf, UPSTREAM_MAX_HEAD, false, &r), -1);
	cr_assert_eq(parse_resp_exact(buf, UPSTREAM_MAX_HEAD - 1, false, &r), 0);
	/* Content-Length at the cap: 2^62. */
	k = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: 4611686018427387904\r\n\r\n");
	cr_assert_eq(parse_resp_exact(buf, (size_t)k, false, &r), k);
	cr_assert_eq(r.content_length, UINT64_C(1) << 62);
}

/* Seeded random bytes and mutations of a valid head: the parser answers
 * within its contract and reads nothing past the end (ASan builds). */
Test(http_upstream, response_garbage)
{
	static const char base[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: y\r\n\r\n";
	uint64_t seed = 0x9e3779b97f4a7c15u;
	char buf[256];
	for (int iter = 0; iter < 20000; iter++) {
		size_t len;
		if (iter & 1) {
			len = sizeof(base) - 1;
			memcpy(buf, base, len);
			for (int m = 0; m < 3; m++) {
				seed = seed * 6364136223846793005u + 1442695040888963407u;
				buf[(seed >> 33) % len] = (char)(seed >> 20);
			}
		} else {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			len = (seed >> 33) % sizeof(buf);
			for (size_t i = 0; i < len; i++) {
				seed = seed * 6364136223846793005u + 1442695040888963407u;
				buf[i] = (char)(seed >> 40);
			}
		}
		struct upstream_response r;
		/* Kept until the head is built: its slices point into it. */
		char *copy = dup_exact(buf, len);
		int n = http_parse_response(copy, len, (seed >> 7) & 1, &r);
		cr_assert(n >= -1 && n <= (int)len, "%d", n);
		if (n > 0) {
			cr_assert(r.status >= 100 && r.status <= 599);
			cr_assert_leq(r.nheaders, HTTP_MAX_HEADERS);
			char out[1024];
			cr_assert_gt(upstream_response_head(out, sizeof(out), &r, UPR_CLOSE), 0);
		}
		free(copy);
	}
}

/* ---- the head passed to the client ------------------------------------- */

struct out_case {
	const char *name;
	const char *raw;
	bool head_req;
	unsigned flags;
	const char *want;
};

static const struct out_case out_cases[] = {
	{"length, keep-alive default", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n",
	 false, 0, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nVia: 1.1 herd\r\n\r\n"},
	{"hop-by-hop dropped, close",
	 "HTTP/1.0 200 Fine\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\n"
	 "Proxy-Authenticate: Basic\r\nTrailer: T\r\nUpgrade: h2c\r\nTE: x\r\nSet-Cookie: a=1\r\n"
	 "Content-Length: 2\r\nSet-Cookie: b=2\r\n\r\n",
	 false, UPR_CLOSE,
	 "HTTP/1.1 200 Fine\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n"
	 "Via: 1.1 herd\r\nConnection: close\r\n\r\n"},
	{"empty reason: standard one", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", false, UPR_KEEPALIVE,
	 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nVia: 1.1 herd\r\nConnection: keep-alive\r\n\r\n"},
	{"Via appended", "HTTP/1.1 200 OK\r\nVia: 1.1 a\r\nContent-Length: 1\r\nvia: 1.0 b\r\n\r\n", false,
	 0, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nVia: 1.1 a, 1.0 b, 1.1 herd\r\n\r\n"},
	{"chunked passed on", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 0,
	 "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.1 herd\r\n\r\n"},
	{"chunked decoded for 1.0", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false,
	 UPR_DECHUNK | UPR_CLOSE, "HTTP/1.1 200 OK\r\nVia: 1.1 herd\r\nConnection: close\r\n\r\n"},
	{"close-delimited", "HTTP/1.0 200 OK\r\nX: y\r\n\r\n", false, UPR_CLOSE,
	 "HTTP/1.1 200 OK\r\nX: y\r\nVia: 1.1 herd\r\nConnection: close\r\n\r\n"},
	{"HEAD keeps the GET's length", "HTTP/1.1 200 OK\r\nContent-Length: 123\r\n\r\n", true, 0,
	 "HTTP/1.1 200 OK\r\nContent-Length: 123\r\nVia: 1.1 herd\r\n\r\n"},
	{"HEAD without length", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, 0,
	 "HTTP/1.1 200 OK\r\nVia: 1.1 herd\r\n\r\n"},
	{"304 keeps its length", "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 9\r\n\r\n",
	 false, 0, "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nContent-Length: 9\r\nVia: 1.1 herd\r\n\r\n"},
	{"204 loses a length", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false, 0,
	 "HTTP/1.1 204 No Content\r\nVia: 1.1 herd\r\n\r\n"},
	{"101 switching",
	 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	 "Sec-WebSocket-Accept: abc=\r\n\r\n",
	 false, UPR_CLOSE,
	 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: abc=\r\n"
	 "Via: 1.1 herd\r\nConnection: upgrade\r\n\r\n"},
	{"100 interim", "HTTP/1.1 100 Continue\r\nX: y\r\nConnection: close\r\n\r\n", false, UPR_CLOSE,
	 "HTTP/1.1 100 Continue\r\nX: y\r\n\r\n"},
	{"103 interim", "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\nVia: 1.1 a\r\n\r\n",
	 false, UPR_KEEPALIVE, "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\nVia: 1.1 a\r\n\r\n"},
	{"102 empty reason, none standard", "HTTP/1.1 102\r\n\r\n", false, 0, "HTTP/1.1 102 \r\n\r\n"},
	{"101 empty reason", "HTTP/1.1 101 \r\nUpgrade: x\r\n\r\n", false, 0,
	 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nVia: 1.1 herd\r\nConnection: upgrade\r\n\r\n"},
	{"collapsed identical lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", false, 0,
	 "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nVia: 1.1 herd\r\n\r\n"},
};

Test(http_upstream, client_heads)
{
	for (size_t i = 0; i < N(out_cases); i++) {
		const struct out_case *c = &out_cases[i];
		struct upstream_response r;
		size_t len = strlen(c->raw);
		cr_assert_eq(http_parse_response(c->raw, len, c->head_req, &r), (int)len, "%s", c->name);
		char out[2048];
		int n = upstream_response_head(out, sizeof(out), &r, c->flags);
		cr_assert_eq(n, (int)strlen(c->want), "%s: %d:\n%.*s", c->name, n, n > 0 ? n : 0, out);
		cr_assert(memcmp(out, c->want, (size_t)n) == 0, "%s:\n%.*s\nwant\n%s", c->name, n, out,
			  c->want);
		for (size_t cap = 0; cap < (size_t)n; cap++) {
			char *small = malloc(cap ? cap : 1);
			cr_assert_eq(upstream_response_head(small, cap, &r, c->flags), -1, "%s: cap %zu",
				     c->name, cap);
			free(small);
		}
	}
}
