/* A worker: one thread pinned to one CPU with its own event loop, racing the
 * other workers to accept from the shared listening socket and serving every
 * connection it wins to the end.  Its loop (core/loop.c) is one turn for
 * every mechanism: wait (mech), deliver events (engine, race), run the
 * race's rules, expire timers. */
#ifndef HERD_WORKER_H
#define HERD_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/counters.h"
#include "core/shm_counters.h"
#include "net/http_response.h"
#include "net/proto.h"

struct worker_timeouts {
	int64_t idle_ms, read_ms, write_ms, linger_ms;
	/* Reverse proxy: connect, response head (and any stall after it), and
	 * how long a pooled upstream connection may stay idle. */
	int64_t up_connect_ms, up_read_ms, up_idle_ms;
	int64_t app_ms; /* --handler-timeout: a deferred answer's wait */
};

struct handoff;
struct mech;
struct proto;
struct transport;
struct tls_slot;
struct upstream_table;
struct upstream_shared;
struct proxy_worker;
struct app_runtime;
struct app_table;
struct app_worker;
struct app_slot;

struct worker {
	/* Set by the supervisor before start, then read-only. */
	int id, cpu;
	enum herd_accept_mode mode;
	const struct mech *mech;  /* epoll or io_uring */
	void *(*run)(void *);     /* the thread body: worker_loop (core/loop.h) */
	/* Shared, or the worker's own (reuseport); none in listener mode,
	 * where the acceptor thread owns them.  The race watches all. */
	struct herd_listener listeners[HERD_MAX_LISTEN];
	int nlisten;
	struct handoff *handoff;  /* listener mode: fds from the acceptor thread */
	const struct proto *proto;
	const struct transport *transport;
	/* TLS listeners: the certificates new handshakes use (replaced on
	 * reload), and whether to hand the record layer to the kernel. */
	struct tls_slot *tls;
	bool ktls;
	uint16_t https_port; /* --redirect-https: plain requests go there; 0: off */
	struct worker_timeouts timeouts;
	uint64_t max_body;
	/* --proxy: the routes and upstreams (NULL: no proxy), their shared
	 * health and statistics ([HERD_MAX_UPSTREAMS]), and how many idle
	 * connections to each upstream this worker keeps. */
	const struct upstream_table *upstreams;
	struct upstream_shared *up_shared;
	int up_idle_max;
	/* Application routes (libherd): the process's routes and hooks, or
	 * NULL; the worker's own side of them, made at its start. */
	struct app_runtime *app_rt;
	const struct app_table *app_table;
	struct app_worker *aw;
	struct app_slot *app_slot;
	int root_fd;              /* --root (O_PATH), or -1 */
	const char *root_path;    /* --root made absolute: each worker follows it */
	int log_fd;               /* --access-log, or -1 */
	struct worker_counters *ctr;
	/* Open connections over all workers, against --max-conns: checked
	 * before each accept, so the excess waits in the kernel's queue. */
	_Atomic long *conns_open;
	long max_conns;
	/* All workers, for balancing: a worker over its share of connections
	 * steps out of the race and nudges the least loaded one. */
	struct worker *peers; /* only peers[i].running is read: slots get rewritten */
	const int *peer_wake; /* wake eventfd of slot i, fixed for the set's life */
	struct worker_counters *peer_ctr; /* counters of slot i, fixed likewise */
	int npeers;           /* slots in peers[], running or not */
	_Atomic int *nlive;   /* running workers: the fair share's divisor */
	/* Handler processes (--procs): workers of other processes race on the
	 * same socket; every process's load, for a fair share over all. */
	bool foreign_racers;
	const struct shm_proc_load *all_loads;
	int nloads;
	bool balance;

	/* Supervisor -> worker and peers: in the set and not retiring. */
	_Atomic bool running;
	/* Supervisor -> worker. */
	_Atomic bool stop;
	_Atomic int64_t stop_deadline_ms; /* CLOCK_MONOTONIC; close the rest then */
	/* Worker -> supervisor: the listener is no longer in this epoll. */
	_Atomic bool left_race;
	/* Worker -> supervisor: the thread is about to return. */
	_Atomic bool finished;

	/* Owned by the worker thread. */
	pthread_t thread;
	int wake_fd;          /* eventfd: stop requests, hand-offs */
	void *io;             /* the mechanism's own state */
	/* The race (core/race.c). */
	bool draining, exiting, accept_paused, at_conn_limit, stepped_out, in_race;
	/* Bit i: listener i's queue may hold more than the last batch took. */
	uint32_t accept_more;
	bool watching_listener; /* set by the mechanism: it may still accept on any */
	uint32_t took_conns;    /* bit i: accepted from listener i in this loop turn */
	int64_t now_ms, accept_resume_ms, log_slot;
	long pause_open; /* out of descriptors: connections open then (race.c) */
	struct outbuf out;
	/* TLS: ciphertext on its way out, plaintext on its way in; allocated
	 * with the first TLS connection, grown as needed. */
	struct outbuf wire, plain;
	/* Reverse proxy: the head of a request for an upstream (written by the
	 * protocol), and the worker's upstream connections (core/proxy_up.c);
	 * both NULL without --proxy. */
	struct outbuf up_head;
	struct proxy_worker *proxy;
	char *rbuf;
	uint32_t rbuf_cap;
	struct http_clock clock;
	struct file_cache *files; /* NULL without --root */
	int root_err;             /* the root path's failure last logged, or 0 */
	struct access_log *log;   /* NULL without --access-log */
	int64_t log_flush_ms;
	struct conn_pool pool;
	struct conn_list timers[CONN_T_COUNT];
	int nconns;
};

/* Allocates the worker's buffers and wake eventfd, then its backend's
 * resources.  0, or -1 with errno set. */
int worker_init(struct worker *w);
/* Starts the thread and pins it to w->cpu.  0 or an errno value. */
int worker_start(struct worker *w);
/* Asks the worker to leave the race and finish by deadline_ms. */
void worker_request_stop(struct worker *w, int64_t deadline_ms);
void worker_join(struct worker *w);
/* Frees what worker_init allocated, except the wake eventfd, which peers may
 * still write to: a reused slot keeps it; worker_release closes it. */
void worker_destroy(struct worker *w);
void worker_release(struct worker *w);
/* Adds the time since busy_since_ns to the busy counter; call right before
 * waiting for events.  Returns now. */
uint64_t worker_busy_until_now(struct worker *w, uint64_t busy_since_ns);
uint64_t worker_clock_ns(void);

int64_t worker_monotonic_ms(void);
int64_t worker_realtime_sec(void);
/* Reads the wake eventfd empty; returns the sum of what was written.  A
 * function posted to the worker (core/app.c) writes WORKER_WAKE_POST, every
 * other waker 1, so the race can tell a post from a nudge. */
#define WORKER_WAKE_POST (UINT64_C(1) << 32)
uint64_t worker_clear_wake(struct worker *w);
/* The stop flag, checked once per loop turn: true exactly once, when the
 * worker must start draining. */
bool worker_stop_requested(struct worker *w);
/* Drain: closes idle connections once idle for a second (those idle longer
 * now); the rest follow through the timers. */
void worker_drain_idle(struct worker *w, void (*close_conn)(struct worker *, struct conn *));
/* Writes the access log's buffer when a second passed since the last time. */
void worker_tick_log(struct worker *w);
/* Once a second: the file cache follows the root's path and closes files
 * deleted or unused (file_cache_tick). */
void worker_tick_files(struct worker *w);

#endif
