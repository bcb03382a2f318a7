/* Final table, JSON file and the live progress line. */
#ifndef HERD_LOAD_REPORT_H
#define HERD_LOAD_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "hist.h"
#include "stats.h"

struct series_row {
	double t;            /* seconds since measurement start, at the row's end */
	uint64_t requests;
	uint64_t errors;
	uint64_t p99_ns;
};

struct result {
	const struct config *cfg;
	struct stats st;
	struct hist *lat;
	struct hist *hs;     /* https: connect to handshake done; else NULL */
	double duration_s;
	bool interrupted;
	struct series_row *rows;
	size_t nrows;
};

void report_table(FILE *out, const struct result *r);
int report_json(const char *path, const struct result *r, char *err, size_t errlen);
/* Overwrites the current terminal line. */
void report_progress(FILE *out, double elapsed, double rps, uint64_t errors, uint64_t p99_ns,
		     bool warmup);

/* "45.2us", "1.25ms", "2.00s": three significant digits. */
void report_fmt_ns(char *buf, size_t len, uint64_t ns);

#endif
