/* The set of workers: slots that are started, retired and reused as the
 * load changes.  Only the supervisor thread calls these; what workers read
 * of each other (running, wake_fd, connection counts) is atomic or fixed
 * before a slot runs. */
#ifndef HERD_WORKER_SET_H
#define HERD_WORKER_SET_H

#include <stdint.h>

#include "core/counters.h"
#include "core/worker.h"
#include "net/listen.h"

enum slot_state { SLOT_EMPTY, SLOT_RUNNING, SLOT_RETIRING };

struct worker_set {
	struct worker *w;            /* cap slots */
	struct worker_counters *ctr; /* cap blocks; kept across reuse: counters never go back */
	bool own_ctr;                /* allocated here, not handed in (shared memory) */
	struct counters_row *rows;   /* cap rows over ctr, for metrics and sampling */
	uint8_t *state;              /* enum slot_state */
	uint8_t *own_listener_open;  /* reuseport: the slot's listeners are still open */
	int *wake_fds;               /* per slot, made once: peers may write any time */
	int cap;
	struct metrics_gauges gauges; /* slots ever used, live workers, scale events */
	_Atomic int live;            /* running workers, for the balancing fair share */
	_Atomic int *live_out;       /* also published here (handler processes: shared memory) */
	struct worker tmpl;          /* configuration each new worker starts from */
	const int *cpus;
	int ncpus;
	/* reuseport: each worker opens its own listener on each shared port */
	struct herd_addr addrs[HERD_MAX_LISTEN];
	bool tls[HERD_MAX_LISTEN];
	int naddrs;
	struct listen_opts lopts;
};

/* tmpl carries the configuration (mode, ops, listeners, feed, timeouts, ...).
 * ctr: cap counter blocks to use (a handler process's share of the shared
 * memory), or NULL to allocate them.  0, or -1 with errno set. */
int worker_set_init(struct worker_set *ws, int cap, const struct worker *tmpl, const int *cpus,
		    int ncpus, struct worker_counters *ctr);
/* Starts a worker pinned to the CPU with the fewest workers.  Its slot, or
 * -1 (logged). */
int worker_set_grow(struct worker_set *ws);
/* Retires the running worker holding the fewest connections: it leaves the
 * race at once and drains until deadline_ms.  Its slot, or -1 when only
 * one is left. */
int worker_set_retire(struct worker_set *ws, int64_t deadline_ms);
/* Closes the own listeners of reuseport workers that left the race and
 * joins retired workers that finished. */
void worker_set_reap(struct worker_set *ws);
/* Asks every worker to drain by deadline_ms, waits until none can accept
 * any more, and returns; worker_set_join_all() then waits for them. */
void worker_set_stop_all(struct worker_set *ws, int64_t deadline_ms);
void worker_set_join_all(struct worker_set *ws);
void worker_set_destroy(struct worker_set *ws);

int worker_set_live(const struct worker_set *ws);
/* Slots whose worker has not finished yet: running or retiring. */
int worker_set_in_use(const struct worker_set *ws);
/* The listening sockets workers accept from now (reuseport: each worker's
 * own). */
int worker_set_listen_fds(const struct worker_set *ws, int *fds, int max);

#endif
