/* The reverse proxy when upstreams fail or clients misbehave: refused
 * connections (502, failover), timeouts (504, stalled bodies), truncated,
 * reset, garbage and oversized responses, passive and active health, stale
 * pooled connections and the retry rule (a GET once, never a POST that
 * reached the upstream), clients that go away, a slow reader of a large
 * response (herd's memory stays flat), and the error metrics.  Run one test
 * at a time (--jobs 1): several assert latencies. */
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

TestSuite(proxy_hostile, .fini = px_fini, .timeout = 60);

static struct herd srv;
static struct px_up A, B;

static const char *route(char *buf, size_t cap, const char *prefix, const char *u1,
			 const char *u2)
{
	snprintf(buf, cap, "%s=%s%s%s", prefix, u1, u2 ? "," : "", u2 ? u2 : "");
	return buf;
}
#define ROUTE(prefix, ...) route((char[400]){0}, 400, (prefix), __VA_ARGS__)

static const char *dead_url(void)
{
	static char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", px_dead_port());
	return url;
}

/* GET path on a fresh connection: status (asserts a response), *ms its time. */
static int timed_get(const char *path, long long *ms, struct px_resp *keep)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	struct px_resp r;
	long long t0 = h_now_ms();
	int rc = px_exchange(srv.port, req, &r, 15000);
	if (ms)
		*ms = h_now_ms() - t0;
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
	int s = r.status;
	if (keep)
		*keep = r;
	else
		px_resp_free(&r);
	return s;
}

/* Polls name{upstream=label[,extra]} until it equals want (up to ms). */
static long long wait_metric(const char *name, const char *label, const char *extra,
			     long long want, int ms)
{
	long long deadline = h_now_ms() + ms, v;
	while ((v = px_metric(srv.admin_port, name, label, extra)) != want && h_now_ms() < deadline)
		h_sleep_ms(50);
	return v;
}

static void assert_plain_still_served(void)
{
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

/* ---- refused ---- */

HTEST(proxy_hostile, connect_refused_is_502)
{
	const char *dead = dead_url();
	char label[64];
	snprintf(label, sizeof(label), "%s", dead + strlen("http://"));
	herd_start(&srv, "--proxy", ROUTE("/d/", dead, NULL), "--admin", "127.0.0.1:0");
	long long ms;
	cr_assert_eq(timed_get("/d/x", &ms, NULL), 502);
	cr_assert_lt(ms, 2000, "502 for a refused connect took %lld ms", ms);
	long long v = wait_metric("herd_upstream_errors_total", label, "kind=\"connect\"", 1, 2000);
	cr_assert_eq(v, 1, "errors{kind=connect} %lld, want 1", v);
	assert_plain_still_served();
}

HTEST(proxy_hostile, failover_to_next_upstream_when_refused)
{
	PX_UP(&A, "--name", "good");
	const char *dead = dead_url();
	char label[64];
	snprintf(label, sizeof(label), "%s", dead + strlen("http://"));
	herd_start(&srv, "--proxy-strip", ROUTE("/f/", dead, A.url), "--admin", "127.0.0.1:0");
	struct h_conn c;
	px_open(&c, srv.port);
	for (int i = 0; i < 6; i++) {
		struct px_resp r;
		int rc = px_send_read(&c, "GET /f/echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, 10000);
		cr_assert_eq(rc, H_OK, "request %d: %s", i, h_result_str(rc));
		cr_assert_eq(r.status, 200, "request %d: %d: no failover from the refused upstream", i,
			     r.status);
		const char *u = px_header(&r, "X-Upstream");
		cr_assert(u && !strcmp(u, "good"));
		px_resp_free(&r);
	}
	h_conn_close(&c);
	cr_assert_eq(px_up_stat(&A, "path /echo"), 6);
	long long v = px_metric(srv.admin_port, "herd_upstream_errors_total", label,
				"kind=\"connect\"");
	cr_assert_geq(v, 1, "round robin never tried the refused upstream (errors %lld)", v);
}

/* ---- timeouts ---- */

HTEST(proxy_hostile, no_head_in_time_is_504_and_upstream_closed)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL), "--proxy-timeout", "1", "--admin",
		   "127.0.0.1:0");
	long long ms;
	cr_assert_eq(timed_get("/slow-head?ms=3000", &ms, NULL), 504);
	cr_assert(ms >= 900 && ms < 2800, "504 after %lld ms with --proxy-timeout 1", ms);
	cr_assert_eq(timed_get("/never", &ms, NULL), 504);
	cr_assert(ms >= 900 && ms < 2800, "504 after %lld ms with --proxy-timeout 1", ms);
	/* herd dropped the connection it gave up on. */
	cr_assert_eq(px_up_stat_wait(&A, "never_closed", 3000, 50), 1, "the timed-out upstream connection was kept");
	long long v = px_metric(srv.admin_port, "herd_upstream_errors_total", A.label,
				"kind=\"timeout\"");
	cr_assert_eq(v, 2, "errors{kind=timeout} %lld, want 2", v);
	/* Two failures, not three: still up, and a quick request is served. */
	cr_assert_eq(timed_get("/echo", NULL, NULL), 200);
}

HTEST(proxy_hostile, stalled_body_is_cut_after_timeout)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL), "--proxy-timeout", "1");
	/* A pause under the timeout is fine. */
	struct px_resp r;
	cr_assert_eq(timed_get("/slow-body?n=100000&ms=400", NULL, &r), 200);
	cr_assert_eq(r.body_len, 100000);
	cr_assert_eq(px_pat_diff(r.body, r.body_len, 0), -1);
	px_resp_free(&r);
	/* A pause over it: half the body, then the client connection closes. */
	struct h_conn c;
	px_open(&c, srv.port);
	long long t0 = h_now_ms();
	int rc = px_send_read(&c, "GET /slow-body?n=100000&ms=4000 HTTP/1.1\r\nHost: t\r\n\r\n", &r,
			      10000);
	long long ms = h_now_ms() - t0;
	cr_assert_eq(rc, H_PARTIAL, "a body stalled 4 s with --proxy-timeout 1: %s after %lld ms",
		     h_result_str(rc), ms);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.body_len, 50000, "%zu body bytes before the cut, want 50000", r.body_len);
	cr_assert_eq(px_pat_diff(r.body, r.body_len, 0), -1);
	cr_assert(ms >= 900 && ms < 3500, "cut after %lld ms", ms);
	px_resp_free(&r);
	h_conn_close(&c);
}

/* ---- broken responses ---- */

HTEST(proxy_hostile, upstream_closing_mid_body_truncates_client)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL), "--admin", "127.0.0.1:0");
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c, "GET /truncate?n=100000 HTTP/1.1\r\nHost: t\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_PARTIAL, "Content-Length body cut upstream: %s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.content_length, 100000);
	cr_assert_eq(r.body_len, 50000, "%zu bytes, want the 50000 sent", r.body_len);
	cr_assert_eq(px_pat_diff(r.body, r.body_len, 0), -1);
	px_resp_free(&r);
	h_conn_close(&c);

	px_open(&c, srv.port);
	rc = px_send_read(&c, "GET /truncate?n=100000&chunked=1 HTTP/1.1\r\nHost: t\r\n\r\n", &r,
			  10000);
	cr_assert_eq(r.framing, PX_CHUNKED);
	cr_assert_eq(rc, H_PARTIAL, "chunked body cut upstream: %s (last chunk %d)",
		     h_result_str(rc), r.last_chunk);
	cr_assert(!r.last_chunk, "herd completed a chunked body the upstream cut");
	cr_assert_eq(r.body_len, 50000);
	cr_assert_eq(px_pat_diff(r.body, r.body_len, 0), -1);
	px_resp_free(&r);
	h_conn_close(&c);
	long long v = px_metric(srv.admin_port, "herd_upstream_errors_total", A.label,
				"kind=\"closed\"");
	cr_assert_eq(v, 2, "errors{kind=closed} %lld, want 2", v);
	cr_assert_eq(timed_get("/echo", NULL, NULL), 200);
}

HTEST(proxy_hostile, reset_closed_garbage_huge_head_are_502)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL), "--admin", "127.0.0.1:0");
	/* Passive health would mark A down after 3 failures in a row: a good
	 * request between the bad ones restarts the count. */
	const char *bad[] = {"/reset", "/close", "/garbage", "/huge-head"};
	for (size_t i = 0; i < 4; i++) {
		long long ms;
		struct px_resp r;
		int s = timed_get(bad[i], &ms, &r);
		cr_assert_eq(s, 502, "%s: %d, want 502", bad[i], s);
		cr_assert_null(strstr(r.head, "SPEAKING"), "garbage passed on");
		cr_assert_lt(ms, 3000, "%s: 502 after %lld ms", bad[i], ms);
		px_resp_free(&r);
		cr_assert_eq(timed_get("/echo", NULL, NULL), 200, "after %s", bad[i]);
	}
	long long v = px_metric(srv.admin_port, "herd_upstream_errors_total", A.label,
				"kind=\"invalid\"");
	cr_assert_eq(v, 2, "errors{kind=invalid} %lld, want 2 (garbage, huge head)", v);
	v = px_metric(srv.admin_port, "herd_upstream_errors_total", A.label, "kind=\"closed\"");
	cr_assert_geq(v, 2, "errors{kind=closed} %lld, want >= 2 (reset, close)", v);
	v = px_metric(srv.admin_port, "herd_upstream_up", A.label, NULL);
	cr_assert_eq(v, 1, "up %lld after failures that were never 3 in a row", v);
}

/* ---- passive health ---- */

HTEST(proxy_hostile, three_failures_mark_down_then_back_after_5s)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL), "--admin", "127.0.0.1:0");
	for (int i = 0; i < 3; i++)
		cr_assert_eq(timed_get("/garbage", NULL, NULL), 502);
	long long t_down = h_now_ms();
	long long v = wait_metric("herd_upstream_up", A.label, NULL, 0, 1000);
	cr_assert_eq(v, 0, "herd_upstream_up %lld after 3 failures in a row", v);
	/* Down: 502 without contacting it. */
	long long ms;
	cr_assert_eq(timed_get("/echo", &ms, NULL), 502);
	cr_assert_eq(px_up_stat(&A, "path /echo"), 0, "a down upstream was contacted");
	/* Still down after 4 s, back after 5 s. */
	h_sleep_ms((int)(t_down + 3800 - h_now_ms()));
	cr_assert_eq(timed_get("/echo", NULL, NULL), 502, "up again before its 5 s");
	int s = 0;
	while (h_now_ms() - t_down < 9000 && (s = timed_get("/echo", NULL, NULL)) != 200)
		h_sleep_ms(200);
	cr_assert_eq(s, 200, "still 502 %lld ms after being marked down", h_now_ms() - t_down);
	cr_assert_geq(h_now_ms() - t_down, 4800);
	v = wait_metric("herd_upstream_up", A.label, NULL, 1, 1000);
	cr_assert_eq(v, 1, "herd_upstream_up %lld after its recovery", v);
}

HTEST(proxy_hostile, all_upstreams_down_is_502_at_once)
{
	PX_UP(&A, "--name", "A");
	PX_UP(&B, "--name", "B");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, B.url), "--proxy-timeout", "1", "--admin",
		   "127.0.0.1:0");
	/* Three timeouts each (1 s apiece): both down. */
	for (int i = 0; i < 6; i++)
		cr_assert_eq(timed_get("/never", NULL, NULL), 504, "request %d", i);
	cr_assert_eq(wait_metric("herd_upstream_up", A.label, NULL, 0, 1000), 0);
	cr_assert_eq(wait_metric("herd_upstream_up", B.label, NULL, 0, 1000), 0);
	long long best = 1 << 30, worst = 0;
	for (int i = 0; i < 3; i++) {
		long long ms;
		cr_assert_eq(timed_get("/never", &ms, NULL), 502, "all down: want 502");
		best = ms < best ? ms : best;
		worst = ms > worst ? ms : worst;
	}
	cr_assert_lt(best, 100, "all upstreams down: 502 after %lld ms at best", best);
	cr_assert_lt(worst, 500, "all upstreams down: 502 after %lld ms", worst);
	cr_assert_eq(px_up_stat(&A, "path /never") + px_up_stat(&B, "path /never"), 6,
		     "a down upstream was contacted");
}

/* ---- active health ---- */

HTEST(proxy_hostile, active_health_check_toggles_upstream)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", ROUTE("/h/", A.url, NULL), "--proxy-health", "/health",
		   "--proxy-health-interval", "1", "--admin", "127.0.0.1:0");
	long long t0 = h_now_ms();
	cr_assert_geq(px_up_stat_wait(&A, "health", 3000, 50), 1, "no probe of /health within 3 s");
	cr_assert_eq(timed_get("/h/echo", NULL, NULL), 200);
	cr_assert_eq(px_metric(srv.admin_port, "herd_upstream_up", A.label, NULL), 1);

	px_up_get(&A, "/toggle-health?down=1");
	long long t_off = h_now_ms();
	long long v = wait_metric("herd_upstream_up", A.label, NULL, 0, 3500);
	cr_assert_eq(v, 0, "still up 3.5 s after /health turned 503 (interval 1 s)");
	long long echo_before = px_up_stat(&A, "path /echo"), ms;
	cr_assert_eq(timed_get("/h/echo", &ms, NULL), 502, "route of a down upstream");
	cr_assert_lt(ms, 500, "502 after %lld ms", ms);
	cr_assert_eq(px_up_stat(&A, "path /echo"), echo_before, "a down upstream was contacted");
	/* Down until a probe succeeds, however long. */
	h_sleep_ms(1500);
	cr_assert_eq(timed_get("/h/echo", NULL, NULL), 502, "up again without a good probe");

	px_up_get(&A, "/toggle-health?down=0");
	v = wait_metric("herd_upstream_up", A.label, NULL, 1, 3500);
	cr_assert_eq(v, 1, "still down 3.5 s after /health answered 200 again (down %lld ms)",
		     h_now_ms() - t_off);
	cr_assert_eq(timed_get("/h/echo", NULL, NULL), 200);
	/* One prober for all workers and processes: about one probe a second. */
	long long secs = (h_now_ms() - t0) / 1000;
	long probes = px_up_stat(&A, "health");
	cr_assert(probes <= secs + 3, "%ld probes in %lld s with --proxy-health-interval 1: "
				      "one prober per worker or process?", probes, secs);
	cr_assert(probes >= secs - 3, "only %ld probes in %lld s", probes, secs);
}

/* ---- pooled connections ---- */

HTEST(proxy_hostile, stale_pooled_connection_is_never_used)
{
	PX_UP(&A, "--name", "A", "--mode", "stale");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL));
	struct h_conn c;
	px_open(&c, srv.port);
	const char *reqs[] = {"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n",
			      "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
			      "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nworld",
			      "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"};
	for (int i = 0; i < 4; i++) {
		if (i)
			h_sleep_ms(300); /* the upstream's close has arrived */
		struct px_resp r;
		int rc = px_send_read(&c, reqs[i], &r, 10000);
		cr_assert_eq(rc, H_OK, "request %d: %s", i, h_result_str(rc));
		cr_assert_eq(r.status, 200, "request %d after the upstream closed its idle connection: "
					    "%d", i, r.status);
		px_resp_free(&r);
	}
	h_conn_close(&c);
	cr_assert_eq(px_up_stat(&A, "path /echo-body"), 2, "a POST reached the upstream twice");
	cr_assert_eq(px_up_stat(&A, "connections"), 4);
}

/* Upstream A in drop2 mode (it takes a connection's second request and
 * closes), herd before it, c open to herd with one GET /echo answered in r
 * (the caller's to free). */
static void drop2_first_get(struct h_conn *c, struct px_resp *r)
{
	PX_UP(&A, "--name", "A", "--mode", "drop2");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL));
	px_open(c, srv.port);
	int rc = px_send_read(c, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", r, 10000);
	cr_assert_eq(rc, H_OK);
}

HTEST(proxy_hostile, get_retried_once_on_reused_connection)
{
	struct h_conn c;
	struct px_resp r;
	drop2_first_get(&c, &r);
	cr_assert(strstr(r.body, "\nconn 1 1\n"), "%s", r.body);
	px_resp_free(&r);
	/* Reuses connection 1, which takes it and closes: retried on a new one. */
	int rc = px_send_read(&c, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200, "GET failed on a reused connection: %d, want a retry", r.status);
	cr_assert(strstr(r.body, "\nconn 2 1\n"), "not answered on a fresh connection:\n%s", r.body);
	px_resp_free(&r);
	h_conn_close(&c);
	cr_assert_eq(px_up_stat(&A, "path /echo"), 3);
	cr_assert_eq(px_up_stat(&A, "connections"), 2);
}

HTEST(proxy_hostile, post_never_retried)
{
	struct h_conn c;
	struct px_resp r;
	drop2_first_get(&c, &r);
	px_resp_free(&r);
	int rc = px_send_read(&c, "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
			  &r, 10000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 502, "a POST the upstream took and dropped: %d, want 502", r.status);
	px_resp_free(&r);
	h_conn_close(&c);
	h_sleep_ms(300);
	cr_assert_eq(px_up_stat(&A, "path /echo-body"), 1, "the POST reached the upstream %ld times",
		     px_up_stat(&A, "path /echo-body"));
}

/* ---- clients going away ---- */

HTEST(proxy_hostile, client_gone_mid_body_closes_upstream_connection)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL), "--max-body", "1000000");
	/* In the middle of the request body. */
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_str(fd, "POST /echo-body HTTP/1.1\r\nHost: t\r\n"
				    "Content-Length: 100000\r\n\r\n"), 0);
	unsigned char *part = px_pat_buf(0, 1000);
	cr_assert_eq(h_send(fd, part, 1000, 5000), 0);
	free(part);
	cr_assert_eq(px_up_stat_wait(&A, "path /echo-body", 3000, 20), 1, "the request head never reached the upstream");
	close(fd);
	cr_assert_eq(px_up_stat_wait(&A, "aborted", 3000, 50), 1,
		     "the upstream connection of a request whose client left was not closed");
	/* The next request gets a connection that works. */
	cr_assert_eq(timed_get("/echo", NULL, NULL), 200);
}

HTEST(proxy_hostile, client_gone_waiting_for_head_closes_upstream_connection)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL));
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_str(fd, "GET /never HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	cr_assert_eq(px_up_stat_wait(&A, "path /never", 3000, 20), 1);
	close(fd);
	cr_assert_eq(px_up_stat_wait(&A, "never_closed", 3000, 50), 1,
		     "the upstream connection of a client that left stayed open");
	/* The next request gets a connection that works. */
	cr_assert_eq(timed_get("/echo", NULL, NULL), 200);
}

/* ---- backpressure ---- */

HTEST(proxy_hostile, slow_reader_keeps_memory_flat)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy", ROUTE("/", A.url, NULL));
	/* Warm up: the worker's buffers and the pool exist. */
	struct px_resp r;
	cr_assert_eq(timed_get("/big?n=2000000", NULL, &r), 200);
	cr_assert_eq(r.body_len, 2000000);
	px_resp_free(&r);
	long rss0 = px_rss_kib(srv.pid);
	cr_assert_gt(rss0, 0);

	size_t n = 64 * MIB;
	int fd = h_connect_host("127.0.0.1", srv.port, 16384);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_str(fd, "GET /big?n=67108864 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	/* Read the head and the first MiB, then stop reading. */
	char *buf = malloc(1 << 20);
	size_t body = px_read_pat_response(fd, buf, 65536, MIB, 10000, "slow reader");
	cr_assert_geq(body, MIB, "the first MiB did not arrive");
	h_sleep_ms(1500); /* herd would fill its memory with the rest now */
	long rss1 = px_rss_kib(srv.pid);
	/* A sanitizer's allocator quarantines what herd freed: only the plain
	 * build's RSS measures what it holds. */
	if (!h_server_sanitized())
		cr_assert_lt(rss1 - rss0, 8 * 1024,
		     "herd grew by %ld KiB while a client read a 64 MiB response slowly "
		     "(the upstream's body is buffered instead of backpressured)", rss1 - rss0);
	/* The rest arrives whole. */
	long long deadline = h_now_ms() + 40000;
	while (body < n && h_now_ms() < deadline) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 500) != 1)
			continue;
		ssize_t k = recv(fd, buf, 1 << 20, 0);
		cr_assert(k > 0, "closed after %zu of %zu body bytes", body, n);
		cr_assert_eq(px_pat_diff(buf, (size_t)k, body), -1, "body differs near %zu", body);
		body += (size_t)k;
	}
	cr_assert_eq(body, n, "%zu of %zu body bytes", body, n);
	free(buf);
	close(fd);
}
