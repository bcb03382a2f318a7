/* A worker's lifecycle: buffers, pinning, start, stop, join.  Its loop is
 * core/loop.c. */
#include "core/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mech.h"
#include "core/engine_proxy.h"
#include "net/access_log.h"
#include "net/file_cache.h"
#include "net/http_upstream.h"

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
	w->timers[CONN_T_UP_CONNECT].timeout_ms = w->timeouts.up_connect_ms;
	w->timers[CONN_T_UP_READ].timeout_ms = w->timeouts.up_read_ms;
	w->timers[CONN_T_UP_IDLE].timeout_ms = w->timeouts.up_idle_ms;
	w->timers[CONN_T_APP].timeout_ms = w->timeouts.app_ms;
	/* The upstream's own timer always fires first. */
	w->timers[CONN_T_PROXIED].timeout_ms =
		w->timeouts.up_connect_ms + w->timeouts.up_read_ms + 1000;
	if (w->upstreams) {
		w->up_head.cap = HTTP_MAX_HEADER_BYTES + UPSTREAM_HEAD_EXTRA + 4096;
		if (!(w->up_head.p = malloc(w->up_head.cap))) {
			worker_destroy(w);
			errno = ENOMEM;
			return -1;
		}
	}
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
		if (w->root_path && file_cache_follow(w->files, w->root_path) < 0) {
			int e = errno;
			worker_destroy(w);
			errno = e;
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
	free(w->wire.p);
	free(w->plain.p);
	free(w->up_head.p);
	proxy_worker_free(w);
	w->up_head = (struct outbuf){0};
	w->rbuf = NULL;
	w->out.p = NULL;
	w->wire = (struct outbuf){0};
	w->plain = (struct outbuf){0};
	conn_pool_destroy(&w->pool);
}

void worker_tick_log(struct worker *w)
{
	if (w->log && w->log->len && w->now_ms >= w->log_flush_ms) {
		access_log_flush(w->log);
		w->log_flush_ms = w->now_ms + 1000;
	}
}

void worker_tick_files(struct worker *w)
{
	if (!w->files)
		return;
	file_cache_tick(w->files, w->clock.sec);
	int err = w->files->root.err;
	if (err != w->root_err) {
		if (err)
			herd_log("worker %d: cannot open --root %s (%s): still serving the "
				 "directory it named before",
				 w->id, w->root_path, strerror(err));
		else
			herd_log("worker %d: --root %s can be opened again", w->id, w->root_path);
		w->root_err = err;
	}
}

void worker_release(struct worker *w)
{
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->wake_fd = -1;
}

uint64_t worker_clear_wake(struct worker *w)
{
	uint64_t v, sum = 0;
	while (read(w->wake_fd, &v, sizeof(v)) > 0)
		sum += v;
	return sum;
}

bool worker_stop_requested(struct worker *w)
{
	if (w->draining || !atomic_load_explicit(&w->stop, memory_order_acquire))
		return false;
	w->draining = true;
	return true;
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
		rc = pthread_create(&w->thread, &attr, w->run, w);
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
