/* The counter blocks of every handler process, in one memfd the supervisor
 * makes before it starts any, and passes to each process it executes.
 *
 * A process slot has two banks of worker blocks: during a reload the old
 * generation drains into one while the new one serves from the other, so
 * every block keeps a single writer.  A process that replaces a dead one
 * continues its bank where it stopped, so totals never go backwards; the
 * supervisor reports a slot's worker as the sum of both banks. */
#ifndef HERD_SHM_COUNTERS_H
#define HERD_SHM_COUNTERS_H

#include <stddef.h>

#include "core/counters.h"

struct upstream_shared;

#define SHM_BANKS 2
/* Room at the end for process-wide state the supervisor owns and every
 * handler reads (the TLS session-ticket keys). */
#define SHM_SHARED_SIZE 2048

/* What a handler process publishes of itself for the others' workers: the
 * fair share of connections is over every process's workers. */
struct shm_proc_load {
	_Atomic long conns_open; /* its workers' open connections (--max-conns) */
	_Atomic int live;        /* its running workers */
} __attribute__((aligned(64)));

struct shm_counters {
	int fd;
	int slots, wcap; /* process slots, worker blocks per bank */
	size_t size;
	void *base;
	struct shm_proc_load *loads;    /* [slots][SHM_BANKS] */
	struct worker_counters *blocks; /* [slots][SHM_BANKS][wcap] */
	void *shared;                   /* SHM_SHARED_SIZE bytes, 128-aligned */
	/* The upstreams' health and statistics (core/upstream_state.h),
	 * upstream_shared_size() bytes, 128-aligned: one array that every
	 * worker of every process and the supervisor's health checks share. */
	struct upstream_shared *upstreams;
};

/* Supervisor: a zeroed region.  0, or -1 with errno set. */
int shm_counters_create(struct shm_counters *m, int slots, int wcap);
/* Handler: maps the region behind fd (geometry read from its header).  0,
 * or -1 with errno set (EINVAL: not a herd counter region). */
int shm_counters_attach(struct shm_counters *m, int fd);
void shm_counters_close(struct shm_counters *m);

struct worker_counters *shm_counters_bank(const struct shm_counters *m, int slot, int bank);
struct shm_proc_load *shm_counters_load(const struct shm_counters *m, int slot, int bank);

/* After a process died: its connections are gone and none of its workers
 * runs, whatever its blocks said when it was killed.  Returns the
 * connections it held: opened by its workers, or accepted and not opened yet. */
long shm_counters_clear_live(const struct shm_counters *m, int slot, int bank);

#endif
