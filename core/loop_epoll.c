/* The epoll backend.  Serves four accept strategies that differ only in how
 * connections reach the worker:
 *   exclusive  the shared listener in every epoll with EPOLLEXCLUSIVE
 *   herd       the shared listener in every epoll, every waiter woken
 *   reuseport  the worker's own SO_REUSEPORT listener
 *   listener   fds handed over by the acceptor thread through a queue */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"
#include "net/handoff.h"

#define MAX_EVENTS 256
/* Connections taken per wake-up before going back to epoll_wait: the rest of
 * the queue stays readable for the other workers. */
#define ACCEPT_BATCH 32
#define ACCEPT_PAUSE_MS 100
/* At --max-conns, how often a worker looks whether a slot freed up. */
#define CONN_LIMIT_RECHECK_MS 20
/* Connections a worker may hold over the average before it steps out. */

static int epoll_init(struct worker *w)
{
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->wake_fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
		return -1;
	if (w->mode == HERD_ACCEPT_LISTENER)
		return 0;
	/* EPOLLEXCLUSIVE: one arrival wakes one waiting worker, not all. */
	w->listen_events = EPOLLIN | (w->mode == HERD_ACCEPT_EXCLUSIVE ? EPOLLEXCLUSIVE : 0);
	ev = (struct epoll_event){.events = w->listen_events, .data.ptr = &w->listen_fd};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &ev) < 0)
		return -1;
	w->in_race = true;
	/* Balancing needs a shared queue to fall back on. */
	w->balance = w->balance && w->npeers > 1 &&
		     (w->mode == HERD_ACCEPT_EXCLUSIVE || w->mode == HERD_ACCEPT_HERD);
	w->stepped_out = false;
	return 0;
}

static void epoll_destroy(struct worker *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
	w->epfd = -1;
}

/* The listener is in this worker's epoll exactly when the worker races:
 * not draining, not paused after an accept error or at --max-conns, not
 * stepped out for holding more than its share. */
static void sync_race(struct worker *w)
{
	if (w->mode == HERD_ACCEPT_LISTENER)
		return;
	bool want = !w->draining && !w->accept_paused && !w->stepped_out;
	if (want == w->in_race)
		return;
	if (want) {
		struct epoll_event ev = {.events = w->listen_events, .data.ptr = &w->listen_fd};
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->listen_fd, &ev) < 0 && errno != EEXIST) {
			/* Retry on a later turn rather than drop out for good. */
			w->accept_paused = true;
			w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
			return;
		}
	} else {
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->listen_fd, NULL);
	}
	w->in_race = want;
}

static void leave_race(struct worker *w)
{
	sync_race(w); /* w->draining is set */
	atomic_store(&w->left_race, true);
}

static void pause_accept(struct worker *w, int err)
{
	/* The failed connection is still queued and the listener still
	 * readable: without stepping out, the loop would spin on it. */
	herd_log_ratelimited(&w->log_slot, "worker %d: accept failed: %s; pausing accepts %d ms",
			     w->id, strerror(err), ACCEPT_PAUSE_MS);
	w->accept_paused = true;
	w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
	sync_race(w);
}

static void try_resume(struct worker *w)
{
	if (w->at_conn_limit &&
	    atomic_load_explicit(w->conns_open, memory_order_relaxed) >= w->max_conns) {
		w->accept_resume_ms = w->now_ms + CONN_LIMIT_RECHECK_MS;
		return;
	}
	w->at_conn_limit = false;
	w->accept_paused = false;
	sync_race(w);
}

/* Reserves a slot against --max-conns before accepting, so two workers
 * cannot both take the last one; false (and out of the race for a moment)
 * at the limit. */
static bool reserve_conn(struct worker *w)
{
	if (atomic_fetch_add_explicit(w->conns_open, 1, memory_order_relaxed) < w->max_conns)
		return true;
	atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
	herd_log_ratelimited(&w->log_slot, "worker %d: at --max-conns %ld, not accepting",
			     w->id, w->max_conns);
	w->at_conn_limit = true;
	w->accept_paused = true;
	w->accept_resume_ms = w->now_ms + CONN_LIMIT_RECHECK_MS;
	sync_race(w);
	return false;
}

static void sweep(struct worker *w);

static void step_out(struct worker *w)
{
	w->stepped_out = true;
	CTR_ADD(w->ctr, step_outs, 1);
	sync_race(w);
	/* With no peer here to nudge (the others are in other processes),
	 * what was queued before we left is ours: later arrivals wake them. */
	if (!worker_nudge_least_loaded(w))
		sweep(w);
}

static void maybe_step_back(struct worker *w)
{
	if (w->nconns <= worker_fair_share(w) + WORKER_BALANCE_SLACK / 2) {
		w->stepped_out = false;
		sync_race(w);
	}
}

static void accept_batch(struct worker *w)
{
	w->accept_more = false;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (w->balance && worker_over_share(w)) {
			step_out(w);
			return;
		}
		if (!reserve_conn(w))
			return;
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			CTR_ADD(w->ctr, accepted, 1);
			conn_open(w, fd);
			continue;
		}
		atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
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
	/* Batch used up: the queue may hold more, and a nudged worker has no
	 * readiness event that would bring it back. */
	w->accept_more = true;
}

/* Out of the race: takes what the queue holds now, without the balance
 * check that took us out. */
static void sweep(struct worker *w)
{
	for (int i = 0; i < ACCEPT_BATCH && reserve_conn(w); i++) {
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
			return;
		}
		CTR_ADD(w->ctr, accepted, 1);
		conn_open(w, fd);
	}
}

/* Listener mode: connections the acceptor thread queued for us. */
static void take_handoffs(struct worker *w)
{
	int fd, n = 0;
	while (handoff_pop(w->handoff, &fd)) {
		n++;
		/* The acceptor reserved its slot against --max-conns. */
		CTR_ADD(w->ctr, accepted, 1);
		conn_open(w, fd);
	}
	if (n)
		CTR_ADD(w->ctr, wakeups, 1);
}

static void close_all(struct worker *w)
{
	int fd;
	for (int t = 0; t < CONN_T_COUNT; t++)
		while (w->timers[t].head)
			conn_close(w, w->timers[t].head);
	while (w->handoff && handoff_pop(w->handoff, &fd)) {
		close(fd);
		atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
	}
}

static void *epoll_run(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];

	w->now_ms = worker_monotonic_ms();
	http_clock_tick(&w->clock, worker_realtime_sec());
	uint64_t busy_since = worker_clock_ns();
	for (;;) {
		int timeout = worker_next_timeout_ms(w);
		worker_busy_until_now(w, busy_since); /* the busy fraction, for scaling */
		int n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
		busy_since = worker_clock_ns();
		if (n < 0 && errno != EINTR) {
			herd_log("worker %d: epoll_wait: %s", w->id, strerror(errno));
			break;
		}
		w->now_ms = worker_monotonic_ms();
		http_clock_tick(&w->clock, worker_realtime_sec());
		/* Before the batch, so its responses already say Connection:
		 * close; idle connections close only after it, since closing
		 * one mid-batch would leave a stale event pointing at it. */
		bool drain_now = worker_stop_requested(w);
		if (drain_now)
			leave_race(w);
		bool try_accept = w->accept_more && w->in_race;
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &w->listen_fd) {
				CTR_ADD(w->ctr, wakeups, 1);
				try_accept = w->in_race;
			} else if (tag == &w->wake_fd) {
				/* A stop request, a hand-off, or a peer's nudge. */
				worker_clear_wake(w);
				if (w->handoff)
					take_handoffs(w);
				else
					try_accept |= w->in_race;
			} else {
				conn_on_event(w, tag, evs[i].events);
			}
		}
		/* After the connections' events: accepting first would let new
		 * arrivals delay requests already waiting. */
		if (try_accept)
			accept_batch(w);
		if (drain_now)
			conn_begin_drain(w);
		worker_expire_timers(w, conn_expire);
		worker_tick_log(w);
		if (w->accept_paused && !w->draining && w->mode != HERD_ACCEPT_LISTENER &&
		    w->now_ms >= w->accept_resume_ms)
			try_resume(w);
		if (w->stepped_out && !w->draining)
			maybe_step_back(w);
		if (w->draining &&
		    (w->nconns == 0 || w->now_ms >= atomic_load(&w->stop_deadline_ms)))
			break;
	}
	close_all(w);
	leave_race(w);
	atomic_store_explicit(&w->finished, true, memory_order_release);
	return NULL;
}

const struct loop_ops loop_epoll_ops = {
	.name = "epoll",
	.init = epoll_init,
	.run = epoll_run,
	.destroy = epoll_destroy,
};
