/* What every worker of every process knows about each upstream: its health
 * (the supervisor's active probe, the workers' passive count of failures)
 * and its statistics for /metrics.  One array of HERD_MAX_UPSTREAMS
 * entries, in the shared memory region under --procs (every handler
 * process and the supervisor map it), else in the process.
 *
 * Many writers (every worker): updates are atomic adds, a handful per
 * proxied request, on cache lines of their own per upstream. */
#ifndef HERD_UPSTREAM_STATE_H
#define HERD_UPSTREAM_STATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/upstream.h"

enum up_err {
	UP_ERR_CONNECT, /* refused, unreachable, timed out connecting */
	UP_ERR_TIMEOUT, /* no response head within --proxy-timeout (504), or stalled */
	UP_ERR_CLOSED,  /* closed or reset before the response was complete */
	UP_ERR_INVALID, /* a response that is not HTTP, or over the limits (502) */
	UP_ERR_KINDS
};
extern const char *const up_err_names[UP_ERR_KINDS];

/* Response-time histogram buckets (seconds, upper bounds), the last +Inf. */
#define UP_HIST_BUCKETS 12
extern const double up_hist_bounds[UP_HIST_BUCKETS - 1];

struct upstream_shared {
	/* Health. */
	_Atomic int active_down;      /* 1: the last --proxy-health probes failed */
	_Atomic int fails;            /* consecutive passive failures */
	_Atomic int64_t down_until_ms; /* passive: CLOCK_MONOTONIC ms; 0: up */
	/* Statistics. */
	_Atomic uint64_t requests;
	_Atomic uint64_t responses[5]; /* 1xx .. 5xx */
	_Atomic uint64_t errors[UP_ERR_KINDS];
	_Atomic int64_t idle;          /* pooled idle connections, all workers */
	_Atomic uint64_t hist[UP_HIST_BUCKETS];
	_Atomic uint64_t time_sum_us;
	/* Its upstream_addr.name, for the log lines of the workers that mark
	 * it down: written by the region's creator before any worker runs
	 * (a copy, not a pointer: every process has the table elsewhere). */
	char name[120];
} __attribute__((aligned(128)));

/* Passive health: after this many failures in a row an upstream is down
 * for UP_BACKOFF_MS, then tried again. */
#define UP_FAILS_DOWN 3
#define UP_BACKOFF_MS 5000

static inline bool upstream_usable(const struct upstream_shared *u, int64_t now_ms)
{
	return !atomic_load_explicit(&u->active_down, memory_order_relaxed) &&
	       atomic_load_explicit(&u->down_until_ms, memory_order_relaxed) <= now_ms;
}

/* A request got a response head: the failure count restarts. */
void upstream_note_ok(struct upstream_shared *u);
/* A connect, timeout, close or invalid response: counted, and the upstream
 * is marked down after UP_FAILS_DOWN in a row. */
void upstream_note_fail(struct upstream_shared *u, enum up_err kind, int64_t now_ms);
/* A response finished (status known): class and time. */
void upstream_note_response(struct upstream_shared *u, int status, uint64_t time_us);

/* The array: zeroed, HERD_MAX_UPSTREAMS entries.  In-process (one process)
 * or at `mem` (shared memory of at least upstream_shared_size() bytes,
 * 128-aligned, zeroed by its creator). */
size_t upstream_shared_size(void);
/* The creator, once, before any worker: each entry's name from t. */
void upstream_shared_init(struct upstream_shared *u, const struct upstream_table *t);

#endif
