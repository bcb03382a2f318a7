/* Tests for net/http_parse.c: request heads at every split point and
 * malformed heads (byte classes, size limits and random garbage:
 * test_http_limits.c; the chunked-body skipper: test_http_chunked.c). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

#include "http_parse_util.h"
#include "unit_util.h"

static bool slice_is(struct http_slice s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* ---- valid requests ---------------------------------------------------- */

struct valid_case {
	const char *name;
	const char *raw;
	size_t len;
	size_t head; /* expected head length; 0 means the whole input */
	enum http_method method;
	const char *method_name, *target;
	int minor;
	bool keep_alive, expect_continue;
	enum http_body_kind body;
	uint64_t cl;
	uint32_t nheaders;
	const char *hname, *hvalue; /* optional field to look up */
};

#define HOST "Host: example.com\r\n"

static const struct valid_case valid_cases[] = {
	{"simple GET", L("GET /index.html HTTP/1.1\r\n" HOST "\r\n"), 0, HTTP_M_GET, "GET",
	 "/index.html", 1, true, false, HTTP_BODY_NONE, 0, 1, "host", "example.com"},
	{"HEAD with query", L("HEAD /x?y=1&z=%20 HTTP/1.1\r\n" HOST "User-Agent: t/1.0\r\n\r\n"), 0,
	 HTTP_M_HEAD, "HEAD", "/x?y=1&z=%20", 1, true, false, HTTP_BODY_NONE, 0, 2, "USER-AGENT",
	 "t/1.0"},
	{"POST with body", L("POST /submit HTTP/1.1\r\n" HOST "Content-Length: 13\r\n\r\nhello, world!"),
	 sizeof("POST /submit HTTP/1.1\r\n" HOST "Content-Length: 13\r\n\r\n") - 1, HTTP_M_POST,
	 "POST", "/submit", 1, true, false, HTTP_BODY_LENGTH, 13, 2, "content-length", "13"},
	{"chunked", L("PUT /up HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
	 sizeof("PUT /up HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n") - 1, HTTP_M_PUT,
	 "PUT", "/up", 1, true, false, HTTP_BODY_CHUNKED, 0, 2, NULL, NULL},
	{"chunked mixed case, empty list elements",
	 L("POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: , ChUnKeD ,\r\n\r\n"), 0, HTTP_M_POST,
	 "POST", "/", 1, true, false, HTTP_BODY_CHUNKED, 0, 2, NULL, NULL},
	{"HTTP/1.0 default close", L("GET / HTTP/1.0\r\n\r\n"), 0, HTTP_M_GET, "GET", "/", 0, false,
	 false, HTTP_BODY_NONE, 0, 0, NULL, NULL},
	{"HTTP/1.0 keep-alive", L("GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0, HTTP_M_GET,
	 "GET", "/a", 0, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"HTTP/1.0 keep-alive then close", L("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"),
	 0, HTTP_M_GET, "GET", "/", 0, false, false, HTTP_BODY_NONE, 0, 2, NULL, NULL},
	{"Connection: close", L("GET / HTTP/1.1\r\n" HOST "Connection: close\r\n\r\n"), 0, HTTP_M_GET,
	 "GET", "/", 1, false, false, HTTP_BODY_NONE, 0, 2, NULL, NULL},
	{"Connection list with close", L("GET / HTTP/1.1\r\n" HOST "Connection: Upgrade,\tCLOSE , foo\r\n\r\n"),
	 0, HTTP_M_GET, "GET", "/", 1, false, false, HTTP_BODY_NONE, 0, 2, NULL, NULL},
	{"Connection: closed is not close", L("GET / HTTP/1.1\r\n" HOST "Connection: closed\r\n\r\n"), 0,
	 HTTP_M_GET, "GET", "/", 1, true, false, HTTP_BODY_NONE, 0, 2, NULL, NULL},
	{"LF-only lines", L("GET /lf HTTP/1.1\nHost: a\nX: y\n\n"), 0, HTTP_M_GET, "GET", "/lf", 1,
	 true, false, HTTP_BODY_NONE, 0, 2, "x", "y"},
	{"mixed CRLF and LF", L("GET /m HTTP/1.1\r\nHost: a\nX: y\r\n\n"), 0, HTTP_M_GET, "GET", "/m",
	 1, true, false, HTTP_BODY_NONE, 0, 2, "x", "y"},
	{"leading empty lines", L("\r\n\n\r\n\r\n\n\r\n\r\n\nGET / HTTP/1.1\r\n" HOST "\r\n"), 0,
	 HTTP_M_GET, "GET", "/", 1, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"obs-text in value", L("GET / HTTP/1.1\r\n" HOST "X-Name: caf\xc3\xa9 \x80\xff\r\n\r\n"), 0,
	 HTTP_M_GET, "GET", "/", 1, true, false, HTTP_BODY_NONE, 0, 2, "x-name",
	 "caf\xc3\xa9 \x80\xff"},
	{"OWS trimmed", L("GET / HTTP/1.1\r\n" HOST "X-Pad: \t a \t b\t \r\n\r\n"), 0, HTTP_M_GET,
	 "GET", "/", 1, true, false, HTTP_BODY_NONE, 0, 2, "x-pad", "a \t b"},
	{"empty value", L("GET / HTTP/1.1\r\n" HOST "X-Empty:   \r\n\r\n"), 0, HTTP_M_GET, "GET",
	 "/", 1, true, false, HTTP_BODY_NONE, 0, 2, "x-empty", ""},
	{"expect 100-continue", L("POST / HTTP/1.1\r\n" HOST "Expect: 100-Continue\r\nContent-Length: 4\r\n\r\n"),
	 0, HTTP_M_POST, "POST", "/", 1, true, true, HTTP_BODY_LENGTH, 4, 3, NULL, NULL},
	{"Content-Length 0 is no body", L("POST / HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n"), 0,
	 HTTP_M_POST, "POST", "/", 1, true, false, HTTP_BODY_NONE, 0, 2, NULL, NULL},
	{"identical Content-Length", L("POST / HTTP/1.1\r\n" HOST "Content-Length: 7, 7\r\ncontent-length: 7\r\n\r\n"),
	 0, HTTP_M_POST, "POST", "/", 1, true, false, HTTP_BODY_LENGTH, 7, 3, NULL, NULL},
	{"Content-Length 2^62", L("POST / HTTP/1.1\r\n" HOST "Content-Length: 4611686018427387904\r\n\r\n"),
	 0, HTTP_M_POST, "POST", "/", 1, true, false, HTTP_BODY_LENGTH, UINT64_C(1) << 62, 2, NULL,
	 NULL},
	{"OPTIONS asterisk", L("OPTIONS * HTTP/1.1\r\n" HOST "\r\n"), 0, HTTP_M_OPTIONS, "OPTIONS",
	 "*", 1, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"absolute-form", L("GET http://h/p?q#f HTTP/1.1\r\n" HOST "\r\n"), 0, HTTP_M_GET, "GET",
	 "http://h/p?q#f", 1, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"CONNECT authority", L("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), 0, HTTP_M_CONNECT,
	 "CONNECT", "h:443", 1, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"unknown method", L("M-SEARCH * HTTP/1.1\r\n" HOST "\r\n"), 0, HTTP_M_OTHER, "M-SEARCH",
	 "*", 1, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"lowercase method is other", L("get / HTTP/1.1\r\n" HOST "\r\n"), 0, HTTP_M_OTHER, "get",
	 "/", 1, true, false, HTTP_BODY_NONE, 0, 1, NULL, NULL},
	{"token chars in name", L("GET / HTTP/1.1\r\n" HOST "!#$%&'*+-.^_`|~09aZ: v\r\n\r\n"), 0,
	 HTTP_M_GET, "GET", "/", 1, true, false, HTTP_BODY_NONE, 0, 2, "!#$%&'*+-.^_`|~09AZ", "v"},
	{"pipelined: only first head", L("GET /1 HTTP/1.1\r\n" HOST "\r\nGET /2 HTTP/1.1\r\n" HOST "\r\n"),
	 sizeof("GET /1 HTTP/1.1\r\n" HOST "\r\n") - 1, HTTP_M_GET, "GET", "/1", 1, true, false,
	 HTTP_BODY_NONE, 0, 1, NULL, NULL},
};

static void check_valid(const struct valid_case *c)
{
	size_t head = c->head ? c->head : c->len;
	char *buf = malloc(c->len);
	cr_assert_not_null(buf);
	memcpy(buf, c->raw, c->len);

	struct http_request req;
	memset(&req, 0xA5, sizeof(req)); /* stale garbage must be overwritten */
	int r = http_parse_request(buf, c->len, &req);
	cr_assert_eq(r, (int)head, "%s: got %d want %zu", c->name, r, head);
	cr_assert_eq(req.header_bytes, head, "%s", c->name);
	cr_assert_eq(req.method, c->method, "%s: method %d", c->name, req.method);
	cr_assert(slice_is(req.method_name, c->method_name), "%s: method_name", c->name);
	cr_assert(slice_is(req.target, c->target), "%s: target '%.*s'", c->name, (int)req.target.len,
		  req.target.p);
	cr_assert_eq(req.version_minor, c->minor, "%s", c->name);
	cr_assert_eq(req.keep_alive, c->keep_alive, "%s: keep_alive", c->name);
	cr_assert_eq(req.expect_continue, c->expect_continue, "%s: expect", c->name);
	cr_assert_eq(req.body, c->body, "%s: body %d", c->name, req.body);
	if (c->body == HTTP_BODY_LENGTH)
		cr_assert_eq(req.content_length, c->cl, "%s: content_length", c->name);
	cr_assert_eq(req.nheaders, c->nheaders, "%s: nheaders %u", c->name, req.nheaders);
	for (uint32_t i = 0; i < req.nheaders; i++) {
		const struct http_header *h = &req.headers[i];
		cr_assert(h->name.p >= buf && h->name.p + h->name.len <= buf + head, "%s", c->name);
		cr_assert(h->value.p >= buf && h->value.p + h->value.len <= buf + head, "%s", c->name);
	}
	if (c->hname) {
		const struct http_header *h = http_find_header(&req, c->hname);
		cr_assert_not_null(h, "%s: header %s missing", c->name, c->hname);
		cr_assert(slice_is(h->value, c->hvalue), "%s: value '%.*s'", c->name,
			  (int)h->value.len, h->value.p);
	}
	check_splits(c->name, buf, c->len, (int)head);
	free(buf);
}

Test(http_parse, valid_table)
{
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++)
		check_valid(&valid_cases[i]);
}

Test(http_parse, all_known_methods)
{
	static const struct {
		const char *name;
		enum http_method m;
	} t[] = {
		{"GET", HTTP_M_GET},         {"HEAD", HTTP_M_HEAD},     {"POST", HTTP_M_POST},
		{"PUT", HTTP_M_PUT},         {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
		{"PATCH", HTTP_M_PATCH},     {"TRACE", HTTP_M_TRACE},   {"CONNECT", HTTP_M_CONNECT},
		{"GETS", HTTP_M_OTHER},      {"PO", HTTP_M_OTHER},      {"PURGE", HTTP_M_OTHER},
		{"Get", HTTP_M_OTHER},       {"X", HTTP_M_OTHER},       {"DELETED", HTTP_M_OTHER},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[128];
		/* CONNECT takes only the authority-form (RFC 9112 3.2.3). */
		int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: a\r\n\r\n", t[i].name,
				 t[i].m == HTTP_M_CONNECT ? "a:1" : "/");
		struct http_request req;
		cr_assert_eq(http_parse_request(buf, (size_t)n, &req), n, "%s", t[i].name);
		cr_assert_eq(req.method, t[i].m, "%s: got %d", t[i].name, req.method);
		cr_assert(slice_is(req.method_name, t[i].name));
	}
}

Test(http_parse, many_headers_up_to_limit)
{
	struct sbuf b = {0};
	sb_puts(&b, "GET /many HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < HTTP_MAX_HEADERS; i++) {
		char line[64];
		snprintf(line, sizeof(line), "X-H%d: value %d\r\n", i, i);
		sb_puts(&b, line);
	}
	sb_puts(&b, "\r\n");

	struct http_request req;
	int r = http_parse_request(b.p, b.len, &req);
	cr_assert_eq(r, (int)b.len);
	cr_assert_eq(req.nheaders, HTTP_MAX_HEADERS);
	const struct http_header *h = http_find_header(&req, "x-h63");
	cr_assert_not_null(h);
	cr_assert(slice_is(h->value, "value 63"));
	cr_assert(slice_is(req.headers[HTTP_MAX_HEADERS - 1].name, "X-H63"));
	check_splits("64 headers", b.p, b.len, r);

	/* One more field is over the limit. */
	b.len -= 2;
	sb_puts(&b, "X-One-Too-Many: 1\r\n\r\n");
	cr_assert_eq(parse_exact(b.p, b.len, &req), -431);
	free(b.p);
}

/* 16 requests of four shapes back to back, consumed by advancing an offset
 * past each head and its body, as a connection handler would. */
Test(http_parse, pipelined_batch)
{
	struct sbuf b = {0};
	for (int i = 0; i < 16; i++) {
		char req[256];
		switch (i % 4) {
		case 0:
			snprintf(req, sizeof(req), "GET /r%d HTTP/1.1\r\nHost: a\r\n\r\n", i);
			break;
		case 1:
			snprintf(req, sizeof(req),
				 "POST /r%d HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", i);
			break;
		case 2:
			snprintf(req, sizeof(req),
				 "POST /r%d HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n"
				 "3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
				 i);
			break;
		default:
			snprintf(req, sizeof(req), "HEAD /r%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", i);
			break;
		}
		sb_puts(&b, req);
	}

	size_t off = 0;
	for (int i = 0; i < 16; i++) {
		struct http_request req;
		int r = http_parse_request(b.p + off, b.len - off, &req);
		cr_assert_gt(r, 0, "request %d: %d", i, r);
		char want[16];
		snprintf(want, sizeof(want), "/r%d", i);
		cr_assert(slice_is(req.target, want), "request %d target", i);
		check_splits(want, b.p + off, b.len - off, r);
		off += (size_t)r;
		switch (i % 4) {
		case 1:
			cr_assert_eq(req.body, HTTP_BODY_LENGTH);
			cr_assert_eq(req.content_length, 5);
			off += 5;
			break;
		case 2: {
			cr_assert_eq(req.body, HTTP_BODY_CHUNKED);
			struct http_chunked c;
			bool done;
			http_chunked_init(&c);
			ssize_t n = http_chunked_skip(&c, b.p + off, b.len - off, 1 << 20, &done);
			cr_assert(done);
			cr_assert_eq(n, (ssize_t)strlen("3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"));
			off += (size_t)n;
			break;
		}
		case 3:
			cr_assert_eq(req.method, HTTP_M_HEAD);
			cr_assert(req.keep_alive);
			break;
		default:
			cr_assert_eq(req.body, HTTP_BODY_NONE);
		}
	}
	cr_assert_eq(off, b.len);
	free(b.p);
}

Test(http_parse, find_header)
{
	static const char raw[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Dup: one\r\nx-dup: two\r\n\r\n";
	struct http_request req;
	cr_assert_gt(http_parse_request(raw, sizeof(raw) - 1, &req), 0);
	const struct http_header *h = http_find_header(&req, "X-DUP");
	cr_assert_not_null(h);
	cr_assert(slice_is(h->value, "one"), "first occurrence wins");
	cr_assert_null(http_find_header(&req, "X-Du"));
	cr_assert_null(http_find_header(&req, "X-Dupe"));
	cr_assert_null(http_find_header(&req, "Content-Length"));
	cr_assert_not_null(http_find_header(&req, "hOsT"));
}

/* ---- malformed requests ------------------------------------------------ */

struct bad_case {
	const char *name;
	const char *raw;
	size_t len;
	int status;
};

#define RL "GET / HTTP/1.1\r\n"
#define POSTL "POST / HTTP/1.1\r\n" HOST

static const struct bad_case bad_cases[] = {
	{"bad method char", L("GE(T / HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"method with @", L("G@T / HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"empty method", L(" / HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"tab after method", L("GET\t/ HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"two spaces before target", L("GET  / HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"two spaces before version", L("GET /  HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"missing version", L("GET /\r\n" HOST "\r\n"), -400},
	{"empty version", L("GET / \r\n" HOST "\r\n"), -400},
	{"HTTP/2.0", L("GET / HTTP/2.0\r\n" HOST "\r\n"), -505},
	{"HTTP/1.2", L("GET / HTTP/1.2\r\n" HOST "\r\n"), -505},
	{"HTTP/0.9", L("GET / HTTP/0.9\r\n\r\n"), -505},
	{"HTTP/1.1x", L("GET / HTTP/1.1x\r\n" HOST "\r\n"), -400},
	{"HTTP/1.10", L("GET / HTTP/1.10\r\n" HOST "\r\n"), -400},
	{"HTTP/11", L("GET / HTTP/11\r\n" HOST "\r\n"), -400},
	{"HTTP/a.b", L("GET / HTTP/a.b\r\n" HOST "\r\n"), -400},
	{"lowercase http", L("GET / http/1.1\r\n" HOST "\r\n"), -400},
	{"trailing space after version", L("GET / HTTP/1.1 \r\n" HOST "\r\n"), -400},
	{"CTL in target", L("GET /a\x01z HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"NUL in target", L("GET /a\0z HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"TAB in target", L("GET /a\tz HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"DEL in target", L("GET /a\x7fz HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"high byte in target", L("GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"bare CR ends request line", L("GET / HTTP/1.1\rHost: a\r\n\r\n"), -400},
	{"nine leading empty lines", L("\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"bare CR before request line", L("\rGET / HTTP/1.1\r\n" HOST "\r\n"), -400},
	{"space before colon", L(RL "Host : a\r\n\r\n"), -400},
	{"tab before colon", L(RL HOST "X\t: a\r\n\r\n"), -400},
	{"obs-fold", L(RL HOST "X: a\r\n  folded\r\n\r\n"), -400},
	{"obs-fold with tab", L(RL HOST "X: a\r\n\tfolded\r\n\r\n"), -400},
	{"whitespace before first field", L(RL " Host: a\r\n\r\n"), -400},
	{"empty field name", L(RL HOST ": v\r\n\r\n"), -400},
	{"no colon", L(RL HOST "NoColon\r\n\r\n"), -400},
	{"bad name char", L(RL HOST "X(y: z\r\n\r\n"), -400},
	{"high byte in name", L(RL HOST "X\xc3\xa9: z\r\n\r\n"), -400},
	{"NUL in value", L(RL HOST "X: a\0b\r\n\r\n"), -400},
	{"CTL in value", L(RL HOST "X: a\x1b[0m\r\n\r\n"), -400},
	{"DEL in value", L(RL HOST "X: a\x7f\r\n\r\n"), -400},
	{"bare CR in value", L(RL HOST "X: a\rb\r\n\r\n"), -400},
	{"bare CR as final line", L(RL HOST "\rX\r\n\r\n"), -400},
	{"CR CR LF", L(RL HOST "X: a\r\r\n\r\n"), -400},
	{"missing Host in 1.1", L(RL "X: a\r\n\r\n"), -400},
	{"duplicate Host", L(RL HOST "host: b\r\n\r\n"), -400},
	{"CL and TE", L(POSTL "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -400},
	{"TE and CL", L(POSTL "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), -400},
	{"two different CLs", L(POSTL "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), -400},
	{"CL list differs", L(POSTL "Content-Length: 5, 6\r\n\r\n"), -400},
	{"CL list empty element", L(POSTL "Content-Length: 5,,5\r\n\r\n"), -400},
	{"CL empty", L(POSTL "Content-Length: \r\n\r\n"), -400},
	{"CL abc", L(POSTL "Content-Length: abc\r\n\r\n"), -400},
	{"CL plus sign", L(POSTL "Content-Length: +5\r\n\r\n"), -400},
	{"CL minus sign", L(POSTL "Content-Length: -5\r\n\r\n"), -400},
	{"CL hex", L(POSTL "Content-Length: 0x10\r\n\r\n"), -400},
	{"CL inner space", L(POSTL "Content-Length: 1 2\r\n\r\n"), -400},
	{"CL 2^62+1", L(POSTL "Content-Length: 4611686018427387905\r\n\r\n"), -400},
	{"CL 2^64", L(POSTL "Content-Length: 18446744073709551616\r\n\r\n"), -400},
	{"CL huge", L(POSTL "Content-Length: 99999999999999999999999999999\r\n\r\n"), -400},
	{"TE gzip", L(POSTL "Transfer-Encoding: gzip\r\n\r\n"), -501},
	{"TE gzip, chunked", L(POSTL "Transfer-Encoding: gzip, chunked\r\n\r\n"), -501},
	{"TE chunked, gzip", L(POSTL "Transfer-Encoding: chunked, gzip\r\n\r\n"), -400},
	{"TE chunked twice", L(POSTL "Transfer-Encoding: chunked, chunked\r\n\r\n"), -400},
	{"TE chunked then gzip header",
	 L(POSTL "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"), -400},
	{"TE chunked with params", L(POSTL "Transfer-Encoding: chunked;q=1\r\n\r\n"), -501},
	{"TE empty", L(POSTL "Transfer-Encoding: \r\n\r\n"), -400},
	{"TE in HTTP/1.0", L("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400},
};

Test(http_parse, malformed_table)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct http_request req;
		int r = parse_exact(c->raw, c->len, &req);
		cr_assert_eq(r, c->status, "%s: got %d want %d", c->name, r, c->status);
		/* No prefix may be mistaken for a complete head either. */
		for (size_t k = 0; k < c->len; k++) {
			int p = parse_exact(c->raw, k, &req);
			cr_assert(p == 0 || p == c->status, "%s: prefix %zu gave %d", c->name, k, p);
		}
	}
}

/* Bytes that prove the request line invalid are reported immediately, not
 * after waiting for the 8 KiB limit. */
Test(http_parse, early_rejection)
{
	static const struct {
		const char *raw;
		size_t len;
	} t[] = {
		{L("GET\x01")},          {L("\x01")},         {L("\0")},
		{L("G\0")},              {L("GET /\x7f")},    {L("GET /a\x01")},
		{L("\x16\x03\x01\x02")}, {L("GET  ")},        {L("GET / HTTX")},
		{L("GET / HTTP/x")},     {L("GET / HTTP/1.1\r\r")}, {L("GET / HTTP/1.1x")},
		{L("GET / HTTP/1.1\r\nHo\0")}, {L("GET / HTTP/1.1\r\nHost : ")},
		{L("GET / HTTP/1.1\r\nHost: a\r\n b")},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct http_request req;
		int r = parse_exact(t[i].raw, t[i].len, &req);
		cr_assert_eq(r, -400, "case %zu: got %d", i, r);
	}
	struct http_request req;
	cr_assert_eq(parse_exact(L("GET / HTTP/2.0\r\n"), &req), -505, "505 before headers end");
}
