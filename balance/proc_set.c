#include "balance/proc_set.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "balance/control.h"
#include "core/log.h"

extern char **environ;

const char *const proc_state_names[] = {"free", "starting", "running", "draining"};

/* A handler must report ready within this (sanitizer builds start slowly). */
#define START_TIMEOUT_MS 10000
/* Past the grace period, a draining handler gets this long to exit. */
#define DRAIN_SLACK_MS 2000
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define NEVER INT64_MAX

#define NINST(ps) (sizeof((ps)->inst) / sizeof((ps)->inst[0]))
/* Every process not yet reaped; const-correct for const sets. */
#define FOR_EACH_LIVE(ps, p)                                                        \
	for (__typeof__(&(ps)->inst[0]) p = (ps)->inst; p < (ps)->inst + NINST(ps); p++) \
		if (p->state != PROC_FREE)

static int64_t grace_ms(const struct proc_set *ps)
{
	return (int64_t)(ps->grace_s * 1000.0 + 0.5);
}

/* Slot k's CPUs: its own contiguous share when there are enough CPUs for
 * every slot, else one CPU round robin (slots then share CPUs). */
static void slot_cpus(const struct herd_config *cfg, int k, int nslots, char *out, size_t len)
{
	int from = k % cfg->ncpus, to = from + 1;
	if (cfg->ncpus >= nslots) {
		from = k * cfg->ncpus / nslots;
		to = (k + 1) * cfg->ncpus / nslots;
	}
	size_t n = 0;
	out[0] = 0;
	for (int i = from; i < to && n < len; i++)
		n += (size_t)snprintf(out + n, len - n, "%s%d", i > from ? "," : "", cfg->cpus[i]);
}

void proc_set_init(struct proc_set *ps, const struct herd_config *cfg)
{
	memset(ps, 0, sizeof(*ps));
	ps->nslots = cfg->max_procs;
	ps->gen = 1;
	ps->grace_s = cfg->grace_s;
	ps->epfd = -1;
	for (int k = 0; k < ps->nslots; k++) {
		struct proc_slot *sl = &ps->slot[k];
		sl->active = k < cfg->procs;
		sl->workers = k < cfg->procs ? cfg->workers / cfg->procs + (k < cfg->workers % cfg->procs)
					     : 1;
		slot_cpus(cfg, k, ps->nslots, sl->cpus, sizeof(sl->cpus));
	}
	for (size_t i = 0; i < NINST(ps); i++)
		ps->inst[i].ctl_fd = -1;
}


static struct proc *free_inst(struct proc_set *ps)
{
	for (size_t i = 0; i < NINST(ps); i++)
		if (ps->inst[i].state == PROC_FREE)
			return &ps->inst[i];
	return NULL;
}

static int free_bank(const struct proc_set *ps, int slot)
{
	bool used[SHM_BANKS] = {false};
	FOR_EACH_LIVE(ps, p)
		if (p->slot == slot)
			used[p->bank] = true;
	for (int b = 0; b < SHM_BANKS; b++)
		if (!used[b])
			return b;
	return -1;
}

/* The slot's process of generation gen that is starting or serving. */
static struct proc *of_gen(struct proc_set *ps, int slot, int gen)
{
	FOR_EACH_LIVE(ps, p)
		if (p->slot == slot && p->gen == gen &&
		    (p->state == PROC_STARTING || p->state == PROC_RUNNING))
			return p;
	return NULL;
}

/* The environment of a handler: ours plus HERD_HANDLER, built before fork
 * so the child only has to exec. */
static char **handler_envp(const char *value)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 2, sizeof(char *));
	char *own = malloc(strlen(HANDLER_ENV) + strlen(value) + 2);
	if (!envp || !own) {
		free(envp);
		free(own);
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], HANDLER_ENV "=", sizeof(HANDLER_ENV)) != 0)
			envp[k++] = environ[i];
	sprintf(own, "%s=%s", HANDLER_ENV, value);
	envp[k] = own;
	return envp;
}

static void free_envp(char **envp)
{
	size_t k = 0;
	while (envp[k + 1])
		k++;
	free(envp[k]); /* ours is last */
	free(envp);
}

/* The child, between fork and exec: only async-signal-safe calls. */
static void exec_handler(const struct proc_set *ps, int ctl, char **envp)
{
	sigset_t none;
	setpgid(0, 0); /* a terminal's Ctrl-C is for the supervisor alone */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* These cross the exec (the listeners, the counters, the control
	 * socket); everything else of ours is close-on-exec. */
	for (int i = 0; i < ps->nlisten; i++)
		if (fcntl(ps->listeners[i].fd, F_SETFD, 0) < 0)
			_exit(126);
	if (fcntl(ps->shm->fd, F_SETFD, 0) < 0 || fcntl(ctl, F_SETFD, 0) < 0)
		_exit(126);
	execve(ps->exe, ps->argv, envp);
	_exit(127);
}

static struct proc *spawn(struct proc_set *ps, int slot, int gen, int64_t now_ms)
{
	struct proc *p = free_inst(ps);
	int bank = free_bank(ps, slot), sv[2];
	char value[512];
	if (!p || bank < 0) {
		herd_log("handler %d: no free process slot", slot);
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
		herd_log("handler %d: socketpair: %s", slot, strerror(errno));
		return NULL;
	}
	struct handler_env he = {.slot = slot, .gen = gen, .bank = bank, .supervisor = getpid(),
				 .nlisten = ps->nlisten, .shm_fd = ps->shm->fd,
				 .ctl_fd = sv[1], .workers = ps->slot[slot].workers};
	memcpy(he.listeners, ps->listeners, sizeof(he.listeners));
	snprintf(he.cpus, sizeof(he.cpus), "%s", ps->slot[slot].cpus);
	char **envp = handler_format(&he, value, sizeof(value)) == 0 ? handler_envp(value) : NULL;
	pid_t pid = envp ? fork() : -1;
	if (pid == 0)
		exec_handler(ps, sv[1], envp);
	int e = errno;
	if (envp)
		free_envp(envp);
	close(sv[1]);
	if (pid < 0) {
		herd_log("handler %d: cannot start: %s", slot, envp ? strerror(e) : "out of memory");
		close(sv[0]);
		return NULL;
	}
	*p = (struct proc){.state = PROC_STARTING, .slot = slot, .bank = bank, .gen = gen,
			   .pid = pid, .ctl_fd = sv[0], .deadline_ms = now_ms + START_TIMEOUT_MS};
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};
	if (epoll_ctl(ps->epfd, EPOLL_CTL_ADD, p->ctl_fd, &ev) < 0)
		herd_log("handler %d: epoll_ctl: %s", slot, strerror(errno));
	return p;
}

static void drain(struct proc_set *ps, struct proc *p, int64_t now_ms)
{
	if (p->state == PROC_DRAINING)
		return;
	kill(p->pid, SIGTERM);
	p->state = PROC_DRAINING;
	p->deadline_ms = now_ms + grace_ms(ps) + DRAIN_SLACK_MS;
}

static void reload_fail(struct proc_set *ps, const char *why)
{
	herd_log("reload failed: %s; generation %d keeps serving", why, ps->gen);
	FOR_EACH_LIVE(ps, p) {
		if (p->gen == ps->next_gen && p->state != PROC_DRAINING) {
			kill(p->pid, SIGKILL);
			p->state = PROC_DRAINING; /* its exit is expected now */
			p->deadline_ms = NEVER;
		}
	}
	ps->next_gen = 0;
	ps->reloads_failed++;
}

static void maybe_commit_reload(struct proc_set *ps, int64_t now_ms)
{
	int running = 0;
	FOR_EACH_LIVE(ps, p) {
		if (p->gen != ps->next_gen)
			continue;
		if (p->state == PROC_STARTING)
			return;
		running += p->state == PROC_RUNNING;
	}
	if (!running)
		return;
	int old = ps->gen;
	FOR_EACH_LIVE(ps, p)
		if (p->gen < ps->next_gen)
			drain(ps, p, now_ms);
	ps->gen = ps->next_gen;
	ps->next_gen = 0;
	ps->reloads_ok++;
	herd_log("reload: generation %d is accepting; draining generation %d (grace %.1f s)", ps->gen,
		 old, ps->grace_s);
}

static bool any_draining(const struct proc_set *ps)
{
	FOR_EACH_LIVE(ps, p)
		if (p->state == PROC_DRAINING)
			return true;
	return false;
}

static void start_reload(struct proc_set *ps, int64_t now_ms)
{
	ps->next_gen = ps->gen + 1;
	herd_log("SIGHUP: reload: starting generation %d (%s)", ps->next_gen, ps->exe);
	for (int k = 0; k < ps->nslots; k++) {
		if (ps->slot[k].active && !spawn(ps, k, ps->next_gen, now_ms)) {
			char why[64];
			snprintf(why, sizeof(why), "cannot start handler %d", k);
			reload_fail(ps, why);
			return;
		}
	}
}

void proc_set_reload(struct proc_set *ps, int64_t now_ms)
{
	if (ps->stopping)
		return;
	/* Each slot has two counter banks: one for the serving generation,
	 * one for the next; the one before must be gone first. */
	if (ps->next_gen || any_draining(ps)) {
		if (!ps->reload_pending)
			herd_log("SIGHUP: reload deferred until the previous generation has drained");
		ps->reload_pending = true;
		return;
	}
	start_reload(ps, now_ms);
}

void proc_set_tick(struct proc_set *ps, int64_t now_ms)
{
	FOR_EACH_LIVE(ps, p) {
		if (now_ms < p->deadline_ms)
			continue;
		if (p->state == PROC_STARTING)
			herd_log("handler %d (pid %d) not accepting after %d s: killing it", p->slot,
				 (int)p->pid, START_TIMEOUT_MS / 1000);
		else if (p->state == PROC_DRAINING)
			herd_log("handler %d (pid %d) still draining past the grace period: killing it",
				 p->slot, (int)p->pid);
		if (p->state == PROC_STARTING || p->state == PROC_DRAINING) {
			kill(p->pid, SIGKILL);
			p->deadline_ms = NEVER;
		}
	}
	if (ps->stopping)
		return;
	for (int k = 0; k < ps->nslots; k++) {
		struct proc_slot *sl = &ps->slot[k];
		if (!sl->active || now_ms < sl->next_start_ms || of_gen(ps, k, ps->gen) ||
		    (ps->next_gen && of_gen(ps, k, ps->next_gen)))
			continue;
		if (!spawn(ps, k, ps->gen, now_ms))
			sl->next_start_ms = now_ms + BACKOFF_FIRST_MS;
	}
	if (ps->reload_pending && !ps->next_gen && !any_draining(ps)) {
		ps->reload_pending = false;
		start_reload(ps, now_ms);
	}
}

static void describe(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

/* An unplanned exit: count it, and decide when the replacement starts. */
static void on_crash(struct proc_set *ps, struct proc *p, const char *how, long held,
		     int64_t now_ms)
{
	struct proc_slot *sl = &ps->slot[p->slot];
	sl->restarts++;
	sl->deaths[sl->ndeaths++ % PROC_DEATHS] = now_ms;
	int recent = 0;
	for (int i = 0; i < PROC_DEATHS && i < sl->ndeaths; i++)
		recent += now_ms - sl->deaths[i] < PROC_DEATH_WINDOW_MS;
	/* Only a process that kept running a while earns a fresh start. */
	if (sl->backoff_ms && now_ms - sl->next_start_ms >= PROC_DEATH_WINDOW_MS)
		sl->backoff_ms = 0;
	if (sl->backoff_ms || recent >= PROC_DEATHS) {
		sl->backoff_ms = sl->backoff_ms ? sl->backoff_ms * 2 : BACKOFF_FIRST_MS;
		if (sl->backoff_ms > BACKOFF_MAX_MS)
			sl->backoff_ms = BACKOFF_MAX_MS;
		sl->next_start_ms = now_ms + sl->backoff_ms;
		herd_log("handler %d (pid %d) %s holding %ld connections; backing off", p->slot,
			 (int)p->pid, how, held);
		herd_log("handler %d: %d exits in %d s; next start in %.1f s", p->slot, recent,
			 PROC_DEATH_WINDOW_MS / 1000, (double)sl->backoff_ms / 1000.0);
	} else {
		sl->next_start_ms = now_ms;
		herd_log("handler %d (pid %d) %s holding %ld connections; restarting", p->slot,
			 (int)p->pid, how, held);
	}
}

void proc_set_on_exit(struct proc_set *ps, pid_t pid, int status, int64_t now_ms)
{
	struct proc *p = NULL;
	char how[96];
	FOR_EACH_LIVE(ps, q)
		if (q->pid == pid)
			p = q;
	if (!p)
		return;
	if (p->ctl_fd >= 0) {
		epoll_ctl(ps->epfd, EPOLL_CTL_DEL, p->ctl_fd, NULL);
		close(p->ctl_fd);
	}
	/* Its blocks keep the totals; only what it held dies with it. */
	long held = shm_counters_clear_live(ps->shm, p->slot, p->bank);
	describe(status, how, sizeof(how));
	if (p->state == PROC_DRAINING) {
		bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
		herd_log("handler %d (pid %d) of generation %d %s%s", p->slot, (int)p->pid, p->gen,
			 clean ? "drained and exited" : how, clean ? "" : " while draining");
	} else if (p->gen == ps->next_gen) {
		char why[160];
		snprintf(why, sizeof(why), "handler %d (pid %d) of generation %d %s before accepting",
			 p->slot, (int)p->pid, p->gen, how);
		p->state = PROC_FREE;
		reload_fail(ps, why);
	} else {
		on_crash(ps, p, how, held, now_ms);
	}
	p->state = PROC_FREE;
	p->ctl_fd = -1;
	p->pid = 0;
	proc_set_tick(ps, now_ms); /* a replacement starts at once */
}

void proc_set_on_control(struct proc_set *ps, struct proc *p, int64_t now_ms)
{
	enum ctl_kind kind;
	int value, rc;
	while ((rc = ctl_recv(p->ctl_fd, &kind, &value)) == 1) {
		if (kind != CTL_READY && kind != CTL_WORKERS)
			continue;
		p->workers = value;
		if (kind == CTL_READY && p->state == PROC_STARTING) {
			p->state = PROC_RUNNING;
			p->deadline_ms = NEVER;
		}
		if (p->state == PROC_RUNNING)
			ps->slot[p->slot].workers = value > 0 ? value : 1;
	}
	if (rc == 0) /* exiting: its SIGCHLD follows; stop hearing the EOF */
		epoll_ctl(ps->epfd, EPOLL_CTL_DEL, p->ctl_fd, NULL);
	if (ps->next_gen)
		maybe_commit_reload(ps, now_ms);
}

void proc_set_stop(struct proc_set *ps, int64_t now_ms)
{
	ps->stopping = true;
	ps->reload_pending = false;
	FOR_EACH_LIVE(ps, p)
		drain(ps, p, now_ms);
}

void proc_set_signal(struct proc_set *ps, int sig)
{
	FOR_EACH_LIVE(ps, p)
		kill(p->pid, sig);
}

bool proc_set_grow(struct proc_set *ps, int per_proc_max, int max_procs)
{
	struct proc *best = NULL;
	if (ps->next_gen || ps->stopping)
		return false;
	FOR_EACH_LIVE(ps, p)
		if (p->gen == ps->gen && p->state == PROC_RUNNING && p->workers < per_proc_max &&
		    (!best || p->workers < best->workers))
			best = p;
	if (best && ctl_send(best->ctl_fd, CTL_GROW, 0) == 0) {
		best->workers++;
		ps->slot[best->slot].workers = best->workers;
		return true;
	}
	int active = 0;
	for (int k = 0; k < ps->nslots; k++)
		active += ps->slot[k].active;
	for (int k = 0; k < ps->nslots && active < max_procs; k++) {
		if (!ps->slot[k].active) {
			ps->slot[k].active = true;
			ps->slot[k].workers = 1;
			ps->slot[k].next_start_ms = 0;
			return true; /* the next tick starts it */
		}
	}
	return false;
}

bool proc_set_shrink(struct proc_set *ps, int min_procs, int64_t now_ms)
{
	struct proc *best = NULL, *newest = NULL;
	int active = 0;
	if (ps->next_gen || ps->stopping)
		return false;
	FOR_EACH_LIVE(ps, p) {
		if (p->gen != ps->gen || p->state != PROC_RUNNING)
			continue;
		if (p->workers > 1 && (!best || p->workers > best->workers))
			best = p;
		if (!newest || p->slot > newest->slot)
			newest = p;
	}
	if (best && ctl_send(best->ctl_fd, CTL_RETIRE, 0) == 0) {
		best->workers--;
		ps->slot[best->slot].workers = best->workers;
		return true;
	}
	for (int k = 0; k < ps->nslots; k++)
		active += ps->slot[k].active;
	if (!newest || active <= min_procs)
		return false;
	ps->slot[newest->slot].active = false;
	herd_log("handler %d (pid %d) retires: draining", newest->slot, (int)newest->pid);
	drain(ps, newest, now_ms);
	return true;
}

int proc_set_serving(const struct proc_set *ps)
{
	int n = 0;
	FOR_EACH_LIVE(ps, p)
		n += p->gen == ps->gen && p->state == PROC_RUNNING;
	return n;
}

int proc_set_live(const struct proc_set *ps)
{
	int n = 0;
	FOR_EACH_LIVE(ps, p)
		n++;
	return n;
}

int proc_set_workers(const struct proc_set *ps)
{
	int n = 0;
	FOR_EACH_LIVE(ps, p)
		n += p->state == PROC_RUNNING || p->state == PROC_DRAINING ? p->workers : 0;
	return n;
}

bool proc_set_ready(const struct proc_set *ps)
{
	int running = 0;
	for (int k = 0; k < ps->nslots; k++) {
		if (!ps->slot[k].active)
			continue;
		bool found = false;
		FOR_EACH_LIVE(ps, p)
			found |= p->slot == k && p->gen == ps->gen && p->state == PROC_RUNNING;
		if (!found)
			return false;
		running++;
	}
	return running > 0;
}
