/*
 * The live view: once a second, elapsed/total, requests/s, errors and the
 * last second's p50/p99.  On a terminal the line is rewritten in place; off
 * one (CI, pipes) nothing is printed unless --progress asks for a plain line
 * per second, so logs stay readable.
 */
#ifndef HERD_LOAD_LIVE_H
#define HERD_LOAD_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "timeline.h"

struct live {
	FILE *out;
	bool on;
	bool tty;      /* rewrite one line; else one line per second */
	double total;  /* seconds of measurement, 0 when -n bounds the run */
};

void live_init(struct live *lv, FILE *out, bool tty, bool progress, double total_s);
/* err_total: errors so far; row: the second just closed. */
void live_second(const struct live *lv, const struct series_row *row, uint64_t err_total);
void live_warmup(const struct live *lv, double elapsed, double warmup_s);
/* Clears the terminal line before the summary. */
void live_end(const struct live *lv);
/* The line itself, for tests. */
void live_format(char *buf, size_t len, const struct live *lv, const struct series_row *row,
		 uint64_t err_total);

#endif
