/* A worker: one thread pinned to one CPU with its own epoll loop, racing the
 * other workers to accept from the shared listening socket and serving every
 * connection it wins to the end. */
#ifndef HERD_WORKER_H
#define HERD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/conn.h"
#include "core/counters.h"
#include "net/http_response.h"
#include "net/proto.h"

struct worker_timeouts {
	int64_t idle_ms, read_ms, write_ms, linger_ms;
};

struct worker {
	/* Set by the supervisor before start, then read-only. */
	int id, cpu;
	int listen_fd;
	proto_feed_fn feed;
	bool optimistic_read; /* the listener defers accept until data arrived */
	struct worker_timeouts timeouts;
	struct worker_counters *ctr;

	/* Supervisor -> worker. */
	_Atomic bool stop;
	_Atomic int64_t stop_deadline_ms; /* CLOCK_MONOTONIC; close the rest then */
	/* Worker -> supervisor: the listener is no longer in this epoll. */
	_Atomic bool left_race;

	/* Owned by the worker thread. */
	pthread_t thread;
	int epfd, wake_fd;
	bool draining, accept_paused;
	int64_t now_ms, accept_resume_ms, log_slot;
	struct outbuf out;
	char *rbuf;
	uint32_t rbuf_cap;
	struct http_clock clock;
	struct conn_pool pool;
	struct conn_list timers[CONN_T_COUNT];
	int nconns;
};

/* Allocates the worker's loop resources (epoll, eventfd, buffers).  0, or
 * -1 with errno set. */
int worker_init(struct worker *w);
/* Starts the thread and pins it to w->cpu.  0 or an errno value. */
int worker_start(struct worker *w);
/* Asks the worker to leave the race and finish by deadline_ms. */
void worker_request_stop(struct worker *w, int64_t deadline_ms);
void worker_join(struct worker *w);
void worker_destroy(struct worker *w);

int64_t worker_monotonic_ms(void);

/* conn_io.c: the epoll side of a connection's life. */
void conn_open(struct worker *w, int fd);
void conn_on_event(struct worker *w, struct conn *c, uint32_t events);
void conn_close(struct worker *w, struct conn *c);
void conn_expire(struct worker *w, struct conn *c);
/* Drain: close idle connections, let the rest finish with Connection: close. */
void conn_begin_drain(struct worker *w);

#endif
