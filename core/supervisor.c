#include "core/supervisor.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balance/policy.h"
#include "balance/proc_set.h"
#include "balance/sampler.h"
#include "core/admin.h"
#include "core/log.h"
#include "core/server.h"
#include "core/shm_counters.h"
#include "core/worker.h"

/* Until the first generation is accepting, or this long, the "listening on"
 * line waits (it tells users and tests that requests will be answered). */
#define ANNOUNCE_WAIT_MS 5000

struct supervisor {
	const struct herd_config *cfg;
	enum herd_accept_mode mode;
	int listen_fd, admin_fd, epfd, sig_fd;
	struct herd_addr bound;
	char exe[PATH_MAX];
	struct shm_counters shm;
	struct proc_set ps;
	struct admin admin;
	bool admin_on;
	/* Each slot's worker as the sum of its two banks, made on demand. */
	struct worker_counters *snap;
	struct counters_row *rows; /* all slots x workers: fixed, for the sampler */
	struct counters_row *shown; /* the ones that ever ran, for metrics */
	int nrows;
	bool scaling;
	int per_proc_max;
	struct sampler sampler;
	struct scale_policy policy;
	struct scale_state scale;
	int64_t next_sample_ms;
	struct metrics_gauges gauges;
	bool announced;
	int64_t announce_by_ms;
};

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

struct sink {
	char *buf;
	size_t cap, len;
};

static void put(struct sink *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sink *k, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = k->len < k->cap ? k->cap - k->len : 0;
	int n = vsnprintf(room ? k->buf + k->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		k->len += (size_t)n;
}

static size_t render_metrics(void *arg, char *buf, size_t cap)
{
	struct supervisor *s = arg;
	const struct proc_set *ps = &s->ps;
	int shown = snapshot(s);
	s->gauges.workers = proc_set_workers(ps);
	s->gauges.slots = shown;
	struct sink k = {buf, cap, counters_render_prometheus(s->shown, shown, &s->gauges, buf, cap)};
	put(&k, "# HELP herd_processes handler processes serving (current generation)\n"
		"# TYPE herd_processes gauge\nherd_processes %d\n",
	    proc_set_serving(ps));
	put(&k, "# HELP herd_generation handler generation serving (+1 per reload)\n"
		"# TYPE herd_generation gauge\nherd_generation %d\n",
	    ps->gen);
	put(&k, "# HELP herd_process_info live handler processes\n"
		"# TYPE herd_process_info gauge\n");
	for (size_t i = 0; i < sizeof(ps->inst) / sizeof(ps->inst[0]); i++) {
		const struct proc *p = &ps->inst[i];
		if (p->state != PROC_FREE)
			put(&k, "herd_process_info{proc=\"%d\",pid=\"%d\",generation=\"%d\",state=\"%s\"} 1\n",
			    p->slot, (int)p->pid, p->gen, proc_state_names[p->state]);
	}
	put(&k, "# HELP herd_process_restarts_total handler processes replaced after an "
		"unplanned exit\n# TYPE herd_process_restarts_total counter\n");
	for (int i = 0; i < ps->nslots; i++)
		if (ps->slot[i].active || ps->slot[i].restarts)
			put(&k, "herd_process_restarts_total{proc=\"%d\"} %llu\n", i,
			    (unsigned long long)ps->slot[i].restarts);
	put(&k, "# HELP herd_reloads_total reloads (SIGHUP) by result\n"
		"# TYPE herd_reloads_total counter\n"
		"herd_reloads_total{result=\"ok\"} %llu\nherd_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)ps->reloads_ok, (unsigned long long)ps->reloads_failed);
	if (k.len < cap)
		buf[k.len] = 0;
	return k.len;
}

static void dump(struct supervisor *s)
{
	counters_dump(s->shown, snapshot(s), stderr);
}

static int setup(struct supervisor *s)
{
	const struct herd_config *cfg = s->cfg;
	struct listen_opts lo;
	char err[256], where[96];
	ssize_t n = readlink("/proc/self/exe", s->exe, sizeof(s->exe) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(s->exe) - 1) {
		herd_log("cannot find our own binary (/proc/self/exe): %s", strerror(errno));
		return -1;
	}
	s->exe[n] = 0;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		herd_log("epoll_create1: %s", strerror(errno));
		return -1;
	}
	s->listen_fd = server_listen(cfg, s->mode, &lo, &s->bound);
	if (s->listen_fd < 0)
		return -1;
	if (shm_counters_create(&s->shm, cfg->max_procs, cfg->max_workers) < 0) {
		herd_log("cannot make the shared counters: %s", strerror(errno));
		return -1;
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
	if (cfg->admin_enabled) {
		struct listen_opts ao = {.backlog = 64};
		s->admin_fd = listen_open(&cfg->admin, &ao, err, sizeof(err));
		if (s->admin_fd < 0) {
			herd_log("admin: %s", err);
			return -1;
		}
		if (admin_init(&s->admin, s->admin_fd, s->epfd, render_metrics, s) < 0) {
			herd_log("admin: %s", strerror(errno));
			return -1;
		}
		s->admin_on = true;
		listen_describe(s->admin_fd, where, sizeof(where));
		herd_log("admin on %s", where);
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->sig_fd};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sig_fd, &ev) < 0)
		return -1;
	proc_set_init(&s->ps, cfg);
	s->ps.exe = s->exe;
	s->ps.argv = cfg->argv;
	s->ps.listen_fd = s->listen_fd;
	s->ps.shm = &s->shm;
	s->ps.epfd = s->epfd;
	int by_max = (cfg->max_workers + cfg->max_procs - 1) / cfg->max_procs;
	int by_start = (cfg->workers + cfg->procs - 1) / cfg->procs;
	s->per_proc_max = by_max > by_start ? by_max : by_start;
	s->scaling = cfg->min_workers < cfg->max_workers || cfg->min_procs < cfg->max_procs;
	if (s->scaling) {
		if (sampler_init(&s->sampler, s->nrows) < 0) {
			herd_log("out of memory");
			return -1;
		}
		scale_policy_configure(&s->policy, cfg);
		scale_state_init(&s->scale);
	}
	return 0;
}

static void scale_tick(struct supervisor *s, int64_t now)
{
	struct scale_view v;
	char why[160];
	if (!s->scaling || now < s->next_sample_ms || s->ps.stopping)
		return;
	s->next_sample_ms = now + config_ms(s->cfg->scale_interval_s);
	snapshot(s);
	if (!sampler_take(&s->sampler, s->rows, s->nrows, &s->listen_fd, 1, &v))
		return;
	/* Both generations run while a reload drains: no decision then. */
	if (s->ps.next_gen || proc_set_live(&s->ps) != proc_set_serving(&s->ps))
		return;
	enum scale_decision d = scale_decide(&s->policy, &s->scale, &v, (double)now / 1000.0, why,
					     sizeof(why));
	int procs = proc_set_serving(&s->ps);
	if (d == SCALE_UP && proc_set_grow(&s->ps, s->per_proc_max, s->cfg->max_procs)) {
		s->gauges.scale_up++;
		herd_log("scale up from %d workers in %d processes: %s", v.workers, procs, why);
	} else if (d == SCALE_DOWN && proc_set_shrink(&s->ps, s->cfg->min_procs, now)) {
		s->gauges.scale_down++;
		herd_log("scale down from %d workers in %d processes: %s", v.workers, procs, why);
	}
}

static void reap(struct supervisor *s, int64_t now)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		proc_set_on_exit(&s->ps, pid, status, now);
}

static void on_signal(struct supervisor *s, int64_t now)
{
	struct signalfd_siginfo si;
	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			if (!s->ps.stopping)
				herd_log("%s: stopping %d handler processes (grace %.1f s)",
					 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT",
					 proc_set_live(&s->ps), s->cfg->grace_s);
			proc_set_stop(&s->ps, now);
			break;
		case SIGHUP:
			proc_set_reload(&s->ps, now);
			break;
		case SIGUSR1:
			dump(s);
			break;
		case SIGUSR2:
			proc_set_signal(&s->ps, SIGUSR2); /* each handler reopens its log */
			break;
		case SIGCHLD:
			reap(s, now);
			break;
		default:
			break;
		}
	}
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
	listen_describe_addr(&s->bound, where, sizeof(where));
	herd_log("listening on %s (%d workers in %d processes, accept %s, %s)%s", where,
		 cfg->workers, cfg->procs, herd_accept_mode_names[s->mode],
		 cfg->proto == HERD_PROTO_HTTP ? "http" : "echo",
		 ready ? "" : "; handlers are not accepting yet");
}

static bool is_proc(const struct supervisor *s, const void *tag)
{
	const struct proc *p = tag;
	return p >= s->ps.inst && p < s->ps.inst + sizeof(s->ps.inst) / sizeof(s->ps.inst[0]);
}

static int loop(struct supervisor *s)
{
	struct epoll_event evs[16];
	s->announce_by_ms = worker_monotonic_ms() + ANNOUNCE_WAIT_MS;
	proc_set_tick(&s->ps, worker_monotonic_ms());
	while (!s->ps.stopping || proc_set_live(&s->ps) > 0) {
		/* Short while something is due soon: a start, a drain, a back-off. */
		int timeout = s->scaling ? (int)config_ms(s->cfg->scale_interval_s) : 1000;
		if (timeout > 100)
			timeout = 100;
		int n = epoll_wait(s->epfd, evs, 16, timeout);
		if (n < 0 && errno != EINTR)
			return -1;
		int64_t now = worker_monotonic_ms();
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &s->sig_fd)
				on_signal(s, now);
			else if (is_proc(s, tag))
				proc_set_on_control(&s->ps, tag, now);
			else if (s->admin_on)
				admin_on_event(&s->admin, tag);
		}
		reap(s, now); /* a SIGCHLD merged with one already read */
		if (s->admin_on)
			admin_tick(&s->admin, now);
		proc_set_tick(&s->ps, now);
		maybe_announce(s, now);
		scale_tick(s, now);
	}
	return 0;
}

int supervisor_run(const struct herd_config *cfg)
{
	struct supervisor s = {.cfg = cfg, .listen_fd = -1, .admin_fd = -1, .epfd = -1,
			       .sig_fd = -1, .shm = {.fd = -1}};
	int status = 1;
	s.sig_fd = server_signalfd(true);
	if (s.sig_fd < 0) {
		herd_log("cannot set up signal handling: %s", strerror(errno));
		goto out;
	}
	s.mode = server_resolve_mode(cfg);
	if (setup(&s) == 0) {
		if (loop(&s) < 0)
			herd_log("supervisor loop failed: %s", strerror(errno));
		else
			status = 0;
	}
	if (s.ps.epfd >= 0 && proc_set_live(&s.ps) > 0) {
		/* Failed with handlers running: they must not outlive us. */
		proc_set_signal(&s.ps, SIGKILL);
		while (waitpid(-1, NULL, 0) > 0)
			;
	}
	if (s.snap)
		dump(&s);
out:
	if (s.admin_on)
		admin_close(&s.admin);
	if (s.admin_fd >= 0)
		close(s.admin_fd);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	if (s.epfd >= 0)
		close(s.epfd);
	if (s.sig_fd >= 0)
		close(s.sig_fd);
	if (s.scaling)
		sampler_free(&s.sampler);
	counters_free(s.snap);
	free(s.rows);
	free(s.shown);
	shm_counters_close(&s.shm);
	return status;
}
