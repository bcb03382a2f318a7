/* Hostile TLS clients against the real binary: garbage that looks like a
 * handshake record, a ClientHello cut short then closed, a handshake that
 * stalls (--header-timeout 1 closes it), a reset in the middle of a record
 * after the handshake, and a ClientHello dribbled one byte at a time (which
 * must still be served).  Each runs while a good client keeps making TLS
 * connections and requests: it must keep succeeding with a bounded latency,
 * and the server must be alive and serving afterwards.  Runs --jobs 1: the
 * latency bound holds for one attack at a time on the 2 CPUs. */
#include "tls_integ.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

TestSuite(tls_hostile, .fini = tls_fini, .timeout = 60);

static struct herd srv;

/* The good client's bound on one handshake or one request. */
#define PROBE_MAX_US 1000000

static void start(const char *timeout)
{
	tls_tree();
	herd_start(&srv, "--listen-tls", "127.0.0.1:0", "--tls-cert", crt_def, "--tls-key",
		   key_def, "--admin", "127.0.0.1:0", "--workers", "2", "--header-timeout", timeout);
}

/* ---- the good client, in a thread ---- */

struct probe {
	pthread_t th;
	int port;
	volatile int stop;
	int ok, failed;
	long long max_us;
};

static void *probe_run(void *arg)
{
	struct probe *p = arg;
	while (!p->stop) {
		long long t0 = now_us();
		SSL *ssl = tls_dial(p->port, NULL, NULL, NULL);
		long long dt = now_us() - t0;
		if (dt > p->max_us)
			p->max_us = dt;
		if (!ssl) {
			p->failed++;
			usleep(20000);
			continue;
		}
		for (int i = 0; i < 4 && !p->stop; i++) {
			char *out;
			t0 = now_us();
			int st = tls_request(ssl, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &out,
					     NULL);
			dt = now_us() - t0;
			if (dt > p->max_us)
				p->max_us = dt;
			bool good = st == 200 && strstr(out, "\r\n\r\nHello, World!");
			free(out);
			if (!good) {
				p->failed++;
				break;
			}
			p->ok++;
			usleep(2000);
		}
		tls_hangup(ssl);
	}
	return NULL;
}

static void probe_start(struct probe *p)
{
	*p = (struct probe){.port = srv.port};
	cr_assert_eq(pthread_create(&p->th, NULL, probe_run, p), 0);
	usleep(100000); /* it is running before the attack begins */
}

/* Stops the probe and asserts it stayed served throughout. */
static void probe_finish(struct probe *p, const char *what)
{
	/* Long enough to mean something: at least 10 requests (bounded). */
	for (int i = 0; i < 300 && p->ok < 10 && !p->failed; i++)
		usleep(10000);
	p->stop = 1;
	pthread_join(p->th, NULL);
	cr_assert_eq(p->failed, 0, "%s: the good client failed %d times (%d ok)", what, p->failed,
		     p->ok);
	cr_assert_gt(p->ok, 5, "%s: the good client made only %d requests", what, p->ok);
	cr_assert_lt(p->max_us, PROBE_MAX_US, "%s: the good client waited %lld ms", what,
		     p->max_us / 1000);
}

static long long metric(const char *name, const char *label)
{
	char *m = h_metrics_assert(srv.admin_port, __LINE__);
	long long v = MSUM(m, name, label);
	free(m);
	return v;
}
#define TLS_ERRORS() metric("herd_errors_total", "kind=\"tls\"")
#define FAILED() metric("herd_tls_handshakes_total", "result=\"failed\"")

/* Waits up to ms for the server to close fd (FIN or RST, after whatever it
 * sends, e.g. an alert); returns the time it took in ms, -1 if still open. */
static long long wait_closed(int fd, int ms)
{
	long long t0 = now_us();
	char buf[4096];
	for (;;) {
		int left = ms - (int)((now_us() - t0) / 1000);
		if (left <= 0)
			return -1;
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, left) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return (now_us() - t0) / 1000;
	}
}

/* A fresh client's ClientHello bytes. */
static unsigned char *client_hello(size_t *n)
{
	struct mbio_client m;
	mbio_init(&m, "localhost");
	unsigned char *p = mbio_step(&m, n);
	mbio_free(&m);
	cr_assert_gt(*n, 100, "ClientHello of %zu bytes", *n);
	cr_assert_eq(p[0], 0x16);
	return p;
}

/* Polls the metric until it reaches want (counters are published by the
 * workers), up to 2 s; returns the last value. */
static long long wait_metric(const char *name, const char *label, long long want)
{
	long long v = -1;
	for (int i = 0; i < 40; i++) {
		v = metric(name, label);
		if (v >= want)
			break;
		usleep(50000);
	}
	return v;
}

static void assert_serving(void)
{
	cr_assert(herd_alive(&srv), "herd died");
	for (int i = 0; i < 3; i++)
		cr_assert(tls_get_plain(srv.port), "not serving after the attack");
}

HTEST(tls_hostile, garbage_handshake_record)
{
	start("1");
	long long e0 = TLS_ERRORS(), f0 = FAILED();
	struct probe p;
	probe_start(&p);
	enum { N = 6 };
	for (int i = 0; i < N; i++) {
		unsigned char junk[5 + 200];
		/* A handshake record header, then no valid handshake message. */
		memcpy(junk, "\x16\x03\x01\x00\xc8", 5);
		for (size_t k = 5; k < sizeof(junk); k++)
			junk[k] = (unsigned char)(k * 37 + i);
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0);
		cr_assert_eq(h_send(fd, junk, i % 2 ? sizeof(junk) : 40, 2000), 0);
		if (i % 2 == 0) /* the rest of the record in a second segment */
			cr_assert_eq(h_send(fd, junk + 40, sizeof(junk) - 40, 2000), 0);
		long long ms = wait_closed(fd, 3000);
		cr_assert(ms >= 0 && ms < 900, "garbage %d: closed after %lld ms", i, ms);
		close(fd);
	}
	/* Not even a TLS record: 0x16 then an absurd version and length. */
	int fd = h_connect(srv.port);
	cr_assert_eq(h_send(fd, "\x16\xff\xff\xff\xff\x00\x00\x00", 8, 2000), 0);
	long long ms = wait_closed(fd, 3000);
	cr_assert(ms >= 0 && ms < 900, "bad record header: closed after %lld ms", ms);
	close(fd);
	probe_finish(&p, "garbage");
	long long e1 = wait_metric("herd_errors_total", "kind=\"tls\"", e0 + N + 1);
	cr_expect_geq(e1 - e0, N + 1, "herd_errors_total{kind=tls} grew by %lld", e1 - e0);
	cr_expect_geq(FAILED() - f0, N + 1, "failed handshakes grew by %lld", FAILED() - f0);
	assert_serving();
}

HTEST(tls_hostile, truncated_client_hello_then_close)
{
	start("1");
	size_t n;
	unsigned char *hello = client_hello(&n);
	long long e0 = TLS_ERRORS(), f0 = FAILED();
	struct probe p;
	probe_start(&p);
	enum { N = 6 };
	for (int i = 0; i < N; i++) {
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0);
		size_t cut = i < 3 ? n / 2 : 3; /* inside the message, inside the header */
		cr_assert_eq(h_send(fd, hello, cut, 2000), 0);
		usleep(20000);
		if (i % 2)
			h_close_rst(fd);
		else
			close(fd);
	}
	free(hello);
	probe_finish(&p, "truncated ClientHello");
	/* A client that gives up in the middle of its ClientHello is a failed
	 * handshake, and a TLS error, like garbage is. */
	long long e1 = wait_metric("herd_errors_total", "kind=\"tls\"", e0 + 1);
	long long f1 = FAILED();
	cr_expect_geq(e1 - e0, N, "herd_errors_total{kind=tls} grew by %lld with %d handshakes "
		      "cut short", e1 - e0, N);
	cr_expect_geq(f1 - f0, N, "herd_tls_handshakes_total{result=failed} grew by %lld with %d "
		      "handshakes cut short", f1 - f0, N);
	assert_serving();
	/* Nothing of theirs left open. */
	char *m = h_metrics_assert(srv.admin_port, __LINE__);
	long long open = MSUM(m, "herd_connections_active", NULL);
	free(m);
	cr_expect_leq(open, 1, "%lld connections still open", open);
}

HTEST(tls_hostile, stalled_handshake_closed_by_header_timeout)
{
	start("1");
	size_t n;
	unsigned char *hello = client_hello(&n);
	struct probe p;
	probe_start(&p);
	/* (A connection that sends nothing at all is not among them: the
	 * listener's TCP_DEFER_ACCEPT keeps it in the kernel, unseen by herd, until
	 * the kernel queues it after some seconds; the timeout runs from then.) */
	enum { N = 3 };
	int fds[N];
	long long t0 = now_us();
	for (int i = 0; i < N; i++) {
		fds[i] = h_connect(srv.port);
		cr_assert(fds[i] >= 0);
		/* A whole ClientHello (the server answers and waits for our Finished),
		 * half of one, a record header. */
		size_t len = i == 0 ? n : i == 1 ? n / 2 : 5;
		cr_assert_eq(h_send(fds[i], hello, len, 2000), 0);
	}
	for (int i = 0; i < N; i++) {
		long long ms = wait_closed(fds[i], 4000);
		long long since = (now_us() - t0) / 1000;
		cr_expect(ms >= 0, "stall %d: still open after 4 s", i);
		cr_expect(since >= 800 && since < 3000, "stall %d: closed %lld ms after it began", i,
			  since);
		close(fds[i]);
	}
	free(hello);
	probe_finish(&p, "stalled handshakes");
	assert_serving();
}

HTEST(tls_hostile, reset_mid_record_after_handshake)
{
	start("1");
	long long e0 = metric("herd_errors_total", NULL);
	struct probe p;
	probe_start(&p);
	enum { N = 6 };
	for (int i = 0; i < N; i++) {
		SSL *ssl = tls_dial(srv.port, NULL, NULL, NULL);
		cr_assert(ssl, "handshake %d", i);
		char *out;
		cr_assert_eq(tls_request(ssl, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &out,
					 NULL), 200);
		free(out);
		int fd = SSL_get_fd(ssl);
		/* An application-data record announcing 300 bytes, 40 of them sent. */
		unsigned char rec[45] = {0x17, 0x03, 0x03, 0x01, 0x2c};
		memset(rec + 5, 0x5a, 40);
		cr_assert_eq(h_send(fd, rec, i % 2 ? 5 : sizeof(rec), 2000), 0);
		usleep(20000);
		SSL_free(ssl); /* no close_notify: the reset is the end */
		h_close_rst(fd);
	}
	probe_finish(&p, "resets mid-record");
	long long e1 = wait_metric("herd_errors_total", NULL, e0 + 1);
	cr_expect_gt(e1, e0, "herd_errors_total did not grow with %d resets", N);
	assert_serving();
}

/* The ClientHello one byte at a time (slowly, within the timeout), then the
 * rest of the handshake and a request through memory BIOs. */
HTEST(tls_hostile, dribbled_client_hello_is_served)
{
	start("5");
	struct probe p;
	probe_start(&p);
	struct mbio_client m;
	mbio_init(&m, "localhost");
	size_t n;
	unsigned char *hello = mbio_step(&m, &n);
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	long long t0 = now_us();
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(h_send(fd, hello + i, 1, 2000), 0, "byte %zu", i);
		usleep(4000);
	}
	free(hello);
	long long dribble_ms = (now_us() - t0) / 1000;
	bool sent_request = false;
	char got[8192] = "";
	size_t glen = 0;
	long long deadline = now_us() + 5000000;
	while (now_us() < deadline && !strstr(got, "Hello, World!")) {
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, 200) > 0) {
			unsigned char buf[16384];
			ssize_t r = recv(fd, buf, sizeof(buf), 0);
			cr_assert_gt(r, 0, "the server closed after a dribbled ClientHello (%lld ms)",
				     dribble_ms);
			mbio_feed(&m, buf, (size_t)r);
		}
		size_t out_n;
		unsigned char *out = mbio_step(&m, &out_n);
		if (out_n) /* our next flight, e.g. the Finished */
			cr_assert_eq(h_send(fd, out, out_n, 2000), 0);
		free(out);
		if (SSL_is_init_finished(m.ssl) && !sent_request) {
			const char *req = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
			cr_assert_gt(SSL_write(m.ssl, req, (int)strlen(req)), 0);
			sent_request = true;
			out = mbio_step(&m, &out_n);
			cr_assert_gt(out_n, 0);
			cr_assert_eq(h_send(fd, out, out_n, 2000), 0);
			free(out);
		}
		if (sent_request) {
			int r = SSL_read(m.ssl, got + glen, (int)(sizeof(got) - 1 - glen));
			if (r > 0)
				glen += (size_t)r;
			got[glen] = 0;
			ERR_clear_error();
		}
		got[glen] = 0;
	}
	cr_assert(sent_request, "the handshake did not finish after a dribbled ClientHello");
	cr_assert(!strncmp(got, "HTTP/1.1 200", 12) && strstr(got, "\r\n\r\nHello, World!"),
		  "answer: %s", got);
	close(fd);
	mbio_free(&m);
	probe_finish(&p, "dribbled ClientHello");
	assert_serving();
}
