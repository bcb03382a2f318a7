/* The accepts an io_uring worker arms for the race (core/race.c has the
 * rules).  While the worker races, an accept on every shared listener is
 * armed in its ring (user_data UD_ACCEPT + the listener's index); out of
 * the race they are all cancelled.
 *
 * Normally the accept is multishot: one request for any number of
 * connections.  It takes a whole burst before the worker sees any of it,
 * though, so near --max-conns the worker arms single accepts instead, each
 * holding a slot of the limit from arming to completion: the workers
 * together never hold more connections than the limit, and whoever does
 * not get in waits in the listen queue, as with epoll. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "core/mech_uring.h"
#include "core/race.h"

/* Closer than this to --max-conns, accepts are single and hold a slot. */
#define ACCEPT_HEADROOM 128
/* How often a busy worker looks whether RLIMIT_NOFILE changed (see
 * check_nofile()). */
#define NOFILE_RECHECK_MS 10

static rlim_t nofile_now(void)
{
	struct rlimit rl;
	return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : RLIM_INFINITY;
}

static bool near_limit(const struct worker *w)
{
	return w->max_conns - race_conns_open(w) <= ACCEPT_HEADROOM;
}

/* Single accepts near --max-conns, and whenever other processes race on the
 * listener: a multishot accept takes a whole burst into this process before
 * the worker sees any of it, so the burst is neither balanced (the
 * step-out rule runs after each connection) nor safe (a handler killed
 * then takes the burst with it).  A single accept holds at most one. */
static bool want_single(const struct worker *w)
{
	return near_limit(w) || w->foreign_racers;
}

static void arm(struct worker *w, int li)
{
	struct uring_state *st = w->io;
	struct uring_accept *a = &st->acc[li];
	int fd = w->listeners[li].fd;
	bool single = want_single(w);
	if (single && !race_reserve(w)) {
		race_hold(w, w->now_ms + RACE_LIMIT_RECHECK_MS, true);
		return;
	}
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe) {
		if (single)
			race_release(w);
		race_hold(w, w->now_ms + RACE_PAUSE_MS, false);
		return;
	}
	if (single)
		io_uring_prep_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT + (unsigned)li);
	a->armed = true;
	a->single = single;
	a->armed_nofile = nofile_now();
}

static void cancel(struct worker *w, int li)
{
	struct uring_state *st = w->io;
	struct uring_accept *a = &st->acc[li];
	if (a->armed && !a->cancelling)
		a->cancelling = uring_cancel(w, UD_ACCEPT + (unsigned)li);
}

bool uaccept_any_armed(const struct worker *w)
{
	const struct uring_state *st = w->io;
	for (int li = 0; li < w->nlisten; li++)
		if (st->acc[li].armed)
			return true;
	return false;
}

void uaccept_release_single(struct worker *w)
{
	struct uring_state *st = w->io;
	for (int li = 0; li < w->nlisten; li++)
		if (st->acc[li].armed && st->acc[li].single)
			race_release(w);
}

bool uaccept_race_set(struct worker *w, bool want)
{
	struct uring_state *st = w->io;
	bool cancelling = false;
	for (int li = 0; li < w->nlisten; li++) {
		/* An arm that could not hold a slot or an SQE paused the race:
		 * the rest wait for it to resume. */
		if (want && !st->acc[li].armed && !w->accept_paused)
			arm(w, li);
		else if (!want)
			cancel(w, li);
		cancelling |= st->acc[li].cancelling;
	}
	/* Submitted now rather than with the turn's batch: the supervisor
	 * is waiting for left_race. */
	if (w->draining && cancelling && !w->exiting)
		io_uring_submit(&st->ring);
	/* Only once every accept's last CQE arrived can no connection land here. */
	w->watching_listener = uaccept_any_armed(w);
	return want && w->watching_listener && !w->accept_paused;
}

void uaccept_on_cqe(struct worker *w, const struct io_uring_cqe *cqe)
{
	struct uring_state *st = w->io;
	int li = (int)(cqe->user_data - UD_ACCEPT), res = cqe->res;
	struct uring_accept *a = &st->acc[li];
	bool reserved = false, final = !(cqe->flags & IORING_CQE_F_MORE);
	bool cancelled = final && a->cancelling;
	st->turn_accepts = true;
	if (final) {
		reserved = a->single;
		a->armed = a->single = a->cancelling = false;
	}
	if (res >= 0) {
		race_take(w, li, res, reserved);
	} else {
		if (reserved)
			race_release(w);
		switch (-res) {
		case EAGAIN:
			race_lost(w);
			break;
		case ECANCELED: /* ours: out of the race */
		case EINTR:
		case ECONNABORTED: /* reset while queued */
			break;
		default: /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse */
			race_pause(w, -res);
			break;
		}
	}
	race_sync(w);
	/* An armed accept waits on the listener exclusively: a wake-up that
	 * reached it while it was being cancelled is gone with it, and the
	 * connection it announced would sit in the queue until the next
	 * arrival (for good, when clients wait for it).  So the queue is
	 * looked at once: by the re-armed accept's worker, or, leaving the
	 * race (draining, stepped out), by this worker itself. */
	if ((cancelled || (final && res == -ECANCELED)) && !w->exiting) {
		if (w->in_race)
			w->accept_more |= 1u << li;
		else if (!w->accept_paused)
			race_sweep(w);
	}
}

/* Unlike an epoll waiter, an armed accept takes the wake-up whether or not
 * its worker is free to run, and it keeps its place at the head of the
 * listener's queue.  Re-arming after each turn that took connections puts
 * it at the tail: bursts go round the workers instead of piling up on the
 * first one, which matters most when workers share a CPU. */
static void requeue(struct worker *w)
{
	struct uring_state *st = w->io;
	if (!w->took_conns || !w->in_race ||
	    (!w->foreign_racers && atomic_load_explicit(w->nlive, memory_order_relaxed) <= 1))
		return;
	for (int li = 0; li < w->nlisten; li++)
		if ((w->took_conns & (1u << li)) && !st->acc[li].single)
			cancel(w, li);
}

/* The kernel reads RLIMIT_NOFILE when an accept is armed, so a multishot
 * accept would go on allocating descriptors under a limit lowered since
 * (prlimit on a running server): re-armed, it takes the new one. */
static void check_nofile(struct worker *w)
{
	struct uring_state *st = w->io;
	if (w->now_ms - st->nofile_check_ms < NOFILE_RECHECK_MS)
		return;
	st->nofile_check_ms = w->now_ms;
	rlim_t now = nofile_now();
	for (int li = 0; li < w->nlisten; li++)
		if (st->acc[li].armed && !st->acc[li].single && now != st->acc[li].armed_nofile)
			cancel(w, li);
}

void uaccept_race_turn(struct worker *w)
{
	struct uring_state *st = w->io;
	requeue(w);
	check_nofile(w);
	/* Near the limit a multishot burst could overshoot: re-armed single. */
	bool single = want_single(w);
	for (int li = 0; li < w->nlisten; li++)
		if (st->acc[li].armed && !st->acc[li].single && single)
			cancel(w, li);
}
