/* HTTP semantics a strict client expects (issue 13), through the real
 * binary over loopback, with --root (the tree of static_util.h):
 *
 *   absolute_form      routed by its path, its host wins over Host; schemes,
 *                      ports, 1.0 without Host; bad ones are 400
 *   asterisk_connect   OPTIONS * 200 with Allow; CONNECT 405; wrong forms 400
 *   unknown_method     501 on built-ins and files, connection kept
 *   host_validity      invalid Host values 400 (1.1 and 1.0), valid ones 200
 *   expect_http11      100 Continue before the body, none without one
 *   expect_http10      no 1xx to an HTTP/1.0 client
 *   expect_unknown     417, no 100, connection kept
 *   preconditions      If-Match, If-Unmodified-Since, If-None-Match, their
 *                      order, with Range, on files (memory and sendfile)
 *   builtin_conditions If-Match / If-None-Match on /plaintext
 *   reason_phrases     the exact status line of every answer herd sends
 *   many_ranges        100 overlapping ranges: the file once, not 100 times
 *
 * Runs once per accept mode ($HERD_ACCEPT). */
#include "static_util.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

TestSuite(http_semantics, .fini = static_fini, .timeout = 30);

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void send_raw(struct h_conn *c, const char *s)
{
	cr_assert_eq(h_send_str(c->fd, s), 0, "send %.60s", s);
}

static void read_status(struct h_conn *c, struct h_resp *r, bool head, int status,
			const char *what)
{
	conn_read(c, r, head, what);
	cr_assert_eq(r->status, status, "%s: status %d, want %d", what, r->status, status);
}

/* `request` on a fresh connection is answered `status` with Connection:
 * close, then the server closes; nothing of the secret is ever in it. */
static void expect_refused(const char *request, int status)
{
	struct h_conn c = open_conn();
	send_raw(&c, request);
	struct h_resp r;
	read_status(&c, &r, false, status, request);
	const char *conn = h_header(&r, "Connection");
	cr_assert(conn && !strcasecmp(conn, "close"), "%.60s: Connection: %s", request,
		  conn ? conn : "(none)");
	cr_assert_null(strstr(r.body, SECRET_MARK), "%.60s: secret served", request);
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "%.60s: not closed", request);
	h_resp_free(&r);
	h_conn_close(&c);
}

/* ---- request-target forms ---------------------------------------------------- */

HTEST(http_semantics, absolute_form)
{
	make_tree(false);
	start("2");
	char req[512];
	struct h_conn c = open_conn();
	struct h_resp r;
	snprintf(req, sizeof(req),
		 "GET http://t/plaintext HTTP/1.1\r\nHost: other.example\r\n\r\n"
		 "GET HTTP://T:80/json HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET https://t/plaintext?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET http://127.0.0.1:%d/small.txt HTTP/1.1\r\nHost: t\r\n\r\n"
		 "HEAD http://[::1]:8080/f4k.bin HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET http://t/site?a=b HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET http://t HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET http://t/f100k.bin HTTP/1.1\r\nHost: t\r\n\r\n",
		 srv.port);
	send_raw(&c, req);
	read_status(&c, &r, false, 200, "http://t/plaintext");
	cr_assert_str_eq(r.body, PLAIN);
	h_resp_free(&r);
	read_status(&c, &r, false, 200, "HTTP://T:80/json");
	cr_assert_str_eq(r.body, JSON);
	h_resp_free(&r);
	read_status(&c, &r, false, 200, "https://t/plaintext?x=1");
	cr_assert_str_eq(r.body, PLAIN);
	h_resp_free(&r);
	read_status(&c, &r, false, 200, "http://127.0.0.1:PORT/small.txt");
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "small.txt");
	h_resp_free(&r);
	read_status(&c, &r, true, 200, "HEAD http://[::1]:8080/f4k.bin");
	assert_length(&r, 4096, "HEAD f4k.bin");
	h_resp_free(&r);
	read_status(&c, &r, false, 301, "http://t/site?a=b");
	assert_header(&r, "Location", "/site/?a=b", "redirect keeps the query");
	h_resp_free(&r);
	read_status(&c, &r, false, 200, "http://t (empty path)");
	assert_body(&r, INDEX_HTML, strlen(INDEX_HTML), "root index");
	h_resp_free(&r);
	read_status(&c, &r, false, 200, "http://t/f100k.bin (sendfile)");
	assert_body(&r, tf("f100k.bin")->data, tf("f100k.bin")->size, "f100k.bin");
	h_resp_free(&r);
	conn_expect_plaintext(&c, "absolute-form requests");
	h_conn_close(&c);

	/* HTTP/1.0 needs no Host: the target's authority is enough. */
	cr_assert_eq(h_exchange(srv.port, "GET http://t/plaintext HTTP/1.0\r\n\r\n", &r), H_OK);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, PLAIN);
	h_resp_free(&r);

	static const char *const bad[] = {
		"GET ftp://t/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://u@t/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://u:p@t/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://t:abc/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://[::1/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http:///plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http:/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET t/plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://t/plaintext HTTP/1.1\r\n\r\n", /* 1.1 still needs Host */
	};
	for (size_t i = 0; i < N(bad); i++)
		expect_refused(bad[i], 400);
	/* A well-formed target whose path climbs: the file router's 400. */
	cr_assert_eq(h_exchange(srv.port, "GET http://t/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
				&r),
		     H_OK);
	cr_assert_eq(r.status, 400);
	cr_assert_null(strstr(r.body, SECRET_MARK));
	h_resp_free(&r);
}

HTEST(http_semantics, asterisk_connect)
{
	make_tree(false);
	start("2");
	struct h_conn c = open_conn();
	struct h_resp r;
	send_raw(&c, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n");
	read_status(&c, &r, false, 200, "OPTIONS *");
	assert_header(&r, "Allow", "GET, HEAD", "OPTIONS *");
	assert_length(&r, 0, "OPTIONS *");
	h_resp_free(&r);
	conn_expect_plaintext(&c, "OPTIONS *");
	/* CONNECT: a known method, no tunnel here. */
	send_raw(&c, "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n");
	read_status(&c, &r, false, 405, "CONNECT t:443");
	assert_header(&r, "Allow", "GET, HEAD", "CONNECT");
	h_resp_free(&r);
	conn_expect_plaintext(&c, "CONNECT");
	h_conn_close(&c);

	expect_refused("GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400);
	expect_refused("HEAD * HTTP/1.1\r\nHost: t\r\n\r\n", 400);
	expect_refused("CONNECT /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", 400);
	expect_refused("CONNECT t HTTP/1.1\r\nHost: t\r\n\r\n", 400);
	expect_refused("GET t:443 HTTP/1.1\r\nHost: t\r\n\r\n", 400);
}

/* ---- methods ------------------------------------------------------------------ */

HTEST(http_semantics, unknown_method)
{
	make_tree(false);
	start("2");
	static const char *const reqs[] = {
		"FOO /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"get /plaintext HTTP/1.1\r\nHost: t\r\n\r\n",
		"PROPFIND /f4k.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
		"PURGE http://t/small.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\nHost: t\r\n\r\n",
		"BREW /nope HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	};
	struct h_conn c = open_conn();
	for (size_t i = 0; i < N(reqs); i++) {
		struct h_resp r;
		send_raw(&c, reqs[i]);
		read_status(&c, &r, false, 501, reqs[i]);
		cr_assert_str_eq(r.body, "501 Not Implemented\n");
		h_resp_free(&r);
		conn_expect_plaintext(&c, reqs[i]);
	}
	h_conn_close(&c);
}

/* ---- Host ------------------------------------------------------------------------ */

HTEST(http_semantics, host_validity)
{
	make_tree(false);
	start("2");
	static const char *const bad[] = {
		"a b", "a/b", "a,b", "t, t", "u@t", "t:abc", "t:8o", "t:99999", "[::1", "[::1]x",
		"\"t\"", ":80", "t:80:80", "t\\x", "[1.2.3.4]",
	};
	for (size_t i = 0; i < N(bad); i++) {
		char req[256];
		snprintf(req, sizeof(req), "GET /plaintext HTTP/1.1\r\nHost: %s\r\n\r\n", bad[i]);
		expect_refused(req, 400);
	}
	expect_refused("GET /plaintext HTTP/1.0\r\nHost: a b\r\n\r\n", 400);
	expect_refused("GET /small.txt HTTP/1.0\r\nHost: a/b\r\n\r\n", 400);

	static const char *const good[] = {
		"t", "t:80", "127.0.0.1:8080", "[::1]", "[::1]:80", "xn--bcher-kva.example", "",
	};
	struct h_conn c = open_conn();
	for (size_t i = 0; i < N(good); i++) {
		char req[256];
		snprintf(req, sizeof(req), "GET /small.txt HTTP/1.1\r\nHost: %s\r\n\r\n", good[i]);
		send_raw(&c, req);
		struct h_resp r;
		read_status(&c, &r, false, 200, req);
		assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), req);
		h_resp_free(&r);
	}
	h_conn_close(&c);
}

/* ---- Expect ------------------------------------------------------------------------ */

HTEST(http_semantics, expect_http11)
{
	make_tree(false);
	start("2");
	struct h_conn c = open_conn();
	struct h_resp r;
	/* A chunked body is read before the answer: the 100 invites it. */
	send_raw(&c, "PUT /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	read_status(&c, &r, false, 100, "100 Continue");
	cr_assert_str_eq(r.version, "HTTP/1.1");
	h_resp_free(&r);
	cr_assert_eq(h_conn_wait_eof(&c, 200), 0, "nothing but the 100 before the body");
	send_raw(&c, "5\r\nhello\r\n0\r\n\r\n");
	read_status(&c, &r, false, 405, "after the body");
	h_resp_free(&r);
	/* No body: no 100. */
	send_raw(&c, "GET /plaintext HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n");
	read_status(&c, &r, false, 200, "GET with 100-continue");
	h_resp_free(&r);
	conn_expect_plaintext(&c, "100-continue");
	h_conn_close(&c);
}

HTEST(http_semantics, expect_http10)
{
	make_tree(false);
	start("2");
	struct h_conn c = open_conn();
	struct h_resp r;
	send_raw(&c, "POST /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n"
		     "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
	/* The first thing back is the final answer, never a 1xx. */
	read_status(&c, &r, false, 405, "1.0 with 100-continue");
	h_resp_free(&r);
	send_raw(&c, "hello");
	send_raw(&c, "GET /small.txt HTTP/1.0\r\nConnection: keep-alive\r\n"
		     "Expect: 100-continue\r\n\r\n");
	read_status(&c, &r, false, 200, "1.0 GET after the body");
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "1.0 GET");
	h_resp_free(&r);
	h_conn_close(&c);
}

HTEST(http_semantics, expect_unknown)
{
	make_tree(false);
	start("2");
	struct h_conn c = open_conn();
	struct h_resp r;
	static const char *const reqs[] = {
		"GET /plaintext HTTP/1.1\r\nHost: t\r\nExpect: foo\r\n\r\n",
		"POST /f4k.bin HTTP/1.1\r\nHost: t\r\nExpect: 100-continue, bar\r\n"
		"Content-Length: 3\r\n\r\nabc",
		"GET /small.txt HTTP/1.1\r\nHost: t\r\nExpect: 100-continue=1\r\n\r\n",
		"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\nExpect: foo\r\n\r\n",
	};
	for (size_t i = 0; i < N(reqs); i++) {
		send_raw(&c, reqs[i]);
		read_status(&c, &r, false, 417, reqs[i]); /* a 100 first would fail here */
		cr_assert_str_eq(r.body, "417 Expectation Failed\n");
		h_resp_free(&r);
		conn_expect_plaintext(&c, reqs[i]);
	}
	h_conn_close(&c);
}

/* ---- preconditions (RFC 9110 13.2.2) --------------------------------------------------- */

struct cond_step {
	const char *method, *hdrs; /* %1$s: the ETag, %2$s: Last-Modified */
	int status;
};

/* The ETag and Last-Modified of root file `name`. */
static void validators_of(const char *name, char *etag, char *lm, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/%s", name);
	struct h_resp r;
	cr_assert_eq(req("GET", path, NULL, &r), 200);
	cr_assert(h_header(&r, "ETag") && h_header(&r, "Last-Modified"), "%s: validators", name);
	snprintf(etag, cap, "%s", h_header(&r, "ETag"));
	snprintf(lm, cap, "%s", h_header(&r, "Last-Modified"));
	h_resp_free(&r);
}

HTEST(http_semantics, preconditions)
{
	static const struct cond_step steps[] = {
		{"GET", "If-Match: %1$s\r\n", 200},
		{"GET", "If-Match: \"nope\"\r\n", 412},
		{"GET", "If-Match: *\r\n", 200},
		{"GET", "If-Match: W/%1$s\r\n", 412},
		{"GET", "If-Match: \"a\", %1$s, \"b\"\r\n", 200},
		{"GET", "If-Match: \"a\"\r\nIf-Match: %1$s\r\n", 200},
		{"GET", "If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n", 412},
		{"GET", "If-Unmodified-Since: %2$s\r\n", 200},
		{"GET", "If-Unmodified-Since: not a date\r\n", 200},
		/* With If-Match, If-Unmodified-Since is not looked at. */
		{"GET", "If-Match: %1$s\r\nIf-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n", 200},
		/* 412 before 304, then 304 before the rest. */
		{"GET", "If-Match: \"nope\"\r\nIf-None-Match: %1$s\r\n", 412},
		{"GET", "If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\nIf-None-Match: %1$s\r\n", 412},
		{"GET", "If-Match: %1$s\r\nIf-None-Match: %1$s\r\n", 304},
		{"GET", "If-None-Match: \"nope\"\r\nIf-Modified-Since: %2$s\r\n", 200},
		{"HEAD", "If-Match: \"nope\"\r\n", 412},
		{"HEAD", "If-None-Match: *\r\n", 304},
		/* With Range: the preconditions first, the range after. */
		{"GET", "If-Match: %1$s\r\nRange: bytes=0-9\r\n", 206},
		{"GET", "If-Match: \"nope\"\r\nRange: bytes=0-9\r\n", 412},
		{"GET", "If-None-Match: %1$s\r\nRange: bytes=0-9\r\n", 304},
		/* Not a 2xx without the conditions: they do not count (13.2.1). */
		{"POST", "If-Match: \"nope\"\r\nContent-Length: 0\r\n", 405},
	};
	make_tree(false);
	start("2");
	static const char *const names[] = {"f4k.bin", "f100k.bin"}; /* memory, sendfile */
	for (size_t n = 0; n < N(names); n++) {
		const struct tfile *f = tf(names[n]);
		char etag[128], lm[128], path[64];
		validators_of(f->name, etag, lm, sizeof(etag));
		snprintf(path, sizeof(path), "/%s", f->name);
		struct h_conn c = open_conn();
		for (size_t i = 0; i < N(steps); i++) {
			char hdrs[512], what[640];
			snprintf(hdrs, sizeof(hdrs), steps[i].hdrs, etag, lm);
			snprintf(what, sizeof(what), "%s %s with %s", steps[i].method, path, hdrs);
			conn_req(&c, steps[i].method, path, hdrs);
			struct h_resp r;
			bool head = !strcmp(steps[i].method, "HEAD");
			read_status(&c, &r, head, steps[i].status, what);
			if (steps[i].status == 200 && !head)
				assert_body(&r, f->data, f->size, what);
			if (steps[i].status == 206)
				assert_body(&r, f->data, 10, what);
			if (steps[i].status == 412 && !head)
				cr_assert_str_eq(r.body, "412 Precondition Failed\n", "%s", what);
			if (steps[i].status == 304)
				assert_header(&r, "ETag", etag, what);
			h_resp_free(&r);
		}
		/* The connection stayed in step: nothing stray was sent. */
		conn_expect_plaintext(&c, "the preconditions");
		h_conn_close(&c);
	}
	expect_status("GET", "/nope", "If-Match: \"nope\"\r\n", 404);
}

HTEST(http_semantics, builtin_conditions)
{
	make_tree(false);
	start("2");
	expect_status("GET", "/plaintext", "If-Match: \"x\"\r\n", 412);
	expect_status("GET", "/json", "If-Match: *\r\n", 200);
	expect_status("GET", "/plaintext", "If-None-Match: *\r\n", 304);
	expect_status("GET", "/plaintext", "If-None-Match: \"x\"\r\n", 200);
	expect_status("DELETE", "/plaintext", "If-Match: \"x\"\r\n", 405);
}

/* ---- reason phrases ------------------------------------------------------------------ */

/* The raw status line answering `request` on a fresh connection. */
static void status_line(const char *request, char *out, size_t cap)
{
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_str(fd, request), 0);
	size_t len = 0;
	out[0] = 0;
	while (!strstr(out, "\r\n") && len + 1 < cap) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		cr_assert_eq(poll(&p, 1, H_TIMEOUT_MS), 1, "%.40s: no answer", request);
		ssize_t n = read(fd, out + len, cap - 1 - len);
		cr_assert_gt(n, 0, "%.40s: closed after %s", request, out);
		len += (size_t)n;
		out[len] = 0;
	}
	*strstr(out, "\r\n") = 0;
	close(fd);
}

HTEST(http_semantics, reason_phrases)
{
	make_tree(false);
	start("2");
	char etag[128], lm[128];
	validators_of("f4k.bin", etag, lm, sizeof(etag));
	struct {
		char req[256];
		const char *line;
	} t[] = {
		{"GET /f4k.bin HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 200 OK"},
		{"GET /f4k.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=1-2\r\n\r\n",
		 "HTTP/1.1 206 Partial Content"},
		{"GET /site HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 301 Moved Permanently"},
		{"", "HTTP/1.1 304 Not Modified"},
		{"GET /% HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 404 Not Found"},
		{"DELETE /f4k.bin HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
		{"GET /f4k.bin HTTP/1.1\r\nHost: t\r\nIf-Match: \"x\"\r\n\r\n",
		 "HTTP/1.1 412 Precondition Failed"},
		{"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n",
		 "HTTP/1.1 413 Content Too Large"},
		{"GET /f4k.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=5000-\r\n\r\n",
		 "HTTP/1.1 416 Range Not Satisfiable"},
		{"GET / HTTP/1.1\r\nHost: t\r\nExpect: x\r\n\r\n", "HTTP/1.1 417 Expectation Failed"},
		{"FOO / HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 501 Not Implemented"},
		{"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported"},
		{"PUT / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
		 "HTTP/1.1 100 Continue"},
	};
	snprintf(t[3].req, sizeof(t[3].req),
		 "GET /f4k.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n", etag);
	for (size_t i = 0; i < N(t); i++) {
		char line[512];
		status_line(t[i].req, line, sizeof(line));
		cr_assert_str_eq(line, t[i].line, "%.40s", t[i].req);
	}
}

/* ---- several ranges -------------------------------------------------------------------- */

/* Several ranges get the whole representation once (see README): 100
 * overlapping ranges of a file cost its size, not 100 times it. */
HTEST(http_semantics, many_ranges)
{
	make_tree(false);
	start("2");
	char hdrs[1024] = "Range: bytes=0-4095";
	for (int i = 0; i < 99; i++)
		strcat(hdrs, ",0-4095");
	strcat(hdrs, "\r\n");
	const struct tfile *f = tf("f100k.bin");
	struct h_resp r;
	cr_assert_eq(req("GET", "/f100k.bin", hdrs, &r), 200);
	assert_body(&r, f->data, f->size, "100 ranges");
	cr_assert_null(h_header(&r, "Content-Range"));
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/f100k.bin", "Range: bytes=10-19, 0-4\r\n", &r), 200);
	assert_length(&r, f->size, "two ranges");
	h_resp_free(&r);
}
