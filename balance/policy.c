#include "balance/policy.h"

#include <stdbool.h>
#include <stdio.h>

void scale_policy_defaults(struct scale_policy *p, int min_workers, int max_workers)
{
	*p = (struct scale_policy){
		.min_workers = min_workers,
		.max_workers = max_workers,
		.up_busy = 0.75,
		.down_busy = 0.40,
		.queue_up = 32,
		.up_samples = 2,
		.down_samples = 12,
		.up_cooldown_s = 1.0,
		.down_cooldown_s = 3.0,
	};
}

void scale_state_init(struct scale_state *st)
{
	*st = (struct scale_state){.last_change_s = -1e9};
}

static enum scale_decision decided(struct scale_state *st, enum scale_decision d, double now)
{
	st->over = st->under = 0;
	st->last_change_s = now;
	return d;
}

enum scale_decision scale_decide(const struct scale_policy *p, struct scale_state *st,
				 const struct scale_view *v, double now_s, char *why,
				 size_t whylen)
{
	double since = now_s - st->last_change_s;
	int n = v->workers;

	if (n < p->min_workers) {
		snprintf(why, whylen, "%d workers, below --min-workers %d", n, p->min_workers);
		return decided(st, SCALE_UP, now_s);
	}
	if (n > p->max_workers) {
		snprintf(why, whylen, "%d workers, above --max-workers %d", n, p->max_workers);
		return decided(st, SCALE_DOWN, now_s);
	}

	/* Pressure: busy workers, or a queue that says they do not keep up
	 * (a queue with idle workers is a burst being taken, not pressure). */
	bool pressure = v->busy_avg >= p->up_busy ||
			(v->queue_len >= p->queue_up && v->busy_max >= p->up_busy / 2);
	/* Calm: the load of n workers would fit in n-1 with room to spare. */
	bool calm = n > p->min_workers && v->queue_len == 0 &&
		    v->busy_avg * n / (n - 1) < p->down_busy;
	st->over = pressure ? st->over + 1 : 0;
	st->under = calm ? st->under + 1 : 0;

	if (st->over >= p->up_samples && n < p->max_workers && since >= p->up_cooldown_s) {
		snprintf(why, whylen, "busy %.0f%% (max %.0f%%), queue %u, for %d samples",
			 100 * v->busy_avg, 100 * v->busy_max, v->queue_len, st->over);
		return decided(st, SCALE_UP, now_s);
	}
	if (st->under >= p->down_samples && since >= p->down_cooldown_s) {
		snprintf(why, whylen, "busy %.0f%% over %d workers would be %.0f%% over %d",
			 100 * v->busy_avg, n, 100 * v->busy_avg * n / (n - 1), n - 1);
		return decided(st, SCALE_DOWN, now_s);
	}
	snprintf(why, whylen, "hold");
	return SCALE_HOLD;
}

void scale_policy_configure(struct scale_policy *p, const struct herd_config *cfg)
{
	scale_policy_defaults(p, cfg->min_workers, cfg->max_workers);
	p->up_busy = cfg->scale_up_busy;
	p->down_busy = cfg->scale_down_busy;
	p->queue_up = (unsigned)cfg->scale_queue;
}
