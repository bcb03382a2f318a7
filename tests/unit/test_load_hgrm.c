/* herd-load's .hgrm writer against a histogram computed by hand. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hgrm.h"
#include "hist.h"

/*
 * 1, 2, 3 and 4 ms.  Above 2048 ns a bucket is 1/1024 of its octave wide,
 * and a row shows the bucket's highest value: 1 ms lies in [999936,
 * 1000447] (512 ns steps), 2 ms in [1999872, 2000895] (1024), 3 ms in
 * [2998272, 3000319] and 4 ms in [3999744, 4001791] (2048).  Rows follow
 * HdrHistogram's iterator with 5 ticks per half distance: steps of 10 %
 * below 50 %, 5 % to 75 %, 2.5 % to 87.5 %; a value is shown for every step
 * its cumulative share reaches (1 ms is 25 %: the 0, 10 and 20 % rows), and
 * the last value once more at 100 %.  The mean is exact (2.5 ms); the
 * standard deviation uses bucket midpoints: sqrt(sum(d^2) / 4) = 1.118 ms.
 */
static const char expected[] =
	"       Value   Percentile   TotalCount 1/(1-Percentile)\n"
	"\n"
	"       1.000     0.000000            1         1.00\n"
	"       1.000     0.100000            1         1.11\n"
	"       1.000     0.200000            1         1.25\n"
	"       2.001     0.300000            2         1.43\n"
	"       2.001     0.400000            2         1.67\n"
	"       2.001     0.500000            2         2.00\n"
	"       3.000     0.550000            3         2.22\n"
	"       3.000     0.600000            3         2.50\n"
	"       3.000     0.650000            3         2.86\n"
	"       3.000     0.700000            3         3.33\n"
	"       3.000     0.750000            3         4.00\n"
	"       4.002     0.775000            4         4.44\n"
	"       4.002     1.000000            4          inf\n"
	"#[Mean    =        2.500, StdDeviation   =        1.118]\n"
	"#[Max     =        4.000, Total count    =            4]\n"
	"#[Buckets =           27, SubBuckets     =         2048]\n";

Test(load_hgrm, hand_computed)
{
	struct hist *h = hist_new();
	for (uint64_t ms = 1; ms <= 4; ms++)
		hist_record(h, ms * 1000000);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cr_assert(f);
	cr_assert_eq(hgrm_write(f, h, 5, 1e6), 0);
	fclose(f);
	cr_expect_str_eq(buf, expected);
	free(buf);
	hist_free(h);
}

Test(load_hgrm, empty_and_single)
{
	struct hist *h = hist_new();
	struct hgrm_iter it;
	hgrm_iter_init(&it, h, 5);
	cr_expect(!hgrm_next(&it), "no rows for an empty histogram");
	hist_record(h, 100); /* exact region */
	hgrm_iter_init(&it, h, 5);
	cr_assert(hgrm_next(&it));
	cr_expect_eq(it.value, 100);
	cr_expect_float_eq(it.percentile, 0.0, 1e-12);
	cr_assert(hgrm_next(&it));
	cr_expect_float_eq(it.percentile, 100.0, 1e-12);
	cr_expect_eq(it.total, 1);
	cr_expect(!hgrm_next(&it));
	hist_free(h);
}
