/* The reverse proxy (--proxy, --proxy-strip) as clients and application
 * servers see it: routes, the fields herd adds and removes, bodies both ways
 * byte-exact in every framing, HTTP/1.0 clients, bodiless responses,
 * 100-continue, pipelining and keep-alive through the proxy, WebSocket
 * tunnels, Unix-socket and IPv6 upstreams, balancing, the access log and
 * /metrics.  Upstreams are proxy_upstream.py processes the tests start; the
 * failure cases are in test_proxy_hostile_integration.c. */
#include "proxy_integ.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define MIB (1024u * 1024u)

TestSuite(proxy, .fini = px_fini, .timeout = 60);

static struct herd srv;
static struct px_up A, B;

/* "PREFIX=URL[,URL2]" in a static buffer of the caller's. */
static const char *route(char *buf, size_t cap, const char *prefix, const struct px_up *u1,
			 const struct px_up *u2)
{
	snprintf(buf, cap, "%s=%s%s%s", prefix, u1->url, u2 ? "," : "", u2 ? u2->url : "");
	return buf;
}
#define ROUTE(prefix, ...) route((char[400]){0}, 400, (prefix), __VA_ARGS__)

/* The value the upstream's /echo reports for field `name` (lowercase), in
 * a static buffer; NULL when it did not receive one. */
static const char *echo_field(const char *body, const char *name)
{
	static char v[1024];
	char want[128];
	snprintf(want, sizeof(want), "\nh %s: ", name);
	const char *p = strstr(body, want);
	if (!p)
		return NULL;
	p += strlen(want);
	size_t n = strcspn(p, "\n");
	snprintf(v, sizeof(v), "%.*s", (int)(n < sizeof(v) - 1 ? n : sizeof(v) - 1), p);
	return v;
}

static int echo_count(const char *body, const char *name)
{
	char want[128];
	snprintf(want, sizeof(want), "\nh %s: ", name);
	int n = 0;
	for (const char *p = body; (p = strstr(p, want)); p++)
		n++;
	return n;
}

/* GET path on c (keep-alive), asserting a complete response; r is the
 * caller's to free. */
static void get_ok(struct h_conn *c, const char *path, struct px_resp *r)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	int rc = px_send_read(c, req, r, 15000);
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
}

static void assert_upstream(const struct px_resp *r, const char *name, const char *what)
{
	const char *u = px_header(r, "X-Upstream");
	cr_assert(u && !strcmp(u, name), "%s: answered by upstream %s, want %s", what,
		  u ? u : "(none: not proxied)", name);
}

/* r's body is n bytes of the upstreams' pattern. */
static void assert_pat_body(const struct px_resp *r, size_t n)
{
	cr_assert_eq(r->body_len, n, "body %zu bytes, want %zu", r->body_len, n);
	long d = px_pat_diff(r->body, n, 0);
	cr_assert_eq(d, -1, "body differs at %ld", d);
}

/* ---- routes ---- */

HTEST(proxy, routes_strip_and_longest_prefix)
{
	PX_UP(&A, "--name", "A");
	PX_UP(&B, "--name", "B");
	herd_start(&srv, "--proxy", ROUTE("/api/", &A, NULL), "--proxy-strip",
		   ROUTE("/api/v2/", &B, NULL), "--proxy-strip", ROUTE("/s", &B, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;

	get_ok(&c, "/api/echo?q=1", &r);
	cr_assert_eq(r.status, 200);
	assert_upstream(&r, "A", "/api/echo");
	cr_assert(strstr(r.body, "\ntarget /api/echo?q=1\n"), "--proxy must send the path as-is:\n%s",
		  r.body);
	px_resp_free(&r);

	get_ok(&c, "/api/v2/echo?q=2", &r);
	assert_upstream(&r, "B", "/api/v2/echo (longest prefix)");
	cr_assert(strstr(r.body, "\ntarget /echo?q=2\n"), "--proxy-strip /api/v2/: want /echo?q=2:\n%s",
		  r.body);
	px_resp_free(&r);

	get_ok(&c, "/api/v2/", &r);
	assert_upstream(&r, "B", "/api/v2/");
	cr_assert_eq(r.status, 404, "the prefix alone arrives as '/' (the upstream's 404), got %d",
		     r.status);
	px_resp_free(&r);

	get_ok(&c, "/s/echo", &r);
	assert_upstream(&r, "B", "/s/echo");
	cr_assert(strstr(r.body, "\ntarget /echo\n"), "--proxy-strip /s: want /echo:\n%s", r.body);
	px_resp_free(&r);

	/* Not routed: served as before. */
	get_ok(&c, "/plaintext", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, PLAIN);
	cr_assert_null(px_header(&r, "X-Upstream"), "/plaintext went upstream");
	px_resp_free(&r);
	const char *misses[] = {"/api", "/ap", "/other", "/API/echo"};
	for (size_t i = 0; i < sizeof(misses) / sizeof(*misses); i++) {
		get_ok(&c, misses[i], &r);
		cr_assert_eq(r.status, 404, "%s: %d", misses[i], r.status);
		cr_assert_null(px_header(&r, "X-Upstream"), "%s went upstream", misses[i]);
		px_resp_free(&r);
	}
	h_conn_close(&c);
	cr_assert_eq(px_up_stat(&A, "requests"), 1);
	cr_assert_eq(px_up_stat(&B, "requests"), 3);
}

/* ---- fields ---- */

HTEST(proxy, request_fields_rewritten)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/echo", &A, NULL));
	struct px_resp r;
	int rc = px_exchange(srv.port,
			     "GET /echo HTTP/1.1\r\n"
			     "Host: example.test\r\n"
			     "Connection: keep-alive, X-Drop-Me\r\n"
			     "X-Drop-Me: 1\r\n"
			     "Keep-Alive: timeout=300\r\n"
			     "Proxy-Authorization: Basic eA==\r\n"
			     "Proxy-Connection: keep-alive\r\n"
			     "TE: trailers\r\n"
			     "Trailer: X-T\r\n"
			     "Upgrade: h2c\r\n"
			     "X-Forwarded-For: 10.0.0.1\r\n"
			     "X-Forwarded-Proto: https\r\n"
			     "X-Forwarded-Host: spoof.test\r\n"
			     "Via: 1.0 client\r\n"
			     "X-Custom: kept value\r\n"
			     "\r\n",
			     &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	const char *b = r.body;
	cr_assert(strstr(b, "\nversion HTTP/1.1\n"), "%s", b);
	const char *v;
	cr_assert((v = echo_field(b, "host")) && !strcmp(v, "example.test"), "Host not kept:\n%s", b);
	cr_assert((v = echo_field(b, "x-custom")) && !strcmp(v, "kept value"), "%s", b);
	cr_assert((v = echo_field(b, "x-forwarded-for")) && !strcmp(v, "10.0.0.1, 127.0.0.1"),
		  "X-Forwarded-For must be appended to:\n%s", b);
	cr_assert_eq(echo_count(b, "x-forwarded-for"), 1, "%s", b);
	cr_assert((v = echo_field(b, "x-forwarded-proto")) && !strcmp(v, "http"),
		  "X-Forwarded-Proto must be herd's (http), not the client's:\n%s", b);
	cr_assert_eq(echo_count(b, "x-forwarded-proto"), 1, "%s", b);
	cr_assert((v = echo_field(b, "x-forwarded-host")) && !strcmp(v, "example.test"),
		  "X-Forwarded-Host must be the client's Host:\n%s", b);
	cr_assert_eq(echo_count(b, "x-forwarded-host"), 1, "%s", b);
	cr_assert((v = echo_field(b, "via")) && !strcmp(v, "1.0 client, 1.1 herd"),
		  "Via must be appended to:\n%s", b);
	const char *gone[] = {"x-drop-me", "keep-alive", "proxy-authorization", "proxy-connection",
			      "te", "trailer", "upgrade", "transfer-encoding", "expect"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(*gone); i++)
		cr_assert_null(echo_field(b, gone[i]), "hop-by-hop %s forwarded:\n%s", gone[i], b);
	v = echo_field(b, "connection");
	cr_assert(!v || !strcasestr(v, "x-drop-me"), "Connection forwarded as '%s'", v);
	px_resp_free(&r);
}

HTEST(proxy, response_fields_rewritten)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/echo", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	get_ok(&c, "/echo", &r);
	cr_assert_eq(r.status, 200);
	assert_upstream(&r, "A", "/echo");
	cr_assert_null(px_header(&r, "Keep-Alive"), "upstream's Keep-Alive passed on");
	cr_assert_null(px_header(&r, "X-Hop"), "a field the upstream's Connection names passed on");
	const char *conn = px_header(&r, "Connection");
	cr_assert(!conn || !strcasestr(conn, "x-hop"), "upstream's Connection passed on: %s", conn);
	const char *via = px_header(&r, "Via");
	cr_assert(via && !strcmp(via, "1.0 up, 1.1 herd"), "Via: %s, want '1.0 up, 1.1 herd'",
		  via ? via : "(none)");
	cr_assert_eq(px_header_count(&r, "Content-Length"), 1);
	px_resp_free(&r);
	/* An upstream's Connection: close ends the upstream connection, not the
	 * client's: the next request on it still works. */
	get_ok(&c, "/echo?close=1", &r);
	cr_assert_eq(r.status, 200);
	conn = px_header(&r, "Connection");
	cr_assert(!conn || strcasecmp(conn, "close"), "the upstream's close passed to the client");
	px_resp_free(&r);
	get_ok(&c, "/echo", &r);
	cr_assert_eq(r.status, 200);
	px_resp_free(&r);
	h_conn_close(&c);
	cr_assert_eq(px_up_stat(&A, "connections"), 2, "the closed upstream connection reused?");
}

HTEST(proxy, http10_client)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL));
	/* No Host: the upstream's address is sent; the request goes as 1.1. */
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c, "GET /echo HTTP/1.0\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\nversion HTTP/1.1\n"), "%s", r.body);
	char host[64];
	snprintf(host, sizeof(host), "127.0.0.1:%d", A.port);
	const char *v = echo_field(r.body, "host");
	cr_assert(v && !strcmp(v, host), "Host for a 1.0 request without one: %s, want %s",
		  v ? v : "(none)", host);
	px_resp_free(&r);
	cr_assert_eq(h_conn_wait_eof(&c, 3000), 1, "HTTP/1.0 without keep-alive: not closed");
	h_conn_close(&c);

	/* A chunked upstream body reaches a 1.0 client decoded, close-delimited. */
	px_open(&c, srv.port);
	size_t n = 300000;
	rc = px_send_read(&c, "GET /chunked?n=300000&chunk=7000 HTTP/1.0\r\nHost: t\r\n\r\n", &r,
			  15000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_null(px_header(&r, "Transfer-Encoding"), "chunked sent to an HTTP/1.0 client");
	assert_pat_body(&r, n);
	px_resp_free(&r);
	cr_assert_eq(h_conn_wait_eof(&c, 3000), 1);
	h_conn_close(&c);

	/* A 1.0 client asking for keep-alive gets a Content-Length response
	 * and keeps its connection. */
	px_open(&c, srv.port);
	for (int i = 0; i < 2; i++) {
		rc = px_send_read(&c, "GET /big?n=1000 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r,
				  10000);
		cr_assert_eq(rc, H_OK, "request %d: %s", i, h_result_str(rc));
		assert_pat_body(&r, 1000);
		px_resp_free(&r);
	}
	h_conn_close(&c);
}

/* ---- bodies ---- */

HTEST(proxy, upload_content_length_5mib)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL), "--max-body", "16777216");
	size_t n = 5 * MIB + 17;
	unsigned char *body = px_pat_buf(0, n);
	struct h_conn c;
	px_open(&c, srv.port);
	char head[256];
	snprintf(head, sizeof(head),
		 "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
	cr_assert_eq(h_send_str(c.fd, head), 0);
	cr_assert_eq(h_send(c.fd, body, n, 15000), 0, "sending the body stalled");
	struct px_resp r;
	int rc = px_read(&c, &r, false, 20000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(px_header(&r, "X-Chunked"), "0");
	cr_assert_eq(strtoull(px_header(&r, "X-Body-Length"), NULL, 10), n);
	assert_pat_body(&r, n);
	px_resp_free(&r);
	h_conn_close(&c);
	free(body);
}

HTEST(proxy, upload_chunked_5mib_forwarded_chunked)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL), "--max-body", "16777216");
	size_t n = 5 * MIB;
	unsigned char *body = px_pat_buf(0, n);
	struct h_conn c;
	px_open(&c, srv.port);
	cr_assert_eq(h_send_str(c.fd, "POST /echo-body HTTP/1.1\r\nHost: t\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n"), 0);
	/* Chunks of assorted sizes, a chunk extension on one. */
	static const size_t sizes[] = {1, 100, 65536, 3, 1048576, 4095, 300000};
	size_t off = 0;
	for (int i = 0; off < n; i++) {
		size_t k = sizes[i % 7];
		if (k > n - off)
			k = n - off;
		char line[64];
		snprintf(line, sizeof(line), i == 2 ? "%zx;ext=1\r\n" : "%zx\r\n", k);
		cr_assert_eq(h_send_str(c.fd, line), 0);
		cr_assert_eq(h_send(c.fd, body + off, k, 15000), 0);
		cr_assert_eq(h_send_str(c.fd, "\r\n"), 0);
		off += k;
	}
	cr_assert_eq(h_send_str(c.fd, "0\r\n\r\n"), 0);
	struct px_resp r;
	int rc = px_read(&c, &r, false, 20000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(px_header(&r, "X-Chunked"), "1", "a chunked request must go up chunked");
	cr_assert_eq(strtoull(px_header(&r, "X-Body-Length"), NULL, 10), n);
	assert_pat_body(&r, n);
	px_resp_free(&r);
	/* The connection is still usable. */
	get_ok(&c, "/echo", &r);
	cr_assert_eq(r.status, 200);
	px_resp_free(&r);
	h_conn_close(&c);
	free(body);
}

HTEST(proxy, download_chunked_length_and_close_delimited)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	size_t n = 5 * MIB + 3;
	get_ok(&c, "/chunked?n=5242883&chunk=65536", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.framing, PX_CHUNKED, "a chunked body to a 1.1 client is passed chunked");
	cr_assert(r.last_chunk);
	assert_pat_body(&r, n);
	px_resp_free(&r);

	get_ok(&c, "/big?n=5242883", &r);
	cr_assert_eq(r.framing, PX_LENGTH);
	cr_assert_eq(r.content_length, n);
	cr_assert_eq(px_pat_diff(r.body, n, 0), -1, "differs at %ld", px_pat_diff(r.body, n, 0));
	px_resp_free(&r);

	/* Without a length: the client gets Connection: close and every byte. */
	n = 1000003;
	get_ok(&c, "/close-delimited?n=1000003", &r);
	cr_assert_eq(r.status, 200);
	const char *conn = px_header(&r, "Connection");
	cr_assert(conn && !strcasecmp(conn, "close"), "Connection: %s, want close",
		  conn ? conn : "(none)");
	assert_pat_body(&r, n);
	px_resp_free(&r);
	h_conn_close(&c);
}

HTEST(proxy, curl_download_and_upload)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", ROUTE("/app/", &A, NULL), "--max-body", "16777216");
	const char *d = px_dir();
	size_t n = 3 * MIB + 5;
	unsigned char *want = px_pat_buf(0, n);
	char in[256], out[256];
	snprintf(in, sizeof(in), "%s/in.bin", d);
	snprintf(out, sizeof(out), "%s/out.bin", d);
	px_write_file(in, want, n);
	char *o;
	int rc = px_run(&o, "curl -sS --max-time 15 -o %s http://127.0.0.1:%d/app/chunked?n=%zu",
			out, srv.port, n);
	cr_assert_eq(rc, 0, "curl download: %s", o);
	free(o);
	size_t got;
	char *b = px_read_file(out, &got);
	cr_assert(b && got == n && !memcmp(b, want, n), "curl download: %zu bytes, want %zu", got, n);
	free(b);
	unlink(out);
	/* Uploads: Content-Length, then chunked. */
	for (int chunked = 0; chunked < 2; chunked++) {
		rc = px_run(&o, "curl -sS --max-time 15 --data-binary @%s %s -o %s "
				"http://127.0.0.1:%d/app/echo-body",
			    in, chunked ? "-H Transfer-Encoding:chunked" : "", out, srv.port);
		cr_assert_eq(rc, 0, "curl upload: %s", o);
		free(o);
		b = px_read_file(out, &got);
		cr_assert(b && got == n && !memcmp(b, want, n),
			  "curl upload (chunked %d) echoed %zu bytes, want %zu", chunked, got, n);
		free(b);
		unlink(out);
	}
	free(want);
}

/* ---- bodiless responses ---- */

/* After a bodiless response, nothing more arrives on the connection. */
static void assert_quiet(struct h_conn *c, const char *what)
{
	cr_assert_eq(c->len, 0, "%s: %zu stray bytes after the head", what, c->len);
	cr_assert_eq(h_conn_wait_eof(c, 300), 0, "%s: bytes or a close after a bodiless response",
		     what);
}

HTEST(proxy, head_204_304_carry_no_body)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c, "HEAD /big?n=1000 HTTP/1.1\r\nHost: t\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	const char *cl = px_header(&r, "Content-Length");
	cr_assert(cl && !strcmp(cl, "1000"), "HEAD: Content-Length %s, want 1000", cl ? cl : "-");
	assert_quiet(&c, "HEAD");
	px_resp_free(&r);

	rc = px_send_read(&c, "HEAD /chunked?n=1000 HTTP/1.1\r\nHost: t\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	assert_quiet(&c, "HEAD of a chunked resource");
	px_resp_free(&r);

	get_ok(&c, "/head204", &r);
	cr_assert_eq(r.status, 204);
	assert_quiet(&c, "204 claiming Content-Length: 5");
	px_resp_free(&r);

	get_ok(&c, "/304", &r);
	cr_assert_eq(r.status, 304);
	const char *etag = px_header(&r, "ETag");
	cr_assert(etag && !strcmp(etag, "\"v1\""), "304 lost its ETag");
	assert_quiet(&c, "304");
	px_resp_free(&r);

	/* The connection is intact: a normal request still frames right. */
	get_ok(&c, "/big?n=5000", &r);
	cr_assert_eq(r.status, 200);
	assert_pat_body(&r, 5000);
	px_resp_free(&r);
	h_conn_close(&c);
}

HTEST(proxy, upstream_status_passed_on)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	const int codes[] = {201, 404, 418, 500, 503};
	for (size_t i = 0; i < sizeof(codes) / sizeof(*codes); i++) {
		char path[64], body[32];
		snprintf(path, sizeof(path), "/status?code=%d", codes[i]);
		snprintf(body, sizeof(body), "status %d", codes[i]);
		struct px_resp r;
		get_ok(&c, path, &r);
		cr_assert_eq(r.status, codes[i], "%s answered %d", path, r.status);
		cr_assert_str_eq(r.body, body);
		assert_upstream(&r, "A", path);
		px_resp_free(&r);
	}
	h_conn_close(&c);
}

HTEST(proxy, expect_100_continue)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
				  "Content-Length: 11\r\n\r\n", &r, 5000);
	cr_assert_eq(rc, H_OK, "no interim response to Expect: 100-continue: %s", h_result_str(rc));
	cr_assert_eq(r.status, 100, "first response %d, want 100 Continue", r.status);
	px_resp_free(&r);
	cr_assert_eq(h_send_str(c.fd, "hello world"), 0);
	rc = px_read(&c, &r, false, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\nbody-length 11\nbody hello world\n"), "%s", r.body);
	cr_assert_null(echo_field(r.body, "expect"), "Expect forwarded:\n%s", r.body);
	px_resp_free(&r);
	h_conn_close(&c);
}

/* ---- connections ---- */

HTEST(proxy, pipelined_requests_answered_in_order)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", ROUTE("/p/", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	const char *reqs = "GET /p/echo?i=1 HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /p/big?n=200000 HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
			   "POST /p/echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde"
			   "GET /p/chunked?n=70000&chunk=1000 HTTP/1.1\r\nHost: t\r\n\r\n"
			   "GET /p/echo?i=6 HTTP/1.1\r\nHost: t\r\n\r\n";
	cr_assert_eq(h_send_str(c.fd, reqs), 0);
	struct px_resp r;
	int rc;
#define NEXT(i)                                                                     \
	rc = px_read(&c, &r, false, 15000);                                         \
	cr_assert_eq(rc, H_OK, "pipelined response %d: %s", (i), h_result_str(rc)); \
	cr_assert_eq(r.status, 200, "pipelined response %d: %d", (i), r.status)
	NEXT(1);
	cr_assert(strstr(r.body, "\ntarget /echo?i=1\n"), "response 1 out of order:\n%s", r.body);
	px_resp_free(&r);
	NEXT(2);
	cr_assert_eq(r.body_len, 200000, "response 2 out of order");
	cr_assert_eq(px_pat_diff(r.body, r.body_len, 0), -1);
	px_resp_free(&r);
	NEXT(3);
	cr_assert_str_eq(r.body, PLAIN, "response 3 (built-in) out of order");
	px_resp_free(&r);
	NEXT(4);
	cr_assert_str_eq(r.body, "abcde", "response 4 out of order");
	px_resp_free(&r);
	NEXT(5);
	cr_assert_eq(r.body_len, 70000, "response 5 out of order");
	cr_assert_eq(px_pat_diff(r.body, r.body_len, 0), -1);
	px_resp_free(&r);
	NEXT(6);
	cr_assert(strstr(r.body, "\ntarget /echo?i=6\n"), "response 6 out of order:\n%s", r.body);
	px_resp_free(&r);
#undef NEXT
	cr_assert_eq(h_conn_wait_eof(&c, 300), 0, "stray bytes after the last response");
	h_conn_close(&c);
}

HTEST(proxy, keepalive_reuses_upstream_connection)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL), "--admin", "127.0.0.1:0");
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int first_conn = -1;
	for (int i = 1; i <= 4; i++) {
		get_ok(&c, "/echo", &r);
		cr_assert_eq(r.status, 200);
		int cid, nreq;
		const char *p = strstr(r.body, "\nconn ");
		cr_assert(p && sscanf(p, "\nconn %d %d", &cid, &nreq) == 2, "%s", r.body);
		if (first_conn < 0)
			first_conn = cid;
		cr_assert_eq(cid, first_conn, "request %d on upstream connection %d, not %d", i, cid,
			     first_conn);
		cr_assert_eq(nreq, i, "request %d was number %d on its upstream connection", i, nreq);
		px_resp_free(&r);
	}
	cr_assert_eq(px_up_stat(&A, "connections"), 1);
	cr_assert_eq(px_up_stat(&A, "requests"), 4);
	/* The pooled connection shows in the gauge. */
	long long idle = -1;
	for (int i = 0; i < 20 && idle != 1; i++, h_sleep_ms(50))
		idle = px_metric(srv.admin_port, "herd_upstream_idle_connections", A.label, NULL);
	cr_assert_eq(idle, 1, "herd_upstream_idle_connections %lld, want 1", idle);
	h_conn_close(&c);
}

HTEST(proxy, idle_pool_limits)
{
	PX_UP(&A, "--name", "A");
	PX_UP(&B, "--name", "B");
	/* --proxy-idle-timeout 1: the pooled connection is closed after 1 s. */
	herd_start(&srv, "--proxy-strip", ROUTE("/a/", &A, NULL), "--proxy-idle-timeout", "1",
		   "--admin", "127.0.0.1:0");
	cr_assert_eq(px_status(srv.port, "/a/echo"), 200);
	long long t0 = h_now_ms();
	h_sleep_ms(500);
	cr_assert_eq(px_up_stat(&A, "idle_closed"), 0, "pooled connection closed within 0.5 s");
	while (px_up_stat(&A, "idle_closed") == 0 && h_now_ms() - t0 < 4000)
		h_sleep_ms(50);
	cr_assert_eq(px_up_stat(&A, "idle_closed"), 1,
		     "pooled connection still open 4 s into --proxy-idle-timeout 1");
	long long idle = -1;
	for (int i = 0; i < 20 && idle != 0; i++, h_sleep_ms(50))
		idle = px_metric(srv.admin_port, "herd_upstream_idle_connections", A.label, NULL);
	cr_assert_eq(idle, 0, "herd_upstream_idle_connections %lld after the idle close", idle);
	herd_release(&srv);

	/* --proxy-idle 0: nothing pooled, a connection per request. */
	herd_start(&srv, "--proxy-strip", ROUTE("/b/", &B, NULL), "--proxy-idle", "0");
	struct h_conn c;
	px_open(&c, srv.port);
	for (int i = 0; i < 3; i++) {
		struct px_resp r;
		get_ok(&c, "/b/echo", &r);
		cr_assert_eq(r.status, 200);
		px_resp_free(&r);
	}
	h_conn_close(&c);
	cr_assert_eq(px_up_stat(&B, "connections"), 3, "--proxy-idle 0 kept a connection");
}

HTEST(proxy, body_over_max_body_is_413_without_upstream)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL), "--max-body", "1000");
	struct px_resp r;
	/* The head alone: herd must not wait for (or forward) the body. */
	int rc = px_exchange(srv.port, "POST /echo-body HTTP/1.1\r\nHost: t\r\n"
				       "Content-Length: 5000\r\n\r\n", &r, 5000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 413);
	cr_assert_null(px_header(&r, "X-Upstream"));
	px_resp_free(&r);
	cr_assert_eq(px_up_stat(&A, "requests"), 0, "the upstream saw a 413'd request");
	rc = px_exchange(srv.port, "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
				   "12345", &r, 5000);
	cr_assert_eq(rc, H_OK);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "12345");
	px_resp_free(&r);
}

HTEST(proxy, websocket_tunnel)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/ws", &A, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c, "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
				  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				  "Sec-WebSocket-Version: 13\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 101, "status %d, want 101", r.status);
	const char *up = px_header(&r, "Upgrade"), *conn = px_header(&r, "Connection");
	const char *acc = px_header(&r, "Sec-WebSocket-Accept");
	cr_assert(up && !strcasecmp(up, "websocket"), "Upgrade: %s", up ? up : "(none)");
	cr_assert(conn && strcasestr(conn, "upgrade"), "Connection: %s", conn ? conn : "(none)");
	cr_assert(acc && !strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "Sec-WebSocket-Accept: %s",
		  acc ? acc : "(none)");
	px_resp_free(&r);
	cr_assert_eq(c.len, 0, "bytes after the 101 head before anything was sent");
	/* Raw bytes both ways, every byte value, then 256 KiB at once. */
	unsigned char small[256];
	for (int i = 0; i < 256; i++)
		small[i] = (unsigned char)i;
	size_t big_n = 256 * 1024;
	unsigned char *big = px_pat_buf(0, big_n);
	const struct {
		const unsigned char *p;
		size_t n;
	} msgs[] = {{small, sizeof(small)}, {big, big_n}};
	for (size_t m = 0; m < 2; m++) {
		cr_assert_eq(h_send(c.fd, msgs[m].p, msgs[m].n, 10000), 0);
		long long deadline = h_now_ms() + 10000;
		while (c.len < msgs[m].n && h_now_ms() < deadline) {
			char buf[65536];
			struct pollfd pf = {c.fd, POLLIN, 0};
			if (poll(&pf, 1, 200) != 1)
				continue;
			ssize_t got = recv(c.fd, buf, sizeof(buf), 0);
			cr_assert(got > 0, "tunnel closed after %zu of %zu echoed bytes", c.len,
				  msgs[m].n);
			if (c.len + (size_t)got > c.cap)
				c.buf = realloc(c.buf, c.cap = c.len + (size_t)got + 65536);
			memcpy(c.buf + c.len, buf, (size_t)got);
			c.len += (size_t)got;
		}
		cr_assert_eq(c.len, msgs[m].n, "echoed %zu of %zu bytes", c.len, msgs[m].n);
		cr_assert(!memcmp(c.buf, msgs[m].p, msgs[m].n), "tunnelled bytes differ");
		c.len = 0;
	}
	free(big);
	/* The client closes its side: the upstream sees it and closes, herd
	 * closes the client. */
	shutdown(c.fd, SHUT_WR);
	cr_assert_eq(h_conn_wait_eof(&c, 5000), 1, "tunnel not closed after the client's FIN");
	h_conn_close(&c);
}

HTEST(proxy, unix_socket_upstream)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/up.sock", px_dir());
	PX_UP(&A, "--name", "U", "--unix", path);
	herd_start(&srv, "--proxy-strip", ROUTE("/u/", &A, NULL), "--admin", "127.0.0.1:0");
	struct h_conn c;
	px_open(&c, srv.port);
	for (int i = 0; i < 2; i++) {
		struct px_resp r;
		get_ok(&c, "/u/echo?x=1", &r);
		cr_assert_eq(r.status, 200);
		assert_upstream(&r, "U", "unix upstream");
		cr_assert(strstr(r.body, "\ntarget /echo?x=1\n"), "%s", r.body);
		px_resp_free(&r);
	}
	h_conn_close(&c);
	long long n = px_metric(srv.admin_port, "herd_upstream_requests_total", A.label, NULL);
	cr_assert_eq(n, 2, "herd_upstream_requests_total{upstream=\"%s\"} = %lld", A.label, n);
}

HTEST(proxy, ipv6_upstream)
{
	if (!px_have_ipv6()) {
		harness_passed();
		cr_skip_test("no ::1 here");
	}
	PX_UP(&A, "--name", "six", "--ipv6");
	herd_start(&srv, "--proxy-strip", ROUTE("/6/", &A, NULL));
	struct px_resp r;
	int rc = px_exchange(srv.port, "GET /6/big?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	assert_upstream(&r, "six", "IPv6 upstream");
	assert_pat_body(&r, 100000);
	px_resp_free(&r);
}

/* ---- balancing ---- */

HTEST(proxy, round_robin_between_idle_upstreams)
{
	PX_UP(&A, "--name", "A");
	PX_UP(&B, "--name", "B");
	herd_start(&srv, "--proxy", ROUTE("/", &A, &B));
	struct h_conn c;
	px_open(&c, srv.port);
	char prev[8] = "";
	int na = 0, nb = 0;
	for (int i = 0; i < 6; i++) {
		struct px_resp r;
		get_ok(&c, "/echo", &r);
		cr_assert_eq(r.status, 200);
		const char *u = px_header(&r, "X-Upstream");
		cr_assert(u);
		cr_assert(strcmp(u, prev), "request %d went to %s again (ties are round robin)", i, u);
		snprintf(prev, sizeof(prev), "%s", u);
		na += !strcmp(u, "A");
		nb += !strcmp(u, "B");
		px_resp_free(&r);
	}
	cr_assert(na == 3 && nb == 3, "A %d, B %d", na, nb);
	h_conn_close(&c);
}

HTEST(proxy, least_outstanding_requests)
{
	if (px_procs()) { /* needs both client connections on one worker */
		harness_passed();
		cr_skip_test("one worker needed");
	}
	PX_UP(&A, "--name", "A");
	PX_UP(&B, "--name", "B");
	herd_start(&srv, "--proxy", ROUTE("/", &A, &B), "--workers", "1");
	struct h_conn slow, c;
	px_open(&slow, srv.port);
	cr_assert_eq(h_send_str(slow.fd, "GET /slow-head?ms=3000 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	/* Wait until an upstream holds it. */
	long long deadline = h_now_ms() + 3000;
	while (px_up_stat(&A, "path /slow-head") + px_up_stat(&B, "path /slow-head") == 0 &&
	       h_now_ms() < deadline)
		h_sleep_ms(20);
	const char *busy = px_up_stat(&A, "path /slow-head") ? "A" : "B";
	px_open(&c, srv.port);
	for (int i = 0; i < 4; i++) {
		struct px_resp r;
		get_ok(&c, "/echo", &r);
		const char *u = px_header(&r, "X-Upstream");
		cr_assert(u && strcmp(u, busy),
			  "request %d went to %s, which has a request outstanding", i, u ? u : "-");
		px_resp_free(&r);
	}
	struct px_resp r;
	int rc = px_read(&slow, &r, false, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_str_eq(r.body, "slow");
	assert_upstream(&r, busy, "the slow request");
	px_resp_free(&r);
	h_conn_close(&slow);
	h_conn_close(&c);
}

/* ---- access log and metrics ---- */

/* The access-log line containing needle (malloc'd), waiting up to 4 s for
 * the once-a-second flush. */
static char *log_line(const char *path, const char *needle)
{
	long long deadline = h_now_ms() + 4000;
	for (;;) {
		char *t = px_read_file(path, NULL);
		char *p = t ? strstr(t, needle) : NULL;
		if (p) {
			while (p > t && p[-1] != '\n')
				p--;
			size_t n = strcspn(p, "\n");
			char *line = strndup(p, n);
			free(t);
			return line;
		}
		free(t);
		if (h_now_ms() > deadline)
			return NULL;
		h_sleep_ms(50);
	}
}

/* The upstream_time of a proxied line ending " upstream=LABEL upstream_time=T". */
static double upstream_time(const char *line, const struct px_up *u)
{
	char want[300];
	snprintf(want, sizeof(want), " upstream=%s upstream_time=", u->label);
	const char *p = strstr(line, want);
	cr_assert(p, "no '%s' in the log line:\n%s", want, line);
	p += strlen(want);
	char *end;
	double t = strtod(p, &end);
	cr_assert(end != p && *end == 0, "upstream_time is not a number ending the line:\n%s", line);
	return t;
}

HTEST(proxy, access_log_names_upstream_and_time)
{
	PX_UP(&A, "--name", "A");
	char log[200];
	snprintf(log, sizeof(log), "%s/access.log", px_dir());
	herd_start(&srv, "--proxy", ROUTE("/up/", &A, NULL), "--proxy", ROUTE("/slow-head", &A, NULL),
		   "--access-log", log);
	cr_assert_eq(px_status(srv.port, "/up/quick"), 404); /* the upstream's 404 */
	cr_assert_eq(px_status(srv.port, "/plaintext"), 200);
	cr_assert_eq(px_status(srv.port, "/slow-head?ms=400"), 200);
	char *line = log_line(log, "/up/quick");
	cr_assert(line, "no access-log line for the proxied request");
	cr_assert(strstr(line, "\"GET /up/quick HTTP/1.1\" 404 "), "%s", line);
	double t = upstream_time(line, &A);
	cr_assert(t >= 0 && t < 2, "upstream_time %f", t);
	free(line);
	line = log_line(log, "/slow-head?ms=400");
	cr_assert(line, "no access-log line for the slow request");
	t = upstream_time(line, &A);
	cr_assert(t >= 0.35 && t < 5, "upstream_time %f for a 400 ms upstream", t);
	free(line);
	line = log_line(log, "/plaintext");
	cr_assert(line, "no access-log line for /plaintext");
	cr_assert_null(strstr(line, "upstream="), "a built-in response names an upstream:\n%s", line);
	free(line);
}

HTEST(proxy, metrics_count_requests_and_responses)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", &A, NULL), "--admin", "127.0.0.1:0");
	struct h_conn c;
	px_open(&c, srv.port);
	const char *paths[] = {"/echo", "/echo", "/echo", "/echo", "/status?code=404",
			       "/status?code=503", "/status?code=302"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		struct px_resp r;
		get_ok(&c, paths[i], &r);
		px_resp_free(&r);
	}
	h_conn_close(&c);
	const char *L = A.label;
	/* Counted when the response ends: allow the worker a moment. */
	long long hist = -1;
	for (int i = 0; i < 40 && hist != 7; i++, h_sleep_ms(50))
		hist = px_metric(srv.admin_port, "herd_upstream_response_seconds_count", L, NULL);
	cr_assert_eq(hist, 7, "herd_upstream_response_seconds_count %lld, want 7", hist);
	long long v;
	v = px_metric(srv.admin_port, "herd_upstream_requests_total", L, NULL);
	cr_assert_eq(v, 7, "herd_upstream_requests_total %lld, want 7", v);
	v = px_metric(srv.admin_port, "herd_upstream_responses_total", L, "class=\"2xx\"");
	cr_assert_eq(v, 4, "responses 2xx %lld", v);
	v = px_metric(srv.admin_port, "herd_upstream_responses_total", L, "class=\"3xx\"");
	cr_assert_eq(v, 1, "responses 3xx %lld", v);
	v = px_metric(srv.admin_port, "herd_upstream_responses_total", L, "class=\"4xx\"");
	cr_assert_eq(v, 1, "responses 4xx %lld", v);
	v = px_metric(srv.admin_port, "herd_upstream_responses_total", L, "class=\"5xx\"");
	cr_assert_eq(v, 1, "responses 5xx %lld", v);
	v = px_metric(srv.admin_port, "herd_upstream_response_seconds_bucket", L, "le=\"+Inf\"");
	cr_assert_eq(v, 7, "bucket +Inf %lld", v);
	v = px_metric(srv.admin_port, "herd_upstream_up", L, NULL);
	cr_assert_eq(v, 1, "herd_upstream_up %lld", v);
	v = px_metric(srv.admin_port, "herd_upstream_errors_total", L, NULL);
	cr_assert(v <= 0, "herd_upstream_errors_total %lld without a failure", v);
	char *text = h_metrics_assert(srv.admin_port, __LINE__);
	char want[300];
	snprintf(want, sizeof(want), "herd_upstream_response_seconds_sum{upstream=\"%s\"", L);
	cr_assert(strstr(text, want), "no %s} in /metrics", want);
	free(text);
}
