#include "hgrm.h"

#include <inttypes.h>
#include <math.h>

void hgrm_iter_init(struct hgrm_iter *it, const struct hist *h, int ticks_per_half)
{
	*it = (struct hgrm_iter){ .h = h, .ticks = ticks_per_half, .idx = -1 };
}

/* To the next non-empty bucket; false past the last count. */
static bool advance(struct hgrm_iter *it)
{
	if (it->cum >= it->h->count)
		return false;
	for (long i = it->idx + 1; i < (long)HIST_BUCKETS; i++)
		if (it->h->b[i]) {
			it->idx = i;
			it->cum += it->h->b[i];
			return true;
		}
	return false;
}

/* HdrHistogram's percentile_iter_next, on this histogram's buckets. */
bool hgrm_next(struct hgrm_iter *it)
{
	const struct hist *h = it->h;
	if (h->count == 0)
		return false;
	if (it->cum >= h->count) {
		if (it->seen_last)
			return false;
		it->seen_last = true;
		it->percentile = 100.0;
		return true;
	}
	if (it->idx < 0 && !advance(it))
		return false;
	do {
		double current = 100.0 * (double)it->cum / (double)h->count;
		if (it->to <= current) {
			it->value = hist_bucket_high((unsigned)it->idx);
			it->total = it->cum;
			it->percentile = it->to;
			int64_t half = (int64_t)pow(2, (double)((int64_t)(log(100 / (100.0 - it->to)) /
									log(2)) + 1));
			it->to += 100.0 / (double)(it->ticks * half);
			return true;
		}
	} while (advance(it));
	return true;
}

int hgrm_write(FILE *f, const struct hist *h, int ticks_per_half, double ns_per_unit)
{
	fprintf(f, "%12s %12s %12s %12s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	struct hgrm_iter it;
	hgrm_iter_init(&it, h, ticks_per_half);
	double mean = hist_mean(h), var = 0;
	while (hgrm_next(&it)) {
		double p = it.percentile / 100.0;
		fprintf(f, "%12.3f %12f %12" PRIu64 " %12.2f\n", (double)it.value / ns_per_unit, p,
			it.total, 1.0 / (1.0 - p));
	}
	/* the spread from bucket midpoints, as HdrHistogram computes it */
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!h->b[i])
			continue;
		uint64_t hi = hist_bucket_high(i), lo = i ? hist_bucket_high(i - 1) + 1 : 0;
		double d = ((double)lo + (double)hi) / 2 - mean;
		var += d * d * (double)h->b[i];
	}
	double sd = h->count ? sqrt(var / (double)h->count) : 0;
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean / ns_per_unit,
		sd / ns_per_unit);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12" PRIu64 "]\n",
		(double)(h->count ? h->max : 0) / ns_per_unit, h->count);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", HIST_OCTAVES, HIST_SUB);
	return ferror(f) ? -1 : 0;
}
