/* A worker's loop: one turn for every mechanism.
 *
 *   wait (the mechanism sleeps until events or the next deadline)
 *   → clocks → a stop request? leave the race first
 *   → dispatch (the mechanism hands connection events to the engine,
 *     listener and wake events to the race)
 *   → the race's rules → drain → expired timers → the access log */
#include "core/loop.h"

#include <errno.h>
#include <string.h>

#include "core/app.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/race.h"
#include "core/worker.h"

/* The wait before the next deadline (timers, accept pause, drain, the Date
 * tick once a second); 0 when accepts are pending. */
static int next_timeout_ms(const struct worker *w)
{
	int64_t next = w->now_ms + 1000; /* the Date header ticks once a second */
	for (int t = 0; t < CONN_T_COUNT; t++)
		if (w->timers[t].head && w->timers[t].head->deadline_ms < next)
			next = w->timers[t].head->deadline_ms;
	if (w->accept_paused && !w->draining) {
		if (w->accept_resume_ms < next)
			next = w->accept_resume_ms;
		/* Out of descriptors while others are open: one may free up any
		 * moment, and a worker holding none hears of it no other way. */
		if (w->pause_open > 0 && w->now_ms + RACE_FD_RECHECK_MS < next)
			next = w->now_ms + RACE_FD_RECHECK_MS;
	}
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

/* jemalloc's control entry, when herd runs on jemalloc (not under the
 * sanitizers' allocators). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

/* herd runs jemalloc without thread caches (core/main.c: a lazily made
 * cache crashed under a tight RLIMIT_AS).  A TLS handshake is a thousand
 * small allocations in OpenSSL, where the cache saved ~15% of a handshake's
 * CPU: a worker serving TLS makes its cache now, at its start, where the
 * allocation is checked like any other start-up step. */
static void tls_thread_cache(struct worker *w)
{
	bool on = true;
	if (w->tls && mallctl &&
	    mallctl("thread.tcache.enabled", NULL, NULL, &on, sizeof(on)) != 0)
		herd_log("worker %d: no allocation cache for TLS (jemalloc refused)", w->id);
}

void *worker_loop(void *arg)
{
	struct worker *w = arg;
	const struct mech *m = w->mech;

	tls_thread_cache(w);
	tick_clocks(w);
	if (app_worker_begin(w) < 0) {
		herd_log("worker %d: out of memory for the application's state", w->id);
		atomic_store(&w->left_race, true);
		atomic_store_explicit(&w->finished, true, memory_order_release);
		return NULL;
	}
	if (m->start(w) < 0) {
		herd_log("worker %d: cannot start its %s loop: %s", w->id, m->name,
			 strerror(errno));
		app_worker_end(w);
		atomic_store(&w->left_race, true);
		atomic_store_explicit(&w->finished, true, memory_order_release);
		return NULL;
	}
	race_start(w);
	for (;;) {
		if (m->wait(w, next_timeout_ms(w)) < 0)
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
		if (w->app_rt)
			app_worker_turn(w);
		race_tick(w);
		if (drain_now)
			engine_begin_drain(w);
		expire_timers(w);
		worker_tick_log(w);
		worker_tick_files(w);
		if (w->draining &&
		    (w->nconns == 0 || w->now_ms >= atomic_load(&w->stop_deadline_ms)))
			break;
	}
	engine_close_all(w);
	app_worker_end(w);
	race_close_all(w);
	w->exiting = true;
	race_sync(w);
	m->finish(w);
	atomic_store(&w->left_race, true);
	atomic_store_explicit(&w->finished, true, memory_order_release);
	return NULL;
}
