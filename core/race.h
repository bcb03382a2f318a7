/* The accept race, once for every mechanism: when a worker races for the
 * shared listener (join, leave, step out and nudge, pause on EMFILE, wait at
 * --max-conns), how it accepts a batch, and what it does with a connection
 * it won.  The mechanism only makes the listener watched or not
 * (mech->race_set) and reports what it saw. */
#ifndef HERD_RACE_H
#define HERD_RACE_H

#include <stdbool.h>
#include <stdint.h>

struct worker;

/* Connections a worker may hold over the fair share before it steps out. */
#define RACE_BALANCE_SLACK 8
/* How long an accept error (EMFILE, ...) keeps a worker out of the race. */
#define RACE_PAUSE_MS 100
/* Out of descriptors, how often a worker looks whether one freed up. */
#define RACE_FD_RECHECK_MS 2
/* At --max-conns, how often a worker looks whether a slot freed up. */
#define RACE_LIMIT_RECHECK_MS 20
/* Connections taken per wake-up: the rest of the queue stays visible to
 * the other workers. */
#define RACE_ACCEPT_BATCH 32

/* Before the loop: decides whether balancing applies, joins the race. */
void race_start(struct worker *w);
/* Makes the mechanism's watch match the rules; once a draining worker no
 * longer watches the listener, tells the supervisor (left_race). */
void race_sync(struct worker *w);
/* Once per loop turn: the accepts a wake-up or a nudge asked for,
 * resuming after a pause, stepping back in. */
void race_tick(struct worker *w);

/* What a mechanism reports. */
/* Listener li (w->listeners[li]) is readable (epoll). */
void race_listener_ready(struct worker *w, int li);
/* The wake eventfd fired: a stop request, a hand-off, or a peer's nudge. */
void race_woken(struct worker *w);
/* A connection accepted for this worker from listener li; `reserved`: it
 * fills a slot of --max-conns held for it. */
void race_take(struct worker *w, int li, int fd, bool reserved);
/* Out of the race: takes what the queues hold now. */
void race_sweep(struct worker *w);
/* accept_more with a bit for every listener of the worker. */
uint32_t race_all_listeners(const struct worker *w);
/* An accept found the queue empty. */
void race_lost(struct worker *w);
/* An accept failed for lack of descriptors or memory: out for a while. */
void race_pause(struct worker *w, int err);
/* Out of the race until resume_ms (at_limit: then only with a free slot),
 * without syncing: for a mechanism in the middle of changing its watch. */
void race_hold(struct worker *w, int64_t resume_ms, bool at_limit);
/* Takes a slot of --max-conns; false when none is free. */
bool race_reserve(struct worker *w);
void race_release(struct worker *w);
long race_conns_open(const struct worker *w);
/* Closes connections handed over but never taken (listener mode). */
void race_close_all(struct worker *w);

/* Balancing.  Connections over all running workers (of every process)
 * divided by the running ones. */
long race_fair_share(const struct worker *w);
/* Clearly more than the fair share: time to step out of the race. */
bool race_over_share(const struct worker *w);

#endif
