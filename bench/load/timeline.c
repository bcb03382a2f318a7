#include "timeline.h"

#include <stdbool.h>
#include <stdlib.h>

static uint64_t open_conns(const struct stats *s)
{
	return s->connected > s->disconnected ? s->connected - s->disconnected : 0;
}

int timeline_add(struct timeline *tl, double t, const struct stats *sum, const struct hist *tick)
{
	if (tl->nrows == tl->cap) {
		size_t cap = tl->cap ? tl->cap * 2 : 64;
		struct series_row *rows = realloc(tl->rows, cap * sizeof(*rows));
		if (!rows)
			return -1;
		tl->rows = rows;
		tl->cap = cap;
	}
	tl->rows[tl->nrows++] = (struct series_row){
		.t = t,
		.requests = sum->requests - tl->prev.requests,
		.errors = stats_errors(sum) - stats_errors(&tl->prev),
		.p50_ns = hist_percentile(tick, 50),
		.p99_ns = hist_percentile(tick, 99),
		.max_ns = tick->count ? tick->max : 0,
		.open = open_conns(sum),
	};
	tl->prev = *sum;
	return 0;
}

int timeline_finish(struct timeline *tl, double t_end, const struct stats *sum,
		    const struct hist *tick)
{
	bool tail = sum->requests != tl->prev.requests ||
		    stats_errors(sum) != stats_errors(&tl->prev);
	if (!tail)
		return 0;
	/* 1 ms of slack: a run's end and its last tick are the same instant */
	double last = tl->nrows ? tl->rows[tl->nrows - 1].t : 0;
	if (tl->nrows == 0 || t_end > last + 0.001)
		return timeline_add(tl, t_end, sum, tick);
	struct series_row *r = &tl->rows[tl->nrows - 1];
	r->requests += sum->requests - tl->prev.requests;
	r->errors += stats_errors(sum) - stats_errors(&tl->prev);
	if (tick->count && tick->max > r->max_ns)
		r->max_ns = tick->max;
	tl->prev = *sum;
	return 0;
}

void timeline_free(struct timeline *tl)
{
	free(tl->rows);
	tl->rows = NULL;
	tl->nrows = tl->cap = 0;
}
