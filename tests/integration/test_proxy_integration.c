/* The reverse proxy (--proxy, --proxy-strip) as clients and application
 * servers see it: routes, the fields herd adds and removes, bodies both ways
 * byte-exact in every framing, HTTP/1.0 clients, bodiless responses,
 * 100-continue, pipelining and keep-alive through the proxy, WebSocket
 * tunnels, Unix-socket and IPv6 upstreams, balancing, the access log and
 * /metrics (connections onwards: test_proxy_conn_integration.c).  Upstreams are proxy_upstream.py processes the tests start; the
 * failure cases are in test_proxy_hostile_integration.c. */
#include "proxy_suite.h"

TestSuite(proxy, .fini = px_fini, .timeout = 60);

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

