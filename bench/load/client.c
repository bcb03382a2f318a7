/* The worker thread: event loop, request scheduling, timeouts. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "clock.h"
#include "tls.h"
#include "worker.h"

#define LOAD_MAX_EVENTS 256

/* How many of `want` requests the -n quota still allows. */
static unsigned can_issue(const struct load_worker *w, unsigned want)
{
	if (!w->limited)
		return want;
	uint64_t used = w->st.requests + w->inflight;
	if (used >= w->quota)
		return 0;
	uint64_t left = w->quota - used;
	return left < want ? (unsigned)left : want;
}

/* --rate: the intended send time of the oldest request this conn owes. */
static uint64_t owed_pop(struct load_worker *w, struct load_conn *c)
{
	uint64_t t = c->owed_t;
	c->owed--;
	c->owed_t = (uint64_t)((double)c->owed_t + w->conn_period_ns);
	return t;
}

void load_worker_settle(struct load_worker *w, uint64_t now)
{
	if (++w->settled < w->nconns)
		return;
	w->t_finish = now;
	if (w->cfg->mode == MODE_IDLE)
		w->hold_end = now + w->hold_ns;
}

/*
 * --conn-rate: a free slot takes the oldest connection due and opens it; the
 * first request's latency counts from when the connection was due, so a
 * server slow to accept shows in it.
 */
static void conn_rate_kick(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	if (c->state == C_WAIT && c->sent >= w->cfg->reqs_per_conn) {
		load_conn_drop(w, c); /* the server kept it open after our close */
		c->state = C_DOWN;
		c->deadline = now;
	}
	if (c->state == C_DOWN) {
		if (now < c->deadline || w->cr_owed == 0)
			return;
		c->t_due = w->cr_owed_t;
		w->cr_owed--;
		w->cr_owed_t = (uint64_t)((double)w->cr_owed_t + w->period_ns);
		load_conn_open(w, c, now);
		return;
	}
	if (c->state == C_WAIT)
		load_conn_send(w, c, 1, c->sent ? now : c->t_due, now);
}

/* --conn-rate: connections fall due on schedule; free slots take them. */
static void conn_schedule(struct load_worker *w, uint64_t now)
{
	while (!w->stopping && w->sched_next <= now) {
		if (w->cr_owed == 0)
			w->cr_owed_t = w->sched_next;
		w->cr_owed++;
		w->sched_k++;
		w->sched_next = w->t_start + (uint64_t)(w->rate_offset_ns +
							(double)w->sched_k * w->period_ns);
	}
	for (unsigned n = 0; w->cr_owed && n < w->nconns; n++) {
		struct load_conn *c = &w->conns[w->sched_i];
		if (++w->sched_i == w->nconns)
			w->sched_i = 0;
		if (c->state == C_DOWN)
			conn_rate_kick(w, c, now);
	}
}

void load_worker_kick(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	if (w->stopping)
		return;
	bool rate = w->rate > 0;
	switch (w->cfg->mode) {
	case MODE_STORM:
	case MODE_IDLE:
		if (c->state == C_WAIT)
			load_conn_send(w, c, 1, now, now);
		return;
	case MODE_CLOSE:
		if (c->state == C_WAIT) {
			load_conn_send(w, c, 1, rate && c->owed ? owed_pop(w, c) : now, now);
			return;
		}
		if (c->state != C_DOWN || now < c->deadline)
			return;
		if (rate ? c->owed == 0 : can_issue(w, 1) == 0)
			return;
		/* reserve the request now so -n cannot be overshot while connecting */
		c->inflight = 1;
		w->inflight++;
		load_conn_open(w, c, now);
		return;
	case MODE_KEEPALIVE:
		if (w->conn_rate > 0) {
			conn_rate_kick(w, c, now);
			return;
		}
		if (c->state == C_DOWN) {
			if (now >= c->deadline && can_issue(w, 1))
				load_conn_open(w, c, now);
			return;
		}
		if (c->state != C_WAIT)
			return;
		if (rate) {
			if (c->owed && can_issue(w, 1))
				load_conn_send(w, c, 1, owed_pop(w, c), now);
			return;
		}
		unsigned k = can_issue(w, w->cfg->pipeline);
		if (k)
			load_conn_send(w, c, k, now, now);
		return;
	}
}

/* --rate: hand every due send slot to the next connection, round robin. */
static void schedule(struct load_worker *w, uint64_t now)
{
	while (!w->stopping && w->sched_next <= now) {
		struct load_conn *c = &w->conns[w->sched_i];
		if (++w->sched_i == w->nconns)
			w->sched_i = 0;
		if (c->owed == 0)
			c->owed_t = w->sched_next;
		c->owed++;
		w->sched_k++;
		w->sched_next = w->t_start + (uint64_t)(w->rate_offset_ns +
							(double)w->sched_k * w->period_ns);
		if (c->state == C_WAIT || c->state == C_DOWN)
			load_worker_kick(w, c, now);
	}
}

static void scan(struct load_worker *w, uint64_t now)
{
	for (unsigned i = 0; i < w->nconns; i++) {
		struct load_conn *c = &w->conns[i];
		switch (c->state) {
		case C_CONNECTING:
		case C_HANDSHAKE:
			if (now >= c->deadline)
				load_conn_fail(w, c, ERR_CONNECT_TIMEOUT, now);
			break;
		case C_BUSY:
			if (now >= c->deadline)
				load_conn_fail(w, c, ERR_TIMEOUT, now);
			break;
		case C_DOWN:
			if (now >= c->deadline)
				load_worker_kick(w, c, now);
			break;
		case C_CLOSING:
			/* said it would close but did not: not a failed request */
			if (now >= c->deadline) {
				load_conn_drop(w, c);
				c->state = C_DOWN;
				c->deadline = now;
				load_worker_kick(w, c, now);
			}
			break;
		default:
			break;
		}
	}
}

static bool finished(struct load_worker *w, uint64_t now)
{
	if (w->limited && w->st.requests >= w->quota) {
		w->t_finish = w->t_last;
		return true;
	}
	if (w->cfg->mode == MODE_STORM)
		return w->settled == w->nconns;
	if (w->cfg->mode == MODE_IDLE && w->settled == w->nconns && now >= w->hold_end) {
		w->t_finish = now;
		return true;
	}
	if (now >= w->t_end) {
		w->t_finish = w->t_end;
		return true;
	}
	return false;
}

static int setup(struct load_worker *w)
{
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		int e = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (e) {
			snprintf(w->setup_error, sizeof(w->setup_error),
				 "cannot pin thread %u to CPU %d: %s", w->id, w->cpu, strerror(e));
			return -1;
		}
	}
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	w->conns = calloc(w->nconns ? w->nconns : 1, sizeof(*w->conns));
	w->rbuf = malloc(RESP_MAX_HEADER + LOAD_RBUF_SIZE);
	if (w->ep < 0 || !w->conns || !w->rbuf) {
		snprintf(w->setup_error, sizeof(w->setup_error), "thread %u: %s", w->id,
			 w->ep < 0 ? strerror(errno) : "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < w->nconns; i++) {
		w->conns[i].fd = -1;
		w->conns[i].state = C_DOWN;
		resp_init(&w->conns[i].rp);
	}
	/* a request bigger than one segment must not wait for a delayed ACK */
	w->nodelay = w->rq->max_batch > 1024 || w->cfg->mode != MODE_CLOSE;
	/* TLS writes its Finished and then the request: the second small
	 * segment must not wait for the ACK of the first */
	w->nodelay |= w->tls != NULL;
	if (w->rate > 0) {
		w->period_ns = 1e9 / w->rate;
		w->conn_period_ns = w->period_ns * w->nconns;
		w->sched_next = w->t_start + (uint64_t)w->rate_offset_ns;
	}
	if (w->conn_rate > 0) {
		w->period_ns = 1e9 / w->conn_rate;
		w->sched_next = w->t_start + (uint64_t)w->rate_offset_ns;
	}
	w->rng = 0x9e3779b97f4a7c15ULL * (w->id + 1);
	return 0;
}

static void teardown(struct load_worker *w)
{
	if (w->conns) {
		for (unsigned i = 0; i < w->nconns; i++) {
			struct load_conn *c = &w->conns[i];
			if (c->state == C_HOLD)
				w->st.held++;
			load_tls_end(c, false);
			if (c->fd >= 0)
				close(c->fd);
			free(c->carry);
		}
	}
	load_tls_worker_end(w);
	free(w->conns);
	free(w->rbuf);
	if (w->ep >= 0)
		close(w->ep);
	w->conns = NULL;
	w->rbuf = NULL;
	w->ep = -1;
}

static int wait_events(struct load_worker *w, struct epoll_event *evs, uint64_t now, uint64_t wake)
{
	uint64_t d = wake > now ? wake - now : 0;
	struct timespec ts = { .tv_sec = (time_t)(d / NS_PER_SEC),
			       .tv_nsec = (long)(d % NS_PER_SEC) };
	int n = epoll_pwait2(w->ep, evs, LOAD_MAX_EVENTS, &ts, NULL);
	if (n < 0 && errno == ENOSYS) /* kernels before 5.11: ms resolution */
		n = epoll_wait(w->ep, evs, LOAD_MAX_EVENTS, (int)((d + NS_PER_MS - 1) / NS_PER_MS));
	return n;
}

void *load_worker_main(void *arg)
{
	struct load_worker *w = arg;
	struct epoll_event evs[LOAD_MAX_EVENTS];

	pthread_mutex_lock(&w->lock);
	if (setup(w) < 0) {
		teardown(w);
		w->t_finish = now_ns();
		pthread_mutex_unlock(&w->lock);
		atomic_store(&w->done, true);
		return NULL;
	}
	uint64_t now = now_ns();
	if (w->limited && w->quota == 0)
		w->stopping = true;
	/* --rate --close and --conn-rate connect on schedule; everything else
	 * opens up front */
	for (unsigned i = 0; i < w->nconns && !w->stopping; i++) {
		struct load_conn *c = &w->conns[i];
		if (w->cfg->mode == MODE_CLOSE || w->conn_rate > 0)
			load_worker_kick(w, c, now);
		else
			load_conn_open(w, c, now);
	}
	uint64_t next_scan = now + SCAN_NS;
	bool fin = finished(w, now);
	pthread_mutex_unlock(&w->lock);

	while (!fin) {
		if (atomic_load_explicit(w->stop, memory_order_relaxed)) {
			w->t_finish = now < w->t_end ? now : w->t_end;
			break;
		}
		uint64_t wake = next_scan;
		if (w->t_end < wake)
			wake = w->t_end;
		if ((w->rate > 0 || w->conn_rate > 0) && w->sched_next < wake)
			wake = w->sched_next;
		if (w->hold_end && w->hold_end < wake)
			wake = w->hold_end;
		int n = wait_events(w, evs, now, wake);
		if (n < 0 && errno != EINTR) {
			snprintf(w->setup_error, sizeof(w->setup_error), "epoll_wait: %s",
				 strerror(errno));
			break;
		}
		pthread_mutex_lock(&w->lock);
		for (int i = 0; i < n; i++)
			load_conn_event(w, evs[i].data.ptr, evs[i].events);
		now = now_ns();
		if (w->rate > 0)
			schedule(w, now);
		else if (w->conn_rate > 0 && (w->sched_next <= now || w->cr_owed))
			conn_schedule(w, now);
		if (now >= next_scan) {
			scan(w, now);
			next_scan = now + SCAN_NS;
		}
		fin = finished(w, now);
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_lock(&w->lock);
	teardown(w);
	pthread_mutex_unlock(&w->lock);
	atomic_store(&w->done, true);
	return NULL;
}
