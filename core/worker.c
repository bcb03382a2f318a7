#include "core/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define MAX_EVENTS 256
/* Connections taken per wake-up before going back to epoll_wait: the rest of
 * the queue stays readable for the other workers. */
#define ACCEPT_BATCH 32
#define ACCEPT_PAUSE_MS 100
#define RBUF_SIZE (64 * 1024)
#define OUTBUF_SIZE (64 * 1024)

int64_t worker_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t realtime_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (int64_t)ts.tv_sec;
}

int worker_init(struct worker *w)
{
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->rbuf = malloc(RBUF_SIZE);
	w->out.p = malloc(OUTBUF_SIZE);
	if (w->epfd < 0 || w->wake_fd < 0 || !w->rbuf || !w->out.p) {
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

	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->wake_fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
		goto fail;
	/* EPOLLEXCLUSIVE: one arrival wakes one waiting worker, not all. */
	ev = (struct epoll_event){.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->listen_fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &ev) < 0)
		goto fail;
	return 0;
fail:;
	int e = errno;
	worker_destroy(w);
	errno = e;
	return -1;
}

void worker_destroy(struct worker *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->wake_fd >= 0)
		close(w->wake_fd);
	w->epfd = w->wake_fd = -1;
	free(w->rbuf);
	free(w->out.p);
	w->rbuf = NULL;
	w->out.p = NULL;
	conn_pool_destroy(&w->pool);
}

static void leave_race(struct worker *w)
{
	if (!w->accept_paused)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	w->accept_paused = true;
	atomic_store(&w->left_race, true);
}

static void pause_accept(struct worker *w, int err)
{
	/* The failed connection is still queued and the listener still
	 * readable: without stepping out, the loop would spin on it. */
	herd_log_ratelimited(&w->log_slot, "worker %d: accept failed: %s; pausing accepts %d ms",
			     w->id, strerror(err), ACCEPT_PAUSE_MS);
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	w->accept_paused = true;
	w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
}

static void resume_accept(struct worker *w)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->listen_fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &ev) == 0 || errno == EEXIST)
		w->accept_paused = false;
	else
		w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
}

static void accept_batch(struct worker *w)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			CTR_ADD(w->ctr, accepted, 1);
			conn_open(w, fd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			if (i == 0)
				CTR_ADD(w->ctr, lost_races, 1);
			return;
		case EINTR:
		case ECONNABORTED: /* reset while queued: take the next one */
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			CTR_ADD(w->ctr, errors[HERD_ERR_ACCEPT], 1);
			pause_accept(w, errno);
			return;
		default:
			CTR_ADD(w->ctr, errors[HERD_ERR_ACCEPT], 1);
			herd_log_ratelimited(&w->log_slot, "worker %d: accept: %s", w->id,
					     strerror(errno));
			return;
		}
	}
}

static void expire_timers(struct worker *w)
{
	for (int t = 0; t < CONN_T_COUNT; t++) {
		struct conn_list *l = &w->timers[t];
		while (l->head && l->head->deadline_ms <= w->now_ms)
			conn_expire(w, l->head);
	}
}

static int next_timeout_ms(const struct worker *w)
{
	int64_t next = w->now_ms + 1000; /* the Date header ticks once a second */
	for (int t = 0; t < CONN_T_COUNT; t++)
		if (w->timers[t].head && w->timers[t].head->deadline_ms < next)
			next = w->timers[t].head->deadline_ms;
	if (w->accept_paused && !w->draining && w->accept_resume_ms < next)
		next = w->accept_resume_ms;
	if (w->draining) {
		int64_t dl = atomic_load(&w->stop_deadline_ms);
		if (dl < next)
			next = dl;
	}
	int64_t d = next - w->now_ms;
	/* Coarse clocks tick every few ms: never spin on a deadline just passed. */
	return d < 1 ? 1 : (int)d;
}

static void on_wake(struct worker *w)
{
	uint64_t v;
	while (read(w->wake_fd, &v, sizeof(v)) > 0)
		;
}

/* Checked before a batch is handled, so the batch's responses already say
 * Connection: close; idle connections are closed only after the batch,
 * since closing one mid-batch would leave a stale event pointing at it. */
static bool stop_requested(struct worker *w)
{
	if (w->draining || !atomic_load_explicit(&w->stop, memory_order_acquire))
		return false;
	w->draining = true;
	leave_race(w);
	return true;
}

static void close_all(struct worker *w)
{
	for (int t = 0; t < CONN_T_COUNT; t++)
		while (w->timers[t].head)
			conn_close(w, w->timers[t].head);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];

	w->now_ms = worker_monotonic_ms();
	http_clock_tick(&w->clock, realtime_sec());
	for (;;) {
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS, next_timeout_ms(w));
		if (n < 0 && errno != EINTR) {
			herd_log("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		w->now_ms = worker_monotonic_ms();
		http_clock_tick(&w->clock, realtime_sec());
		bool drain_now = stop_requested(w);
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &w->listen_fd) {
				CTR_ADD(w->ctr, wakeups, 1);
				if (!w->accept_paused && !w->draining)
					accept_batch(w);
			} else if (tag == &w->wake_fd) {
				on_wake(w);
			} else {
				conn_on_event(w, tag, evs[i].events);
			}
		}
		if (drain_now)
			conn_begin_drain(w);
		expire_timers(w);
		if (w->accept_paused && !w->draining && w->now_ms >= w->accept_resume_ms)
			resume_accept(w);
		if (w->draining &&
		    (w->nconns == 0 || w->now_ms >= atomic_load(&w->stop_deadline_ms)))
			break;
	}
	close_all(w);
	leave_race(w);
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
		rc = pthread_create(&w->thread, &attr, worker_main, w);
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
