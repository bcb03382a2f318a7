/* herd-load latency histogram against exact order statistics. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "hist.h"

#define N 200000

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* Log-uniform from 1 us to 10 s, like real latency spreads. */
static uint64_t sample(void)
{
	double u = (double)(rng() >> 11) / 9007199254740992.0;
	return (uint64_t)(1000.0 * pow(1e7, u));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t exact(const uint64_t *sorted, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	return sorted[rank ? rank - 1 : 0];
}

static void check_close(uint64_t got, uint64_t want, double p)
{
	/* 3 significant digits: the bucket is narrower than 1/1000 of its value */
	double err = fabs((double)got - (double)want);
	cr_expect(err <= (double)want / 1000.0 + 1,
		  "p%g: histogram %llu vs exact %llu", p, (unsigned long long)got,
		  (unsigned long long)want);
}

static const double pcts[] = { 1, 25, 50, 75, 90, 99, 99.9, 99.99, 99.999 };

Test(load_hist, percentiles_match_sorted_array)
{
	uint64_t *v = malloc(N * sizeof(*v));
	struct hist *h = hist_new();
	cr_assert(v && h);
	uint64_t sum = 0;
	for (size_t i = 0; i < N; i++) {
		v[i] = sample();
		sum += v[i];
		hist_record(h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		check_close(hist_percentile(h, pcts[i]), exact(v, N, pcts[i]), pcts[i]);
	cr_expect_eq(h->count, N);
	cr_expect_eq(h->min, v[0]);
	cr_expect_eq(h->max, v[N - 1]);
	cr_expect_eq(hist_percentile(h, 100), v[N - 1]);
	cr_expect(fabs(hist_mean(h) - (double)sum / N) < 1e-6 * (double)sum / N);
	hist_free(h);
	free(v);
}

Test(load_hist, merge_equals_single_histogram)
{
	struct hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	cr_assert(a && b && all);
	for (size_t i = 0; i < N; i++) {
		uint64_t x = sample();
		hist_record(i % 3 ? a : b, x);
		hist_record(all, x);
	}
	hist_merge(a, b);
	cr_expect_eq(a->count, all->count);
	cr_expect_eq(a->sum, all->sum);
	cr_expect_eq(a->min, all->min);
	cr_expect_eq(a->max, all->max);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		cr_expect_eq(hist_percentile(a, pcts[i]), hist_percentile(all, pcts[i]));
	struct hist *empty = hist_new();
	hist_merge(a, empty); /* merging nothing changes nothing */
	cr_expect_eq(a->min, all->min);
	hist_free(empty);
	hist_free(a);
	hist_free(b);
	hist_free(all);
}

Test(load_hist, bucket_precision_over_full_range)
{
	/* every value from 1 us to 100 s lands in a bucket within 1/1024 of it */
	for (uint64_t v = 1000; v <= HIST_MAX_NS; v = v + v / 7 + 1) {
		unsigned idx = hist_index(v);
		cr_assert_lt(idx, HIST_BUCKETS);
		uint64_t hi = hist_bucket_high(idx);
		cr_assert_geq(hi, v);
		cr_assert_leq(hi - v, v / 1024, "v=%llu hi=%llu", (unsigned long long)v,
			      (unsigned long long)hi);
		if (idx + 1 < HIST_BUCKETS && hi + 1 < HIST_MAX_NS)
			cr_assert_eq(hist_index(hi + 1), idx + 1); /* buckets are contiguous */
	}
	for (uint64_t v = 0; v < HIST_SUB; v++)
		cr_assert_eq(hist_bucket_high(hist_index(v)), v); /* exact below 2 us */
}

Test(load_hist, empty_and_out_of_range)
{
	struct hist *h = hist_new();
	cr_assert(h);
	cr_expect_eq(hist_percentile(h, 99), 0);
	cr_expect_eq(hist_mean(h), 0.0);
	hist_record(h, 500ULL * 1000000000ULL); /* 500 s: clamped bucket, exact max */
	hist_record(h, 1000);
	cr_expect_eq(h->max, 500ULL * 1000000000ULL);
	cr_expect_eq(hist_percentile(h, 100), 500ULL * 1000000000ULL);
	cr_expect_eq(hist_percentile(h, 50), 1000);
	hist_reset(h);
	cr_expect_eq(h->count, 0);
	hist_free(h);
}
