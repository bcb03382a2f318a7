/* Per-worker counters.
 *
 * Each block is written by exactly one worker and read by the supervisor
 * (metrics, dumps).  A single writer means no locked read-modify-write is
 * needed: the worker does a relaxed load + relaxed store, readers do relaxed
 * loads, and each block sits on its own cache lines so workers never share
 * one. */
#ifndef HERD_COUNTERS_H
#define HERD_COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum herd_err_kind {
	HERD_ERR_ACCEPT,   /* accept4 failed with something other than EAGAIN */
	HERD_ERR_READ,     /* read failed (ECONNRESET, ...) */
	HERD_ERR_WRITE,    /* write failed (EPIPE, ECONNRESET, ...) */
	HERD_ERR_PROTOCOL, /* request answered with a 4xx/5xx protocol error */
	HERD_ERR_NOMEM,    /* a connection was dropped for lack of memory */
	HERD_ERR_TLS,      /* a TLS handshake or record failed, or plain HTTP on a TLS port */
	HERD_ERR_KINDS
};

extern const char *const herd_err_kind_names[HERD_ERR_KINDS];

enum herd_tls_hs { HERD_TLS_FULL, HERD_TLS_RESUMED, HERD_TLS_FAILED };

struct worker_counters {
	_Atomic uint64_t wakeups;    /* epoll_wait returns that reported the listener */
	_Atomic uint64_t accepted;
	_Atomic uint64_t lost_races; /* woken for the listener, first accept4 said EAGAIN */
	_Atomic uint64_t requests;
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t conns_active;
	_Atomic uint64_t step_outs;  /* left the race for holding over its share */
	/* Time spent handling events, added each time the worker goes back to
	 * waiting: a worker asleep in epoll_wait correctly adds nothing. */
	_Atomic uint64_t busy_ns;
	_Atomic uint64_t errors[HERD_ERR_KINDS];
	/* TLS handshakes by outcome (enum herd_tls_hs), and established TLS
	 * connections by where records are encrypted (0 user, 1 kernel). */
	_Atomic uint64_t tls_handshakes[3];
	_Atomic uint64_t tls_conns[2];
	_Atomic int cpu;     /* -1 until a worker ever ran in this block */
	/* Written by the worker's owner (the process's main thread): 1 while
	 * the worker is in the set and not retiring.  Lets a supervisor in
	 * another process see which blocks are live. */
	_Atomic int running;
} __attribute__((aligned(128)));

/* One series of the exposition: a worker's counters and its labels. */
struct counters_row {
	const struct worker_counters *c;
	int proc; /* -1 in a single process: no proc label */
	int worker;
};

/* Process-wide figures shown beside the per-worker series; written and read
 * by the supervisor thread only. */
struct metrics_gauges {
	int slots;   /* worker slots ever started: their series are shown */
	int workers; /* running now */
	uint64_t scale_up, scale_down;
};

#define CTR_ADD(ctr, field, n)                                                               \
	atomic_store_explicit(&(ctr)->field,                                                 \
			      atomic_load_explicit(&(ctr)->field, memory_order_relaxed) + (n), \
			      memory_order_relaxed)
#define CTR_SUB(ctr, field, n)                                                               \
	atomic_store_explicit(&(ctr)->field,                                                 \
			      atomic_load_explicit(&(ctr)->field, memory_order_relaxed) - (n), \
			      memory_order_relaxed)
#define CTR_GET(ctr, field) atomic_load_explicit(&(ctr)->field, memory_order_relaxed)

/* One block per worker, cache-line aligned; NULL on failure. */
struct worker_counters *counters_alloc(int nworkers);
void counters_free(struct worker_counters *c);
/* Zeroed blocks with no CPU yet (cpu = -1). */
void counters_reset(struct worker_counters *c, int nblocks);
/* dst += src, field by field (dst is a private snapshot: plain stores). */
void counters_accumulate(struct worker_counters *dst, const struct worker_counters *src);

/* Prometheus text exposition of the rows into buf; returns the length it
 * needs (like snprintf), so a caller can grow the buffer and retry. */
size_t counters_render_prometheus(const struct counters_row *rows, int nrows,
				  const struct metrics_gauges *g, char *buf, size_t cap);

/* Text appended to buf like snprintf: len counts what did not fit too, so
 * a caller can measure, grow and retry.  For series of its own beside the
 * ones counters_render_prometheus writes. */
struct counters_sink {
	char *buf;
	size_t cap, len;
};
void counters_put(struct counters_sink *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Human-readable dump, one line per row plus a total, to `out`. */
void counters_dump(const struct counters_row *rows, int nrows, FILE *out);

#endif
