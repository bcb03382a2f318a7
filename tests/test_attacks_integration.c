/* Hostile clients against the real binary, over loopback.
 *
 * Every test runs one attack while a well-behaved probe client keeps asking
 * GET /plaintext every PROBE_INTERVAL_MS (mostly on a keep-alive connection,
 * every PROBE_FRESH_EVERY-th on a fresh one), and asserts
 *   (a) every probe was answered, each within PROBE_MAX_MS (p50/p99/max are
 *       logged with cr_log_info so they can be quoted), and
 *   (b) once the attack is over, the server's descriptor count
 *       (/proc/PID/fd) is back to exactly its baseline within a few seconds
 *       and its RSS (VmRSS) is within RSS_SLACK_KIB of its baseline, while
 *       the attack itself stayed under a bound (peak RSS sampled every 5 ms).
 * Closures are checked to come from the server: the test keeps its own
 * descriptor open and sees EOF/RST, or watches the server's fd count drop.
 * Each test also prints one "PROBE <attack> n= p50= p99= max=" line.
 *
 * The attacks:
 *   slowloris            200 connections trickling a head at 1 byte/s
 *   header_1mib          a 1 MiB header field: 431, close, RSS flat
 *   pipeline_never_read  1,000 pipelined requests never read: dropped after
 *                        --send-timeout; what was sent arrives in order
 *   pipeline_read_late   the same, read after 1 s: all 1,000 in order
 *   garbage              seeded random bytes on 50 connections: 400, close
 *   half_close_and_rst   SHUT_WR after requests (answers, then EOF) and
 *                        RST right after 16 pipelined requests
 *   max_conns            100 connections at --max-conns 50: 49 + the probe
 *                        served, the rest wait and get in as slots free up
 *   rlimit_nofile        RLIMIT_NOFILE 120, no --max-conns: no spin, no
 *                        reset, everyone served eventually
 *   emfile               RLIMIT_NOFILE lowered under a running server
 *                        (accept4 fails with EMFILE): the same
 *   emfile_admin_scrape  a /metrics scrape queued while out of descriptors
 *   max_body             Content-Length over --max-body: 413 and close;
 *                        bodies at or under it: answered, connection reused
 *   max_body_chunked     a chunked body over --max-body: a single 413
 *   idle_timeouts        partial heads: 408 after --header-timeout; idle
 *                        keep-alive closed after --keepalive-timeout
 *
 * Server timeouts are shortened with flags so the whole file stays well
 * under half a minute per accept mode ($HERD_ACCEPT, like the other
 * integration tests). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"

#define PROBE_INTERVAL_MS 30
#define PROBE_FRESH_EVERY 4
#define PROBE_MAX_MS 500       /* every probe answered within this ($HERD_PROBE_MAX_MS) */
#define PROBE_READ_MS 2000     /* a probe slower than this counts as failed */
#define MAX_PROBES 4096
#define RSS_SLACK_KIB 2048     /* after the attack, allocator caching allowed */
#define FD_SETTLE_MS 3000      /* fd count back to baseline within this */

static void attacks_fini(void);
TestSuite(attacks, .fini = attacks_fini, .timeout = 40);

/* ---- the server's resources, from /proc ---------------------------------- */

static int proc_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* utime + stime of the whole process, in ms. */
static long long proc_cpu_ms(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (long long)(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
}

/* Sanitizer builds keep freed memory in quarantine and shadow: RSS bounds
 * are multiplied by 8 under ASan; under TSan (whose shadow and sync objects
 * grow with every descriptor and thread touched) RSS says nothing about the
 * server and is not checked (0). */
static int rss_scale(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	int scale = 1;
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "libtsan")) {
			scale = 0;
			break;
		} else if (strstr(line, "libasan")) {
			scale = 8;
			break;
		}
	fclose(f);
	return scale;
}

/* Waits until the server's fd count is <= want; returns the last count. */
static int wait_fds_at_most(pid_t pid, int want, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	int n;
	while ((n = proc_fds(pid)) > want && h_now_ms() < deadline)
		h_sleep_ms(10);
	return n;
}

/* ---- starting a server with a lowered RLIMIT_NOFILE ------------------------
 * The harness execs $HERD_BIN with the test's own limits, so servers that need
 * a small descriptor budget are started here (same stderr-file / readiness-
 * line approach).  herd raises its soft limit to the hard one, so both are
 * set. */

/* The server of the running test.  File scope, not on the test's stack: the
 * harness keeps a pointer to it for harness_fini(), which runs after the
 * test body returned.  (Criterion runs every test in its own process.) */
static struct herd srv;
static struct herd *own_srv;
static struct watch *active_watch;
static void watch_halt(struct watch *w);

static void attacks_fini(void)
{
	/* A failed assertion skips watch_stop(): stop the client threads before
	 * the servers go away and the process exits under them. */
	if (active_watch)
		watch_halt(active_watch);
	active_watch = NULL;
	if (own_srv && !own_srv->reaped) {
		kill(-own_srv->pid, SIGKILL);
		kill(own_srv->pid, SIGKILL);
		waitpid(own_srv->pid, &own_srv->status, 0);
		own_srv->reaped = true;
		char *t = herd_stderr(own_srv);
		fprintf(stderr, "---- herd pid %d stderr (test failed) ----\n%s---- end ----\n",
			(int)own_srv->pid, t);
		free(t);
		close(own_srv->errfd);
	}
	own_srv = NULL;
	harness_fini();
}

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
	const char *argv[48];
	int n = 0;
	const char *bin = getenv("HERD_BIN");
	cr_assert(bin && *bin, "HERD_BIN is not set");
	argv[n++] = bin;
	for (const char *const *a = args; *a && n < 40; a++)
		argv[n++] = *a;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && *mode) {
		argv[n++] = "--accept";
		argv[n++] = mode;
	}
	argv[n] = NULL;

	memset(h, 0, sizeof(*h));
	char path[] = "/tmp/herd-at-XXXXXX";
	int wfd = mkstemp(path);
	cr_assert(wfd >= 0, "mkstemp: %s", strerror(errno));
	h->errfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	cr_assert(h->errfd >= 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(wfd, 1);
		dup2(wfd, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		struct rlimit rl = {nofile, nofile};
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			dprintf(2, "setrlimit: %s\n", strerror(errno));
		execv(argv[0], (char *const *)argv);
		dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(wfd);
	h->pid = pid;
	own_srv = h;
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

/* ---- the probe client and the resource sampler ---------------------------- */

struct watch {
	pid_t pid;
	int port;
	int fresh_every; /* every Nth probe on a fresh connection; 0: never */
	pthread_t probe_th, sampler_th;
	atomic_bool stop;
	atomic_int probes_done;
	/* probe thread's results, read after join */
	int n, fails, fresh, reconnects;
	long long max_fresh_us, max_ka_us;
	long long lat_us[MAX_PROBES];
	char first_err[200];
	/* sampler */
	long peak_rss_kib;
	int peak_fds;
};

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void probe_fail(struct watch *w, const char *fmt, const char *what, int status)
{
	w->fails++;
	if (!w->first_err[0])
		snprintf(w->first_err, sizeof(w->first_err), fmt, what, status);
}

static void *probe_main(void *arg)
{
	struct watch *w = arg;
	static const char ka_req[] = "GET /plaintext HTTP/1.1\r\nHost: probe\r\n\r\n";
	static const char fresh_req[] =
		"GET /plaintext HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n";
	struct h_conn c = {.fd = -1};
	bool have = false;
	while (!atomic_load(&w->stop) && w->n < MAX_PROBES) {
		long long t0 = now_us();
		bool fresh = w->fresh_every && w->n % w->fresh_every == w->fresh_every - 1;
		struct h_resp r;
		int rc;
		if (fresh) {
			w->fresh++;
			rc = h_exchange(w->port, fresh_req, &r);
		} else {
			if (have) {
				/* The server may close an idle keep-alive connection:
				 * then reconnect (counted, not a failure). */
				struct pollfd p = {c.fd, POLLIN | POLLRDHUP, 0};
				if (poll(&p, 1, 0) > 0) {
					h_conn_close(&c);
					have = false;
					w->reconnects++;
				}
			}
			if (!have) {
				int fd = h_connect(w->port);
				if (fd >= 0) {
					h_conn_init(&c, fd);
					have = true;
				}
			}
			if (!have)
				rc = H_EOF;
			else if (h_send(c.fd, ka_req, sizeof(ka_req) - 1, PROBE_READ_MS) != 0)
				rc = H_EOF;
			else
				rc = h_read_response(&c, &r, false, PROBE_READ_MS);
		}
		long long lat = now_us() - t0;
		if (fresh && lat > w->max_fresh_us)
			w->max_fresh_us = lat;
		if (!fresh && lat > w->max_ka_us)
			w->max_ka_us = lat;
		if (rc != H_OK) {
			probe_fail(w, "%s (status %d)", h_result_str(rc), 0);
			if (have && !fresh) {
				h_conn_close(&c);
				have = false;
			}
		} else {
			if (r.status != 200 || strcmp(r.body, PLAIN) != 0)
				probe_fail(w, "bad answer %s, status %d", "", r.status);
			h_resp_free(&r);
		}
		w->lat_us[w->n++] = lat;
		atomic_store(&w->probes_done, w->n);
		long long sleep_us = PROBE_INTERVAL_MS * 1000LL - (now_us() - t0);
		if (sleep_us > 0)
			h_sleep_ms((int)(sleep_us / 1000));
	}
	if (have)
		h_conn_close(&c);
	return NULL;
}

static void *sampler_main(void *arg)
{
	struct watch *w = arg;
	while (!atomic_load(&w->stop)) {
		long rss = proc_rss_kib(w->pid);
		int fds = proc_fds(w->pid);
		if (rss > w->peak_rss_kib)
			w->peak_rss_kib = rss;
		if (fds > w->peak_fds)
			w->peak_fds = fds;
		h_sleep_ms(5);
	}
	return NULL;
}

/* One test's server and its baseline. */
struct env {
	struct herd *h;
	int base_fds;
	long base_rss;
	int rss_scale;
	struct watch *w;
};

/* A few requests on fresh and keep-alive connections, so both workers have
 * touched their buffers before the baseline is taken. */
static void warm_up(int port)
{
	for (int i = 0; i < 12; i++)
		h_assert_get(port, i % 2 ? "/json" : "/plaintext", i % 2 ? JSON : PLAIN);
	int fd = h_connect(port);
	cr_assert(fd >= 0);
	struct h_conn c;
	h_conn_init(&c, fd);
	for (int i = 0; i < 20; i++) {
		struct h_resp r;
		cr_assert_eq(h_send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: w\r\n\r\n"), 0);
		cr_assert_eq(h_read_response(&c, &r, false, H_TIMEOUT_MS), H_OK);
		h_resp_free(&r);
	}
	h_conn_close(&c);
}

/* The fd count a server settles at with no client connected. */
static int settled_fds(pid_t pid)
{
	int prev = proc_fds(pid), n = prev;
	for (int i = 0; i < 100; i++) { /* <= 1 s, until stable over 100 ms */
		h_sleep_ms(20);
		n = proc_fds(pid);
		if (n == prev && i >= 4)
			break;
		prev = n;
	}
	return n;
}

static void env_baseline(struct env *e, struct herd *h)
{
	e->h = h;
	warm_up(h->port);
	e->base_fds = settled_fds(h->pid);
	e->base_rss = proc_rss_kib(h->pid);
	e->rss_scale = rss_scale(h->pid);
	cr_assert(e->base_fds > 0 && e->base_rss > 0, "cannot read /proc/%d", (int)h->pid);
}

static void env_start(struct env *e, struct herd *h, const char *const *args)
{
	herd_start_accept(h, NULL, args);
	env_baseline(e, h);
}
#define START(e, h, ...) env_start((e), (h), (const char *const[]){__VA_ARGS__, NULL})

static void watch_start(struct env *e, int fresh_every)
{
	struct watch *w = calloc(1, sizeof(*w));
	cr_assert(w);
	w->pid = e->h->pid;
	w->port = e->h->port;
	w->fresh_every = fresh_every;
	w->peak_rss_kib = e->base_rss;
	w->peak_fds = e->base_fds;
	cr_assert_eq(pthread_create(&w->probe_th, NULL, probe_main, w), 0);
	cr_assert_eq(pthread_create(&w->sampler_th, NULL, sampler_main, w), 0);
	e->w = w;
	active_watch = w;
	/* The probe is connected and answered before the attack starts. */
	long long deadline = h_now_ms() + 3000;
	while (atomic_load(&w->probes_done) < 2 && h_now_ms() < deadline)
		h_sleep_ms(5);
	cr_assert_geq(atomic_load(&w->probes_done), 2, "the probe did not get going");
}

static void watch_halt(struct watch *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->probe_th, NULL);
	pthread_join(w->sampler_th, NULL);
	active_watch = NULL;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return x < y ? -1 : x > y;
}

/* Stops the probe and sampler; asserts every probe during the attack was
 * answered promptly and the attack stayed under peak_rss_limit_kib. */
static void watch_stop(struct env *e, const char *attack, long peak_rss_limit_kib)
{
	struct watch *w = e->w;
	watch_halt(w);
	long long *s = malloc(sizeof(long long) * (size_t)(w->n ? w->n : 1));
	memcpy(s, w->lat_us, sizeof(long long) * (size_t)w->n);
	qsort(s, (size_t)w->n, sizeof(*s), cmp_ll);
	long long p50 = w->n ? s[w->n / 2] : 0, p99 = w->n ? s[(w->n * 99) / 100] : 0,
		  max = w->n ? s[w->n - 1] : 0;
	free(s);
	long peak_growth = w->peak_rss_kib - e->base_rss;
	cr_log_info("%s: %d probes (%d on fresh connections, %d reconnects), latency p50 %.2f ms, "
		    "p99 %.2f ms, max %.2f ms (keep-alive max %.2f, fresh max %.2f); server peak RSS "
		    "%+ld KiB, peak fds %d (baseline %d)", attack, w->n, w->fresh, w->reconnects,
		    p50 / 1000.0, p99 / 1000.0, max / 1000.0, w->max_ka_us / 1000.0,
		    w->max_fresh_us / 1000.0, peak_growth, w->peak_fds, e->base_fds);
	fprintf(stderr, "PROBE %-20s n=%d p50=%.2fms p99=%.2fms max=%.2fms (ka %.2f fresh %.2f) "
		"peakRSS=%+ldKiB\n", attack, w->n, p50 / 1000.0, p99 / 1000.0, max / 1000.0,
		w->max_ka_us / 1000.0, w->max_fresh_us / 1000.0, peak_growth);
	cr_assert(herd_alive(e->h), "%s: the server died (status 0x%x)", attack, e->h->status);
	cr_assert_eq(w->fails, 0, "%s: %d of %d probes failed, first: %s", attack, w->fails, w->n,
		     w->first_err);
	cr_assert_geq(w->n, 3, "%s: only %d probes ran during the attack", attack, w->n);
	/* On a machine saturated by other work (not this suite), the bound can
	 * be raised with $HERD_PROBE_MAX_MS; the default is the contract. */
	const char *env_max = getenv("HERD_PROBE_MAX_MS");
	int max_ms = env_max && atoi(env_max) > 0 ? atoi(env_max) : PROBE_MAX_MS;
	cr_assert_leq(max, max_ms * 1000LL, "%s: slowest probe took %.1f ms (limit %d ms)", attack,
		      max / 1000.0, max_ms);
	long limit = peak_rss_limit_kib * e->rss_scale;
	if (e->rss_scale)
		cr_assert_leq(peak_growth, limit, "%s: server RSS grew by %ld KiB during the "
			      "attack (limit %ld KiB)", attack, peak_growth, limit);
	free(w);
	e->w = NULL;
}

/* After the attack, all clients closed: fds exactly back to baseline, RSS
 * within slack. */
static void env_check_recovered(struct env *e, const char *attack)
{
	int fds = wait_fds_at_most(e->h->pid, e->base_fds, FD_SETTLE_MS);
	cr_assert_eq(fds, e->base_fds, "%s: server holds %d fds %d ms after the attack, "
		     "baseline %d", attack, fds, FD_SETTLE_MS, e->base_fds);
	h_sleep_ms(50);
	fds = proc_fds(e->h->pid);
	cr_assert_eq(fds, e->base_fds, "%s: fd count not stable at baseline (%d, want %d)", attack,
		     fds, e->base_fds);
	long rss = proc_rss_kib(e->h->pid);
	long slack = (long)RSS_SLACK_KIB * e->rss_scale;
	cr_log_info("%s: after: fds %d (baseline %d), RSS %ld KiB (baseline %ld, %+ld)", attack, fds,
		    e->base_fds, rss, e->base_rss, rss - e->base_rss);
	if (e->rss_scale)
		cr_assert_leq(rss - e->base_rss, slack, "%s: RSS %ld KiB after the attack, "
			      "baseline %ld KiB (slack %ld KiB)", attack, rss, e->base_rss, slack);
	h_assert_get(e->h->port, "/plaintext", PLAIN);
	cr_assert(herd_alive(e->h), "%s: the server died", attack);
}

/* ---- small socket helpers ------------------------------------------------- */

/* What a connection saw once the server was done with it. */
struct end {
	size_t got;      /* bytes received */
	char head[512];  /* their beginning */
	bool eof, rst, timeout;
};

/* Reads until EOF/error (or timeout_ms), keeping the first bytes. */
static void read_to_end(int fd, struct end *e, int timeout_ms)
{
	memset(e, 0, sizeof(*e));
	long long deadline = h_now_ms() + timeout_ms;
	char buf[65536];
	for (;;) {
		int left = (int)(deadline - h_now_ms());
		struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
		if (left <= 0 || poll(&p, 1, left) != 1) {
			e->timeout = true;
			return;
		}
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			size_t kept = e->got < sizeof(e->head) - 1 ? e->got : sizeof(e->head) - 1;
			size_t take = sizeof(e->head) - 1 - kept;
			if (take > (size_t)n)
				take = (size_t)n;
			memcpy(e->head + kept, buf, take);
			e->got += (size_t)n;
			continue;
		}
		if (n == 0) {
			e->eof = true;
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			continue;
		e->rst = true;
		return;
	}
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

static int status_of(const char *head)
{
	int st = 0;
	if (sscanf(head, "HTTP/1.%*d %d", &st) != 1)
		return 0;
	return st;
}

/* A client that takes output slowly: a small receive buffer, and a small
 * MSS announced in its SYN.  On loopback the server's kernel would otherwise
 * size its send buffer for 64 KiB segments (megabytes) and absorb every
 * response, so the server itself would never see the client not reading;
 * with a 536-byte MSS it gets a few tens of KiB, like on a real network. */
static int connect_slow_reader(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int rcvbuf = 4096, mss = 536, one = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void connect_n(int port, int *fds, int n, int rcvbuf)
{
	for (int i = 0; i < n; i++) {
		fds[i] = h_connect_host("127.0.0.1", port, rcvbuf);
		cr_assert(fds[i] >= 0, "connect %d of %d: %s", i, n, strerror(errno));
	}
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

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

/* Quick attacks are repeated for at least this long, so the probe runs
 * alongside (and the RSS bound covers many rounds). */
#define ATTACK_MIN_MS 1200

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

#define PIPE_N 1000

static const char *pipe_path(int i, int *status, const char **body)
{
	unsigned x = (unsigned)i * 2654435761u >> 7;
	switch (x % 5) {
	case 0:
		*status = 200;
		*body = JSON;
		return "/json";
	case 1:
		*status = 404;
		*body = NULL;
		return "/nope";
	default:
		*status = 200;
		*body = PLAIN;
		return "/plaintext";
	}
}

static char *pipe_requests(size_t *len)
{
	size_t cap = PIPE_N * 64, n = 0;
	char *buf = malloc(cap);
	for (int i = 0; i < PIPE_N; i++) {
		int st;
		const char *body;
		n += (size_t)snprintf(buf + n, cap - n, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n",
				      pipe_path(i, &st, &body));
	}
	*len = n;
	return buf;
}

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

/* ======================================================================== */
/* 5. half-closed and reset connections.                                     */

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
/* 6. beyond --max-conns, and beyond RLIMIT_NOFILE.                          */

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
/* 7. bodies over --max-body.                                                */

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

/* ======================================================================== */
/* 8. idle connections: partial head, idle keep-alive.                       */

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
		IDLE_CASE("GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nabc", 1,
			  0, "body that never completes"),
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
