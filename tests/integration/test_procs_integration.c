/* Multi-process mode (--procs): a supervisor process binds the listening
 * socket and the admin listener and runs handler processes (fork + exec of
 * the binary on disk) that share the socket.  Crashes are replaced, crash
 * loops back off, and no client notices any of it beyond the connections a
 * killed process held.  Reloads (SIGHUP) are in test_reload_integration.c. */
#include "procs_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

TestSuite(procs, .fini = harness_fini, .timeout = 60);

static struct herd srv;

/* ---- tests ---- */

HTEST(procs, serves_and_counts_every_connection)
{
	herd_start(&srv, "--procs", "2", "--workers", "4", "--cpus", "0,1", "--admin", "127.0.0.1:0");
	int pids[2];
	wait_running(&srv, 2, 1, pids, 3000);
	cr_assert_neq(pids[0], pids[1]);
	for (int k = 0; k < 2; k++) {
		int pp = 0;
		cr_assert(h_proc_stat(pids[k], NULL, &pp, NULL) && pp == srv.pid,
			  "handler %d (pid %d) is not a child of the supervisor %d (ppid %d)", k,
			  pids[k], (int)srv.pid, pp);
		char path[64], comm[32] = "", want[16];
		snprintf(path, sizeof(path), "/proc/%d/comm", pids[k]);
		FILE *f = fopen(path, "r");
		cr_assert(f && fgets(comm, sizeof(comm), f));
		fclose(f);
		comm[strcspn(comm, "\n")] = 0;
		snprintf(want, sizeof(want), "herd-p%d", k);
		cr_assert_str_eq(comm, want, "handler %d's main thread name", k);
	}

	enum { N = 60 };
	for (int i = 0; i < N; i++) /* each a fresh connection */
		h_assert_get(srv.port, i % 2 ? "/json" : "/plaintext", i % 2 ? JSON : PLAIN);

	char *m = metrics(&srv);
	cr_assert_eq(M(m, "herd_processes"), 2);
	cr_assert_eq(M(m, "herd_workers"), 4);
	cr_assert_eq(M(m, "herd_generation"), 1);
	static const char *const per_worker[] = {
		"herd_accepted_total",  "herd_requests_total",   "herd_connections_active",
		"herd_busy_seconds_total", "herd_wakeups_total", "herd_lost_races_total",
		"herd_errors_total"};
	for (size_t i = 0; i < sizeof(per_worker) / sizeof(*per_worker); i++) {
		const char *name = per_worker[i];
		long long all = 0;
		int series = h_metric_sum(m, name, &all);
		if (i < 4)
			cr_assert_eq(series, 4, "%s: %d series, want one per worker", name, series);
		for (int k = 0; k < 2; k++) {
			char pl[16];
			snprintf(pl, sizeof(pl), "proc=\"%d\"", k);
			cr_assert_geq(M(m, name, pl, "worker=\""), 0,
				      "%s has no series labelled %s and worker", name, pl);
		}
		for (const char *l = strstr(m, name); l; l = strstr(l + 1, name))
			if (l > m && l[-1] == '\n' && l[strlen(name)] == '{')
				cr_assert(memmem(l, strcspn(l, "}"), "proc=\"", 6),
					  "series without a proc label: %.120s", l);
	}
	free(m);

	/* Counters reach the supervisor with some delay: poll up to 2 s. */
	long long acc = -1, req = -1, deadline = h_now_ms() + 2000L * slack();
	do {
		m = metrics(&srv);
		acc = M(m, "herd_accepted_total");
		req = M(m, "herd_requests_total");
		free(m);
		if (acc == N && req == N)
			break;
		h_sleep_ms(50);
	} while (h_now_ms() < deadline);
	cr_assert_eq(acc, N, "herd_accepted_total sums to %lld after %d connections", acc, N);
	cr_assert_eq(req, N, "herd_requests_total sums to %lld after %d requests", req, N);
}

/* A client thread: one request every 50 ms, each on a fresh connection. */
struct prober {
	int port;
	atomic_bool stop, pause, paused;
	int sent, ok;
	char first_fail[160];
};

static void *probe_main(void *arg)
{
	struct prober *p = arg;
	while (!atomic_load(&p->stop)) {
		if (atomic_load(&p->pause)) {
			atomic_store(&p->paused, true);
			while (atomic_load(&p->pause) && !atomic_load(&p->stop))
				h_sleep_ms(1);
			atomic_store(&p->paused, false);
			continue; /* the next request as soon as the victim is gone */
		}
		struct h_resp r = {.body = NULL};
		int rc = h_exchange(p->port, GET_PLAIN, &r);
		p->sent++;
		if (rc == H_OK && r.status == 200 && r.body && !strcmp(r.body, PLAIN))
			p->ok++;
		else if (!p->first_fail[0])
			snprintf(p->first_fail, sizeof(p->first_fail), "request #%d: %s, status %d",
				 p->sent, h_result_str(rc), rc == H_OK ? r.status : 0);
		h_resp_free(&r);
		h_sleep_ms(50);
	}
	return NULL;
}

HTEST(procs, kill9_handler_is_replaced_and_fresh_connections_never_fail)
{
	herd_start(&srv, PROCS2, "--workers", "4");
	int pids[2], after[2];
	wait_running(&srv, 2, 1, pids, 3000);
	char url[64];
	url_of(&srv, url, sizeof(url));
	struct h_load l;
	h_load_start(&l, (const char *const[]){"-c", "32", "-d", "4", url, NULL});
	static struct prober pr; /* static: an assertion may end the test while it runs */
	pr.port = srv.port;
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, probe_main, &pr), 0);
	h_sleep_ms(1500);

	/* A connection the victim accepted and has not answered yet is lost
	 * with it, whatever the server does: the prober waits between two
	 * requests while the kill happens. */
	atomic_store(&pr.pause, true);
	for (long long end = h_now_ms() + 6000; !atomic_load(&pr.paused) && h_now_ms() < end;)
		h_sleep_ms(1);
	cr_assert(atomic_load(&pr.paused), "prober stuck in a request");
	/* The victim: the handler holding more connections (the kernel does
	 * not spread them evenly over the processes). */
	char *m = metrics(&srv), lk[2][16];
	long long held = -1, acc = 0;
	int k = 0;
	for (int i = 0; i < 2; i++) {
		snprintf(lk[i], sizeof(lk[i]), "proc=\"%d\"", i);
		long long c = M(m, "herd_connections_active", lk[i]);
		if (c > held) {
			held = c;
			k = i;
			acc = M(m, "herd_accepted_total", lk[i]);
		}
	}
	free(m);
	size_t mark = herd_stderr_len(&srv);
	cr_assert_eq(kill(pids[k], SIGKILL), 0);
	long long t_kill = h_now_ms();
	/* kill() returns before the victim is gone: until then it may still
	 * take a connection from the shared queue (running on the other CPU,
	 * or its ring's multishot accept) and lose it.  After that, nothing
	 * may be lost. */
	while (!exited(pids[k]) && h_now_ms() < t_kill + 1000)
		h_sleep_ms(1);
	cr_assert(exited(pids[k]), "pid %d still alive 1 s after SIGKILL", pids[k]);
	atomic_store(&pr.pause, false);

	wait_gen(&srv, 2, 1, after, 1000, true, &pids[k], 1);
	long long replaced_ms = h_now_ms() - t_kill;
	cr_assert_eq(after[!k], pids[!k], "slot %d was replaced too", !k);
	m = metrics(&srv);
	cr_assert_eq(M(m, "herd_process_restarts_total", lk[k]), 1);
	cr_assert_leq(M(m, "herd_process_restarts_total", lk[!k]), 0);
	cr_assert_geq(M(m, "herd_accepted_total", lk[k]), acc, "proc %d's total went back", k);
	cr_assert_eq(M(m, "herd_processes"), 2);
	free(m);

	char *json = h_load_finish(&l, 20000);
	atomic_store(&pr.stop, true);
	pthread_join(th, NULL);

	char want[96];
	snprintf(want, sizeof(want), "herd: handler %d (pid %d) killed by signal 9", k, pids[k]);
	cr_assert(wait_log(&srv, mark, want, 1000), "no '%s' line", want);
	char *text = herd_stderr(&srv);
	const char *line = strstr(text + mark, want), *hold = strstr(line, "holding ");
	cr_assert(hold && hold < line + strcspn(line, "\n"), "no 'holding N' in: %.*s",
		  (int)strcspn(line, "\n"), line);
	long long log_held = atoll(hold + 8);
	cr_assert(strstr(line, "; restarting"), "%.*s", (int)strcspn(line, "\n"), line);
	free(text);

	long long errors = json_number(json, "errors"), bound = held > log_held ? held : log_held;
	cr_log_info("killed handler %d; replaced in %lld ms; victim held %lld (metrics) / %lld "
		    "(log); herd-load: %lld requests, %lld errors; prober %d/%d",
		    k, replaced_ms, held, log_held, json_number(json, "requests"), errors, pr.ok,
		    pr.sent);
	cr_assert_gt(held, 0, "the victim held no connection: the kill tested nothing");
	cr_assert_leq(errors, bound, "herd-load: %lld errors, the killed process held %lld: %.300s",
		      errors, bound, strstr(json, "\"errors_by_kind\""));
	cr_assert_geq(pr.sent, 20, "prober made only %d requests", pr.sent);
	cr_assert_eq(pr.ok, pr.sent, "prober: %d of %d answered; first failure %s", pr.ok, pr.sent,
		     pr.first_fail);
	free(json);
}

/* The handler processes of a /metrics text: pids[slot]; returns how many. */
static int running_pids(const struct herd *h, int *pids, int max)
{
	char *m = metrics(h);
	struct pinfo pi[16];
	int n = proc_info(m, pi, 16), k = 0;
	free(m);
	for (int i = 0; i < n && k < max; i++)
		if (!strcmp(pi[i].state, "running") && pi[i].proc < max)
			pids[k++] = pi[i].pid;
	return k;
}

/* The sum of "holding N" over the supervisor's kill lines after `from`. */
static long long held_at_kills(const struct herd *h, size_t from, int *kills)
{
	char *text = herd_stderr(h);
	long long held = 0;
	*kills = 0;
	for (const char *p = text + from; (p = strstr(p, "killed by signal 9")); p++) {
		const char *hold = strstr(p, "holding ");
		cr_assert(hold && hold < p + strcspn(p, "\n"), "no 'holding N' in: %.*s",
			  (int)strcspn(p, "\n"), p);
		held += atoll(hold + 8);
		(*kills)++;
	}
	free(text);
	return held;
}

/* Ten kill -9s, 0.5 s apart, under keep-alive and connection-per-request
 * loads: clients lose only what the killed handlers were serving, in every
 * accept mode (a ring's multishot accept used to take a whole burst of new
 * connections into a process before it looked at any of them, and they died
 * with it), and the keep-alive connections spread over the handlers. */
HTEST(procs, kills_lose_only_what_was_held, .timeout = 60)
{
	enum { KILLS = 10, CONNS = 64 };
	herd_start(&srv, "--procs", "3", "--workers", "3", "--cpus", "0,1", "--admin",
		   "127.0.0.1:0", "--grace", "2");
	int pids[3];
	wait_running(&srv, 3, 1, pids, 3000 * slack());
	char url[96];
	url_of(&srv, url, sizeof(url));
	struct h_load ka, cl;
	h_load_start(&ka, (const char *const[]){"-c", "64", "-d", "9", url, NULL});
	h_sleep_ms(1000);
	char *m = metrics(&srv), lk[24];
	long long most = 0;
	for (int k = 0; k < 3; k++) {
		snprintf(lk, sizeof(lk), "proc=\"%d\"", k);
		long long c = M(m, "herd_connections_active", lk);
		most = c > most ? c : most;
	}
	free(m);
	cr_log_info("kills_lose_only_what_was_held: the busiest of 3 handlers holds %lld of %d "
		    "keep-alive connections", most, CONNS);
	cr_assert_leq(most, CONNS * 7 / 8, "one handler holds %lld of %d keep-alive connections",
		      most, CONNS);
	h_load_start(&cl, (const char *const[]){"--close", "-c", "64", "-d", "7", url, NULL});
	h_sleep_ms(500);
	size_t mark = herd_stderr_len(&srv);
	for (int i = 0; i < KILLS; i++) {
		int now[3], n = running_pids(&srv, now, 3);
		cr_assert_gt(n, 0, "no handler running before kill %d", i);
		cr_assert_eq(kill(now[i % n], SIGKILL), 0);
		h_sleep_ms(500);
	}
	char *kj = h_load_finish(&ka, 20000), *cj = h_load_finish(&cl, 20000);
	int kills;
	h_sleep_ms(200); /* the last kill's line */
	long long held = held_at_kills(&srv, mark, &kills);
	long long ke = json_number(kj, "errors"), ce = json_number(cj, "errors");
	cr_log_info("kills_lose_only_what_was_held: %d kills, the victims held %lld connections; "
		    "failed: %lld keep-alive (of %lld), %lld --close (of %lld)", kills, held, ke,
		    json_number(kj, "requests"), ce, json_number(cj, "requests"));
	cr_assert_eq(kills, KILLS, "%d kill lines for %d kills", kills, KILLS);
	/* One more per kill: until the victim is gone it may still take a
	 * connection from the shared queue, as any process may. */
	cr_assert_leq(ke + ce, held + KILLS, "%lld failed requests, the killed handlers held %lld "
		      "(+%d for the kills themselves)", ke + ce, held, KILLS);
	free(kj);
	free(cj);
}

/* /metrics polled back to back from a thread. */
static struct {
	int port;
	atomic_bool stop;
	atomic_int ok, failed;
} poller;

static void *poll_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&poller.stop)) {
		char *m = h_metrics(poller.port);
		atomic_fetch_add(m ? &poller.ok : &poller.failed, 1);
		free(m);
		h_sleep_ms(1);
	}
	return NULL;
}

/* Each replacement is a fork of the supervisor, which holds admin
 * connections at that moment: the admin endpoint must not notice. */
HTEST(procs, metrics_stay_up_while_handlers_are_replaced)
{
	herd_start(&srv, PROCS2, "--workers", "2");
	int pids[2];
	wait_running(&srv, 2, 1, pids, 3000);
	poller.port = srv.admin_port;
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, poll_main, NULL), 0);
	int kills = 0;
	for (int i = 0; i < 12; i++) { /* 6 per slot: into the backoff */
		cr_assert(herd_alive(&srv), "supervisor died after %d kills (%s %d)", kills,
			  WIFSIGNALED(srv.status) ? "signal" : "exit",
			  WIFSIGNALED(srv.status) ? WTERMSIG(srv.status) : WEXITSTATUS(srv.status));
		char *m = metrics(&srv);
		struct pinfo p[16];
		int n = proc_info(m, p, 16);
		free(m);
		for (int j = 0; j < n; j++)
			if (p[j].proc == i % 2 && p[j].pid > 1 && !strcmp(p[j].state, "running"))
				kills += kill(p[j].pid, SIGKILL) == 0;
		h_sleep_ms(250);
	}
	h_sleep_ms(1500); /* the delayed starts after the backoff */
	atomic_store(&poller.stop, true);
	pthread_join(th, NULL);
	cr_log_info("%d kills, %d GET /metrics answered, %d failed", kills, poller.ok,
		    poller.failed);
	cr_assert(herd_alive(&srv), "supervisor died (%s %d)",
		  WIFSIGNALED(srv.status) ? "signal" : "exit",
		  WIFSIGNALED(srv.status) ? WTERMSIG(srv.status) : WEXITSTATUS(srv.status));
	cr_assert_geq(kills, 8, "only %d handlers killed", kills);
	cr_assert_eq(poller.failed, 0, "%d of %d GET /metrics failed", poller.failed,
		     poller.ok + poller.failed);
	wait_running(&srv, 2, 1, pids, 3000);
}

HTEST(procs, crash_loop_backs_off_and_costs_the_supervisor_nothing)
{
	setenv("HERD_TEST_HANDLER_CRASH", "all", 1);
	long long t0 = h_now_ms();
	herd_spawn(&srv, PROCS2, "--workers", "2");
	unsetenv("HERD_TEST_HANDLER_CRASH");
	srv.admin_port = herd_wait_port(&srv, "admin on ", 3000 * slack());
	cr_assert_gt(srv.admin_port, 0, "no 'admin on' line (alive: %d)", herd_alive(&srv));
	sleep_until(t0 + 1000);
	long long cpu0 = 0, cpu1 = 0;
	cr_assert(h_proc_stat(srv.pid, NULL, NULL, &cpu0));
	sleep_until(t0 + 6000);
	cr_assert(herd_alive(&srv), "supervisor died (status 0x%x)", srv.status);
	cr_assert(h_proc_stat(srv.pid, NULL, NULL, &cpu1));
	char *m = metrics(&srv);
	long long restarts = M(m, "herd_process_restarts_total");
	free(m);
	char *text = herd_stderr(&srv);
	int exits0 = count_str(text, "herd: handler 0 (pid "),
	    exits1 = count_str(text, "herd: handler 1 (pid ");
	bool backoff = strstr(text, "next start in");
	free(text);
	cr_log_info("in 6 s: %lld restarts, exits %d + %d, supervisor CPU %lld ms", restarts, exits0,
		    exits1, cpu1 - cpu0);
	cr_assert(backoff, "no 'next start in' (backoff) line");
	cr_assert(exits0 >= 2 && exits1 >= 2, "handler exits logged: slot 0 %d, slot 1 %d", exits0,
		  exits1);
	cr_assert(restarts >= 2 && restarts <= 14, "%lld restarts in 6 s (want 2..14)", restarts);
	long long cpu_max = slack() > 1 ? 900 : 300;
	cr_assert_lt(cpu1 - cpu0, cpu_max, "supervisor used %lld ms CPU in 5 s of crash loop",
		     cpu1 - cpu0);
	cr_assert_gt(herd_wait_port(&srv, "listening on ", 2000 * slack()), 0,
		     "no 'listening on' line though handlers never became ready");
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 4000 * slack()), "SIGTERM during backoff: still running");
	cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0, "exit status 0x%x",
		  srv.status);
}

HTEST(procs, one_crashing_slot_does_not_stop_the_other)
{
	setenv("HERD_TEST_HANDLER_CRASH", "1", 1);
	herd_spawn(&srv, PROCS2, "--workers", "2");
	unsetenv("HERD_TEST_HANDLER_CRASH");
	srv.admin_port = herd_wait_port(&srv, "admin on ", 3000 * slack());
	srv.port = herd_wait_port(&srv, "listening on ", 8000 * slack());
	cr_assert(srv.admin_port > 0 && srv.port > 0, "no 'admin on'/'listening on' lines");
	for (int i = 0; i < 20; i++) {
		h_assert_get(srv.port, "/plaintext", PLAIN);
		h_sleep_ms(50);
	}
	cr_assert(wait_log(&srv, 0, "next start in", 3000), "slot 1 never backed off");
	char *m = metrics(&srv);
	struct pinfo p[16];
	int n = proc_info(m, p, 16), running0 = 0;
	for (int i = 0; i < n; i++)
		running0 += p[i].proc == 0 && !strcmp(p[i].state, "running");
	cr_assert_eq(running0, 1, "slot 0 not listed as running");
	cr_assert_leq(M(m, "herd_process_restarts_total", "proc=\"0\""), 0, "slot 0 restarted");
	cr_assert_geq(M(m, "herd_process_restarts_total", "proc=\"1\""), 5);
	free(m);
	char *text = herd_stderr(&srv);
	cr_assert(!strstr(text, "herd: handler 0 (pid "), "slot 0 exited:\n%s", text);
	cr_assert(strstr(text, "handler 1: "), "no backoff line for slot 1");
	free(text);
}

HTEST(procs, sigterm_drains_every_handler_and_exits_0)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	herd_start(&srv, PROCS2, "--workers", "2");
	int pids[2];
	wait_running(&srv, 2, 1, pids, 3000);
	struct h_conn c;
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	h_conn_init(&c, fd);
	cr_assert_eq(h_send_str(fd, GET_PLAIN), 0);
	struct h_resp r;
	cr_assert_eq(h_read_response(&c, &r, false, H_TIMEOUT_MS), H_OK);
	h_resp_free(&r);
	long long t0 = h_now_ms();
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 4000 * slack()), "still running %d ms after SIGTERM",
		  4000 * slack());
	cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0, "exit status 0x%x",
		  srv.status);
	cr_log_info("exit after %lld ms", h_now_ms() - t0);
	cr_assert_eq(h_conn_wait_eof(&c, 500), 1, "idle keep-alive connection still open");
	h_conn_close(&c);
	for (int k = 0; k < 2; k++) {
		char why[96] = "";
		cr_assert(handler_gone(pids[k], why, sizeof(why)) && !why[0], "handler %d (pid %d) %s",
			  k, pids[k], why);
	}
}

HTEST(procs, sigkill_of_the_supervisor_takes_the_handlers)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	herd_start(&srv, PROCS2, "--workers", "2");
	int pids[2];
	wait_running(&srv, 2, 1, pids, 3000);
	herd_signal(&srv, SIGKILL);
	cr_assert(herd_wait_exit(&srv, 1000));
	long long deadline = h_now_ms() + 1000L * slack();
	for (int k = 0; k < 2; k++) {
		char why[96] = "";
		while (!handler_gone(pids[k], why, sizeof(why)) && h_now_ms() < deadline)
			h_sleep_ms(10);
		cr_assert(handler_gone(pids[k], why, sizeof(why)),
			  "handler %d (pid %d) alive 1 s after the supervisor was killed", k,
			  pids[k]);
	}
}

HTEST(procs, bad_flag_combinations_exit_2)
{
	char *out, *err;
	int st = herd_run((const char *const[]){"--procs", "3", "--workers", "2", "--listen",
						"127.0.0.1:0", NULL},
			  3000, &out, &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "--procs 3 --workers 2: "
		  "status 0x%x, stderr: %s", st, err);
	cr_assert(strstr(err, "herd: ") && strstr(err, "exceeds --workers"), "stderr: %s", err);
	free(out);
	free(err);
	st = herd_run((const char *const[]){"--procs", "2", "--accept", "reuseport", "--listen",
					    "127.0.0.1:0", NULL},
		      3000, &out, &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
		  "--procs 2 --accept reuseport: status 0x%x, stderr: %s", st, err);
	cr_assert(strstr(err, "reuseport"), "stderr: %s", err);
	free(out);
	free(err);
}

HTEST(procs, sigusr1_dumps_every_process)
{
	herd_start(&srv, PROCS2, "--workers", "2");
	int pids[2];
	wait_running(&srv, 2, 1, pids, 3000);
	for (int i = 0; i < 4; i++)
		h_assert_get(srv.port, "/plaintext", PLAIN);
	size_t mark = herd_stderr_len(&srv);
	herd_signal(&srv, SIGUSR1);
	cr_assert(wait_log(&srv, mark, "proc 0 worker", 3000), "no 'proc 0 worker' line");
	cr_assert(wait_log(&srv, mark, "proc 1 worker", 3000), "no 'proc 1 worker' line");
	cr_assert(wait_log(&srv, mark, "total: ", 3000), "no 'total:' line");
	cr_assert(herd_alive(&srv), "SIGUSR1 killed the supervisor");
	h_assert_get(srv.port, "/json", JSON);
}
