/* The reverse proxy at the edges a code review found: clients closing while
 * their upstream is readable in the same epoll batch, a response head split
 * across reads (alone or after an interim head), a stalled upload (no busy
 * loop), an early answer during an upload, a partial head on a reused
 * connection (never retried), a client not reading a large response (not
 * the upstream's timeout), and an HTTPS upload.  Each test but the last
 * fails on the behaviour the review described.  Run one test at a time
 * (--jobs 1): several measure CPU time and latencies. */
#include "proxy_integ.h"
#include "tls_util.h"

#include <openssl/ssl.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN "Hello, World!"

TestSuite(proxy_edge, .fini = px_fini, .timeout = 60);

static struct herd srv;
static struct px_up A;

/* /u/ goes to the upstream (stripped); the rest, /plaintext, is built in. */
static const char *route_u(const struct px_up *u)
{
	static char buf[200];
	snprintf(buf, sizeof(buf), "/u/=%s", u->url);
	return buf;
}

/* Sends req on a fresh connection and reads one response; *ms its time. */
static int timed(const char *req, struct px_resp *r, int timeout_ms, long long *ms)
{
	long long t0 = h_now_ms();
	int rc = px_exchange(srv.port, req, r, timeout_ms);
	*ms = h_now_ms() - t0;
	return rc;
}

/* ---- 1: a client's EOF and its upstream's bytes in one epoll batch ---- */

#define STRESS_THREADS 8
#define STRESS_CLIENTS 50

struct stress {
	int port;
	int failed; /* clients that got no response bytes */
};

static void *stress_thread(void *arg)
{
	struct stress *s = arg;
	static const char req[] = "GET /u/big?n=4194304 HTTP/1.1\r\nHost: t\r\n\r\n";
	char buf[8192];
	for (int i = 0; i < STRESS_CLIENTS; i++) {
		int fd = h_connect(s->port);
		if (fd < 0) {
			s->failed++;
			continue;
		}
		size_t got = 0;
		if (h_send(fd, req, sizeof(req) - 1, 2000) == 0) {
			long long deadline = h_now_ms() + 3000;
			while (got < 4096 + (size_t)(i % 4) * 2048 && h_now_ms() < deadline) {
				struct pollfd pf = {fd, POLLIN, 0};
				if (poll(&pf, 1, 200) != 1)
					continue;
				ssize_t k = recv(fd, buf, sizeof(buf), 0);
				if (k <= 0)
					break;
				got += (size_t)k;
			}
		}
		if (got < 4096)
			s->failed++;
		if (i % 2)
			h_close_rst(fd); /* half of them with a reset */
		else
			close(fd);
	}
	return NULL;
}

HTEST(proxy_edge, clients_closing_mid_download_leave_server_healthy)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A));
	pthread_t t[STRESS_THREADS];
	struct stress s[STRESS_THREADS];
	for (int i = 0; i < STRESS_THREADS; i++) {
		s[i] = (struct stress){.port = srv.port};
		cr_assert_eq(pthread_create(&t[i], NULL, stress_thread, &s[i]), 0);
	}
	int failed = 0;
	for (int i = 0; i < STRESS_THREADS; i++) {
		pthread_join(t[i], NULL);
		failed += s[i].failed;
	}
	cr_assert(herd_alive(&srv), "herd died under clients closing mid-download");
	cr_assert_lt(failed, STRESS_THREADS * STRESS_CLIENTS / 10,
		     "%d of %d downloads got no bytes", failed, STRESS_THREADS * STRESS_CLIENTS);
	/* Prompt answers, through the proxy and built in. */
	struct px_resp r;
	long long ms;
	int rc = timed("GET /u/echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, 2000, &ms);
	cr_assert(rc == H_OK && r.status == 200, "GET /u/echo after the stress: %s %d",
		  h_result_str(rc), r.status);
	cr_assert_lt(ms, 1000, "GET /u/echo took %lld ms after the stress", ms);
	px_resp_free(&r);
	rc = timed("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &r, 2000, &ms);
	cr_assert(rc == H_OK && r.status == 200 && !strcmp(r.body, PLAIN),
		  "GET /plaintext after the stress: %s %d", h_result_str(rc), r.status);
	cr_assert_lt(ms, 1000, "GET /plaintext took %lld ms after the stress", ms);
	px_resp_free(&r);
	/* Idle: no CPU burnt (the upstream's leftovers are closed by now). */
	h_sleep_ms(300);
	long long c0 = px_cpu_ticks(srv.pid);
	h_sleep_ms(1000);
	long long ticks = px_cpu_ticks(srv.pid) - c0;
	cr_assert_lt(ticks, 10, "herd used %lld CPU ticks in 1 s of idling after the stress", ticks);
	/* A clean exit (a double close or a use after free shows here, or in a
	 * sanitizer's report). */
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 8000), "herd did not exit within 8 s of SIGTERM");
	cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0,
		  "herd did not exit 0 on SIGTERM (status %#x)", srv.status);
}

/* ---- 2, 3: a response head split across reads ---- */

HTEST(proxy_edge, response_head_split_across_reads)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A), "--proxy-timeout", "3");
	struct px_resp r;
	long long ms;
	int rc = timed("GET /u/split-head?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n", &r, 2500, &ms);
	cr_assert_eq(rc, H_OK, "a head split across reads: %s after %lld ms", h_result_str(rc), ms);
	cr_assert_eq(r.status, 200, "a head split across reads: %d after %lld ms (504: the rest "
				    "of the head was never read)", r.status, ms);
	cr_assert_str_eq(r.body, "split body");
	cr_assert_lt(ms, 1200, "a head whose rest came 300 ms later took %lld ms", ms);
	px_resp_free(&r);
}

HTEST(proxy_edge, interim_head_then_partial_head_stays_with_its_client)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A), "--proxy-timeout", "3", "--workers", "1");
	struct h_conn c1;
	px_open(&c1, srv.port);
	long long t0 = h_now_ms();
	cr_assert_eq(h_send_str(c1.fd, "GET /u/split-head?ms=800&interim=1 HTTP/1.1\r\nHost: t\r\n\r\n"),
		     0);
	h_sleep_ms(200); /* the 100 and the partial head are with herd */
	/* Another client of the same worker during the pause. */
	struct h_conn c2;
	px_open(&c2, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c2, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &r, 2000);
	cr_assert_eq(rc, H_OK, "/plaintext during the pause: %s", h_result_str(rc));
	cr_assert_eq(r.status, 200, "/plaintext got a %d first (another client's interim head)",
		     r.status);
	cr_assert_str_eq(r.body, PLAIN);
	px_resp_free(&r);
	cr_assert_eq(c2.len, 0, "stray bytes after /plaintext: %.*s", (int)c2.len, c2.buf);
	h_conn_close(&c2);
	cr_assert_lt(h_now_ms() - t0, 800, "the pause was over before /plaintext was answered");
	/* The proxied client: 100, then the 200 once the rest of the head came. */
	rc = px_read(&c1, &r, false, 2000);
	cr_assert_eq(rc, H_OK, "the interim head: %s", h_result_str(rc));
	cr_assert_eq(r.status, 100);
	px_resp_free(&r);
	rc = px_read(&c1, &r, false, 2000);
	cr_assert_eq(rc, H_OK, "the final head after the interim one: %s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "split body");
	cr_assert_lt(h_now_ms() - t0, 1800, "the final response took %lld ms", h_now_ms() - t0);
	px_resp_free(&r);
	h_conn_close(&c1);
}

/* ---- 4: a stalled upload is no busy loop ---- */

HTEST(proxy_edge, stalled_upload_does_not_spin)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A));
	struct h_conn c;
	px_open(&c, srv.port);
	cr_assert_eq(h_send_str(c.fd, "POST /u/echo-body HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 10\r\n\r\nab"), 0);
	cr_assert_eq(px_up_stat_wait(&A, "path /echo-body", 2000, 20), 1, "the request never reached the upstream");
	long long c0 = px_cpu_ticks(srv.pid);
	h_sleep_ms(1500);
	long long ticks = px_cpu_ticks(srv.pid) - c0;
	cr_assert_lt(ticks, 20, "herd used %lld CPU ticks in 1.5 s waiting for an upload's body "
				"(a busy loop)", ticks);
	struct px_resp r;
	int rc = px_send_read(&c, "cdefghij", &r, 3000);
	cr_assert_eq(rc, H_OK, "the rest of the body sent: %s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "abcdefghij");
	px_resp_free(&r);
	h_conn_close(&c);
}

/* A proxied request dribbled one byte at a time, head and chunked body
 * alike, then a second one on the same connection: both reach the upstream
 * whole and are answered in order. */
HTEST(proxy_edge, request_split_into_single_bytes)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A));
	struct h_conn c;
	px_open(&c, srv.port);
	static const char req[] = "POST /u/echo-body HTTP/1.1\r\nHost: t\r\n"
				  "Transfer-Encoding: chunked\r\n\r\n"
				  "3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nTrailer-X: y\r\n\r\n";
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(req) - 1; i++) {
			cr_assert_eq(h_send(c.fd, req + i, 1, 2000), 0, "byte %zu", i);
			if (i % 8 == 0)
				h_sleep_ms(1);
		}
		struct px_resp r;
		int rc = px_read(&c, &r, false, 5000);
		cr_assert_eq(rc, H_OK, "round %d: %s", round, h_result_str(rc));
		cr_assert_eq(r.status, 200, "round %d", round);
		cr_assert_str_eq(r.body, "abcdefg", "round %d", round);
		px_resp_free(&r);
	}
	h_conn_close(&c);
}

/* ---- 5: an early answer during an upload ---- */

HTEST(proxy_edge, early_answer_during_upload_reaches_client)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A), "--max-body", "4000000",
		   "--proxy-timeout", "5");
	const size_t total = 2u << 20, piece = 16384;
	struct h_conn c;
	px_open(&c, srv.port);
	long long t0 = h_now_ms();
	cr_assert_eq(h_send_str(c.fd, "POST /u/early413 HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 2097152\r\n\r\n"), 0);
	unsigned char *body = px_pat_buf(0, piece);
	size_t sent = 0;
	/* Slowly (about 1.3 s for it all), until the answer shows. */
	while (sent < total) {
		struct pollfd pf = {c.fd, POLLIN, 0};
		if (poll(&pf, 1, 10) == 1)
			break;
		if (h_send(c.fd, body, piece, 1000) != 0)
			break;
		sent += piece;
	}
	free(body);
	struct px_resp r;
	int rc = px_read(&c, &r, false, 3000);
	long long ms = h_now_ms() - t0;
	cr_assert_eq(rc, H_OK, "an early 413 during an upload: %s (%zu of %zu bytes sent)",
		     h_result_str(rc), sent, total);
	cr_assert_eq(r.status, 413, "an early 413 during an upload reached the client as %d "
				    "(%zu of %zu bytes sent, %lld ms)", r.status, sent, total, ms);
	cr_assert_str_eq(r.body, "too large");
	cr_assert_lt(sent, total, "the 413 came only after the whole upload");
	cr_assert_lt(ms, 1500, "the early 413 took %lld ms", ms);
	px_resp_free(&r);
	h_conn_close(&c);
}

/* ---- 6: a partial head then a close on a reused connection ---- */

HTEST(proxy_edge, partial_head_on_reused_connection_is_not_retried)
{
	PX_UP(&A, "--name", "A", "--mode", "partial2");
	herd_start(&srv, "--proxy-strip", route_u(&A));
	struct h_conn c;
	px_open(&c, srv.port);
	struct px_resp r;
	int rc = px_send_read(&c, "GET /u/echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, 3000);
	cr_assert_eq(rc, H_OK);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "\nconn 1 1\n"), "%s", r.body);
	px_resp_free(&r);
	/* The pooled connection takes it, answers part of a head, closes. */
	rc = px_send_read(&c, "GET /u/echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, 3000);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 502, "a response cut in its head: %d, want 502 (a retry after "
				    "response bytes?)", r.status);
	px_resp_free(&r);
	h_conn_close(&c);
	h_sleep_ms(300);
	cr_assert_eq(px_up_stat(&A, "path /echo"), 2,
		     "the upstream saw GET /echo %ld times, want 2 (the second once, not retried)",
		     px_up_stat(&A, "path /echo"));
	cr_assert_eq(px_up_stat(&A, "connections"), 1, "a retry on a fresh connection");
}

/* ---- 8: a client not reading a large response ---- */

#define NSLOW 3

HTEST(proxy_edge, client_not_reading_is_not_upstream_timeout)
{
	PX_UP(&A, "--name", "A");
	herd_start(&srv, "--proxy-strip", route_u(&A), "--proxy-timeout", "1", "--admin",
		   "127.0.0.1:0");
	int fd[NSLOW];
	for (int i = 0; i < NSLOW; i++) {
		fd[i] = h_connect_host("127.0.0.1", srv.port, 16384);
		cr_assert(fd[i] >= 0);
		cr_assert_eq(h_send_str(fd[i], "GET /u/big?n=50000000 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	}
	h_sleep_ms(2500); /* not a byte read, with --proxy-timeout 1 */
	/* The responses go on: 4 MB of each, then the clients leave. */
	const size_t want = 4u << 20;
	char *buf = malloc(1 << 16);
	for (int i = 0; i < NSLOW; i++) {
		char who[96];
		snprintf(who, sizeof(who), "client %d (cut by a timeout while it did not read?)", i);
		size_t body = px_read_pat_response(fd[i], buf, 1 << 16, want, 5000, who);
		cr_assert_geq(body, want, "client %d: %zu body bytes after its pause", i, body);
	}
	free(buf);
	for (int i = 0; i < NSLOW; i++)
		close(fd[i]);
	h_sleep_ms(200);
	long long up = px_metric(srv.admin_port, "herd_upstream_up", A.label, NULL);
	cr_assert_eq(up, 1, "herd_upstream_up %lld after clients that did not read", up);
	long long to = px_metric(srv.admin_port, "herd_upstream_errors_total", A.label,
				 "kind=\"timeout\"");
	cr_assert_leq(to, 0, "errors{kind=timeout} %lld: clients not reading counted against "
			     "the upstream", to);
	/* And it serves. */
	struct px_resp r;
	long long ms;
	int rc = timed("GET /u/echo HTTP/1.1\r\nHost: t\r\n\r\n", &r, 2000, &ms);
	cr_assert(rc == H_OK && r.status == 200, "GET /u/echo: %s %d", h_result_str(rc), r.status);
	px_resp_free(&r);
}

/* ---- 7: an HTTPS client's upload in small writes ---- */

/* Note: on the code before the review's fixes this test passed too (epoll
 * and io_uring): it guards the TLS upload path but does not reproduce the
 * partial-record bug. */

/* herd on a TLS listener in front of A, and a client connected to it
 * (*ctx, *fd and the SSL are the caller's to free). */
static SSL *tls_proxy_client(SSL_CTX **ctx, int *fd)
{
	PX_UP(&A, "--name", "A");
	char crt[200], key[200];
	cr_assert_eq(tls_util_make_pair(px_dir(), "edge", "ec", "DNS:localhost,IP:127.0.0.1", 2, crt,
					key, sizeof(crt)), 0);
	herd_start(&srv, "--listen-tls", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", key,
		   "--proxy-strip", route_u(&A), "--max-body", "4000000");
	*ctx = SSL_CTX_new(TLS_client_method());
	cr_assert(*ctx);
	SSL_CTX_set_verify(*ctx, SSL_VERIFY_NONE, NULL);
	*fd = h_connect(srv.port);
	cr_assert(*fd >= 0);
	struct timeval tv = {5, 0};
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	SSL *ssl = SSL_new(*ctx);
	SSL_set_fd(ssl, *fd);
	cr_assert_eq(SSL_connect(ssl), 1, "TLS handshake with herd failed");
	return ssl;
}

/* Over HTTPS the upstream is told so. */
HTEST(proxy_edge, tls_client_forwarded_proto_is_https)
{
	SSL_CTX *ctx;
	int fd;
	SSL *ssl = tls_proxy_client(&ctx, &fd);
	static const char req[] = "GET /u/echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	cr_assert_eq(SSL_write(ssl, req, (int)sizeof(req) - 1), (int)sizeof(req) - 1);
	char resp[8192];
	size_t len = 0;
	int k;
	while (len < sizeof(resp) - 1 && (k = SSL_read(ssl, resp + len, (int)(sizeof(resp) - 1 - len))) > 0)
		len += (size_t)k;
	resp[len] = 0;
	cr_assert(!strncmp(resp, "HTTP/1.1 200", 12), "%.200s", resp);
	cr_assert(strstr(resp, "\nh x-forwarded-proto: https\n"), "the upstream saw: %s", resp);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
}

HTEST(proxy_edge, tls_client_upload_in_small_writes_is_echoed)
{
	SSL_CTX *ctx;
	int fd;
	SSL *ssl = tls_proxy_client(&ctx, &fd);
	const size_t n = 1u << 20, piece = 4000;
	char head[128];
	int hl = snprintf(head, sizeof(head), "POST /u/echo-body HTTP/1.1\r\nHost: t\r\n"
					       "Content-Length: %zu\r\n\r\n", n);
	cr_assert_eq(SSL_write(ssl, head, hl), hl);
	unsigned char *body = px_pat_buf(0, n);
	long long t0 = h_now_ms();
	/* The records go through memory and out in pieces that end inside
	 * them, a little apart: herd reads partial records. */
	BIO *mem = BIO_new(BIO_s_mem());
	cr_assert(mem);
	SSL_set0_wbio(ssl, mem); /* the socket BIO stays the read side */
	for (size_t off = 0; off < n; off += piece) {
		int k = (int)(n - off < piece ? n - off : piece);
		cr_assert_eq(SSL_write(ssl, body + off, k), k, "write at %zu failed", off);
		char *p;
		long avail = BIO_get_mem_data(mem, &p);
		for (long at = 0; at < avail; at += 1500) {
			size_t m = (size_t)(avail - at < 1500 ? avail - at : 1500);
			cr_assert_eq(h_send(fd, p + at, m, 5000), 0, "send at %zu failed", off);
			usleep(100);
		}
		(void)BIO_reset(mem);
	}
	free(body);
	/* The response: head, then n echoed bytes. */
	size_t cap = n + 8192, len = 0;
	char *resp = malloc(cap + 1);
	char *end = NULL;
	size_t want = 0;
	while (h_now_ms() - t0 < 8000) {
		int k = SSL_read(ssl, resp + len, (int)(cap - len));
		if (k <= 0)
			break;
		len += (size_t)k;
		resp[len] = 0;
		if (!end && (end = strstr(resp, "\r\n\r\n"))) {
			cr_assert(!strncmp(resp, "HTTP/1.1 200", 12), "%.200s", resp);
			want = (size_t)(end + 4 - resp) + n;
		}
		if (end && len >= want)
			break;
	}
	cr_assert(end, "no response head to a 1 MB upload over TLS (%zu bytes)", len);
	cr_assert_eq(len, want, "%zu of %zu response bytes to a 1 MB upload over TLS", len, want);
	cr_assert_eq(px_pat_diff(end + 4, n, 0), -1, "the echo differs from the upload");
	free(resp);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
}
