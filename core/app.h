/* The engine's side of application routes (libherd): answers deferred by
 * their handler, functions posted to a worker from any thread, per-worker
 * start and stop hooks, and a handler's body that leaves after its head.
 * The routes themselves and the response's bytes are net/http_app.c's. */
#ifndef HERD_APP_H
#define HERD_APP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "net/herd.h"

struct worker;
struct conn;
struct app_table;
struct herd_response;

struct app_post {
	void (*fn)(void *arg);
	void *arg;
	struct app_post *next;
};

/* One per worker slot, shared by every thread that posts to it. */
struct app_slot {
	pthread_mutex_t mu;
	struct app_post *head, *tail;
	_Atomic bool pending; /* something is queued: the worker looks once per turn */
	bool open;            /* a worker runs in the slot and takes posts */
	int wake_fd;
};

/* One process's application: read-only while workers run, except the
 * slots. */
struct app_runtime {
	const struct app_table *table;
	struct herd *server;
	herd_worker_start start;
	herd_worker_stop stop;
	void *user;
	int nslots;
	struct app_slot *slots;
};

/* 0, or -1 (no memory). */
int app_runtime_init(struct app_runtime *rt, int nslots);
void app_runtime_destroy(struct app_runtime *rt);
/* From any thread: herd_post(). */
int app_post(struct app_runtime *rt, int worker, void (*fn)(void *arg), void *arg);

/* The worker's thread, before it serves and after its last connection
 * closed (runs what is still posted, then the stop hook).  begin: 0 or -1
 * (no memory). */
int app_worker_begin(struct worker *w);
void app_worker_end(struct worker *w);
/* Once per loop turn, with no connection's turn under way: runs what was
 * posted, then sends the deferred answers completed since. */
void app_worker_turn(struct worker *w);
void app_run_ready(struct worker *w);

#endif
