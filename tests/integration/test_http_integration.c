/* HTTP/1.1 behaviour of the real binary, over loopback. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"

TestSuite(http, .fini = harness_fini, .timeout = 20);

static struct herd srv;

static int header_count(const struct h_resp *r, const char *name)
{
	int n = 0;
	for (int i = 0; i < r->nheaders; i++)
		n += !strcasecmp(r->names[i], name);
	return n;
}

/* The headers every response carries: Server: herd, one IMF-fixdate Date
 * close to now, one Content-Length matching the body. */
static void assert_common_headers(const struct h_resp *r, bool head_request)
{
	const char *server = h_header(r, "Server");
	cr_assert(server && !strcmp(server, "herd"), "Server header: %s", server ? server : "(none)");
	cr_assert_eq(header_count(r, "Date"), 1, "exactly one Date header");
	const char *date = h_header(r, "Date");
	struct tm tm = {0};
	const char *rest = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	cr_assert(rest && !*rest && strlen(date) == 29, "Date not IMF-fixdate: '%s'", date);
	long long skew = (long long)timegm(&tm) - (long long)time(NULL);
	cr_assert(skew > -10 && skew < 10, "Date '%s' is %llds off", date, skew);
	cr_assert_eq(header_count(r, "Content-Length"), 1, "exactly one Content-Length");
	cr_assert(r->has_length, "Content-Length parseable");
	if (!head_request)
		cr_assert_eq(r->content_length, r->body_len);
}

static void start(void)
{
	herd_start(&srv, "--workers", "2");
}

/* One connection, buffered, for tests that send several requests. */
static struct h_conn open_conn(void)
{
	struct h_conn c;
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0, "connect to 127.0.0.1:%d", srv.port);
	h_conn_init(&c, fd);
	return c;
}

static void send_req(struct h_conn *c, const char *req)
{
	cr_assert_eq(h_send_str(c->fd, req), 0, "send failed: %.40s", req);
}

static void expect(struct h_conn *c, struct h_resp *r, bool head, int status, const char *what)
{
	int rc = h_read_response(c, r, head, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
	cr_assert_eq(r->status, status, "%s: status %d, want %d", what, r->status, status);
}

static void expect_body(struct h_conn *c, const char *body, const char *what)
{
	struct h_resp r;
	expect(c, &r, false, 200, what);
	cr_assert_str_eq(r.body, body, "%s: body", what);
	h_resp_free(&r);
}

/* An error: status, Connection: close, whole response readable, then EOF,
 * and the server still serves a fresh connection. */
static void expect_error(struct h_conn *c, int status, const char *what)
{
	struct h_resp r;
	expect(c, &r, false, status, what);
	assert_common_headers(&r, false);
	const char *conn = h_header(&r, "Connection");
	cr_assert(conn && !strcasecmp(conn, "close"), "%s: Connection: %s, want close", what,
		  conn ? conn : "(none)");
	cr_assert_eq(h_conn_wait_eof(c, H_TIMEOUT_MS), 1, "%s: server did not close", what);
	h_resp_free(&r);
	h_conn_close(c);
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

static void error_case(const char *req, int status, const char *what)
{
	start();
	struct h_conn c = open_conn();
	send_req(&c, req);
	expect_error(&c, status, what);
}

HTEST(http, plaintext)
{
	start();
	struct h_resp r;
	cr_assert_eq(h_exchange(srv.port, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &r), H_OK);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.version, "HTTP/1.1");
	cr_assert_str_eq(r.body, PLAIN);
	cr_assert_eq(r.content_length, strlen(PLAIN));
	const char *ct = h_header(&r, "Content-Type");
	cr_assert(ct && !strncmp(ct, "text/plain", 10), "Content-Type: %s", ct ? ct : "(none)");
	assert_common_headers(&r, false);
	h_resp_free(&r);
}

HTEST(http, json)
{
	start();
	struct h_resp r;
	cr_assert_eq(h_exchange(srv.port, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n", &r), H_OK);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, JSON);
	const char *ct = h_header(&r, "Content-Type");
	cr_assert(ct && !strncmp(ct, "application/json", 16), "Content-Type: %s", ct ? ct : "(none)");
	assert_common_headers(&r, false);
	h_resp_free(&r);
}

HTEST(http, not_found_keeps_connection)
{
	start();
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, false, 404, "GET /nope");
	assert_common_headers(&r, false);
	cr_assert_gt(r.body_len, 0, "404 has a small body");
	h_resp_free(&r);
	send_req(&c, "GET /plaintextx HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, false, 404, "GET /plaintextx (prefix of a route)");
	h_resp_free(&r);
	send_req(&c, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&c, JSON, "after 404");
	h_conn_close(&c);
}

/* HEAD: same headers as GET, no body; the next response on the connection
 * must start right after the head (a stray body would corrupt it). */
HTEST(http, head)
{
	start();
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, true, 200, "HEAD /plaintext");
	assert_common_headers(&r, true);
	cr_assert_eq(r.content_length, strlen(PLAIN), "HEAD Content-Length is the GET one");
	const char *ct = h_header(&r, "Content-Type");
	cr_assert(ct && !strncmp(ct, "text/plain", 10));
	h_resp_free(&r);
	send_req(&c, "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, true, 200, "HEAD /json");
	cr_assert_eq(r.content_length, strlen(JSON));
	h_resp_free(&r);
	send_req(&c, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&c, PLAIN, "GET after HEAD");
	h_conn_close(&c);
}

HTEST(http, method_not_allowed)
{
	static const char *reqs[] = {
		"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
		"DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n",
		"PUT /json HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
	};
	start();
	for (size_t i = 0; i < sizeof(reqs) / sizeof(*reqs); i++) {
		struct h_resp r;
		int rc = h_exchange(srv.port, reqs[i], &r);
		cr_assert_eq(rc, H_OK, "%.20s: %s", reqs[i], h_result_str(rc));
		cr_assert_eq(r.status, 405, "%.20s: status %d", reqs[i], r.status);
		const char *allow = h_header(&r, "Allow");
		cr_assert(allow && !strcmp(allow, "GET, HEAD"), "Allow: %s", allow ? allow : "(none)");
		assert_common_headers(&r, false);
		h_resp_free(&r);
	}
}

HTEST(http, keep_alive_http11)
{
	start();
	struct h_conn c = open_conn();
	for (int i = 0; i < 5; i++) {
		struct h_resp r;
		send_req(&c, i % 2 ? "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
				   : "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
		expect(&c, &r, false, 200, "keep-alive request");
		cr_assert_str_eq(r.body, i % 2 ? JSON : PLAIN);
		const char *conn = h_header(&r, "Connection");
		cr_assert(!conn || strcasecmp(conn, "close"), "HTTP/1.1 response says close");
		h_resp_free(&r);
	}
	cr_assert_eq(h_conn_wait_eof(&c, 200), 0, "server closed a keep-alive connection");
	h_conn_close(&c);
}

HTEST(http, connection_close_http11)
{
	start();
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	expect(&c, &r, false, 200, "Connection: close");
	cr_assert_str_eq(r.body, PLAIN);
	const char *conn = h_header(&r, "Connection");
	cr_assert(conn && !strcasecmp(conn, "close"), "Connection: %s", conn ? conn : "(none)");
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "server did not close");
	h_resp_free(&r);
	h_conn_close(&c);
}

/* The last answer leaves corked, its FIN right behind it (core/engine.c):
 * bytes the client sends after a Connection: close request, unread when
 * herd closes, must not reset the answer away before it left.  The extra
 * bytes follow at once, in a second write, racing the close. */
HTEST(http, connection_close_answer_survives_bytes_behind)
{
	start();
	static char junk[16384];
	memset(junk, 'x', sizeof(junk));
	for (int i = 0; i < 200; i++) {
		struct h_conn c = open_conn();
		struct h_resp r;
		send_req(&c, "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
		(void)!send(c.fd, junk, sizeof(junk), MSG_NOSIGNAL);
		expect(&c, &r, false, 200, "Connection: close with bytes behind");
		cr_assert_str_eq(r.body, PLAIN, "connection %d: body", i);
		h_resp_free(&r);
		h_conn_close(&c);
	}
}

HTEST(http, http10_closes)
{
	start();
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "GET /json HTTP/1.0\r\n\r\n");
	expect(&c, &r, false, 200, "HTTP/1.0 without Host");
	cr_assert_str_eq(r.body, JSON);
	assert_common_headers(&r, false);
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "HTTP/1.0 connection not closed");
	h_resp_free(&r);
	h_conn_close(&c);
}

HTEST(http, http10_keep_alive)
{
	start();
	struct h_conn c = open_conn();
	for (int i = 0; i < 3; i++) {
		struct h_resp r;
		send_req(&c, "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
		expect(&c, &r, false, 200, "HTTP/1.0 keep-alive");
		cr_assert_str_eq(r.body, PLAIN);
		const char *conn = h_header(&r, "Connection");
		cr_assert(conn && !strcasecmp(conn, "keep-alive"), "Connection: %s",
			  conn ? conn : "(none)");
		h_resp_free(&r);
	}
	h_conn_close(&c);
}

HTEST(http, pipelining_in_order)
{
	start();
	char reqs[16 * 64] = "";
	for (int i = 0; i < 16; i++)
		strcat(reqs, i % 3 == 1 ? "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
					: "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_conn c = open_conn();
	send_req(&c, reqs);
	for (int i = 0; i < 16; i++) {
		char what[32];
		snprintf(what, sizeof(what), "pipelined #%d", i);
		expect_body(&c, i % 3 == 1 ? JSON : PLAIN, what);
	}
	cr_assert_eq(h_conn_wait_eof(&c, 100), 0, "extra bytes or close after 16 responses");
	/* The connection keeps working after the batch. */
	send_req(&c, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&c, JSON, "after pipeline");
	h_conn_close(&c);
}

/* A body is skipped, even when the next request arrives in the same write. */
HTEST(http, content_length_body_discarded)
{
	start();
	struct h_conn c = open_conn();
#define LOOKALIKE "GET /json HTTP/1.1\r\nX: y\r\n\r\n"
	char req[256];
	snprintf(req, sizeof(req),
		 "GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s"
		 "GET /json HTTP/1.1\r\nHost: t\r\n\r\n",
		 strlen(LOOKALIKE), LOOKALIKE);
	send_req(&c, req);
	expect_body(&c, PLAIN, "request with body");
	expect_body(&c, JSON, "request after body");

	/* A larger body arriving in several writes. */
	size_t n = 200000;
	char *body = malloc(n);
	memset(body, 'b', n);
	char head[128];
	snprintf(head, sizeof(head), "GET /json HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
	send_req(&c, head);
	for (size_t off = 0; off < n; off += 50000)
		cr_assert_eq(h_send(c.fd, body + off, 50000, H_TIMEOUT_MS), 0);
	send_req(&c, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&c, JSON, "request with 200 kB body");
	expect_body(&c, PLAIN, "request after 200 kB body");
	free(body);
	h_conn_close(&c);
}

HTEST(http, chunked_body_discarded)
{
	start();
	struct h_conn c = open_conn();
	send_req(&c, "GET /json HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		     "5\r\nhello\r\n"
		     "1b;ext=1\r\nGET /plaintext HTTP/1.1\r\n\r\n\r\n" /* 0x1b = 27 bytes */
		     "0\r\nTrailer: x\r\n\r\n"
		     "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&c, JSON, "chunked request");
	expect_body(&c, PLAIN, "request after chunked body");
	/* Chunked body split across writes, one chunk header per write. */
	send_req(&c, "GET /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	h_sleep_ms(20);
	send_req(&c, "3\r\nabc\r\n");
	h_sleep_ms(20);
	send_req(&c, "0\r\n\r\n");
	expect_body(&c, PLAIN, "chunked in pieces");
	send_req(&c, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&c, JSON, "after chunked in pieces");
	h_conn_close(&c);
}

HTEST(http, missing_host_400)
{
	error_case("GET /plaintext HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 without Host");
}

HTEST(http, malformed_request_line_400)
{
	error_case("GARBAGE\r\n\r\n", 400, "request line 'GARBAGE'");
}

HTEST(http, malformed_method_400)
{
	error_case("GE(T /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", 400, "'(' in the method");
}

HTEST(http, cl_and_te_400)
{
	error_case("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
		   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		   400, "Content-Length + Transfer-Encoding");
}

HTEST(http, unsupported_te_501)
{
	error_case("GET /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
		   "0\r\n\r\n",
		   501, "Transfer-Encoding: gzip, chunked");
}

HTEST(http, http2_version_505)
{
	error_case("GET /plaintext HTTP/2.0\r\nHost: t\r\n\r\n", 505, "HTTP/2.0");
}

static char *big_header_request(size_t header_bytes)
{
	char *req = malloc(header_bytes + 256);
	int n = sprintf(req, "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'a', header_bytes);
	strcpy(req + n + header_bytes, "\r\n\r\n");
	return req;
}

HTEST(http, header_too_large_431)
{
	char *req = big_header_request(9 * 1024);
	error_case(req, 431, "9 KiB header");
	free(req);
}

/* The server answers 431 with part of a huge header still unread.  A plain
 * close() then sends an RST, which can destroy an answer still in flight; a
 * lingering close half-closes (FIN) and drains.  So: the answer must arrive
 * whole, and the connection must end with a FIN, not an RST.  256 KiB is more
 * than any sane read buffer, so some input is always left unread. */
HTEST(http, header_too_large_lingering_close)
{
	static const size_t sizes[] = {20 * 1024, 256 * 1024};
	start();
	for (int i = 0; i < 4; i++) {
		char *req = big_header_request(sizes[i % 2]);
		struct h_conn c = open_conn();
		h_send(c.fd, req, strlen(req), 2000); /* may fail: the server closed */
		h_sleep_ms(100);
		struct h_resp r;
		expect(&c, &r, false, 431, sizes[i % 2] > 100000 ? "256 KiB header" : "20 KiB header");
		assert_common_headers(&r, false);
		int eof = h_conn_wait_eof(&c, H_TIMEOUT_MS);
		cr_assert(eof == 1 && c.error == 0, "after the 431 (%zu B header): %s", sizes[i % 2],
			  eof != 1 ? "not closed" : "connection reset: no lingering close");
		h_resp_free(&r);
		h_conn_close(&c);
		free(req);
	}
	h_assert_get(srv.port, "/json", JSON);
}

HTEST(http, one_byte_at_a_time)
{
	start();
	const char *req = "GET /json HTTP/1.1\r\nHost: t\r\nUser-Agent: slow\r\n\r\n";
	struct h_conn c = open_conn();
	for (size_t i = 0; req[i]; i++) {
		cr_assert_eq(h_send(c.fd, req + i, 1, H_TIMEOUT_MS), 0);
		h_sleep_ms(1);
	}
	expect_body(&c, JSON, "byte-at-a-time request");
	h_conn_close(&c);
}

HTEST(http, errors_do_not_affect_other_connections)
{
	start();
	struct h_conn idle = open_conn();
	send_req(&idle, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&idle, PLAIN, "before errors");
	for (int i = 0; i < 10; i++) {
		struct h_conn c = open_conn();
		send_req(&c, "BAD\r\n\r\n");
		struct h_resp r;
		expect(&c, &r, false, 400, "bad request");
		h_resp_free(&r);
		h_conn_close(&c);
	}
	send_req(&idle, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_body(&idle, JSON, "keep-alive connection survives other clients' errors");
	h_conn_close(&idle);
}

HTEST(http, many_concurrent_connections)
{
	enum { N = 200 };
	start();
	static struct h_conn c[N];
	for (int i = 0; i < N; i++) {
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0, "connect #%d", i);
		h_conn_init(&c[i], fd);
	}
	for (int i = 0; i < N; i++)
		send_req(&c[i], "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
	for (int i = 0; i < N; i++) {
		expect_body(&c[i], PLAIN, "concurrent connection");
		h_conn_close(&c[i]);
	}
}
