/* Final table, JSON file and the .hgrm distribution. */
#ifndef HERD_LOAD_REPORT_H
#define HERD_LOAD_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "errs.h"
#include "hist.h"
#include "stats.h"
#include "timeline.h"

struct result {
	const struct config *cfg;
	struct stats st;
	struct hist *lat;
	struct hist *hs;     /* https: connect to handshake done; else NULL */
	double duration_s;
	bool interrupted;
	struct timeline tl;
	struct err_samples errs; /* the first few of each kind, over all workers */
};

void report_table(FILE *out, const struct result *r);
int report_json(const char *path, const struct result *r, char *err, size_t errlen);
/* --latency-dist: the .hgrm file. */
int report_hgrm(const char *path, const struct result *r, char *err, size_t errlen);

/* "45.2us", "1.25ms", "2.00s": three significant digits. */
void report_fmt_ns(char *buf, size_t len, uint64_t ns);

#endif
