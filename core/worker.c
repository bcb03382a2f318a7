/* A worker's lifecycle (buffers, pinning, start, stop, join) and its loop:
 * one turn for every mechanism. */
#include "core/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/race.h"
#include "net/access_log.h"
#include "net/file_cache.h"

/* Open files a worker keeps (descriptors and, for small ones, bytes). */
#define FILE_CACHE_ENTRIES 1024

#define RBUF_SIZE (64 * 1024)
#define OUTBUF_SIZE (64 * 1024)

int64_t worker_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t worker_realtime_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

uint64_t worker_clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t worker_busy_until_now(struct worker *w, uint64_t busy_since_ns)
{
	uint64_t now = worker_clock_ns();
	CTR_ADD(w->ctr, busy_ns, now - busy_since_ns);
	return now;
}

int worker_init(struct worker *w)
{
	if (w->wake_fd < 0)
		w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->rbuf = malloc(RBUF_SIZE);
	w->out.p = malloc(OUTBUF_SIZE);
	if (w->wake_fd < 0 || !w->rbuf || !w->out.p) {
		int e = errno ? errno : ENOMEM;
		worker_destroy(w);
		errno = e;
		return -1;
	}
	w->rbuf_cap = RBUF_SIZE;
	w->out.cap = OUTBUF_SIZE;
	w->out.len = 0;
	w->timers[CONN_T_IDLE].timeout_ms = w->timeouts.idle_ms;
	w->timers[CONN_T_READ].timeout_ms = w->timeouts.read_ms;
	w->timers[CONN_T_WRITE].timeout_ms = w->timeouts.write_ms;
	w->timers[CONN_T_LINGER].timeout_ms = w->timeouts.linger_ms;
	atomic_store(&w->ctr->cpu, w->cpu);
	if (w->root_fd >= 0) {
		w->files = malloc(sizeof(*w->files));
		if (!w->files || file_cache_init(w->files, w->root_fd, FILE_CACHE_ENTRIES) < 0) {
			free(w->files);
			w->files = NULL;
			worker_destroy(w);
			errno = ENOMEM;
			return -1;
		}
	}
	if (w->log_fd >= 0) {
		w->log = malloc(sizeof(*w->log));
		if (!w->log || access_log_init(w->log, w->log_fd) < 0) {
			free(w->log);
			w->log = NULL;
			worker_destroy(w);
			errno = ENOMEM;
			return -1;
		}
	}
	if (w->mech->init(w) < 0) {
		int e = errno;
		worker_destroy(w);
		errno = e;
		return -1;
	}
	return 0;
}

void worker_destroy(struct worker *w)
{
	if (w->mech)
		w->mech->destroy(w);
	if (w->log) {
		access_log_destroy(w->log); /* writes what is left */
		free(w->log);
		w->log = NULL;
	}
	if (w->files) {
		file_cache_destroy(w->files);
		free(w->files);
		w->files = NULL;
	}
	free(w->rbuf);
	free(w->out.p);
	w->rbuf = NULL;
	w->out.p = NULL;
	conn_pool_destroy(&w->pool);
}

void worker_tick_log(struct worker *w)
{
	if (w->log && w->log->len && w->now_ms >= w->log_flush_ms) {
		access_log_flush(w->log);
		w->log_flush_ms = w->now_ms + 1000;
	}
}

void worker_release(struct worker *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->wake_fd = -1;
}

void worker_clear_wake(struct worker *w)
{
	uint64_t v;
	while (read(w->wake_fd, &v, sizeof(v)) > 0)
		;
}

bool worker_stop_requested(struct worker *w)
{
	if (w->draining || !atomic_load_explicit(&w->stop, memory_order_acquire))
		return false;
	w->draining = true;
	return true;
}

static void expire_timers(struct worker *w)
{
	for (int t = 0; t < CONN_T_COUNT; t++) {
		struct conn_list *l = &w->timers[t];
		while (l->head && l->head->deadline_ms <= w->now_ms)
			engine_expire(w, l->head);
	}
}

static void tick_clocks(struct worker *w)
{
	w->now_ms = worker_monotonic_ms();
	http_clock_tick(&w->clock, worker_realtime_sec());
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	const struct mech *m = w->mech;

	tick_clocks(w);
	if (m->start(w) < 0) {
		herd_log("worker %d: cannot start its %s loop: %s", w->id, m->name,
			 strerror(errno));
		atomic_store(&w->left_race, true);
		atomic_store_explicit(&w->finished, true, memory_order_release);
		return NULL;
	}
	race_start(w);
	for (;;) {
		if (m->wait(w, worker_next_timeout_ms(w)) < 0)
			break;
		tick_clocks(w);
		/* Before the events, so the answers they bring already say
		 * Connection: close; idle connections close only after them,
		 * since closing one mid-batch would leave a stale event (epoll)
		 * pointing at it. */
		bool drain_now = worker_stop_requested(w);
		if (drain_now)
			race_sync(w);
		m->dispatch(w);
		race_tick(w);
		if (drain_now)
			engine_begin_drain(w);
		expire_timers(w);
		worker_tick_log(w);
		if (w->draining &&
		    (w->nconns == 0 || w->now_ms >= atomic_load(&w->stop_deadline_ms)))
			break;
	}
	engine_close_all(w);
	race_close_all(w);
	w->exiting = true;
	race_sync(w);
	m->finish(w);
	atomic_store(&w->left_race, true);
	atomic_store_explicit(&w->finished, true, memory_order_release);
	return NULL;
}

int worker_start(struct worker *w)
{
	pthread_attr_t attr;
	cpu_set_t set;
	char name[16];
	int rc = pthread_attr_init(&attr);
	if (rc)
		return rc;
	/* Pinned before it runs a single instruction of the loop. */
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (rc == 0)
		rc = pthread_create(&w->thread, &attr, worker_run, w);
	pthread_attr_destroy(&attr);
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "herd-w%d", w->id);
	pthread_setname_np(w->thread, name);
	return 0;
}

void worker_request_stop(struct worker *w, int64_t deadline_ms)
{
	uint64_t one = 1;
	atomic_store(&w->stop_deadline_ms, deadline_ms);
	atomic_store(&w->stop, true);
	if (write(w->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		herd_log("worker %d: cannot wake: %s", w->id, strerror(errno));
}

void worker_join(struct worker *w)
{
	pthread_join(w->thread, NULL);
}

/* A client sends its next request the moment it has read the last
 * response, so an "idle" connection may have one on the wire right now, and
 * closing it then loses that request.  A draining worker therefore closes a
 * connection only once it has been idle this long; one that sends first is
 * answered with Connection: close. */
#define DRAIN_IDLE_MS 1000

void worker_drain_idle(struct worker *w, void (*close_conn)(struct worker *, struct conn *))
{
	struct conn_list *idle = &w->timers[CONN_T_IDLE];
	int64_t shorten = idle->timeout_ms - DRAIN_IDLE_MS;
	if (shorten <= 0)
		return; /* the keep-alive timeout is already that short */
	/* Every deadline moves by the same amount, and connections going idle
	 * from now on get the short timeout: the list stays sorted. */
	idle->timeout_ms = DRAIN_IDLE_MS;
	for (struct conn *c = idle->head; c; c = c->next)
		c->deadline_ms -= shorten;
	while (idle->head && idle->head->deadline_ms <= w->now_ms)
		close_conn(w, idle->head);
}

int worker_next_timeout_ms(const struct worker *w)
{
	int64_t next = w->now_ms + 1000; /* the Date header ticks once a second */
	for (int t = 0; t < CONN_T_COUNT; t++)
		if (w->timers[t].head && w->timers[t].head->deadline_ms < next)
			next = w->timers[t].head->deadline_ms;
	if (w->accept_paused && !w->draining && w->accept_resume_ms < next)
		next = w->accept_resume_ms;
	if (w->accept_more && w->in_race)
		return 0;
	if (w->draining) {
		int64_t dl = atomic_load(&w->stop_deadline_ms);
		if (dl < next)
			next = dl;
	}
	int64_t d = next - w->now_ms;
	/* Coarse clocks tick every few ms: never spin on a deadline just passed. */
	return d < 1 ? 1 : (int)d;
}
