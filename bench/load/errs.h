/*
 * The first few errors of each kind, described once: where (address), in
 * which phase, and what the server had sent.  A count alone says a run went
 * wrong; the first description usually says why.
 */
#ifndef HERD_LOAD_ERRS_H
#define HERD_LOAD_ERRS_H

#include <stddef.h>
#include <stdint.h>

#include "stats.h"

#define ERR_SAMPLES 3
#define ERR_SAMPLE_LEN 200

struct err_samples {
	uint8_t n[ERR_KINDS];
	char text[ERR_KINDS][ERR_SAMPLES][ERR_SAMPLE_LEN];
};

/* Adds "ADDR, PHASE: WHY[, read N bytes: "..."]" unless the kind has its share
 * or the same text is there already. */
void errs_note(struct err_samples *es, enum err_kind kind, const char *addr, const char *phase,
	       const char *why, const char *data, size_t len);
/* Appends src's samples to dst's, up to ERR_SAMPLES a kind. */
void errs_merge(struct err_samples *dst, const struct err_samples *src);
/* data as C-escaped text, at most max input bytes ("..." when cut). */
void errs_escape(char *out, size_t cap, const char *data, size_t len, size_t max);

#endif
