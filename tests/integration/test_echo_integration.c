/* --proto echo: every byte comes back, in order, with backpressure. */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(echo, .fini = harness_fini, .timeout = 30);

static struct herd srv;

/* 1 = EOF or reset, 0 = nothing within timeout_ms, -1 = data instead. */
static int h_wait_eof(int fd, int timeout_ms)
{
	struct pollfd p = {fd, POLLIN, 0};
	if (poll(&p, 1, timeout_ms) != 1)
		return 0;
	char c;
	ssize_t r = recv(fd, &c, 1, MSG_DONTWAIT);
	if (r == 0 || (r < 0 && errno != EAGAIN))
		return 1;
	return r > 0 ? -1 : 0;
}

static void start(void)
{
	herd_start(&srv, "--proto", "echo", "--workers", "2", "--admin", "127.0.0.1:0");
}

/* Non-repeating at any power-of-two period, so a dropped, duplicated or
 * reordered chunk cannot line up by accident. */
static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n);
	unsigned x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
	return p;
}

/* Writes and reads at the same time (non-blocking, poll-driven) until all of
 * out has come back; returns bytes received (== n on success). */
static size_t pump(int fd, const unsigned char *out, size_t n, unsigned char *in,
		   size_t already_sent, int timeout_ms)
{
	size_t sent = already_sent, got = 0;
	long long deadline = h_now_ms() + timeout_ms;
	while (got < n) {
		int left = (int)(deadline - h_now_ms());
		if (left <= 0)
			break;
		struct pollfd p = {fd, POLLIN | (sent < n ? POLLOUT : 0), 0};
		if (poll(&p, 1, left) <= 0)
			continue;
		if (p.revents & POLLOUT) {
			size_t chunk = n - sent < 16384 ? n - sent : 16384;
			ssize_t w = send(fd, out + sent, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
			else if (w < 0 && errno != EAGAIN)
				break;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in + got, n - got, MSG_DONTWAIT);
			if (r > 0)
				got += (size_t)r;
			else if (r == 0 || errno != EAGAIN)
				break;
		}
	}
	return got;
}

static size_t first_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return i;
	return n;
}

static void assert_metrics_bytes(long long want_in, long long want_out)
{
	long long in = -1, out = -1;
	long long deadline = h_now_ms() + 2000;
	while (h_now_ms() < deadline) {
		char *m = h_metrics(srv.admin_port);
		cr_assert(m, "GET /metrics failed");
		h_metric_sum(m, "herd_bytes_in_total", &in);
		h_metric_sum(m, "herd_bytes_out_total", &out);
		free(m);
		if (in == want_in && out == want_out)
			return;
		h_sleep_ms(50);
	}
	cr_assert_fail("bytes_in %lld (want %lld), bytes_out %lld (want %lld)", in, want_in, out,
		       want_out);
}

HTEST(echo, small)
{
	start();
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	unsigned char in[16];
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(h_send_str(fd, "hello"), 0);
		size_t got = pump(fd, (const unsigned char *)"hello", 5, in, 5, H_TIMEOUT_MS);
		cr_assert_eq(got, 5, "round %d: %zu of 5 bytes echoed", i, got);
		cr_assert(!memcmp(in, "hello", 5));
	}
	close(fd);
	assert_metrics_bytes(15, 15);
}

HTEST(echo, hundred_kib_concurrent)
{
	start();
	size_t n = 100 * 1024;
	unsigned char *out = pattern(n, 1), *in = malloc(n);
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	size_t got = pump(fd, out, n, in, 0, 10000);
	cr_assert_eq(got, n, "%zu of %zu bytes echoed", got, n);
	size_t d = first_diff(out, in, n);
	cr_assert_eq(d, n, "echo differs at byte %zu", d);
	cr_assert_eq(h_wait_eof(fd, 100), 0, "extra bytes or close after the echo");
	close(fd);
	assert_metrics_bytes((long long)n, (long long)n);
	free(out);
	free(in);
}

/* The client writes 1 MiB without reading.  A small receive buffer makes the
 * server's writes block early, so it has to stop reading (or buffer) without
 * dropping anything; once we read, every byte must come back. */
HTEST(echo, one_mib_backpressure)
{
	start();
	size_t n = 1024 * 1024;
	unsigned char *out = pattern(n, 2), *in = malloc(n);
	int fd = h_connect_host("127.0.0.1", srv.port, 8192);
	cr_assert(fd >= 0);

	size_t sent = 0;
	long long deadline = h_now_ms() + 3000;
	while (sent < n && h_now_ms() < deadline) {
		struct pollfd p = {fd, POLLOUT, 0};
		if (poll(&p, 1, 300) != 1)
			break; /* stalled: the server is pushing back */
		ssize_t w = send(fd, out + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			sent += (size_t)w;
		else
			cr_assert(w < 0 && errno == EAGAIN, "send: %s", strerror(errno));
	}
	h_sleep_ms(300);
	cr_assert(herd_alive(&srv), "server died under backpressure");
	size_t got = pump(fd, out, n, in, sent, 15000);
	cr_assert_eq(got, n, "%zu of %zu bytes echoed (%zu sent before reading)", got, n, sent);
	size_t d = first_diff(out, in, n);
	cr_assert_eq(d, n, "echo differs at byte %zu", d);
	close(fd);
	free(out);
	free(in);
}

HTEST(echo, many_clients_interleaved)
{
	enum { N = 32, LEN = 4096 };
	start();
	int fds[N];
	unsigned char *out[N];
	for (int i = 0; i < N; i++) {
		fds[i] = h_connect(srv.port);
		cr_assert(fds[i] >= 0);
		out[i] = pattern(LEN, 100 + i);
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(h_send(fds[i], out[i], LEN, H_TIMEOUT_MS), 0);
	for (int i = 0; i < N; i++) {
		unsigned char in[LEN];
		size_t got = pump(fds[i], out[i], LEN, in, LEN, H_TIMEOUT_MS);
		cr_assert_eq(got, LEN, "client %d: %zu of %d bytes", i, got, LEN);
		cr_assert(!memcmp(in, out[i], LEN), "client %d got another client's bytes", i);
		close(fds[i]);
		free(out[i]);
	}
}

/* A peer that resets while the server is writing must cost one connection,
 * not the process (SIGPIPE / EPIPE / ECONNRESET handling). */
HTEST(echo, reset_while_writing)
{
	start();
	size_t n = 512 * 1024;
	unsigned char *out = pattern(n, 3);
	for (int i = 0; i < 20; i++) {
		int fd = h_connect_host("127.0.0.1", srv.port, 4096);
		cr_assert(fd >= 0);
		h_send(fd, out, n / 4 + (size_t)i * 1000, 200);
		if (i % 2)
			h_sleep_ms(i);
		h_close_rst(fd);
	}
	h_sleep_ms(100);
	cr_assert(herd_alive(&srv), "server died after clients reset mid-echo (status 0x%x)",
		  srv.status);
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	unsigned char in[5];
	cr_assert_eq(h_send_str(fd, "after"), 0);
	cr_assert_eq(pump(fd, (const unsigned char *)"after", 5, in, 5, H_TIMEOUT_MS), 5);
	close(fd);
	free(out);
}
