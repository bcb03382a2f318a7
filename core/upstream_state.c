/* Health and statistics of the upstreams, shared by every worker of every
 * process (see core/upstream_state.h).  Relaxed atomics throughout: each
 * figure stands alone, and readers (metrics, the choice of an upstream)
 * only need a recent value, not an ordering between them. */
#include "core/upstream_state.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

const char *const up_err_names[UP_ERR_KINDS] = {
	[UP_ERR_CONNECT] = "connect",
	[UP_ERR_TIMEOUT] = "timeout",
	[UP_ERR_CLOSED] = "closed",
	[UP_ERR_INVALID] = "invalid",
};

const double up_hist_bounds[UP_HIST_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						    0.1,   0.25,   0.5,   1,    2.5};

#define RELAXED memory_order_relaxed

void upstream_note_ok(struct upstream_shared *u)
{
	/* Read first: the common case (no failures) writes nothing, so
	 * workers do not fight over the line on every response. */
	if (atomic_load_explicit(&u->fails, RELAXED))
		atomic_store_explicit(&u->fails, 0, RELAXED);
}

void upstream_note_fail(struct upstream_shared *u, enum up_err kind, int64_t now_ms)
{
	if ((unsigned)kind >= UP_ERR_KINDS)
		kind = UP_ERR_INVALID;
	atomic_fetch_add_explicit(&u->errors[kind], 1, RELAXED);
	int fails = atomic_fetch_add_explicit(&u->fails, 1, RELAXED) + 1;
	if (fails < UP_FAILS_DOWN)
		return;
	/* Down only if not down already: requests that were in flight when
	 * it went down must neither extend the back-off nor log again.  The
	 * one worker whose exchange wins logs; after the back-off one more
	 * failure (the count has not restarted) marks it down again. */
	int64_t until = atomic_load_explicit(&u->down_until_ms, RELAXED);
	if (until > now_ms)
		return;
	if (!atomic_compare_exchange_strong_explicit(&u->down_until_ms, &until,
						     now_ms + UP_BACKOFF_MS, RELAXED, RELAXED))
		return;
	herd_log("upstream %s: down for %d s after %d failures (last: %s)",
		 u->name[0] ? u->name : "?", UP_BACKOFF_MS / 1000, fails, up_err_names[kind]);
}

void upstream_note_response(struct upstream_shared *u, int status, uint64_t time_us)
{
	int cls = status / 100;
	if (cls >= 1 && cls <= 5)
		atomic_fetch_add_explicit(&u->responses[cls - 1], 1, RELAXED);
	/* Buckets are stored apart and made cumulative when rendered: one
	 * add per response instead of one per bucket above it. */
	double s = (double)time_us / 1e6;
	int b = 0;
	while (b < UP_HIST_BUCKETS - 1 && s > up_hist_bounds[b])
		b++;
	atomic_fetch_add_explicit(&u->hist[b], 1, RELAXED);
	atomic_fetch_add_explicit(&u->time_sum_us, time_us, RELAXED);
}

size_t upstream_shared_size(void)
{
	return sizeof(struct upstream_shared) * HERD_MAX_UPSTREAMS;
}

void upstream_shared_init(struct upstream_shared *u, const struct upstream_table *t)
{
	for (int i = 0; i < t->naddrs && i < HERD_MAX_UPSTREAMS; i++)
		snprintf(u[i].name, sizeof(u[i].name), "%s", t->addrs[i].name);
}
