#include "balance/supervisor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balance/listen_socket.h"
#include "balance/proxy_health.h"
#include "balance/tls_setup.h"
#include "balance/pool.h"
#include "balance/proc_set.h"
#include "balance/supervise.h"
#include "core/log.h"
#include "core/shm_counters.h"
#include "core/upstream_metrics.h"
#include "core/upstream_state.h"
#include "core/worker.h"

/* Until the first generation is accepting, or this long, the "listening on"
 * line waits (it tells users and tests that requests will be answered). */
#define ANNOUNCE_WAIT_MS 5000
/* Starts, drains and back-offs are due at any time: the loop ticks this
 * often. */
#define TICK_MS 100

struct supervisor {
	struct pool pool; /* first: the pool ops get the supervisor back from it */
	const struct herd_config *cfg;
	enum herd_accept_mode mode;
	struct listen_set ls;
	char exe[PATH_MAX];
	struct shm_counters shm;
	struct tls_rotation tickets; /* the handlers' shared ticket keys */
	struct proxy_health health;  /* --proxy-health, into shm.upstreams */
	struct proc_set ps;
	/* Each slot's worker as the sum of its two banks, made on demand. */
	struct worker_counters *snap;
	struct counters_row *rows; /* all slots x workers: fixed, for the sampler */
	struct counters_row *shown; /* the ones that ever ran, for metrics */
	int nrows;
	int per_proc_max;
	struct metrics_gauges gauges;
	bool announced;
	int64_t announce_by_ms;
	struct supervise sv;
};

static struct supervisor *supervisor_of(struct pool *p)
{
	return (struct supervisor *)p;
}

static const struct supervisor *supervisor_of_const(const struct pool *p)
{
	return (const struct supervisor *)p;
}

/* Sums both banks of every slot's worker; returns how many ever ran. */
static int snapshot(struct supervisor *s)
{
	int shown = 0;
	counters_reset(s->snap, s->nrows);
	for (int k = 0; k < s->shm.slots; k++) {
		for (int b = 0; b < SHM_BANKS; b++) {
			const struct worker_counters *bank = shm_counters_bank(&s->shm, k, b);
			for (int n = 0; n < s->shm.wcap; n++)
				counters_accumulate(&s->snap[k * s->shm.wcap + n], &bank[n]);
		}
	}
	for (int i = 0; i < s->nrows; i++)
		if (atomic_load_explicit(&s->snap[i].cpu, memory_order_relaxed) >= 0)
			s->shown[shown++] = s->rows[i];
	return shown;
}

static size_t render_metrics(struct pool *pool, char *buf, size_t cap)
{
	struct supervisor *s = supervisor_of(pool);
	const struct proc_set *ps = &s->ps;
	int shown = snapshot(s);
	s->gauges.workers = proc_set_workers(ps);
	s->gauges.slots = shown;
	struct counters_sink k = {buf, cap, 0};
	k.len = counters_render_prometheus(s->shown, shown, &s->gauges, buf, cap);
	counters_put(&k, "# HELP herd_processes handler processes serving (current generation)\n"
		"# TYPE herd_processes gauge\nherd_processes %d\n",
	    proc_set_serving(ps));
	counters_put(&k, "# HELP herd_generation handler generation serving (+1 per reload)\n"
		"# TYPE herd_generation gauge\nherd_generation %d\n",
	    ps->gen);
	counters_put(&k, "# HELP herd_process_info live handler processes\n"
		"# TYPE herd_process_info gauge\n");
	for (size_t i = 0; i < sizeof(ps->inst) / sizeof(ps->inst[0]); i++) {
		const struct proc *p = &ps->inst[i];
		if (p->state != PROC_FREE)
			counters_put(&k, "herd_process_info{proc=\"%d\",pid=\"%d\",generation=\"%d\",state=\"%s\"} 1\n",
			    p->slot, (int)p->pid, p->gen, proc_state_names[p->state]);
	}
	counters_put(&k, "# HELP herd_process_restarts_total handler processes replaced after an "
		"unplanned exit\n# TYPE herd_process_restarts_total counter\n");
	for (int i = 0; i < ps->nslots; i++)
		if (ps->slot[i].active || ps->slot[i].restarts)
			counters_put(&k, "herd_process_restarts_total{proc=\"%d\"} %llu\n", i,
			    (unsigned long long)ps->slot[i].restarts);
	counters_put(&k, "# HELP herd_reloads_total reloads (SIGHUP) by result\n"
		"# TYPE herd_reloads_total counter\n"
		"herd_reloads_total{result=\"ok\"} %llu\nherd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)ps->reloads_ok, (unsigned long long)ps->reloads_failed);
	if (s->cfg->proxy.nroutes)
		upstream_render(&k, &s->cfg->proxy, s->shm.upstreams, worker_monotonic_ms());
	if (k.len < cap)
		buf[k.len] = 0;
	return k.len;
}

static void dump(struct pool *p, FILE *out)
{
	struct supervisor *s = supervisor_of(p);
	counters_dump(s->shown, snapshot(s), out);
}

static void reap(struct supervisor *s, int64_t now)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		proc_set_on_exit(&s->ps, pid, status, now);
}

static void maybe_announce(struct supervisor *s, int64_t now)
{
	const struct herd_config *cfg = s->cfg;
	char where[96];
	if (s->announced)
		return;
	bool ready = proc_set_ready(&s->ps);
	if (!ready && now < s->announce_by_ms)
		return;
	s->announced = true;
	listen_set_describe(&s->ls, 0, where, sizeof(where));
	herd_log("listening on %s (%d workers in %d processes, accept %s, %s)%s", where,
		 cfg->workers, cfg->procs, herd_accept_mode_names[s->mode],
		 cfg->proto == HERD_PROTO_HTTP ? "http" : "echo",
		 ready ? "" : "; handlers are not accepting yet");
	listen_set_announce_rest(&s->ls);
}

/* The pool ops over the handler processes. */

static void on_event(struct pool *p, void *tag, int64_t now_ms)
{
	struct supervisor *s = supervisor_of(p);
	struct proc *proc = tag;
	/* Its control socket: the only descriptors the process set registers. */
	if (proc >= s->ps.inst && proc < s->ps.inst + sizeof(s->ps.inst) / sizeof(s->ps.inst[0]))
		proc_set_on_control(&s->ps, proc, now_ms);
}

static void tick(struct pool *p, int64_t now_ms)
{
	struct supervisor *s = supervisor_of(p);
	reap(s, now_ms); /* SIGCHLDs merge: every turn, not once per signal */
	proc_set_tick(&s->ps, now_ms);
	maybe_announce(s, now_ms);
	tls_rotation_tick(&s->tickets, now_ms);
}

static int grow(struct pool *p, int64_t now_ms, char *what, size_t len)
{
	struct supervisor *s = supervisor_of(p);
	int workers = proc_set_workers(&s->ps), procs = proc_set_serving(&s->ps);
	(void)now_ms;
	if (!proc_set_grow(&s->ps, s->per_proc_max, s->cfg->max_procs))
		return -1;
	snprintf(what, len, "from %d workers in %d processes", workers, procs);
	return 0;
}

static int retire(struct pool *p, int64_t now_ms, char *what, size_t len)
{
	struct supervisor *s = supervisor_of(p);
	int workers = proc_set_workers(&s->ps), procs = proc_set_serving(&s->ps);
	if (!proc_set_shrink(&s->ps, s->cfg->min_procs, now_ms))
		return -1;
	snprintf(what, len, "from %d workers in %d processes", workers, procs);
	return 0;
}

static void load(struct pool *p, struct pool_load *ld)
{
	struct supervisor *s = supervisor_of(p);
	snapshot(s);
	ld->rows = s->rows;
	ld->nrows = s->nrows;
	for (int i = 0; i < s->ls.n; i++)
		ld->listen_fds[i] = s->ls.l[i].fd;
	ld->nlisten = s->ls.n;
	/* Both generations run while a reload drains. */
	ld->settled = !s->ps.next_gen && proc_set_live(&s->ps) == proc_set_serving(&s->ps);
}

static void drain(struct pool *p, int64_t now_ms)
{
	proc_set_stop(&supervisor_of(p)->ps, now_ms);
}

static void abort_all(struct pool *p, int64_t now_ms)
{
	struct supervisor *s = supervisor_of(p);
	(void)now_ms;
	if (proc_set_live(&s->ps) == 0)
		return;
	proc_set_signal(&s->ps, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

static void reload(struct pool *p, int64_t now_ms)
{
	struct supervisor *s = supervisor_of(p);
	/* A generation that could not load its certificates would never
	 * serve: the one running stays. */
	if (tls_listeners(&s->ls) && tls_setup_check(s->cfg, "SIGHUP: not reloading: ") < 0)
		return;
	proc_set_reload(&s->ps, now_ms);
}

static void reopen_logs(struct pool *p)
{
	proc_set_signal(&supervisor_of(p)->ps, SIGUSR2); /* each handler reopens its own */
}

static int serving(const struct pool *p)
{
	return proc_set_serving(&supervisor_of_const(p)->ps);
}

static int live(const struct pool *p)
{
	return proc_set_live(&supervisor_of_const(p)->ps);
}

static const struct pool_ops supervisor_ops = {
	.on_event = on_event,
	.tick = tick,
	.grow = grow,
	.retire = retire,
	.load = load,
	.drain = drain,
	.abort = abort_all,
	.reload = reload,
	.reopen_logs = reopen_logs,
	.dump = dump,
	.render_metrics = render_metrics,
	.serving = serving,
	.live = live,
};

static int setup(struct supervisor *s)
{
	const struct herd_config *cfg = s->cfg;
	ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(s->exe) - 1) {
		herd_log("cannot find our own binary (/proc/self/exe): %s", strerror(errno));
		return -1;
	}
	s->exe[n] = 0;
	s->mode = listen_socket_mode(cfg);
	if (listen_set_open(&s->ls, cfg, s->mode) < 0)
		return -1;
	if (shm_counters_create(&s->shm, cfg->max_procs, cfg->max_workers) < 0) {
		herd_log("cannot make the shared counters: %s", strerror(errno));
		return -1;
	}
	/* The handlers find the upstreams named in the region they map; the
	 * checks run here, before the first handler starts. */
	upstream_shared_init(s->shm.upstreams, &cfg->proxy);
	if (proxy_health_start(&s->health, cfg, s->shm.upstreams) < 0)
		return -1;
	if (tls_listeners(&s->ls)) {
		/* Certificates are checked once here, not by every handler in a
		 * crash loop. */
		if (tls_setup_check(cfg, "") < 0 ||
		    tls_rotation_start(&s->tickets, s->shm.shared, cfg->tls_ticket_rotate_s) < 0)
			return -1;
		tls_log_kernel();
	}
	s->nrows = s->shm.slots * s->shm.wcap;
	s->snap = counters_alloc(s->nrows);
	s->rows = calloc((size_t)s->nrows, sizeof(*s->rows));
	s->shown = calloc((size_t)s->nrows, sizeof(*s->shown));
	if (!s->snap || !s->rows || !s->shown) {
		herd_log("out of memory");
		return -1;
	}
	for (int i = 0; i < s->nrows; i++)
		s->rows[i] = (struct counters_row){.c = &s->snap[i], .proc = i / s->shm.wcap,
						   .worker = i % s->shm.wcap};
	if (supervise_admin(&s->sv) < 0)
		return -1;
	proc_set_init(&s->ps, cfg);
	s->ps.exe = s->exe;
	s->ps.argv = cfg->argv;
	memcpy(s->ps.listeners, s->ls.l, sizeof(s->ps.listeners));
	s->ps.nlisten = s->ls.n;
	s->ps.shm = &s->shm;
	s->ps.epfd = s->sv.epfd;
	int by_max = (cfg->max_workers + cfg->max_procs - 1) / cfg->max_procs;
	int by_start = (cfg->workers + cfg->procs - 1) / cfg->procs;
	s->per_proc_max = by_max > by_start ? by_max : by_start;
	if (cfg->min_workers < cfg->max_workers || cfg->min_procs < cfg->max_procs)
		return supervise_scaling(&s->sv, s->nrows);
	return 0;
}

int supervisor_run(const struct herd_config *cfg)
{
	struct supervisor s = {.cfg = cfg, .shm = {.fd = -1}, .health = {.wake_fd = -1}};
	int status = 1;
	s.pool = (struct pool){.ops = &supervisor_ops, .members = "handler processes",
			       .tick_ms = TICK_MS, .gauges = &s.gauges};
	if (supervise_init(&s.sv, cfg, &s.pool, true) == 0 && setup(&s) == 0) {
		int64_t now = worker_monotonic_ms();
		s.announce_by_ms = now + ANNOUNCE_WAIT_MS;
		proc_set_tick(&s.ps, now);
		status = supervise_run(&s.sv) < 0;
	}
	proxy_health_stop(&s.health); /* before the region it writes goes */
	supervise_close(&s.sv);
	listen_set_close(&s.ls);
	counters_free(s.snap);
	free(s.rows);
	free(s.shown);
	shm_counters_close(&s.shm);
	return status;
}
