/* The proxy suite, continued (see test_proxy_integration.c): pipelining and
 * keep-alive through the proxy, the upstream pool, WebSocket tunnels,
 * Unix-socket and IPv6 upstreams, balancing, the access log and /metrics. */
#include "proxy_suite.h"

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

/* herd in front of herd: the upstream's keep-alive and pipelining as
 * another herd speaks them. */
HTEST(proxy, herd_as_upstream)
{
	static struct herd up;
	herd_start(&up, "--workers", "1");
	char spec[64];
	snprintf(spec, sizeof(spec), "/h/=http://127.0.0.1:%d", up.port);
	herd_start(&srv, "--proxy-strip", spec, "--admin", "127.0.0.1:0");
	struct h_conn c;
	px_open(&c, srv.port);
	for (int i = 0; i < 50; i++) {
		struct px_resp r;
		get_ok(&c, "/h/plaintext", &r);
		cr_assert_eq(r.status, 200, "request %d", i);
		cr_assert_eq(r.body_len, strlen(PLAIN));
		cr_assert(!memcmp(r.body, PLAIN, r.body_len), "request %d", i);
		px_resp_free(&r);
	}
	/* Eight at once, answered in order. */
	char batch[8 * 64];
	size_t n = 0;
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(batch + n, sizeof(batch) - n,
				      "GET /h/%s HTTP/1.1\r\nHost: t\r\n\r\n",
				      i % 2 ? "json" : "plaintext");
	cr_assert_eq(h_send(c.fd, batch, n, 5000), 0);
	for (int i = 0; i < 8; i++) {
		struct px_resp r;
		cr_assert_eq(px_read(&c, &r, false, 10000), H_OK, "pipelined response %d", i);
		cr_assert_eq(r.status, 200);
		cr_assert(strstr(r.body, i % 2 ? "message" : PLAIN), "pipelined %d: %s", i, r.body);
		px_resp_free(&r);
	}
	h_conn_close(&c);
	char label[64];
	snprintf(label, sizeof(label), "127.0.0.1:%d", up.port);
	long long reqs = px_metric(srv.admin_port, "herd_upstream_requests_total", label, NULL);
	cr_assert_eq(reqs, 58, "herd_upstream_requests_total{upstream=\"%s\"} = %lld", label, reqs);
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
