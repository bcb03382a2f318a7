/* The app suite, part two (see test_app_integration.c for the list and
 * app_suite.h for what both parts share): deferred answers, per-worker
 * hooks, crash isolation, the access log and metrics. */
#include "app_suite.h"

HTEST(app, deferred)
{
	/* One worker: while /slow waits, that worker goes on serving. */
	herd_start(&srv, "--workers", "1");
	struct h_conn c = open_conn();
	int worker;
	long served;
	counter(&c, &worker, &served);
	long long t0 = h_now_ms();
	send_req(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_resp r;
	expect(&c, &r, false, 200, "GET /slow");
	long long took = h_now_ms() - t0;
	char want[64];
	snprintf(want, sizeof(want), "slow answer from worker %d\n", worker);
	cr_assert_str_eq(r.body, want, "completed on another worker than the connection's");
	cr_assert_geq(took, 40, "/slow took %lld ms: not deferred to the job thread", took);
	h_resp_free(&r);
	/* The connection goes on after a deferred answer. */
	send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, HELLO, NULL, "GET /hello after /slow");

	/* 4 deferred at once (the job thread takes them one by one, 200 ms):
	 * /hello on other connections is answered meanwhile. */
	enum { N = 4 };
	struct h_conn s[N];
	for (int i = 0; i < N; i++) {
		s[i] = open_conn();
		send_req(&s[i], "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	h_sleep_ms(10);
	t0 = h_now_ms();
	for (int i = 0; i < 3; i++)
		exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
	long long hello_ms = h_now_ms() - t0;
	/* Nothing on the last /slow yet (a poll that does not wait). */
	bool pending = h_conn_fill(&s[N - 1], h_now_ms()) < 0;
	cr_assert(pending, "all %d /slow were answered before 3 /hello (%lld ms): the worker "
		  "waited for them", N, hello_ms);
	for (int i = 0; i < N; i++) {
		expect(&s[i], &r, false, 200, "concurrent /slow");
		h_resp_free(&r);
		h_conn_close(&s[i]);
	}
	h_conn_close(&c);
}

HTEST(app, deferred_concurrent)
{
	herd_start(&srv, "--workers", "2");
	enum { N = 20 };
	struct h_conn s[N];
	long long t0 = h_now_ms();
	for (int i = 0; i < N; i++) {
		s[i] = open_conn();
		send_req(&s[i], "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	for (int i = 0; i < N; i++) {
		struct h_resp r;
		expect(&s[i], &r, false, 200, "one of 20 concurrent /slow");
		cr_assert(!strncmp(r.body, "slow answer from worker ", 24), "/slow: %s", r.body);
		h_resp_free(&r);
		h_conn_close(&s[i]);
	}
	long long took = h_now_ms() - t0;
	cr_log_info("deferred_concurrent: 20 /slow answered in %lld ms", took);
	cr_assert_geq(took, 40);
}

/* Clients that leave while their answer is deferred: the job thread's
 * herd_post finds the worker alive and herd_complete returns -1 (the
 * response was orphaned and is freed).  The server serves on, and exits 0 on
 * SIGTERM (a sanitizer build exits non-zero on a leak). */
HTEST(app, deferred_client_gone)
{
	herd_start(&srv, "--workers", "2");
	enum { N = 8 };
	for (int i = 0; i < N; i++) {
		struct h_conn c = open_conn();
		send_req(&c, i % 4 == 3 ? "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /slow HTTP/1.1\r\n"
					  "Host: t\r\n\r\n"
					: "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
		h_sleep_ms(5); /* the handler has run */
		if (i % 2)
			h_close_rst(c.fd);
		else
			close(c.fd);
		c.fd = -1;
		h_conn_close(&c);
	}
	/* A /slow queued behind them is answered after all of theirs were handed
	 * back (one job thread per process, first in, first out). */
	struct h_conn c = open_conn();
	send_req(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_resp r;
	expect(&c, &r, false, 200, "/slow after the orphans");
	h_resp_free(&r);
	h_conn_close(&c);
	h_sleep_ms(100);
	exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
	cr_assert(herd_alive(&srv), "the server died");
	sigterm_exit_0(&srv);
}

HTEST(app, worker_hooks)
{
	herd_start(&srv, "--workers", "2");
	int want = procs_mode() ? 4 : 2; /* --procs 2 --workers 4: 2 processes of 2 */
	struct hook hk[16];
	int n = wait_starts(&srv, hk, 16, want);
	cr_assert_eq(n, want, "%d distinct workers started, want %d", n, want);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(hk[i].starts, 1, "worker %d (pid %d) started %d times", hk[i].id,
			     hk[i].pid, hk[i].starts);
		cr_assert_eq(hk[i].stops, 0, "worker %d stopped while serving", hk[i].id);
		cr_assert(hk[i].id >= 0 && hk[i].id < 2, "worker id %d", hk[i].id);
	}
	/* Per-worker state: one connection stays on one worker. */
	struct h_conn c = open_conn();
	int w0, w;
	long s0, s;
	counter(&c, &w0, &s0);
	cr_assert_geq(s0, 1);
	for (int i = 1; i <= 5; i++) {
		counter(&c, &w, &s);
		cr_assert(w == w0 && s == s0 + i, "/counter: worker %d served %ld, want worker %d "
			  "served %ld", w, s, w0, s0 + i);
	}
	h_conn_close(&c);

	sigterm_exit_0(&srv);
	n = hooks(&srv, hk, 16);
	cr_assert_eq(n, want, "%d workers in the log, want %d", n, want);
	for (int i = 0; i < n; i++)
		cr_assert(hk[i].starts == 1 && hk[i].stops == 1,
			  "worker %d (pid %d): %d starts, %d stops", hk[i].id, hk[i].pid,
			  hk[i].starts, hk[i].stops);
}

/* A worker the supervisor adds under load starts (the hook runs on it) and,
 * retired when the load is gone, stops. */
HTEST(app, hooks_follow_scaling)
{
	if (procs_mode())
		return; /* the run's --workers 4 is outside --max-workers 2 */
	/* The hooks are the worker's, whatever the mode: scaling itself is
	 * the scaling suite's, so this one runs in an epoll and the io_uring
	 * mode only (4 s each). */
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && strcmp(mode, "exclusive") != 0 && strcmp(mode, "uring") != 0)
		return;
	herd_start(&srv, "--min-workers", "1", "--max-workers", "2", "--cpus", "0,1",
		   "--scale-interval", "0.1", "--scale-up-busy", "0.3", "--scale-down-busy", "0.2",
		   "--scale-queue", "8", "--admin", "127.0.0.1:0");
	struct hook hk[16];
	wait_starts(&srv, hk, 16, 1);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", srv.port);
	struct h_load l;
	h_load_start(&l, (const char *const[]){"-t", "2", "-c", "64", "--close", "-d", "3", url,
					       NULL});
	char *json = h_load_finish(&l, 20000);
	cr_assert_eq(json_number(json, "errors"), 0, "errors under load: %s", json);
	free(json);
	int n = hooks(&srv, hk, 16), starts = 0;
	for (int i = 0; i < n; i++)
		starts += hk[i].starts;
	cr_assert_geq(starts, 2, "the supervisor did not add a worker under load");

	/* Idle: back to one worker within the policy's cool-down (3 s). */
	long long deadline = h_now_ms() + 8000L * slack();
	int running;
	do {
		h_sleep_ms(100);
		n = hooks(&srv, hk, 16);
		running = 0;
		for (int i = 0; i < n; i++)
			running += hk[i].starts - hk[i].stops;
	} while (running > 1 && h_now_ms() < deadline);
	char *m = metrics(&srv);
	long long workers = M(m, "herd_workers");
	free(m);
	cr_assert_eq(running, 1, "%d workers running by their hooks after the load", running);
	cr_assert_eq(workers, 1, "herd_workers %lld after the load", workers);
	for (int i = 0; i < n; i++)
		cr_assert(hk[i].stops <= hk[i].starts && hk[i].starts - hk[i].stops <= 1,
			  "worker %d: %d starts, %d stops", hk[i].id, hk[i].starts, hk[i].stops);

	sigterm_exit_0(&srv);
	n = hooks(&srv, hk, 16);
	for (int i = 0; i < n; i++)
		cr_assert_eq(hk[i].starts, hk[i].stops, "worker %d: %d starts, %d stops", hk[i].id,
			     hk[i].starts, hk[i].stops);
}

/* A client thread: GET /hello on a fresh connection every 20 ms. */
static struct prober {
	int port;
	atomic_bool stop, pause, paused;
	int sent, ok;
	char first_fail[160];
} pr;

static void *probe_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&pr.stop)) {
		if (atomic_load(&pr.pause)) {
			atomic_store(&pr.paused, true);
			while (atomic_load(&pr.pause) && !atomic_load(&pr.stop))
				h_sleep_ms(1);
			atomic_store(&pr.paused, false);
			continue;
		}
		struct h_resp r = {.body = NULL};
		int rc = h_exchange(pr.port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
		pr.sent++;
		if (rc == H_OK && r.status == 200 && r.body && !strcmp(r.body, HELLO))
			pr.ok++;
		else if (!pr.first_fail[0])
			snprintf(pr.first_fail, sizeof(pr.first_fail), "request #%d: %s, status %d",
				 pr.sent, h_result_str(rc), rc == H_OK ? r.status : 0);
		h_resp_free(&r);
		h_sleep_ms(20);
	}
	return NULL;
}

/* The handler that crashes takes down its process only. */
HTEST(app, crash_isolation)
{
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && !strcmp(mode, "reuseport"))
		return; /* --procs refuses reuseport */
	herd_start(&srv, PROCS2, "--workers", "2", "--allow-crash");
	int pids[2], after[2];
	wait_running(&srv, 2, 1, pids, 3000);
	pr = (struct prober){.port = srv.port};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, probe_main, NULL), 0);
	h_sleep_ms(200);

	/* A connection the victim holds when it dies is lost with it: the
	 * prober waits between two requests while the crash happens. */
	atomic_store(&pr.pause, true);
	for (long long end = h_now_ms() + 6000; !atomic_load(&pr.paused) && h_now_ms() < end;)
		h_sleep_ms(1);
	cr_assert(atomic_load(&pr.paused), "prober stuck in a request");
	size_t mark = herd_stderr_len(&srv);
	struct h_conn c = open_conn();
	send_req(&c, "GET /crash HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS * slack());
	h_resp_free(&r);
	h_conn_close(&c);
	cr_assert(rc == H_EOF || rc == H_PARTIAL, "GET /crash: %s, want the connection closed "
		  "without an answer", rc == H_OK ? "answered" : h_result_str(rc));
	cr_assert(wait_log(&srv, mark, "killed by signal 6", 3000), "no 'killed by signal 6'");
	char *text = herd_stderr(&srv);
	const char *line = strstr(text + mark, "killed by signal 6");
	while (line > text && line[-1] != '\n')
		line--;
	int slot = -1, victim = -1;
	cr_assert(sscanf(line, "herd: handler %d (pid %d)", &slot, &victim) == 2 && slot >= 0 &&
			  slot < 2 && victim == pids[slot],
		  "crash line: %.*s", (int)strcspn(line, "\n"), line);
	cr_assert(strstr(line, "; restarting") && strstr(line, "; restarting") < strchr(line, '\n'),
		  "%.*s", (int)strcspn(line, "\n"), line);
	free(text);
	atomic_store(&pr.pause, false); /* the victim is gone: from now on, no failure */

	wait_gen(&srv, 2, 1, after, 3000, true, &victim, 1);
	cr_assert_eq(after[!slot], pids[!slot], "the other process (slot %d) was replaced too",
		     !slot);
	h_sleep_ms(200);
	atomic_store(&pr.stop, true);
	pthread_join(th, NULL);
	char *m = metrics(&srv);
	char lk[2][16];
	snprintf(lk[0], sizeof(lk[0]), "proc=\"%d\"", slot);
	snprintf(lk[1], sizeof(lk[1]), "proc=\"%d\"", !slot);
	cr_assert_eq(M(m, "herd_process_restarts_total", lk[0]), 1);
	cr_assert_leq(M(m, "herd_process_restarts_total", lk[1]), 0);
	free(m);
	cr_log_info("crash_isolation: handler %d crashed; prober %d/%d answered", slot, pr.ok,
		    pr.sent);
	cr_assert_geq(pr.sent, 10, "prober made only %d requests", pr.sent);
	cr_assert_eq(pr.ok, pr.sent, "prober: %d of %d answered; first failure %s", pr.ok, pr.sent,
		     pr.first_fail);
	/* Both processes serve again (fresh connections go to either). */
	for (int i = 0; i < 20; i++)
		exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
}

/* Handler answers are logged and counted like the built-ins', deferred ones
 * included. */
HTEST(app, log_and_metrics)
{
	char dir[] = "/tmp/herd-app-log-XXXXXX", path[64];
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access.log", dir);
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0", "--access-log", path);
	for (int i = 0; i < 5; i++)
		exchange("GET /hello HTTP/1.1\r\nHost: t\r\nUser-Agent: five\r\n\r\n", 200, HELLO);
	exchange("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", 200, NULL);
	exchange("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL);
	exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 200, "abc");
	enum { REQUESTS = 8 };

	long long req = -1, deadline = h_now_ms() + 3000L * slack();
	do {
		char *m = metrics(&srv);
		req = M(m, "herd_requests_total");
		free(m);
		if (req == REQUESTS)
			break;
		h_sleep_ms(50);
	} while (h_now_ms() < deadline);
	cr_assert_eq(req, REQUESTS, "herd_requests_total %lld after %d requests", req, REQUESTS);

	/* The log is written out within a second. */
	static const struct {
		const char *line;
		int count;
	} want[] = {
		{"\"GET /hello HTTP/1.1\" 200 14 \"-\" \"five\"", 5},
		{"\"GET /slow HTTP/1.1\" 200 ", 1},
		{"\"GET /nope HTTP/1.1\" 404 ", 1},
		{"\"POST /echo HTTP/1.1\" 200 3 ", 1},
	};
	char *text = NULL;
	bool all = false;
	deadline = h_now_ms() + 3000L * slack();
	do {
		free(text);
		text = NULL;
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			static char buf[65536];
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = 0;
			text = strdup(buf);
		}
		all = text != NULL;
		for (size_t i = 0; all && i < sizeof(want) / sizeof(*want); i++)
			all = count_str(text, want[i].line) == want[i].count;
		if (all)
			break;
		h_sleep_ms(100);
	} while (h_now_ms() < deadline);
	unlink(path);
	rmdir(dir);
	cr_assert(all, "access log:\n%s", text ? text : "(none)");
	free(text);
}
