/*
 * HdrHistogram's percentile-distribution text (.hgrm), the layout wrk2
 * --u_latency prints and HdrHistogram's plotter reads.  Rows come from
 * HdrHistogram's percentile iterator: ticks_per_half rows per halving of the
 * distance to 100 %, so the tail gets as many rows as the body.
 */
#ifndef HERD_LOAD_HGRM_H
#define HERD_LOAD_HGRM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

struct hgrm_iter {
	const struct hist *h;
	int ticks;            /* per half distance */
	long idx;             /* current bucket, -1 before the first */
	uint64_t cum;         /* count up to and including idx */
	double to;            /* next percentile to report */
	bool seen_last;
	/* the row, after hgrm_next returned true */
	uint64_t value;       /* ns, the bucket's highest equivalent value */
	double percentile;    /* 0..100 */
	uint64_t total;       /* cumulative count at the row */
};

void hgrm_iter_init(struct hgrm_iter *it, const struct hist *h, int ticks_per_half);
bool hgrm_next(struct hgrm_iter *it);

/* Writes h with values in units of ns_per_unit ns (1e6: milliseconds, as
 * wrk2).  Returns 0, or -1 when the stream failed. */
int hgrm_write(FILE *f, const struct hist *h, int ticks_per_half, double ns_per_unit);

#endif
