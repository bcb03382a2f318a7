/* Shared by the hostile-client suites (test_attacks_integration.c,
 * test_limits_integration.c, test_timeouts_integration.c).
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
 * Server timeouts are shortened with flags so each suite stays well under
 * half a minute per accept mode ($HERD_ACCEPT, like the other integration
 * tests).  All three suites keep the Criterion suite name "attacks". */
#ifndef HERD_TEST_ATTACK_UTIL_H
#define HERD_TEST_ATTACK_UTIL_H

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"

#define PROBE_INTERVAL_MS 30
#define PROBE_FRESH_EVERY 4
#define PROBE_MAX_MS 500       /* every probe answered within this ($HERD_PROBE_MAX_MS) */
#define PROBE_READ_MS 2000     /* a probe slower than this counts as failed */
#define MAX_PROBES 4096
#define RSS_SLACK_KIB 2048     /* after the attack, allocator caching allowed */
#define FD_SETTLE_MS 3000      /* fd count back to baseline within this */

/* Quick attacks are repeated for at least this long, so the probe runs
 * alongside (and the RSS bound covers many rounds). */
#define ATTACK_MIN_MS 1200

/* The suites' .fini: stops the probe, kills a server started outside the
 * harness (own_srv), then runs harness_fini(). */
void attacks_fini(void);

/* The server of the running test, and the one started outside the harness
 * (with a lowered RLIMIT_NOFILE) that attacks_fini must kill, if any. */
extern struct herd srv;
extern struct herd *own_srv;

/* ---- the server's resources, from /proc ---- */

int proc_fds(pid_t pid);
long proc_rss_kib(pid_t pid);
long long proc_cpu_ms(pid_t pid);
int wait_fds_at_most(pid_t pid, int want, int timeout_ms);

/* ---- the probe client and the resource sampler ---- */

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

/* One test's server and its baseline. */
struct env {
	struct herd *h;
	int base_fds;
	long base_rss;
	int rss_scale;
	struct watch *w;
};

/* Takes the baseline of a running server (after warming it up). */
void env_baseline(struct env *e, struct herd *h);
/* herd_start_accept, then env_baseline. */
void env_start(struct env *e, struct herd *h, const char *const *args);
#define START(e, h, ...) env_start((e), (h), (const char *const[]){__VA_ARGS__, NULL})
/* Starts the probe (fresh_every: see struct watch) and the sampler. */
void watch_start(struct env *e, int fresh_every);
void watch_stop(struct env *e, const char *attack, long peak_rss_limit_kib);
void env_check_recovered(struct env *e, const char *attack);

/* ---- small socket helpers ---- */

/* What a connection saw once the server was done with it. */
struct end {
	size_t got;      /* bytes received */
	char head[512];  /* their beginning */
	bool eof, rst, timeout;
};

void read_to_end(int fd, struct end *e, int timeout_ms);
/* Status code of a response head, 0 if it is none. */
int status_of(const char *head);
int connect_slow_reader(int port);
/* n connections (asserts), each with SO_RCVBUF rcvbuf if > 0. */
void connect_n(int port, int *fds, int n, int rcvbuf);
void close_all(int *fds, int n);

/* ---- 1,000 pipelined requests ---- */

#define PIPE_N 1000

/* Path of pipelined request i, with the status and body (NULL: any) that
 * answer it. */
const char *pipe_path(int i, int *status, const char **body);
/* The PIPE_N requests in one malloc'd buffer. */
char *pipe_requests(size_t *len);

/* Starts $HERD_BIN (args, then --listen 127.0.0.1:0 and $HERD_ACCEPT) as a
 * server with the resource limits of `lim` (nofile, address_space), stderr
 * to a temp file, without waiting for it: the harness's own start runs it
 * with the test's limits.  It becomes own_srv. */
void spawn_limited(struct herd *h, const struct h_spawn_opts *lim, const char *const *args);

#endif
