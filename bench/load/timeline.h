/* The per-second series: counts since the previous second, percentiles of this one. */
#ifndef HERD_LOAD_TIMELINE_H
#define HERD_LOAD_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "stats.h"

struct series_row {
	double t;            /* seconds since measurement start, at the row's end */
	uint64_t requests;
	uint64_t errors;
	uint64_t p50_ns, p99_ns, max_ns;
	uint64_t open;       /* connections open at the row's end */
};

struct timeline {
	struct series_row *rows;
	size_t nrows, cap;
	struct stats prev;   /* the totals at the last row */
};

/* Closes the second ending at t: sum is the run's running total, tick holds
 * this second's latencies.  0, or -1 out of memory. */
int timeline_add(struct timeline *tl, double t, const struct stats *sum, const struct hist *tick);

/*
 * The run ended at t_end with totals sum: what came after the last row
 * becomes a row of its own if the run went on past that row's second, or is
 * folded into the last row (responses that finished in the event batch that
 * crossed the end), so a -d N run has N rows.
 */
int timeline_finish(struct timeline *tl, double t_end, const struct stats *sum,
		    const struct hist *tick);

void timeline_free(struct timeline *tl);

#endif
