/* Hostile clients against the real binary, over loopback: more connections
 * than --max-conns or the descriptor limit allow, and bodies over
 * --max-body.  The probe, the resource checks and the helpers are in
 * attack_util.c (see attack_util.h).
 *
 * The attacks:
 *   max_conns            100 connections at --max-conns 50: 49 + the probe
 *                        served, the rest wait and get in as slots free up
 *   rlimit_nofile        RLIMIT_NOFILE 120, no --max-conns: no spin, no
 *                        reset, everyone served eventually
 *   emfile               RLIMIT_NOFILE lowered under a running server
 *                        (accept4 fails with EMFILE): the same
 *   emfile_admin_scrape  a /metrics scrape queued while out of descriptors
 *   max_body             Content-Length over --max-body: 413 and close;
 *                        bodies at or under it: answered, connection reused
 *   max_body_chunked     a chunked body over --max-body: a single 413 */
#include "attack_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(attacks, .fini = attacks_fini, .timeout = 40);

/* ---- starting a server with a lowered RLIMIT_NOFILE ------------------------
 * The harness execs $HERD_BIN with the test's own limits, so servers that need
 * a small descriptor budget are started here (same stderr-file / readiness-
 * line approach).  herd raises its soft limit to the hard one, so both are
 * set. */

static int ready_port(const char *text, const char *tag)
{
	const char *p = strstr(text, tag);
	if (!p)
		return 0;
	p += strlen(tag);
	const char *end = p + strcspn(p, " \n");
	if (!*end)
		return 0;
	const char *colon = memrchr(p, ':', (size_t)(end - p));
	return colon ? atoi(colon + 1) : -1;
}

static void start_with_nofile(struct herd *h, rlim_t nofile, const char *const *args)
{
	spawn_limited(h, &(struct h_spawn_opts){.nofile = nofile}, args);
	bool want_admin = false;
	for (const char *const *a = args; *a; a++)
		want_admin |= !strcmp(*a, "--admin");
	long long deadline = h_now_ms() + 5000;
	for (;;) {
		char *text = herd_stderr(h);
		int lp = ready_port(text, "listening on ");
		int ap = want_admin ? ready_port(text, "admin on ") : 1;
		free(text);
		cr_assert(lp >= 0 && ap >= 0, "unparseable readiness line");
		if (lp > 0 && ap > 0) {
			h->port = lp;
			h->admin_port = want_admin ? ap : 0;
			return;
		}
		cr_assert(herd_alive(h), "herd exited during startup (status 0x%x)", h->status);
		cr_assert(h_now_ms() < deadline, "herd not ready within 5 s");
		h_sleep_ms(10);
	}
}

static void release_own(struct herd *h)
{
	herd_release(h);
	own_srv = NULL;
}

/* Sum of herd_errors_total{...kind="accept"...} over the workers. */
static long long accept_errors(const char *m)
{
	long long sum = 0;
	for (const char *l = m; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (strncmp(l, "herd_errors_total{", 18))
			continue;
		const char *close = strchr(l, '}'), *kind = strstr(l, "kind=\"accept\"");
		if (close && kind && kind < close)
			sum += atoll(close + 1);
	}
	return sum;
}


/* ======================================================================== */
/* 1. beyond --max-conns, and beyond RLIMIT_NOFILE.                          */

/* Sends one GET on each of n connections (already connected). */
static void send_gets(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(h_send_str(fds[i], "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"), 0,
			     "send on held connection %d", i);
}

/* Collects answers: state[i] 0 waiting, 1 answered (a 200), -1 closed/reset
 * by the server without an answer.  Polls for up to ms, returning early once
 * `stop_at` connections are answered in total (0: never early). */
static int collect(int *fds, int *state, int n, int ms, int stop_at)
{
	long long deadline = h_now_ms() + ms;
	struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
	int answered = 0;
	for (int i = 0; i < n; i++)
		answered += state[i] == 1;
	for (;;) {
		for (int i = 0; i < n; i++)
			pf[i] = (struct pollfd){state[i] == 0 ? fds[i] : -1, POLLIN | POLLRDHUP, 0};
		int left = (int)(deadline - h_now_ms());
		if (left <= 0 || (stop_at && answered >= stop_at))
			break;
		if (poll(pf, (nfds_t)n, left) <= 0)
			continue;
		for (int i = 0; i < n; i++) {
			if (!pf[i].revents)
				continue;
			char buf[1024];
			ssize_t r = recv(fds[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
			if (r > 0) {
				buf[r] = 0;
				/* One small response: read at once on loopback. */
				state[i] = status_of(buf) == 200 && strstr(buf, PLAIN) ? 1 : -1;
				answered += state[i] == 1;
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				state[i] = -1;
			}
		}
	}
	free(pf);
	return answered;
}

static int count_state(const int *state, int n, int v)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += state[i] == v;
	return c;
}

#define MC_LIMIT 50
#define MC_N 100

HTEST(attacks, max_conns, .timeout = 25)
{
	struct env e;
	char limit[16];
	snprintf(limit, sizeof(limit), "%d", MC_LIMIT);
	start_with_nofile(&srv, 200, (const char *const[]){"--workers", "2", "--max-conns", limit,
							     "--admin", "127.0.0.1:0", NULL});
	env_baseline(&e, &srv);
	/* The probe's keep-alive connection holds one of the 50 slots (a fresh
	 * connection cannot get in at the limit). */
	watch_start(&e, 0);

	int fds[MC_N], state[MC_N] = {0};
	connect_n(srv.port, fds, MC_N, 0);
	send_gets(fds, MC_N);
	/* The first 49 get in; then nobody else does. */
	collect(fds, state, MC_N, 3000, MC_LIMIT - 1);
	int served = collect(fds, state, MC_N, 300, 0);
	int refused = count_state(state, MC_N, -1);
	cr_log_info("max_conns: of %d connections with a request, %d served, %d closed by the server, "
		    "%d waiting (limit %d, the probe holds 1)", MC_N, served, refused,
		    count_state(state, MC_N, 0), MC_LIMIT);
	cr_assert_eq(refused, 0, "%d connections over --max-conns were closed or reset instead of "
		     "waiting in the queue", refused);
	cr_assert_eq(served, MC_LIMIT - 1, "%d connections served at --max-conns %d with the probe "
		     "holding one: want %d", served, MC_LIMIT, MC_LIMIT - 1);
	int fds_now = proc_fds(srv.pid);
	cr_assert_leq(fds_now, e.base_fds + MC_LIMIT, "server holds %d fds at --max-conns %d "
		      "(baseline %d)", fds_now, MC_LIMIT, e.base_fds);

	/* Close 10 served ones: 10 waiting ones get in, within 1 s. */
	int closed = 0;
	for (int i = 0; i < MC_N && closed < 10; i++)
		if (state[i] == 1) {
			close(fds[i]);
			fds[i] = -1;
			state[i] = 2; /* done */
			closed++;
		}
	long long t0 = h_now_ms();
	int before = count_state(state, MC_N, 1);
	int now = collect(fds, state, MC_N, 1000, before + 10);
	long long took = h_now_ms() - t0;
	h_sleep_ms(200);
	now = collect(fds, state, MC_N, 1, 0);
	cr_log_info("max_conns: after closing 10, %d waiting connections served in %lld ms", now - before,
		    took);
	cr_assert_eq(count_state(state, MC_N, -1), 0, "waiting connections were closed by the server");
	cr_assert_eq(now - before, 10, "closing 10 held connections let %d waiting ones in (want 10)",
		     now - before);
	cr_assert_leq(took, 1000, "the 10 waiting connections took %lld ms to be served", took);

	watch_stop(&e, "max_conns", 2048);
	close_all(fds, MC_N);
	env_check_recovered(&e, "max_conns");
	release_own(&srv);
}

/* Holds n connections against a server whose descriptor budget is smaller:
 * asserts nobody is reset, the server does not spin, and everyone is served
 * as earlier ones leave. */
static void hold_beyond_fd_budget(struct env *e, const char *what)
{
	enum { N = 200 };
	int fds[N], state[N] = {0};
	connect_n(e->h->port, fds, N, 0);
	send_gets(fds, N);
	int served = collect(fds, state, N, 700, 0);
	long long cpu0 = proc_cpu_ms(e->h->pid);
	long long t0 = h_now_ms();
	h_sleep_ms(2000);
	long long cpu = proc_cpu_ms(e->h->pid) - cpu0, wall = h_now_ms() - t0;
	served = collect(fds, state, N, 1, 0);
	cr_log_info("%s: %d of %d connections served at the limit, %d waiting, %d closed by the "
		    "server; server CPU over %lld ms at the limit: %lld ms", what, served, N,
		    count_state(state, N, 0), count_state(state, N, -1), wall, cpu);
	fprintf(stderr, "SPIN %-24s cpu=%lldms over %lldms served_at_limit=%d\n", what, cpu, wall,
		served);
	cr_assert_gt(served, 0, "%s: nobody was served", what);
	cr_assert_lt(served, N, "%s: the descriptor limit did not bite", what);
	cr_assert_leq(cpu, 300, "%s: the server used %lld ms of CPU in %lld ms at its limit "
		      "(spinning?)", what, cpu, wall);
	cr_assert_eq(count_state(state, N, -1), 0, "%s: %d connections beyond the limit were closed "
		     "or reset instead of waiting", what, count_state(state, N, -1));

	/* Recovery: close the served ones, round after round; the waiting
	 * ones get in. */
	for (int round = 0; count_state(state, N, 0) > 0; round++) {
		cr_assert_lt(round, 200, "%s: waiting connections are not being served", what);
		for (int i = 0; i < N; i++)
			if (state[i] == 1) {
				close(fds[i]);
				fds[i] = -1;
				state[i] = 2;
			}
		int got = collect(fds, state, N, 1500, 1);
		collect(fds, state, N, 100, 0); /* the rest of this round */
		cr_assert_gt(got, 0, "%s: after closing every served connection, none of the %d "
			     "waiting ones got in within 1.5 s", what, count_state(state, N, 0));
		cr_assert_eq(count_state(state, N, -1), 0, "%s: a waiting connection was closed by "
			     "the server", what);
	}
	close_all(fds, N);
}

HTEST(attacks, rlimit_nofile, .timeout = 30)
{
	struct env e;
	/* No --max-conns: herd derives it from RLIMIT_NOFILE 120. */
	start_with_nofile(&srv, 120, (const char *const[]){"--workers", "2", "--admin",
							     "127.0.0.1:0", NULL});
	env_baseline(&e, &srv);
	watch_start(&e, 0);
	hold_beyond_fd_budget(&e, "rlimit_nofile");
	watch_stop(&e, "rlimit_nofile", 2048);
	env_check_recovered(&e, "rlimit_nofile");
	char *m = h_metrics(srv.admin_port);
	long long acc_err = accept_errors(m);
	cr_log_info("rlimit_nofile: herd_errors_total{kind=\"accept\"} = %lld", acc_err);
	free(m);
	release_own(&srv);
}

/* The descriptor limit lowered under a running server (its --max-conns,
 * derived at start, is far above it): accept4 fails with EMFILE. */
HTEST(attacks, emfile, .timeout = 30)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--admin", "127.0.0.1:0");
	struct rlimit old, low = {(rlim_t)e.base_fds + 40, (rlim_t)e.base_fds + 40};
	cr_assert_eq(prlimit(srv.pid, RLIMIT_NOFILE, &low, &old), 0, "prlimit: %s", strerror(errno));
	/* An armed io_uring accept allocates under the limit it was armed
	 * with: each worker notices the change on its next loop turn and
	 * re-arms, and an idle worker turns at least once a second. */
	h_sleep_ms(1100);
	watch_start(&e, 0);
	hold_beyond_fd_budget(&e, "emfile");
	watch_stop(&e, "emfile", 2048);
	env_check_recovered(&e, "emfile");
	char *m = h_metrics(srv.admin_port);
	cr_assert(m, "/metrics after EMFILE");
	long long acc_err = accept_errors(m);
	cr_log_info("emfile: herd_errors_total{kind=\"accept\"} = %lld", acc_err);
	free(m);
	prlimit(srv.pid, RLIMIT_NOFILE, &old, NULL);
}

/* Requests answered in 2 s by a connection per request from 200 clients. */
static long long close_load_requests(int port, const char *what)
{
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/plaintext", port);
	struct h_load l;
	h_load_start(&l, (const char *const[]){"--close", "-c", "200", "-d", "2", url, NULL});
	char *json = h_load_finish(&l, 15000);
	long long n = h_json_number(json, "requests"), errors = h_json_number(json, "errors");
	free(json);
	cr_log_info("emfile_keeps_serving: %s: %lld requests in 2 s, %lld errors", what, n, errors);
	cr_assert_eq(errors, 0, "%s: %lld failed requests", what, errors);
	return n;
}

/* Out of descriptors while connections close all the time: each close frees
 * one, so herd serves at the rate they allow, in every accept mode, instead
 * of waiting out a pause after each EMFILE. */
HTEST(attacks, emfile_keeps_serving, .timeout = 40)
{
	struct env e;
	START(&e, &srv, "--workers", "2");
	long long free_n = close_load_requests(srv.port, "descriptors to spare");
	struct rlimit low = {(rlim_t)e.base_fds + 40, (rlim_t)e.base_fds + 40};
	cr_assert_eq(prlimit(srv.pid, RLIMIT_NOFILE, &low, NULL), 0, "prlimit: %s", strerror(errno));
	long long tight_n = close_load_requests(srv.port, "40 descriptors for 200 clients");
	cr_assert_geq(tight_n * 10, free_n * 3, "out of descriptors, herd served %lld requests in 2 s, "
		      "under 30%% of the %lld it served with descriptors to spare", tight_n, free_n);
}

/* A /metrics scrape that arrives while the process is out of descriptors
 * must not make the server spin either. */
HTEST(attacks, emfile_admin_scrape, .timeout = 20)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--admin", "127.0.0.1:0");
	struct rlimit old, low = {(rlim_t)e.base_fds + 20, (rlim_t)e.base_fds + 20};
	cr_assert_eq(prlimit(srv.pid, RLIMIT_NOFILE, &low, &old), 0, "prlimit: %s", strerror(errno));
	enum { N = 40 };
	int fds[N], state[N] = {0};
	connect_n(srv.port, fds, N, 0);
	send_gets(fds, N);
	collect(fds, state, N, 500, 0);
	int adm = h_connect(srv.admin_port);
	cr_assert(adm >= 0);
	cr_assert_eq(h_send_str(adm, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	h_sleep_ms(200);
	long long cpu0 = proc_cpu_ms(srv.pid), t0 = h_now_ms();
	h_sleep_ms(1500);
	long long cpu = proc_cpu_ms(srv.pid) - cpu0, wall = h_now_ms() - t0;
	fprintf(stderr, "SPIN %-24s cpu=%lldms over %lldms\n", "emfile_admin_scrape", cpu, wall);
	cr_log_info("emfile_admin_scrape: server CPU %lld ms over %lld ms with a /metrics scrape "
		    "queued while out of descriptors", cpu, wall);
	close_all(fds, N);
	/* Once descriptors free up, the scrape is answered. */
	struct h_conn c;
	h_conn_init(&c, adm);
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, 3000);
	h_conn_close(&c);
	cr_assert_eq(rc, H_OK, "the queued /metrics scrape: %s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	h_resp_free(&r);
	cr_assert_leq(cpu, 300, "the server used %lld ms of CPU in %lld ms with a /metrics scrape "
		      "queued while out of descriptors (spinning)", cpu, wall);
	prlimit(srv.pid, RLIMIT_NOFILE, &old, NULL);
	env_check_recovered(&e, "emfile_admin_scrape");
}

/* ======================================================================== */
/* 2. bodies over --max-body.                                                */

static void expect_413_close(int port, const char *head, const char *body, size_t body_len,
			     const char *what)
{
	int fd = h_connect(port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_str(fd, head), 0, "%s: send head", what);
	if (body_len)
		h_send(fd, body, body_len, 3000); /* may be cut short by the answer */
	struct end end;
	read_to_end(fd, &end, 4000);
	close(fd);
	cr_assert_eq(status_of(end.head), 413, "%s: want 413, got '%.60s'", what, end.head);
	cr_assert(strcasestr(end.head, "\r\nConnection: close\r\n"), "%s: 413 without Connection: "
		  "close", what);
	cr_assert(end.eof, "%s: after the 413 the server did not close (%s)", what,
		  end.rst ? "reset" : "still open");
}

static void expect_ok_then_usable(int port, const char *head, const char *body, size_t body_len,
				  int status, const char *what)
{
	int fd = h_connect(port);
	cr_assert(fd >= 0);
	struct h_conn c;
	h_conn_init(&c, fd);
	cr_assert_eq(h_send_str(fd, head), 0);
	cr_assert_eq(h_send(fd, body, body_len, 3000), 0);
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, 3000);
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
	cr_assert_eq(r.status, status, "%s: status %d, want %d", what, r.status, status);
	h_resp_free(&r);
	cr_assert_eq(h_send_str(fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	rc = h_read_response(&c, &r, false, 3000);
	cr_assert_eq(rc, H_OK, "%s: next request: %s", what, h_result_str(rc));
	cr_assert_eq(r.status, 200, "%s: next request status %d", what, r.status);
	cr_assert_str_eq(r.body, JSON, "%s: next request body", what);
	h_resp_free(&r);
	h_conn_close(&c);
}

static char big_body[8192];

/* n chunks of 400 bytes, then the last chunk. */
static size_t chunked_body(char *out, int n)
{
	size_t len = 0;
	for (int k = 0; k < n; k++) {
		len += (size_t)sprintf(out + len, "190\r\n");
		memset(out + len, 'c', 400);
		len += 400;
		len += (size_t)sprintf(out + len, "\r\n");
	}
	len += (size_t)sprintf(out + len, "0\r\n\r\n");
	return len;
}

HTEST(attacks, max_body, .timeout = 20)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--max-body", "1000", "--header-timeout", "2");
	watch_start(&e, PROBE_FRESH_EVERY);

	memset(big_body, 'b', sizeof(big_body));
	long long start = h_now_ms();
	int rounds = 0;
	do {
		expect_413_close(srv.port,
				 "POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
				 big_body, 5000, "Content-Length 5000 with its body");
		expect_413_close(srv.port,
				 "POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n",
				 NULL, 0, "Content-Length 5000, body not sent");
		expect_413_close(srv.port,
				 "POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: "
				 "99999999999\r\n\r\n", big_body, 100, "Content-Length 99999999999");
		expect_413_close(srv.port,
				 "GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n",
				 big_body, 1001, "GET with Content-Length 1001");

		/* Under (and at) the limit: answered, connection reusable. */
		expect_ok_then_usable(srv.port,
				      "GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: "
				      "1000\r\n\r\n", big_body, 1000, 200, "GET with a 1000-byte body");
		expect_ok_then_usable(srv.port,
				      "POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: "
				      "500\r\n\r\n", big_body, 500, 405, "POST with a 500-byte body");
		char small[1024];
		size_t n = chunked_body(small, 2);
		expect_ok_then_usable(srv.port,
				      "GET /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
				      "chunked\r\n\r\n", small, n, 200, "chunked body of 800 bytes");
		rounds++;
	} while (h_now_ms() - start < ATTACK_MIN_MS);
	cr_log_info("max_body: %d rounds: Content-Length over --max-body 1000 -> 413 + close; "
		    "bodies at/under it -> answered, connection reused", rounds);
	watch_stop(&e, "max_body", 2048);
	env_check_recovered(&e, "max_body");
}

/* A chunked body over --max-body: 413 as the (only) answer, then close. */
static void expect_chunked_413(int port, const char *head, const char *body, size_t len,
			       const char *what)
{
	int fd = h_connect(port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send_str(fd, head), 0);
	h_send(fd, body, len, 3000);
	struct end end;
	read_to_end(fd, &end, 4000);
	close(fd);
	int first = status_of(end.head);
	const char *second = strstr(end.head + 1, "HTTP/1.1 ");
	cr_assert_eq(first, 413, "%s: the request was answered %d%s, want a single 413 "
		     "(--max-body 1000)", what, first,
		     second ? second[9] == '4' && second[10] == '1' && second[11] == '3'
			      ? " and then a second, unsolicited 413 for the same request"
			      : " and then another response"
			    : "");
	cr_assert(!second, "%s: more than one response to one request", what);
	cr_assert(end.eof, "%s: after the 413 the server did not close", what);
}

HTEST(attacks, max_body_chunked, .timeout = 20)
{
	struct env e;
	START(&e, &srv, "--workers", "2", "--max-body", "1000", "--header-timeout", "2");
	watch_start(&e, PROBE_FRESH_EVERY);

	char chunked[4096];
	size_t n = chunked_body(chunked, 4); /* 1600 bytes: over at the 3rd chunk */
	long long start = h_now_ms();
	int rounds = 0;
	do {
		expect_chunked_413(srv.port,
				   "GET /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
				   "chunked\r\n\r\n", chunked, n, "GET, chunked body of 1600 bytes");
		expect_chunked_413(srv.port,
				   "POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
				   "chunked\r\n\r\n", chunked, n, "POST, chunked body of 1600 bytes");
		expect_chunked_413(srv.port,
				   "POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
				   "chunked\r\n\r\n", "100000\r\n", 8, "POST, a 1 MiB chunk announced");
		rounds++;
	} while (h_now_ms() - start < ATTACK_MIN_MS);
	watch_stop(&e, "max_body_chunked", 2048);
	env_check_recovered(&e, "max_body_chunked");
}
