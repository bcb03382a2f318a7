/*
 * Log-linear latency histogram in the spirit of HdrHistogram: values below
 * 2048 ns are exact, above that every power-of-two range is split into 1024
 * linear sub-buckets, so any recorded value is known to within 1/1024
 * (better than 3 significant digits) from 1 ns up to HIST_MAX_NS.  Memory is
 * fixed (about 230 KiB), recording is a couple of shifts and an increment.
 */
#ifndef HERD_LOAD_HIST_H
#define HERD_LOAD_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 11
#define HIST_SUB (1u << HIST_SUB_BITS)          /* exact region, ns */
#define HIST_HALF (HIST_SUB / 2)                /* sub-buckets per octave */
#define HIST_MAX_NS 100000000000ULL             /* 100 s */
/* 100 s < 2^37, so the highest octave is shifted by 37 - HIST_SUB_BITS. */
#define HIST_OCTAVES (37 - HIST_SUB_BITS + 1)
#define HIST_BUCKETS (HIST_SUB + (HIST_OCTAVES - 1) * HIST_HALF)

struct hist {
	uint64_t count;
	uint64_t sum;   /* ns, for the mean */
	uint64_t min;
	uint64_t max;   /* exact, even above HIST_MAX_NS */
	uint64_t b[HIST_BUCKETS];
};

struct hist *hist_new(void);
void hist_free(struct hist *h);
void hist_reset(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *dst, const struct hist *src);
/* p in [0, 100]; returns 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Exposed for tests: bucket index of a value and the value range it covers. */
unsigned hist_index(uint64_t ns);
uint64_t hist_bucket_high(unsigned idx);

#endif
