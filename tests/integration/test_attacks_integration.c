/* Hostile clients against the real binary, over loopback: slow, oversized
 * and garbage input.  The probe, the resource checks and the helpers are in
 * attack_util.c (see attack_util.h); the limits and the timeouts have their
 * own suites (test_limits_integration.c, test_timeouts_integration.c).
 *
 * The attacks:
 *   slowloris            200 connections trickling a head at 1 byte/s
 *   header_1mib          a 1 MiB header field: 431, close, RSS flat
 *   pipeline_never_read  1,000 pipelined requests never read: dropped after
 *                        --send-timeout; what was sent arrives in order
 *   pipeline_read_late   the same, read after 1 s: all 1,000 in order
 *   garbage              seeded random bytes on 50 connections: 400, close */
#include "attack_util.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(attacks, .fini = attacks_fini, .timeout = 40);

/* ======================================================================== */
/* 1. slowloris: 200 connections trickling a head at 1 byte/s.              */

#define SL_N 200
#define SL_TIMEOUT_MS 1500

struct slow {
	int fd;
	long long first_ms, closed_ms;
	size_t got;
	char buf[256];
	int sent;
	bool closed, eof, rst;
};

static void slow_closed(struct slow *s, bool rst)
{
	s->closed = true;
	s->closed_ms = h_now_ms();
	s->rst = rst;
	s->eof = !rst;
}

static void slow_read(struct slow *s)
{
	for (;;) {
		char tmp[512];
		ssize_t n = recv(s->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n > 0) {
			size_t room = sizeof(s->buf) - 1 - s->got;
			memcpy(s->buf + s->got, tmp, (size_t)n < room ? (size_t)n : room);
			s->got += (size_t)n < room ? (size_t)n : room;
			continue;
		}
		if (n == 0)
			slow_closed(s, false);
		else if (errno != EAGAIN && errno != EINTR)
			slow_closed(s, true);
		return;
	}
}

HTEST(attacks, slowloris, .timeout = 30)
{
	static const char head[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\nUser-Agent: slow\r\n\r\n";
	struct env e;
	START(&e, &srv, "--workers", "2", "--header-timeout", "1.5");
	watch_start(&e, PROBE_FRESH_EVERY);

	struct slow *sl = calloc(SL_N, sizeof(*sl));
	for (int i = 0; i < SL_N; i++) {
		sl[i].fd = h_connect(srv.port);
		cr_assert(sl[i].fd >= 0, "connect %d", i);
	}
	long long t0 = h_now_ms(), next_send = t0;
	long long deadline = t0 + SL_TIMEOUT_MS + 1000 + 2000;
	struct pollfd *pf = calloc(SL_N, sizeof(*pf));
	int idx[SL_N];
	int open = SL_N;
	while (open > 0 && h_now_ms() < deadline) {
		if (h_now_ms() >= next_send) {
			for (int i = 0; i < SL_N; i++) {
				struct slow *s = &sl[i];
				if (s->closed || s->sent >= (int)sizeof(head) - 2)
					continue;
				/* Never write to a connection the server already closed. */
				struct pollfd p = {s->fd, POLLIN | POLLRDHUP, 0};
				if (poll(&p, 1, 0) > 0) {
					slow_read(s);
					if (s->closed) {
						open--;
						continue;
					}
				}
				ssize_t n = send(s->fd, head + s->sent, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
				if (n == 1) {
					if (s->sent++ == 0)
						s->first_ms = h_now_ms();
				} else if (n < 0 && errno != EAGAIN) {
					slow_closed(s, true);
					open--;
				}
			}
			next_send += 1000;
		}
		int np = 0;
		for (int i = 0; i < SL_N; i++)
			if (!sl[i].closed) {
				pf[np] = (struct pollfd){sl[i].fd, POLLIN | POLLRDHUP, 0};
				idx[np++] = i;
			}
		int wait = (int)(next_send - h_now_ms());
		if (wait > 50)
			wait = 50;
		if (wait < 0)
			wait = 0;
		if (poll(pf, (nfds_t)np, wait) <= 0)
			continue;
		for (int k = 0; k < np; k++)
			if (pf[k].revents) {
				slow_read(&sl[idx[k]]);
				if (sl[idx[k]].closed)
					open--;
			}
	}

	int n408 = 0, neof = 0, nrst = 0;
	long long worst = 0, earliest = 1 << 30;
	for (int i = 0; i < SL_N; i++) {
		struct slow *s = &sl[i];
		cr_assert(s->closed, "slowloris connection %d still open %lld ms after its first byte "
			  "(sent %d bytes; --header-timeout %.1f s)", i, h_now_ms() - s->first_ms,
			  s->sent, SL_TIMEOUT_MS / 1000.0);
		long long took = s->closed_ms - s->first_ms;
		worst = took > worst ? took : worst;
		earliest = took < earliest ? took : earliest;
		s->buf[s->got] = 0;
		if (s->got) {
			cr_assert_eq(status_of(s->buf), 408, "connection %d got '%.40s', want a 408", i,
				     s->buf);
			n408++;
		}
		neof += s->eof;
		nrst += s->rst;
	}
	cr_log_info("slowloris: %d connections closed by the server %lld..%lld ms after their "
		    "first byte (%d with a 408, %d EOF, %d RST)", SL_N, earliest, worst, n408, neof,
		    nrst);
	cr_assert_leq(worst, SL_TIMEOUT_MS + 1000, "a trickling connection lived %lld ms, limit "
		      "header timeout %d ms + 1 s", worst, SL_TIMEOUT_MS);
	cr_assert_geq(earliest, SL_TIMEOUT_MS - 100, "a trickling connection was closed after "
		      "%lld ms, before the %d ms header timeout", earliest, SL_TIMEOUT_MS);
	for (int i = 0; i < SL_N; i++)
		close(sl[i].fd);
	free(sl);
	free(pf);
	int peak = e.w->peak_fds;
	watch_stop(&e, "slowloris", 2048);
	cr_assert_geq(peak, e.base_fds + SL_N / 2,
		      "the server never held the slowloris connections (peak %d fds)", peak);
	env_check_recovered(&e, "slowloris");
}

/* ======================================================================== */
/* 2. a 1 MiB header on one connection.                                      */

HTEST(attacks, header_1mib, .timeout = 20)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--header-timeout", "5");
	watch_start(&e, PROBE_FRESH_EVERY);

	static const char pre[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Big: ";
	size_t big = 1 << 20, len = sizeof(pre) - 1 + big + 4;
	char *req = malloc(len);
	memcpy(req, pre, sizeof(pre) - 1);
	memset(req + sizeof(pre) - 1, 'a', big);
	memcpy(req + len - 4, "\r\n\r\n", 4);

	long long start = h_now_ms(), slowest = 0;
	int rounds = 0;
	do {
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0);
		long long t0 = h_now_ms();
		int sent = h_send(fd, req, len, 5000);
		long long took = h_now_ms() - t0;
		slowest = took > slowest ? took : slowest;
		struct end end;
		read_to_end(fd, &end, 5000);
		close(fd);
		cr_assert_eq(sent, 0, "round %d: the server stopped taking the 1 MiB header (it "
			     "should drain it after its 431)", rounds);
		cr_assert_eq(status_of(end.head), 431, "round %d: want 431, got '%.60s'", rounds,
			     end.head);
		cr_assert(strcasestr(end.head, "\r\nConnection: close\r\n"),
			  "431 without Connection: close");
		cr_assert(end.eof, "round %d: after the 431 the server did not close (%s)", rounds,
			  end.rst ? "reset" : "still open");
		rounds++;
	} while (h_now_ms() - start < ATTACK_MIN_MS);
	free(req);
	cr_log_info("header_1mib: %d rounds of a 1 MiB header, each answered 431 then closed; "
		    "slowest send %lld ms", rounds, slowest);
	/* Buffering one 1 MiB head would show as >= 1024 KiB. */
	watch_stop(&e, "header_1mib", 512);
	env_check_recovered(&e, "header_1mib");
}

/* ======================================================================== */
/* 3. 1,000 pipelined requests, responses not read.                          */

/* Reads responses in order; returns how many were complete and right, and
 * in *last the read result that ended it (H_OK after `want`). */
static int read_in_order(struct h_conn *c, int want, int *last, int timeout_ms)
{
	for (int i = 0; i < want; i++) {
		struct h_resp r;
		int rc = h_read_response(c, &r, false, timeout_ms);
		if (rc != H_OK) {
			*last = rc;
			return i;
		}
		int st;
		const char *body;
		pipe_path(i, &st, &body);
		cr_assert_eq(r.status, st, "pipelined response %d: status %d, want %d (out of order?)",
			     i, r.status, st);
		if (body)
			cr_assert_str_eq(r.body, body, "pipelined response %d: body", i);
		h_resp_free(&r);
	}
	*last = H_OK;
	return want;
}

HTEST(attacks, pipeline_never_read, .timeout = 25)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--send-timeout", "2", "--keepalive-timeout", "30");
	/* Keep-alive probe only: the server's fd count then tells when it
	 * dropped the attacker. */
	watch_start(&e, 0);

	size_t len;
	char *req = pipe_requests(&len);
	/* A slow reader, so responses back up into the server. */
	int fd = connect_slow_reader(srv.port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send(fd, req, len, 5000), 0, "could not write %d pipelined requests",
		     PIPE_N);
	free(req);
	long long t_sent = h_now_ms();
	/* Accepted (the listener defers accept until data came)... */
	long long acc_deadline = t_sent + 2000;
	while (proc_fds(srv.pid) < e.base_fds + 2 && h_now_ms() < acc_deadline)
		h_sleep_ms(2);
	cr_assert_geq(proc_fds(srv.pid), e.base_fds + 2, "the pipelining client was never accepted");
	/* ... and never reading: the server must give up after --send-timeout 2. */
	int fds = wait_fds_at_most(srv.pid, e.base_fds + 1, 8000);
	long long took = h_now_ms() - t_sent;
	cr_assert_leq(fds, e.base_fds + 1, "the server still holds a connection whose client has not "
		      "read for %lld ms (--send-timeout 2)", took);
	cr_assert_geq(took, 1800, "the non-reading client was dropped after %lld ms, before the "
		      "2 s send timeout", took);
	cr_assert_leq(took, 4000, "the non-reading client was dropped only after %lld ms "
		      "(--send-timeout 2)", took);
	long peak_during = e.w->peak_rss_kib - e.base_rss;

	/* Now read: responses in order, then the end of the stream. */
	struct h_conn c;
	h_conn_init(&c, fd);
	int last;
	int got = read_in_order(&c, PIPE_N, &last, 3000);
	cr_log_info("pipeline_never_read: server dropped the client %lld ms after its requests; "
		    "reading then gave %d complete in-order responses, then %s%s; peak RSS %+ld KiB",
		    took, got, h_result_str(last), c.error == ECONNRESET ? " (reset)" : "",
		    peak_during);
	cr_assert_lt(got, PIPE_N, "all %d responses arrived although the server had given up", PIPE_N);
	cr_assert(last == H_EOF || last == H_PARTIAL, "after %d responses: %s, want the server's "
		  "close", got, h_result_str(last));
	h_conn_close(&c);

	watch_stop(&e, "pipeline_never_read", 4096);
	env_check_recovered(&e, "pipeline_never_read");
}

HTEST(attacks, pipeline_read_late, .timeout = 25)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--send-timeout", "2");
	watch_start(&e, PROBE_FRESH_EVERY);

	size_t len;
	char *req = pipe_requests(&len);
	int fd = connect_slow_reader(srv.port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send(fd, req, len, 5000), 0);
	free(req);
	h_sleep_ms(1000); /* late, but within the send timeout */
	struct h_conn c;
	h_conn_init(&c, fd);
	int last;
	int got = read_in_order(&c, PIPE_N, &last, 5000);
	cr_assert_eq(got, PIPE_N, "late reader got %d of %d responses, then %s", got, PIPE_N,
		     h_result_str(last));
	/* ... and the connection is still usable. */
	struct h_resp r;
	cr_assert_eq(h_send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	cr_assert_eq(h_read_response(&c, &r, false, 3000), H_OK);
	cr_assert_eq(r.status, 200);
	h_resp_free(&r);
	h_conn_close(&c);

	watch_stop(&e, "pipeline_read_late", 4096);
	env_check_recovered(&e, "pipeline_read_late");
}

/* ======================================================================== */
/* 4. random garbage on 50 connections.                                      */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

#define GARBAGE_N 50

HTEST(attacks, garbage, .timeout = 20)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--header-timeout", "2");
	watch_start(&e, PROBE_FRESH_EVERY);

	int n400 = 0, neof = 0, rounds = 0;
	long long start = h_now_ms();
	do {
		int fds[GARBAGE_N];
		bool after_valid[GARBAGE_N];
		connect_n(srv.port, fds, GARBAGE_N, 0);
		for (int i = 0; i < GARBAGE_N; i++) {
			char buf[4096];
			size_t n = 0;
			/* One in five first sends a valid request, then garbage. */
			after_valid[i] = i % 5 == 4;
			if (after_valid[i])
				n = (size_t)sprintf(buf, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
			size_t len = 256 + rng() % (sizeof(buf) - 512);
			while (n < len)
				buf[n++] = (char)rng();
			cr_assert_eq(h_send(fds[i], buf, n, 3000), 0);
		}
		for (int i = 0; i < GARBAGE_N; i++) {
			struct h_conn c;
			h_conn_init(&c, fds[i]);
			struct h_resp r;
			if (after_valid[i]) {
				cr_assert_eq(h_read_response(&c, &r, false, 3000), H_OK);
				cr_assert_eq(r.status, 200, "garbage %d: the valid request got %d", i,
					     r.status);
				h_resp_free(&r);
			}
			int rc = h_read_response(&c, &r, false, 3000);
			cr_assert(rc == H_OK || rc == H_EOF, "garbage %d: %s", i, h_result_str(rc));
			if (rc == H_OK) {
				cr_assert_eq(r.status, 400, "garbage connection %d answered %d, want 400",
					     i, r.status);
				const char *conn = h_header(&r, "Connection");
				cr_assert(conn && !strcasecmp(conn, "close"), "garbage %d: 400 without "
					  "Connection: close", i);
				h_resp_free(&r);
				n400++;
			} else {
				neof++;
			}
			cr_assert_eq(h_conn_wait_eof(&c, 3000), 1, "garbage connection %d: the server "
				     "did not close after its answer", i);
			h_conn_close(&c);
		}
		rounds++;
	} while (h_now_ms() - start < ATTACK_MIN_MS);
	cr_log_info("garbage: %d connections of random bytes (seeded), %d answered 400, %d closed "
		    "without an answer; all closed by the server", rounds * GARBAGE_N, n400, neof);
	watch_stop(&e, "garbage", 2048);
	env_check_recovered(&e, "garbage");
}
