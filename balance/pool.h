/* A pool: what the supervise loop (balance/supervise.c) grows, shrinks,
 * samples, drains and reports on, whatever its members are.  Two kinds:
 *
 *   balance/server.c      worker threads of this process (balance/worker_set.c)
 *   balance/supervisor.c  handler processes, each with its own threads
 *                         (balance/proc_set.c)
 *
 * The loop owns signals, the admin endpoint, the scale tick and shutdown;
 * a pool only says how each of those applies to its members.  Every call
 * comes from the loop's thread. */
#ifndef HERD_POOL_H
#define HERD_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/counters.h"

struct pool;

/* What one scaling sample reads. */
struct pool_load {
	const struct counters_row *rows; /* one per worker slot: the same slots every time */
	int nrows;
	/* the sockets whose accept queues count (reuseport: every worker's own) */
	int listen_fds[HERD_MAX_WORKERS * HERD_MAX_LISTEN];
	int nlisten;
	/* false while the pool changes shape by itself (a reload runs two
	 * generations): the sample is taken, nothing is decided on it. */
	bool settled;
};

struct pool_ops {
	/* An event on a descriptor the pool registered in the loop's epoll
	 * (data.ptr = tag).  NULL when it registers none. */
	void (*on_event)(struct pool *p, void *tag, int64_t now_ms);
	/* Every turn of the loop, at least every p->tick_ms: reap members that
	 * ended, start those that are due. */
	void (*tick)(struct pool *p, int64_t now_ms);

	/* One member more (or less, draining).  0 with the change in words in
	 * `what` (for the log line), or -1 when at the limit. */
	int (*grow)(struct pool *p, int64_t now_ms, char *what, size_t len);
	int (*retire)(struct pool *p, int64_t now_ms, char *what, size_t len);
	void (*load)(struct pool *p, struct pool_load *ld);

	/* SIGTERM: every member finishes what it holds within the grace
	 * period; the loop ends once live() is 0. */
	void (*drain)(struct pool *p, int64_t now_ms);
	/* The loop failed: members must not outlive it.  Returns once they are
	 * gone. */
	void (*abort)(struct pool *p, int64_t now_ms);
	/* SIGHUP: a new generation.  NULL when the pool cannot reload. */
	void (*reload)(struct pool *p, int64_t now_ms);
	/* SIGUSR2: logrotate moved the access log. */
	void (*reopen_logs)(struct pool *p);

	/* SIGUSR1 and exit: the counters, one line per worker. */
	void (*dump)(struct pool *p, FILE *out);
	/* GET /metrics; returns the length it needs, like snprintf. */
	size_t (*render_metrics)(struct pool *p, char *buf, size_t cap);

	/* Members serving now, and members not yet gone (draining too). */
	int (*serving)(const struct pool *p);
	int (*live)(const struct pool *p);
};

struct pool {
	const struct pool_ops *ops;
	const char *members; /* "workers", "handler processes": for log lines */
	int tick_ms;         /* the longest the loop may wait between ticks */
	/* The gauges its metrics show: the loop counts scale events there. */
	struct metrics_gauges *gauges;
};

#endif
