/* Accepting on an io_uring worker.  While the worker races, an accept on
 * the shared listener is armed in its ring; out of the race (draining,
 * paused after an accept error or at --max-conns, stepped out for holding
 * over its share) that accept is cancelled.  The rules are the epoll
 * backend's (loop_epoll.c); only the mechanism differs.
 *
 * Normally the accept is multishot: one request for any number of
 * connections.  It takes a whole burst before the worker sees any of it,
 * though, so near --max-conns the worker arms single accepts instead, each
 * holding a slot of the limit from arming to completion: the workers
 * together never hold more connections than the limit, and whoever does
 * not get in waits in the listen queue, as with epoll. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uring.h"

#define ACCEPT_PAUSE_MS 100
/* At --max-conns, how often a worker looks whether a slot freed up. */
#define CONN_LIMIT_RECHECK_MS 20
/* Connections a worker may hold over the average before it steps out. */
/* Accepts per turn when a peer handed us the race (see uaccept_tick). */
#define ACCEPT_BATCH 32
/* Closer than this to --max-conns, accepts are single and hold a slot. */
#define ACCEPT_HEADROOM 128
/* How often a busy worker looks whether RLIMIT_NOFILE changed (see
 * check_nofile()). */
#define NOFILE_RECHECK_MS 10

static long conns_open(const struct worker *w)
{
	return atomic_load_explicit(w->conns_open, memory_order_relaxed);
}

static bool reserve_slot(struct worker *w)
{
	long n = conns_open(w);
	do {
		if (n >= w->max_conns)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(w->conns_open, &n, n + 1,
							memory_order_relaxed, memory_order_relaxed));
	return true;
}

static void release_slot(struct worker *w)
{
	atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
}

static void at_conn_limit(struct worker *w)
{
	herd_log_ratelimited(&w->log_slot, "worker %d: at --max-conns %ld, not accepting", w->id,
			     w->max_conns);
	w->at_conn_limit = true;
	w->accept_paused = true;
	w->accept_resume_ms = w->now_ms + CONN_LIMIT_RECHECK_MS;
}

static rlim_t nofile_now(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : RLIM_INFINITY;
}

static void arm(struct worker *w)
{
	struct uring_state *st = w->backend;
	bool single = w->max_conns - conns_open(w) <= ACCEPT_HEADROOM;
	if (single && !reserve_slot(w)) {
		at_conn_limit(w);
		return;
	}
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe) {
		if (single)
			release_slot(w);
		w->accept_paused = true;
		w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
		return;
	}
	if (single)
		io_uring_prep_accept(sqe, w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		io_uring_prep_multishot_accept(sqe, w->listen_fd, NULL, NULL,
					       SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
	st->accept_armed = true;
	st->accept_single = single;
	st->armed_nofile = nofile_now();
}

void uaccept_sync(struct worker *w)
{
	struct uring_state *st = w->backend;
	bool want = !w->draining && !w->accept_paused && !w->stepped_out && !st->exiting;
	if (want && !st->accept_armed)
		arm(w);
	else if (!want && st->accept_armed && !st->accept_cancelling)
		st->accept_cancelling = uring_cancel(w, UD_ACCEPT);
	w->in_race = want && st->accept_armed && !w->accept_paused;
	/* Only once the accept's last CQE arrived can no connection land here
	 * any more: then the supervisor may close the listener. */
	if (w->draining && !st->accept_armed)
		atomic_store(&w->left_race, true);
}

static void pause_accept(struct worker *w, int err)
{
	/* The failed connection is still queued: accepting again at once
	 * would fail the same way on every turn. */
	herd_log_ratelimited(&w->log_slot, "worker %d: accept failed: %s; pausing accepts %d ms",
			     w->id, strerror(err), ACCEPT_PAUSE_MS);
	w->accept_paused = true;
	w->accept_resume_ms = w->now_ms + ACCEPT_PAUSE_MS;
}

/* A connection the kernel accepted for this worker; `reserved` when it
 * fills a slot its accept held. */
static void take(struct worker *w, int fd, bool reserved)
{
	struct uring_state *st = w->backend;
	if (st->exiting) {
		close(fd);
		if (reserved)
			release_slot(w);
		return;
	}
	/* Only a multishot burst bigger than the headroom, or a nudged
	 * accept4() racing another worker, gets here over the limit: that
	 * excess is closed, as in listener mode. */
	if (!reserved && conns_open(w) >= w->max_conns) {
		close(fd);
		at_conn_limit(w);
		return;
	}
	CTR_ADD(w->ctr, accepted, 1);
	st->took_conns = true;
	uconn_open(w, fd, reserved);
	if (conns_open(w) >= w->max_conns) {
		at_conn_limit(w);
	} else if (w->balance && !w->stepped_out && worker_over_share(w)) {
		w->stepped_out = true;
		CTR_ADD(w->ctr, step_outs, 1);
		worker_nudge_least_loaded(w); /* else the cancel's sweep takes the queue */
	} else if (st->accept_armed && !st->accept_single && !st->accept_cancelling &&
		   w->max_conns - conns_open(w) <= ACCEPT_HEADROOM) {
		st->accept_cancelling = uring_cancel(w, UD_ACCEPT); /* re-armed single */
	}
}

/* Takes what the queue holds now, in or out of the race (see below). */
static void sweep(struct worker *w)
{
	for (int i = 0; i < ACCEPT_BATCH && conns_open(w) < w->max_conns; i++) {
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		take(w, fd, false);
	}
}

void uaccept_on_cqe(struct worker *w, const struct io_uring_cqe *cqe)
{
	struct uring_state *st = w->backend;
	int res = cqe->res;
	bool reserved = false, final = !(cqe->flags & IORING_CQE_F_MORE);
	bool cancelled = final && st->accept_cancelling;
	if (final) {
		reserved = st->accept_single;
		st->accept_armed = st->accept_single = st->accept_cancelling = false;
	}
	if (res >= 0) {
		take(w, res, reserved);
	} else {
		if (reserved)
			release_slot(w);
		switch (-res) {
		case EAGAIN:
			CTR_ADD(w->ctr, lost_races, 1);
			break;
		case ECANCELED: /* ours: out of the race */
		case EINTR:
		case ECONNABORTED: /* reset while queued */
			break;
		default: /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse */
			CTR_ADD(w->ctr, errors[HERD_ERR_ACCEPT], 1);
			pause_accept(w, -res);
			break;
		}
	}
	uaccept_sync(w);
	/* An armed accept waits on the listener exclusively: a wake-up that
	 * reached it while it was being cancelled is gone with it, and the
	 * connection it announced would sit in the queue until the next
	 * arrival (for good, when clients wait for it).  So the queue is
	 * looked at once: by the re-armed accept's worker, or, leaving the
	 * race (draining, stepped out), by this worker itself. */
	if ((cancelled || (final && res == -ECANCELED)) && !st->exiting) {
		if (w->in_race)
			w->accept_more = true;
		else if (!w->accept_paused)
			sweep(w);
	}
}

void uaccept_nudged(struct worker *w)
{
	if (w->in_race)
		w->accept_more = true;
}

/* A nudge means connections may sit in the queue with no wake-up left to
 * report them to the armed accept: take them with accept4() directly. */
static void accept_batch(struct worker *w)
{
	w->accept_more = false;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		if (!w->in_race)
			return;
		if (conns_open(w) >= w->max_conns) {
			at_conn_limit(w);
			uaccept_sync(w);
			return;
		}
		int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			take(w, fd, false);
			uaccept_sync(w);
			continue;
		}
		switch (errno) {
		case EAGAIN:
			if (i == 0)
				CTR_ADD(w->ctr, lost_races, 1);
			return;
		case EINTR:
		case ECONNABORTED:
			continue;
		default:
			CTR_ADD(w->ctr, errors[HERD_ERR_ACCEPT], 1);
			pause_accept(w, errno);
			uaccept_sync(w);
			return;
		}
	}
	/* Batch used up: the queue may hold more. */
	w->accept_more = true;
}

/* Unlike an epoll waiter, an armed accept takes the wake-up whether or not
 * its worker is free to run, and it keeps its place at the head of the
 * listener's queue.  Re-arming after each turn that took connections puts
 * it at the tail: bursts go round the workers instead of piling up on the
 * first one, which matters most when workers share a CPU. */
static void requeue(struct worker *w)
{
	struct uring_state *st = w->backend;
	if (st->took_conns &&
	    (w->foreign_racers || atomic_load_explicit(w->nlive, memory_order_relaxed) > 1) &&
	    w->in_race && !st->accept_single && !st->accept_cancelling)
		st->accept_cancelling = uring_cancel(w, UD_ACCEPT);
	st->took_conns = false;
}

/* The kernel reads RLIMIT_NOFILE when an accept is armed, so a multishot
 * accept would go on allocating descriptors under a limit lowered since
 * (prlimit on a running server): re-armed, it takes the new one. */
static void check_nofile(struct worker *w)
{
	struct uring_state *st = w->backend;
	if (w->now_ms - st->nofile_check_ms < NOFILE_RECHECK_MS)
		return;
	st->nofile_check_ms = w->now_ms;
	if (st->accept_armed && !st->accept_single && !st->accept_cancelling &&
	    nofile_now() != st->armed_nofile)
		st->accept_cancelling = uring_cancel(w, UD_ACCEPT);
}

void uaccept_tick(struct worker *w)
{
	if (w->accept_more && w->in_race)
		accept_batch(w);
	requeue(w);
	check_nofile(w);
	if (w->draining)
		return;
	if (w->accept_paused && w->now_ms >= w->accept_resume_ms) {
		if (w->at_conn_limit && conns_open(w) >= w->max_conns) {
			w->accept_resume_ms = w->now_ms + CONN_LIMIT_RECHECK_MS;
		} else {
			w->at_conn_limit = false;
			w->accept_paused = false;
		}
	}
	if (w->stepped_out && w->nconns <= worker_fair_share(w) + WORKER_BALANCE_SLACK / 2)
		w->stepped_out = false;
	uaccept_sync(w);
}
