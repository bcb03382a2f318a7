/* Hostile clients against the real binary, over loopback: connections that
 * half-close, reset or go idle.  The probe, the resource checks and the
 * helpers are in attack_util.c (see attack_util.h).
 *
 * The attacks:
 *   half_close_and_rst   SHUT_WR after requests (answers, then EOF) and
 *                        RST right after 16 pipelined requests
 *   idle_timeouts        partial heads: 408 after --header-timeout; idle
 *                        keep-alive closed after --keepalive-timeout
 *   never_reads          10,000 pipelined requests in one write, never a
 *                        byte read: closed after --send-timeout although
 *                        every answer left herd (it waits in the kernel) */
#include "attack_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(attacks, .fini = attacks_fini, .timeout = 40);

/* ======================================================================== */
/* 1. half-closed and reset connections.                                     */

#define HALF_N 50
#define RST_N 100

static const char get_req[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";

/* Half-closed after 8 pipelined requests: all 8 answers, then EOF. */
static void half_closed_clients(int port)
{
	int fds[HALF_N];
	connect_n(port, fds, HALF_N, 0);
	for (int i = 0; i < HALF_N; i++) {
		char buf[8 * sizeof(get_req)];
		size_t n = 0;
		for (int k = 0; k < 8; k++, n += sizeof(get_req) - 1)
			memcpy(buf + n, get_req, sizeof(get_req) - 1);
		cr_assert_eq(h_send(fds[i], buf, n, 3000), 0);
		shutdown(fds[i], SHUT_WR);
	}
	for (int i = 0; i < HALF_N; i++) {
		struct h_conn c;
		h_conn_init(&c, fds[i]);
		for (int k = 0; k < 8; k++) {
			struct h_resp r;
			int rc = h_read_response(&c, &r, false, 3000);
			cr_assert_eq(rc, H_OK, "half-closed client %d, response %d: %s", i, k,
				     h_result_str(rc));
			cr_assert_eq(r.status, 200);
			cr_assert_str_eq(r.body, PLAIN);
			h_resp_free(&r);
		}
		cr_assert_eq(h_conn_wait_eof(&c, 3000), 1, "half-closed client %d: no EOF after its "
			     "responses", i);
		h_conn_close(&c);
	}
}

/* Half-closed in the middle of a head: nothing more can come, so the server
 * closes at once, not after the header timeout.  Returns how long it took. */
static long long half_closed_partial_heads(int port)
{
	int fds[10];
	connect_n(port, fds, 10, 0);
	for (int i = 0; i < 10; i++) {
		cr_assert_eq(h_send_str(fds[i], "GET /plaintext HTTP/1.1\r\nHo"), 0);
		shutdown(fds[i], SHUT_WR);
	}
	long long t0 = h_now_ms();
	for (int i = 0; i < 10; i++) {
		struct end end;
		read_to_end(fds[i], &end, 3000);
		cr_assert(end.eof || end.rst, "half-closed partial head %d: the server did not close",
			  i);
		if (end.got)
			cr_assert(status_of(end.head) >= 400, "partial head %d got '%.40s'", i,
				  end.head);
	}
	long long took = h_now_ms() - t0;
	close_all(fds, 10);
	cr_assert_leq(took, 1000, "half-closed partial heads were closed only after %lld ms", took);
	return took;
}

/* 16 pipelined requests then RST at once; and RST while the server is
 * blocked sending 1,000 responses to a slow reader. */
static void reset_clients(int port, const char *many, size_t len)
{
	for (int i = 0; i < RST_N; i++) {
		int fd = h_connect_host("127.0.0.1", port, i % 2 ? 4096 : 0);
		cr_assert(fd >= 0);
		char buf[16 * sizeof(get_req)];
		size_t n = 0;
		for (int k = 0; k < 16; k++, n += sizeof(get_req) - 1)
			memcpy(buf + n, get_req, sizeof(get_req) - 1);
		cr_assert_eq(h_send(fd, buf, n, 3000), 0);
		h_close_rst(fd);
	}
	for (int i = 0; i < 5; i++) {
		int fd = connect_slow_reader(port);
		cr_assert(fd >= 0);
		cr_assert_eq(h_send(fd, many, len, 3000), 0);
		h_sleep_ms(20);
		h_close_rst(fd);
	}
}

HTEST(attacks, half_close_and_rst, .timeout = 25)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--header-timeout", "2");
	watch_start(&e, PROBE_FRESH_EVERY);

	size_t len;
	char *many = pipe_requests(&len);
	long long start = h_now_ms(), partial_worst = 0;
	int rounds = 0;
	do {
		half_closed_clients(srv.port);
		long long p = half_closed_partial_heads(srv.port);
		partial_worst = p > partial_worst ? p : partial_worst;
		reset_clients(srv.port, many, len);
		rounds++;
	} while (h_now_ms() - start < ATTACK_MIN_MS);
	free(many);
	cr_log_info("half_close_and_rst: %d rounds of: %d half-closed clients (all answered, then "
		    "EOF), 10 half-closed partial heads (closed within %lld ms), %d RST after 16 "
		    "requests, 5 RST while the server was blocked sending", rounds, HALF_N,
		    partial_worst, RST_N);
	h_sleep_ms(200);
	watch_stop(&e, "half_close_and_rst", 2048);
	env_check_recovered(&e, "half_close_and_rst");
}

/* ======================================================================== */
/* 2. idle connections: partial head, idle keep-alive.                       */

struct idle_case {
	const char *send;
	int responses_first; /* complete responses expected before the end */
	int want_status;     /* of the final answer; 0: none, just EOF */
	int lo_ms, hi_ms;    /* when the server must close, from the send */
	const char *what;
	/* results */
	int fd;
	long long sent_ms;
	struct end end;
	long long closed_ms;
};

static void *idle_run(void *arg)
{
	struct idle_case *ic = arg;
	read_to_end(ic->fd, &ic->end, ic->hi_ms + 3000);
	ic->closed_ms = h_now_ms() - ic->sent_ms;
	return NULL;
}

HTEST(attacks, idle_timeouts, .timeout = 20)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--header-timeout", "1", "--keepalive-timeout", "1");
	watch_start(&e, PROBE_FRESH_EVERY);

#define IDLE_CASE(s, n, st, w) {.send = (s), .responses_first = (n), .want_status = (st), \
				 .lo_ms = 900, .hi_ms = 2000, .what = (w)}
	struct idle_case cases[] = {
		IDLE_CASE("GET /plain", 0, 408, "partial request line"),
		IDLE_CASE("GET /plaintext HTTP/1.1\r\nHost: t\r\n", 0, 408, "partial header"),
		IDLE_CASE("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", 1, 0,
			  "idle keep-alive after a request"),
		IDLE_CASE("GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /pl", 1, 408,
			  "partial second request"),
		/* /plaintext is a handler, which is given its request's body
		 * whole: one that never completes is a 408, nothing before. */
		IDLE_CASE("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc", 0,
			  408, "body that never completes"),
	};
	enum { NC = sizeof(cases) / sizeof(cases[0]), REP = 4 };
	struct idle_case all[NC * REP];
	pthread_t th[NC * REP];
	for (int i = 0; i < NC * REP; i++) {
		all[i] = cases[i % NC];
		all[i].fd = h_connect(srv.port);
		cr_assert(all[i].fd >= 0);
	}
	for (int i = 0; i < NC * REP; i++) {
		cr_assert_eq(h_send_str(all[i].fd, all[i].send), 0);
		all[i].sent_ms = h_now_ms();
		cr_assert_eq(pthread_create(&th[i], NULL, idle_run, &all[i]), 0);
	}
	for (int i = 0; i < NC * REP; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NC * REP; i++) {
		struct idle_case *ic = &all[i];
		close(ic->fd);
		cr_assert(ic->end.eof || ic->end.rst, "%s: the server never closed (%lld ms)", ic->what,
			  ic->closed_ms);
		cr_assert(ic->end.eof, "%s: the server reset instead of closing", ic->what);
		cr_assert(ic->closed_ms >= ic->lo_ms && ic->closed_ms <= ic->hi_ms,
			  "%s: closed after %lld ms, want %d..%d ms", ic->what, ic->closed_ms,
			  ic->lo_ms, ic->hi_ms);
		/* The answers: complete responses first, then the final one. */
		const char *p = ic->end.head;
		for (int k = 0; k < ic->responses_first; k++) {
			cr_assert_eq(status_of(p), 200, "%s: response %d: '%.40s'", ic->what, k, p);
			const char *next = strstr(p, PLAIN);
			cr_assert(next, "%s: response %d incomplete", ic->what, k);
			p = next + strlen(PLAIN);
		}
		if (ic->want_status)
			cr_assert_eq(status_of(p), ic->want_status, "%s: final answer '%.40s', want %d",
				     ic->what, p, ic->want_status);
		else
			cr_assert_eq(*p, 0, "%s: unexpected bytes '%.40s' before the close", ic->what,
				     p);
		if (i < NC)
			cr_log_info("idle_timeouts: %s: closed by the server after %lld ms%s", ic->what,
				    ic->closed_ms, ic->want_status ? " with its answer" : "");
	}
	watch_stop(&e, "idle_timeouts", 2048);
	env_check_recovered(&e, "idle_timeouts");
}

/* ======================================================================== */
/* 3. A client that pipelines and never reads.                               */

#define NOREAD_CONNS 4
#define NOREAD_REQS 10000

static long long active_conns(int admin_port)
{
	char *m = h_metrics(admin_port);
	long long n = -1;
	if (m)
		h_metric_sum(m, "herd_connections_active", &n);
	free(m);
	return n;
}

HTEST(attacks, never_reads, .timeout = 30)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--send-timeout", "2", "--keepalive-timeout", "30",
	      "--admin", "127.0.0.1:0");
	size_t one = sizeof(get_req) - 1, len = one * NOREAD_REQS;
	char *reqs = malloc(len);
	cr_assert(reqs);
	for (size_t i = 0; i < NOREAD_REQS; i++)
		memcpy(reqs + i * one, get_req, one);
	int fds[NOREAD_CONNS];
	connect_n(srv.port, fds, NOREAD_CONNS, 0);
	for (int i = 0; i < NOREAD_CONNS; i++)
		cr_assert_eq(h_send(fds[i], reqs, len, 5000), 0, "client %d: the requests did not go "
			     "out", i);
	free(reqs);
	long long t0 = h_now_ms(), open = -1, most = 0;
	/* The answers (about 1.3 MB each) fill the client's receive window and
	 * then wait in the server's send queue: herd itself holds nothing, and
	 * only the send timeout may close these connections.  (A connection a
	 * worker has not opened yet, still in a hand-off queue, does not count
	 * as open: first see them all.) */
	while (h_now_ms() - t0 < 8000) {
		open = active_conns(srv.admin_port);
		most = open > most ? open : most;
		if (open == 0 && most == NOREAD_CONNS)
			break;
		h_sleep_ms(most < NOREAD_CONNS ? 5 : 100);
	}
	long long took = h_now_ms() - t0;
	cr_assert_eq(most, NOREAD_CONNS, "only %lld of %d never-reading clients were ever open",
		     most, NOREAD_CONNS);
	cr_log_info("never_reads: %d clients that never read closed after %lld ms "
		    "(--send-timeout 2, --keepalive-timeout 30)", NOREAD_CONNS, took);
	cr_assert_eq(open, 0, "%lld of %d never-reading clients still open after %lld ms "
		     "(--send-timeout 2)", open, NOREAD_CONNS, took);
	cr_assert_geq(took, 1500, "closed after %lld ms, before --send-timeout 2", took);
	close_all(fds, NOREAD_CONNS);
	/* The server is unharmed: a fresh client is answered at once. */
	struct h_resp r;
	cr_assert_eq(h_exchange(srv.port, get_req, &r), H_OK, "a client after the never-reading "
		     "ones was not answered");
	cr_assert_eq(r.status, 200);
	h_resp_free(&r);
}
