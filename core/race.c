/* The accept race (see core/race.h).
 *
 * A worker races exactly when it is not draining, not paused (after an
 * accept error, or at --max-conns), and not stepped out for holding more
 * than its share.  Waiters on a shared listener are woken in a fixed order
 * (EPOLLEXCLUSIVE: the order they registered; multishot accepts: the order
 * they were armed), so one worker wins nearly every race while it keeps up
 * and ends up holding most long-lived connections: a worker holding
 * clearly more than its share steps out, hands the race to the least
 * loaded peer, and steps back in once it is near the average. */
#include "core/race.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/worker.h"
#include "net/handoff.h"

long race_conns_open(const struct worker *w)
{
	return atomic_load_explicit(w->conns_open, memory_order_relaxed);
}

/* Reserved before accepting, so two workers cannot both take the last one. */
bool race_reserve(struct worker *w)
{
	long n = race_conns_open(w);
	do {
		if (n >= w->max_conns)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(w->conns_open, &n, n + 1,
							memory_order_relaxed, memory_order_relaxed));
	return true;
}

void race_release(struct worker *w)
{
	atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
}

void race_sync(struct worker *w)
{
	bool want = !w->draining && !w->accept_paused && !w->stepped_out && !w->exiting;
	w->in_race = w->mech->race_set(w, want);
	/* Only once the mechanism stopped watching can no connection land here
	 * any more: then the supervisor may close the listener. */
	if (w->draining && !w->watching_listener)
		atomic_store(&w->left_race, true);
}

void race_hold(struct worker *w, int64_t resume_ms, bool at_limit)
{
	w->pause_open = 0;
	w->accept_paused = true;
	w->at_conn_limit |= at_limit;
	w->accept_resume_ms = resume_ms;
}

static void at_limit(struct worker *w)
{
	herd_log_ratelimited(&w->log_slot, "worker %d: at --max-conns %ld, not accepting", w->id,
			     w->max_conns);
	race_hold(w, w->now_ms + RACE_LIMIT_RECHECK_MS, true);
	race_sync(w);
}

void race_pause(struct worker *w, int err)
{
	/* The failed connection is still queued and the listener still
	 * readable: accepting again at once would fail the same way (epoll
	 * would spin on it). */
	CTR_ADD(w->ctr, errors[HERD_ERR_ACCEPT], 1);
	herd_log_ratelimited(&w->log_slot, "worker %d: accept failed: %s; pausing accepts %d ms",
			     w->id, strerror(err), RACE_PAUSE_MS);
	race_hold(w, w->now_ms + RACE_PAUSE_MS, false);
	/* Connections of this process close all the time: each frees a
	 * descriptor, and waiting out the whole pause then would serve far
	 * below what the remaining descriptors allow. */
	w->pause_open = race_conns_open(w);
	race_sync(w);
}

void race_lost(struct worker *w)
{
	CTR_ADD(w->ctr, lost_races, 1);
}

long race_fair_share(const struct worker *w)
{
	long conns = 0;
	int live = 0;
	if (w->all_loads) {
		for (int i = 0; i < w->nloads; i++) {
			conns += atomic_load_explicit(&w->all_loads[i].conns_open, memory_order_relaxed);
			live += atomic_load_explicit(&w->all_loads[i].live, memory_order_relaxed);
		}
	} else {
		conns = race_conns_open(w);
		live = atomic_load_explicit(w->nlive, memory_order_relaxed);
	}
	return conns / (live > 0 ? live : 1);
}

bool race_over_share(const struct worker *w)
{
	long fair = race_fair_share(w);
	return w->nconns > fair + fair / 4 + RACE_BALANCE_SLACK;
}

/* Connections already queued raise no new wake-up: whoever steps out hands
 * the race to the running peer holding the fewest connections.  false when
 * this process has none to hand it to. */
static bool nudge_least_loaded(struct worker *w)
{
	int best = -1;
	uint64_t best_n = UINT64_MAX;
	for (int i = 0; i < w->npeers; i++) {
		/* Only `running` may be read from a slot, which gets rewritten
		 * when it is reused; its counters and eventfd stay put. */
		if (i == w->id || !atomic_load_explicit(&w->peers[i].running, memory_order_acquire))
			continue;
		uint64_t n = CTR_GET(&w->peer_ctr[i], conns_active);
		if (n < best_n) {
			best = i;
			best_n = n;
		}
	}
	uint64_t one = 1;
	if (best < 0)
		return false;
	if (write(w->peer_wake[best], &one, sizeof(one)) < 0 && errno != EAGAIN)
		herd_log_ratelimited(&w->log_slot, "worker %d: nudge: %s", w->id, strerror(errno));
	return true;
}

static void step_out(struct worker *w)
{
	w->stepped_out = true;
	CTR_ADD(w->ctr, step_outs, 1);
	race_sync(w);
	/* With no peer here to nudge (the others are in other processes),
	 * what was queued before we left is ours: later arrivals wake them. */
	if (!nudge_least_loaded(w))
		race_sweep(w);
}

void race_take(struct worker *w, int li, int fd, bool reserved)
{
	if (w->exiting) {
		close(fd);
		if (reserved)
			race_release(w);
		return;
	}
	/* Only an accept that could not hold a slot ahead (a multishot burst)
	 * gets here unreserved; over the limit it is closed, as in listener
	 * mode. */
	if (!reserved && !race_reserve(w)) {
		close(fd);
		at_limit(w);
		return;
	}
	CTR_ADD(w->ctr, accepted, 1);
	w->took_conns |= 1u << li;
	engine_open(w, fd, w->listeners[li].tls);
	if (race_conns_open(w) >= w->max_conns)
		at_limit(w);
	else if (w->balance && !w->stepped_out && race_over_share(w))
		step_out(w);
}

uint32_t race_all_listeners(const struct worker *w)
{
	return w->nlisten >= 32 ? UINT32_MAX : (1u << w->nlisten) - 1;
}

void race_sweep(struct worker *w)
{
	for (int li = 0; li < w->nlisten; li++) {
		int lfd = w->listeners[li].fd;
		for (int i = 0; i < RACE_ACCEPT_BATCH && !w->exiting; i++) {
			if (!race_reserve(w))
				return;
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (fd < 0) {
				race_release(w);
				break;
			}
			race_take(w, li, fd, true);
		}
	}
}

enum batch_end {
	BATCH_EMPTY, /* the queue gave what it had */
	BATCH_FULL,  /* the batch is used up: the queue may hold more */
	BATCH_STOP,  /* out of the race (stepped out, at the limit, paused) */
};

static enum batch_end accept_from(struct worker *w, int li, int *took)
{
	for (int i = 0; i < RACE_ACCEPT_BATCH; i++) {
		if (!w->in_race)
			return BATCH_STOP;
		if (w->balance && race_over_share(w)) {
			step_out(w);
			return BATCH_STOP;
		}
		if (!race_reserve(w)) {
			at_limit(w);
			return BATCH_STOP;
		}
		int fd = accept4(w->listeners[li].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			(*took)++;
			race_take(w, li, fd, true);
			continue;
		}
		race_release(w);
		switch (errno) {
		case EAGAIN:
			return BATCH_EMPTY;
		case EINTR:
		case ECONNABORTED: /* reset while queued: take the next one */
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			race_pause(w, errno);
			return BATCH_STOP;
		default:
			CTR_ADD(w->ctr, errors[HERD_ERR_ACCEPT], 1);
			herd_log_ratelimited(&w->log_slot, "worker %d: accept: %s", w->id,
					     strerror(errno));
			return BATCH_EMPTY;
		}
	}
	return BATCH_FULL;
}

/* A batch from each listener that may hold connections.  Lost: a wake-up
 * (or nudge) that found every queue it looked at empty. */
static void accept_batch(struct worker *w)
{
	uint32_t look = w->accept_more;
	int took = 0;
	w->accept_more = 0;
	for (int li = 0; li < w->nlisten; li++) {
		if (!(look & (1u << li)))
			continue;
		enum batch_end end = accept_from(w, li, &took);
		if (end == BATCH_STOP)
			return;
		/* Batch used up: the queue may hold more, and a nudged worker
		 * has no readiness event that would bring it back. */
		if (end == BATCH_FULL)
			w->accept_more |= 1u << li;
	}
	if (!took)
		race_lost(w);
}

void race_listener_ready(struct worker *w, int li)
{
	CTR_ADD(w->ctr, wakeups, 1);
	if (w->in_race)
		w->accept_more |= 1u << li;
}

/* Listener mode: connections the acceptor thread queued for us; it
 * reserved their slots against --max-conns. */
static void take_handoffs(struct worker *w)
{
	int fd, n = 0;
	bool tls;
	while (handoff_pop(w->handoff, &fd, &tls)) {
		n++;
		CTR_ADD(w->ctr, accepted, 1);
		engine_open(w, fd, tls);
	}
	if (n)
		CTR_ADD(w->ctr, wakeups, 1);
}

void race_woken(struct worker *w)
{
	uint64_t v = worker_clear_wake(w);
	if (w->handoff)
		take_handoffs(w);
	else if (w->in_race && v % WORKER_WAKE_POST)
		w->accept_more = race_all_listeners(w); /* a peer stepped out: ours now */
	/* Only a post (core/app.c): the loop runs it, nobody handed us the race. */
}

void race_close_all(struct worker *w)
{
	int fd;
	bool tls;
	while (w->handoff && handoff_pop(w->handoff, &fd, &tls)) {
		close(fd);
		race_release(w);
	}
}

void race_start(struct worker *w)
{
	/* Balancing needs a shared queue to fall back on, and someone else
	 * racing on it: a peer here, or the workers of other processes. */
	w->balance = w->balance && (w->npeers > 1 || w->foreign_racers) &&
		     (w->mode == HERD_ACCEPT_EXCLUSIVE || w->mode == HERD_ACCEPT_HERD ||
		      w->mode == HERD_ACCEPT_URING);
	w->stepped_out = false;
	race_sync(w);
}

void race_tick(struct worker *w)
{
	/* After the connections' events: accepting first would let new
	 * arrivals delay requests already waiting. */
	if (w->accept_more && w->in_race)
		accept_batch(w);
	if (w->mech->race_turn)
		w->mech->race_turn(w);
	w->took_conns = 0;
	if (!w->draining && w->accept_paused &&
	    (w->now_ms >= w->accept_resume_ms || race_conns_open(w) < w->pause_open)) {
		if (w->at_conn_limit && race_conns_open(w) >= w->max_conns) {
			w->accept_resume_ms = w->now_ms + RACE_LIMIT_RECHECK_MS;
		} else {
			w->at_conn_limit = false;
			w->accept_paused = false;
		}
	}
	if (!w->draining && w->stepped_out &&
	    w->nconns <= race_fair_share(w) + RACE_BALANCE_SLACK / 2)
		w->stepped_out = false;
	race_sync(w);
}
