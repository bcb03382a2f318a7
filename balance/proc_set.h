/* The handler processes of a supervisor (--procs): slots, each served by one
 * process of the current generation (and, while a reload drains, one of the
 * previous); starting them by fork+exec, replacing the ones that die with a
 * back-off for those that keep dying, and reload by generations.  Only the
 * supervisor's thread calls these. */
#ifndef HERD_PROC_SET_H
#define HERD_PROC_SET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "core/shm_counters.h"

enum proc_state { PROC_FREE, PROC_STARTING, PROC_RUNNING, PROC_DRAINING };

extern const char *const proc_state_names[];

/* One handler process. */
struct proc {
	enum proc_state state;
	int slot, bank, gen;
	pid_t pid;
	int ctl_fd;  /* the supervisor's end of the control socket */
	int workers; /* running workers, as the process last reported */
	int64_t deadline_ms; /* STARTING: must be ready by; DRAINING: killed at */
};

#define PROC_DEATHS 5 /* this many unplanned exits ... */
#define PROC_DEATH_WINDOW_MS 10000 /* ... within this window start the back-off */

/* A place for one handler process: its CPUs, its share of workers, and its
 * history of deaths. */
struct proc_slot {
	bool active;        /* should have a process (scaling can turn it off) */
	int workers;        /* workers its next process starts with */
	char cpus[256];     /* a --cpus list */
	uint64_t restarts;  /* replacements after unplanned exits */
	int64_t deaths[PROC_DEATHS]; /* ring of the last exits' times */
	int ndeaths;
	int64_t backoff_ms;    /* 0, or the current wait before a restart */
	int64_t next_start_ms; /* no process before this (back-off) */
};

struct proc_set {
	struct proc inst[2 * HERD_MAX_PROCS];
	struct proc_slot slot[HERD_MAX_PROCS];
	int nslots; /* --max-procs */
	int gen;    /* the generation serving */
	int next_gen; /* a reload in progress: the generation starting, else 0 */
	int64_t reload_deadline_ms;
	bool reload_pending; /* SIGHUP while the last old generation still drains */
	bool stopping;
	uint64_t reloads_ok, reloads_failed;
	/* What every handler is started with. */
	const char *exe;  /* the binary on disk, run again for each process */
	char *const *argv;
	struct herd_listener listeners[HERD_MAX_LISTEN];
	int nlisten;
	const struct shm_counters *shm;
	int epfd;         /* control sockets are registered here, data.ptr = struct proc */
	double grace_s;
};

/* Slots get their CPUs and initial workers from cfg; the first cfg->procs
 * are active.  Nothing is started yet. */
void proc_set_init(struct proc_set *ps, const struct herd_config *cfg);
/* Starts a process for every active slot that has none and is not backing
 * off, expires start and drain deadlines, and starts a deferred reload.
 * Call often (at least every few hundred ms). */
void proc_set_tick(struct proc_set *ps, int64_t now_ms);
/* A child exited (from waitpid). */
void proc_set_on_exit(struct proc_set *ps, pid_t pid, int status, int64_t now_ms);
/* A control socket is readable. */
void proc_set_on_control(struct proc_set *ps, struct proc *p, int64_t now_ms);
/* SIGHUP: start the next generation (or defer it). */
void proc_set_reload(struct proc_set *ps, int64_t now_ms);
/* SIGTERM: every process drains within the grace period. */
void proc_set_stop(struct proc_set *ps, int64_t now_ms);
/* Sends a signal to every live process (SIGUSR2: reopen logs). */
void proc_set_signal(struct proc_set *ps, int sig);

/* Scaling.  Asks the current-generation process with the fewest workers
 * (below per_proc_max) for one more; else activates a new slot.  false when
 * neither is possible. */
bool proc_set_grow(struct proc_set *ps, int per_proc_max, int max_procs);
/* Asks the process with the most workers (more than one) to retire one;
 * else drains the newest slot's process if more than min_procs remain. */
bool proc_set_shrink(struct proc_set *ps, int min_procs, int64_t now_ms);

/* Counts over the current generation (and all live processes). */
int proc_set_serving(const struct proc_set *ps); /* current generation, running */
int proc_set_live(const struct proc_set *ps);    /* any process not yet exited */
int proc_set_workers(const struct proc_set *ps); /* workers over live processes */
/* All current-generation processes are running (the first start, a reload). */
bool proc_set_ready(const struct proc_set *ps);

#endif
