/* A worker: one thread pinned to one CPU with its own epoll loop, racing the
 * other workers to accept from the shared listening socket and serving every
 * connection it wins to the end. */
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
};

struct handoff;
struct worker;

/* An event-loop backend: one per file (loop_epoll.c, loop_uring.c).  The
 * rest of herd only sees these three calls. */
struct loop_ops {
	const char *name;
	int (*init)(struct worker *w); /* 0, or -1 with errno set */
	void *(*run)(void *worker);    /* the thread body */
	void (*destroy)(struct worker *w);
};

extern const struct loop_ops loop_epoll_ops;
extern const struct loop_ops loop_uring_ops;

/* Whether this kernel lets us run the io_uring backend; when not, why. */
bool loop_uring_available(char *why, size_t len);

struct worker {
	/* Set by the supervisor before start, then read-only. */
	int id, cpu;
	enum herd_accept_mode mode;
	const struct loop_ops *ops;
	int listen_fd;            /* shared, or the worker's own (reuseport); -1: listener mode */
	struct handoff *handoff;  /* listener mode: fds from the acceptor thread */
	proto_feed_fn feed;
	bool optimistic_read; /* the listener defers accept until data arrived */
	struct worker_timeouts timeouts;
	uint64_t max_body;
	int root_fd;              /* --root (O_PATH), or -1 */
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
	int epfd;             /* epoll backend */
	uint32_t listen_events;
	void *backend;        /* backend-private state (io_uring) */
	bool draining, accept_paused, at_conn_limit, stepped_out, accept_more, in_race;
	int64_t now_ms, accept_resume_ms, log_slot;
	struct outbuf out;
	char *rbuf;
	uint32_t rbuf_cap;
	struct http_clock clock;
	struct file_cache *files; /* NULL without --root */
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
/* Reads the wake eventfd empty. */
void worker_clear_wake(struct worker *w);
/* The stop flag, checked once per loop turn: true exactly once, when the
 * worker must start draining. */
bool worker_stop_requested(struct worker *w);
/* The wait before the next deadline (timers, accept pause, drain, the Date
 * tick once a second); 0 when accepts are pending.  Both backends use it. */
int worker_next_timeout_ms(const struct worker *w);
/* Expires every connection whose deadline passed, with the backend's close. */
void worker_expire_timers(struct worker *w, void (*expire)(struct worker *, struct conn *));
/* Drain: closes idle connections once idle for a second (those idle longer
 * now), with the backend's close; the rest follow through the timers. */
void worker_drain_idle(struct worker *w, void (*close_conn)(struct worker *, struct conn *));
/* Whether a draining worker closes a connection that finished a response
 * (instead of waiting, as idle, for a next request to answer with close). */
bool worker_drain_closes(const struct worker *w, bool mid_request);
/* Balancing the race (both backends).  Connections over all workers of
 * this process divided by the running ones. */
#define WORKER_BALANCE_SLACK 8
long worker_fair_share(const struct worker *w);
/* Clearly more than the fair share: time to step out of the race. */
bool worker_over_share(const struct worker *w);
/* Connections already queued raise no new wake-up: whoever steps out hands
 * the race to the running peer holding the fewest connections.  false
 * when this process has none to hand it to. */
bool worker_nudge_least_loaded(struct worker *w);
/* Writes the access log's buffer when a second passed since the last time. */
void worker_tick_log(struct worker *w);

/* conn_epoll.c: the epoll side of a connection's life. */
/* fd's slot in *w->conns_open must already be reserved (--max-conns). */
void conn_open(struct worker *w, int fd);
void conn_on_event(struct worker *w, struct conn *c, uint32_t events);
void conn_close(struct worker *w, struct conn *c);
void conn_expire(struct worker *w, struct conn *c);
/* Drain: close idle connections, let the rest finish with Connection: close. */
void conn_begin_drain(struct worker *w);

#endif
