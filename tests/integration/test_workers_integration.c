/* Worker threads, CPU pinning and the admin /metrics endpoint. */
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"

TestSuite(workers, .fini = harness_fini, .timeout = 30);

static struct herd srv;

struct h_thread {
	char comm[32];
	char cpus[64]; /* Cpus_allowed_list */
};

/* Threads of pid named "herd-w*", with their allowed-CPU lists. */
static int h_worker_threads(pid_t pid, struct h_thread *out, int max)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] == '.')
			continue;
		char p[600], line[256];
		snprintf(p, sizeof(p), "%s/%s/comm", path, e->d_name);
		FILE *f = fopen(p, "r");
		if (!f)
			continue;
		bool ok = fgets(out[n].comm, sizeof(out[n].comm), f) != NULL;
		fclose(f);
		out[n].comm[strcspn(out[n].comm, "\n")] = 0;
		if (!ok || strncmp(out[n].comm, "herd-w", 6))
			continue;
		snprintf(p, sizeof(p), "%s/%s/status", path, e->d_name);
		out[n].cpus[0] = 0;
		if ((f = fopen(p, "r"))) {
			while (fgets(line, sizeof(line), f))
				if (!strncmp(line, "Cpus_allowed_list:", 18)) {
					char *v = line + 18;
					v += strspn(v, " \t");
					v[strcspn(v, "\n")] = 0;
					snprintf(out[n].cpus, sizeof(out[n].cpus), "%s", v);
				}
			fclose(f);
		}
		n++;
	}
	closedir(d);
	return n;
}

static const struct h_thread *h_find_thread(const struct h_thread *t, int n, int worker)
{
	char want[32];
	snprintf(want, sizeof(want), "herd-w%d", worker);
	for (int i = 0; i < n; i++)
		if (!strcmp(t[i].comm, want))
			return &t[i];
	return NULL;
}

static void need_cpus_0_1(void)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	if (!CPU_ISSET(0, &set) || !CPU_ISSET(1, &set)) {
		harness_passed();
		cr_skip_test("needs CPUs 0 and 1 in the affinity mask");
	}
}

/* Worker threads may be created just after the ready line: poll briefly. */
static int threads(struct h_thread *t, int max, int want)
{
	int n = 0;
	for (long long end = h_now_ms() + 2000; h_now_ms() < end; h_sleep_ms(20))
		if ((n = h_worker_threads(srv.pid, t, max)) >= want)
			break;
	return n;
}

static char *metrics(void)
{
	char *m = h_metrics(srv.admin_port);
	cr_assert(m, "GET /metrics on the admin port failed");
	return m;
}

/* Workers publish counters asynchronously: poll until sum(name) == want. */
static long long settle(const char *name, long long want)
{
	long long sum = -1;
	for (long long end = h_now_ms() + 2000;; h_sleep_ms(50)) {
		char *m = metrics();
		h_metric_sum(m, name, &sum);
		free(m);
		if (sum == want || h_now_ms() > end)
			return sum;
	}
}

static void one_request_per_connection(int k)
{
	for (int i = 0; i < k; i++) {
		struct h_resp r;
		int rc = h_exchange(srv.port,
				    i % 2 ? "GET /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
					  : "GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
				    &r);
		cr_assert_eq(rc, H_OK, "request %d: %s", i, h_result_str(rc));
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(r.body, i % 2 ? JSON : PLAIN);
		h_resp_free(&r);
	}
}

HTEST(workers, two_workers_pinned_0_1)
{
	need_cpus_0_1();
	herd_start(&srv, "--workers", "2", "--cpus", "0,1");
	struct h_thread t[16];
	int n = threads(t, 16, 2);
	cr_assert_eq(n, 2, "%d herd-w* threads, want 2", n);
	const struct h_thread *w0 = h_find_thread(t, n, 0), *w1 = h_find_thread(t, n, 1);
	cr_assert(w0 && w1, "threads are named %s, %s; want herd-w0, herd-w1", t[0].comm, t[1].comm);
	cr_assert_str_eq(w0->cpus, "0", "herd-w0 Cpus_allowed_list");
	cr_assert_str_eq(w1->cpus, "1", "herd-w1 Cpus_allowed_list");
	h_assert_get(srv.port, "/plaintext", PLAIN);
	h_assert_get(srv.port, "/json", JSON);
}

HTEST(workers, round_robin_over_cpu_list)
{
	need_cpus_0_1();
	herd_start(&srv, "--workers", "5", "--cpus", "0-1");
	struct h_thread t[16];
	int n = threads(t, 16, 5);
	cr_assert_eq(n, 5, "%d herd-w* threads, want 5", n);
	for (int i = 0; i < 5; i++) {
		const struct h_thread *w = h_find_thread(t, n, i);
		cr_assert(w, "no thread herd-w%d", i);
		cr_assert_str_eq(w->cpus, i % 2 ? "1" : "0", "herd-w%d pinned to %s", i, w->cpus);
	}
}

HTEST(workers, metrics_count_connections_and_requests)
{
	enum { K = 50 };
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0");
	cr_assert(srv.admin_before_listen, "'admin on' line should come before 'listening on'");
	char *m = metrics();
	long long v;
	static const char *per_worker[] = {
		"herd_wakeups_total",    "herd_accepted_total",     "herd_lost_races_total",
		"herd_requests_total",   "herd_connections_active", "herd_bytes_in_total",
		"herd_bytes_out_total",
	};
	for (size_t i = 0; i < sizeof(per_worker) / sizeof(*per_worker); i++) {
		cr_assert_eq(h_metric_sum(m, per_worker[i], &v), 2, "%s: want one series per worker",
			     per_worker[i]);
		for (int w = 0; w < 2; w++)
			cr_assert_geq(h_metric_worker(m, per_worker[i], w), 0, "%s{worker=\"%d\"} missing",
				      per_worker[i], w);
	}
	cr_assert_eq(h_metric_sum(m, "herd_accepted_total", &v), 2);
	cr_assert_eq(v, 0, "accepted before any client: %lld", v);
	cr_assert_eq(h_metric_sum(m, "herd_workers", &v), 1, "herd_workers gauge missing");
	cr_assert_eq(v, 2, "herd_workers %lld, want 2", v);
	cr_assert(strstr(m, "\nherd_workers 2\n") || !strncmp(m, "herd_workers 2\n", 15),
		  "herd_workers must have no labels");
	free(m);

	one_request_per_connection(K);
	cr_assert_eq(settle("herd_accepted_total", K), K, "sum of herd_accepted_total");
	cr_assert_eq(settle("herd_requests_total", K), K, "sum of herd_requests_total");
	cr_assert_eq(settle("herd_connections_active", 0), 0, "connections_active after close");
	m = metrics();
	h_metric_sum(m, "herd_bytes_out_total", &v);
	cr_assert_gt(v, K * 100, "bytes_out %lld is too small for %d responses", v, K);
	h_metric_sum(m, "herd_bytes_in_total", &v);
	cr_assert_gt(v, K * 30, "bytes_in %lld is too small for %d requests", v, K);
	h_metric_sum(m, "herd_wakeups_total", &v);
	cr_assert_geq(v, 1, "no wakeups counted");
	free(m);
}

/* Each connection sends a request first: the listener may use
 * TCP_DEFER_ACCEPT, so a silent connection need not be accepted yet. */
HTEST(workers, connections_active_counts_open_connections)
{
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0");
	struct h_conn c[10];
	for (int i = 0; i < 10; i++) {
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0);
		h_conn_init(&c[i], fd);
		cr_assert_eq(h_send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
		struct h_resp r;
		cr_assert_eq(h_read_response(&c[i], &r, false, H_TIMEOUT_MS), H_OK);
		h_resp_free(&r);
	}
	cr_assert_eq(settle("herd_connections_active", 10), 10, "10 open keep-alive connections");
	for (int i = 0; i < 10; i++)
		h_conn_close(&c[i]);
	cr_assert_eq(settle("herd_connections_active", 0), 0, "all closed");
}

HTEST(workers, metrics_over_http10)
{
	herd_start(&srv, "--workers", "3", "--admin", "127.0.0.1:0");
	struct h_resp r;
	int rc = h_exchange(srv.admin_port, "GET /metrics HTTP/1.0\r\n\r\n", &r);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	long long v;
	cr_assert_eq(h_metric_sum(r.body, "herd_workers", &v), 1);
	cr_assert_eq(v, 3);
	cr_assert_eq(h_metric_sum(r.body, "herd_accepted_total", &v), 3);
	h_resp_free(&r);
}

struct client_arg {
	int port;
	int requests;
	int ok;
	char err[128];
};

/* One keep-alive connection; no Criterion asserts off the main thread. */
static void *client(void *p)
{
	struct client_arg *a = p;
	int fd = h_connect(a->port);
	if (fd < 0) {
		snprintf(a->err, sizeof(a->err), "connect failed");
		return NULL;
	}
	struct h_conn c;
	h_conn_init(&c, fd);
	for (int i = 0; i < a->requests; i++) {
		struct h_resp r;
		if (h_send_str(fd, i % 2 ? "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
					 : "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")) {
			snprintf(a->err, sizeof(a->err), "send #%d failed", i);
			break;
		}
		int rc = h_read_response(&c, &r, false, 10000);
		bool good = rc == H_OK && r.status == 200 && !strcmp(r.body, i % 2 ? JSON : PLAIN);
		if (!good)
			snprintf(a->err, sizeof(a->err), "request #%d: %s status %d", i,
				 h_result_str(rc), rc == H_OK ? r.status : 0);
		h_resp_free(&r);
		if (!good)
			break;
		a->ok++;
	}
	h_conn_close(&c);
	return NULL;
}

/* Four workers share CPU 0: all must serve, the accept counters must add up,
 * and the load must not all land on one worker. */
HTEST(workers, four_workers_on_one_cpu)
{
	enum { THREADS = 8, REQS = 50, ROUNDS = 4 };
	need_cpus_0_1();
	herd_start(&srv, "--workers", "4", "--cpus", "0", "--admin", "127.0.0.1:0");
	struct h_thread t[16];
	int n = threads(t, 16, 4);
	cr_assert_eq(n, 4, "%d herd-w* threads, want 4", n);
	for (int i = 0; i < 4; i++) {
		const struct h_thread *w = h_find_thread(t, n, i);
		cr_assert(w, "no thread herd-w%d", i);
		cr_assert_str_eq(w->cpus, "0", "herd-w%d pinned to %s, want 0", i, w->cpus);
	}
	for (int round = 0; round < ROUNDS; round++) {
		pthread_t th[THREADS];
		struct client_arg a[THREADS];
		for (int i = 0; i < THREADS; i++) {
			a[i] = (struct client_arg){.port = srv.port, .requests = REQS};
			cr_assert_eq(pthread_create(&th[i], NULL, client, &a[i]), 0);
		}
		for (int i = 0; i < THREADS; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < THREADS; i++)
			cr_assert_eq(a[i].ok, REQS, "round %d client %d: %s", round, i, a[i].err);
	}
	long long accepted = settle("herd_accepted_total", THREADS * ROUNDS);
	cr_assert_eq(accepted, THREADS * ROUNDS, "sum of herd_accepted_total");
	cr_assert_eq(settle("herd_requests_total", THREADS * ROUNDS * REQS), THREADS * ROUNDS * REQS);
	char *m = metrics();
	int busy = 0;
	char spread[128] = "";
	for (int w = 0; w < 4; w++) {
		long long a = h_metric_worker(m, "herd_accepted_total", w);
		busy += a > 0;
		snprintf(spread + strlen(spread), sizeof(spread) - strlen(spread), " w%d=%lld", w, a);
	}
	free(m);
	cr_log_info("accepted per worker:%s", spread);
	cr_assert_geq(busy, 2, "only %d worker(s) accepted connections:%s", busy, spread);
}

/* Connections opened one after another are the worst case for
 * EPOLLEXCLUSIVE's wake-up order: the same idle worker wins every race.
 * Whatever the accept mode, long-lived connections must end up spread. */
HTEST(workers, keepalive_connections_spread_over_workers)
{
	enum { N = 120 };
	herd_start(&srv, "--workers", "2", "--cpus", "0,1", "--admin", "127.0.0.1:0");
	struct h_conn *c = calloc(N, sizeof(*c));
	cr_assert(c);
	for (int i = 0; i < N; i++) {
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0, "connect %d", i);
		h_conn_init(&c[i], fd);
		cr_assert_eq(h_send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
		struct h_resp r;
		cr_assert_eq(h_read_response(&c[i], &r, false, H_TIMEOUT_MS), H_OK, "conn %d", i);
		h_resp_free(&r);
	}
	cr_assert_eq(settle("herd_connections_active", N), N);
	char *m = metrics();
	long long w0 = h_metric_worker(m, "herd_connections_active", 0);
	long long w1 = h_metric_worker(m, "herd_connections_active", 1);
	long long steps = -1;
	h_metric_sum(m, "herd_race_step_outs_total", &steps);
	free(m);
	cr_log_info("connections per worker: %lld / %lld, step-outs %lld", w0, w1, steps);
	cr_assert(w0 >= N / 4 && w1 >= N / 4,
		  "connections per worker %lld / %lld: one worker holds over 75%%", w0, w1);
	const char *mode = getenv("HERD_ACCEPT");
	/* With EPOLLEXCLUSIVE the same idle worker wins every race, so only
	 * stepping out spreads them; in herd mode every worker is woken and
	 * the race itself sometimes spreads them. */
	if (!mode || !strcmp(mode, "exclusive"))
		cr_assert_gt(steps, 0, "exclusive mode balances by stepping out of the race");
	for (int i = 0; i < N; i++)
		h_conn_close(&c[i]);
	free(c);
}
