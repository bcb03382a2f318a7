/* herd-load's per-second series: counts per second, the partial last second. */
#include <criterion/criterion.h>
#include <string.h>

#include "hist.h"
#include "live.h"
#include "timeline.h"

static void tick_with(struct hist *h, uint64_t from_us, uint64_t to_us)
{
	hist_reset(h);
	for (uint64_t v = from_us; v <= to_us; v++)
		hist_record(h, v * 1000);
}

Test(load_timeline, per_second_rows)
{
	struct timeline tl = { 0 };
	struct stats sum = { 0 };
	struct hist *tick = hist_new();

	sum.requests = 100;
	sum.connected = 8;
	tick_with(tick, 1, 100);
	cr_assert_eq(timeline_add(&tl, 1.0, &sum, tick), 0);

	sum.requests = 250;
	sum.errors[ERR_TIMEOUT] = 2;
	sum.connected = 10;
	sum.disconnected = 4;
	tick_with(tick, 101, 250);
	cr_assert_eq(timeline_add(&tl, 2.0, &sum, tick), 0);

	cr_assert_eq(tl.nrows, 2);
	cr_expect_eq(tl.rows[0].requests, 100);
	cr_expect_eq(tl.rows[0].errors, 0);
	cr_expect_eq(tl.rows[0].open, 8);
	cr_expect_eq(tl.rows[1].requests, 150, "a row counts its own second");
	cr_expect_eq(tl.rows[1].errors, 2);
	cr_expect_eq(tl.rows[1].open, 6);
	/* this second's latencies only: 101..250 us */
	cr_expect_eq(tl.rows[1].max_ns, 250000);
	cr_expect(tl.rows[1].p50_ns >= 175000 && tl.rows[1].p50_ns <= 176000, "%llu",
		  (unsigned long long)tl.rows[1].p50_ns);
	cr_expect(tl.rows[1].p99_ns >= 248000 && tl.rows[1].p99_ns <= 249200, "%llu",
		  (unsigned long long)tl.rows[1].p99_ns);

	/* a -d 2 run ends on its last tick: stragglers join the last row */
	struct timeline t2 = tl;
	t2.rows = malloc(tl.cap * sizeof(*t2.rows));
	memcpy(t2.rows, tl.rows, tl.nrows * sizeof(*t2.rows));
	sum.requests = 253;
	tick_with(tick, 400, 402);
	cr_assert_eq(timeline_finish(&t2, 2.0, &sum, tick), 0);
	cr_expect_eq(t2.nrows, 2);
	cr_expect_eq(t2.rows[1].requests, 153);
	cr_expect_eq(t2.rows[1].max_ns, 402000);

	/* a run that went on past the last full second: a partial row */
	cr_assert_eq(timeline_finish(&tl, 2.4, &sum, tick), 0);
	cr_assert_eq(tl.nrows, 3);
	cr_expect_float_eq(tl.rows[2].t, 2.4, 1e-9);
	cr_expect_eq(tl.rows[2].requests, 3);

	/* nothing new: no row */
	cr_assert_eq(timeline_finish(&tl, 3.0, &sum, tick), 0);
	cr_expect_eq(tl.nrows, 3);
	timeline_free(&tl);
	timeline_free(&t2);
	hist_free(tick);
}

Test(load_timeline, live_line)
{
	struct live lv;
	live_init(&lv, stdout, false, false, 30);
	cr_expect(!lv.on, "off a terminal, quiet unless --progress");
	live_init(&lv, stdout, false, true, 30);
	cr_expect(lv.on && !lv.tty);
	struct series_row row = { .t = 12, .requests = 4500, .p50_ns = 45000, .p99_ns = 1250000,
				  .open = 64 };
	char buf[192];
	live_format(buf, sizeof(buf), &lv, &row, 3);
	cr_expect(strstr(buf, "12s/30s"), "%s", buf);
	cr_expect(strstr(buf, "4500 req/s"), "%s", buf);
	cr_expect(strstr(buf, "3 errors"), "%s", buf);
	cr_expect(strstr(buf, "p50 45.0us"), "%s", buf);
	cr_expect(strstr(buf, "p99 1.25ms"), "%s", buf);
	cr_expect(strstr(buf, "64 open"), "%s", buf);
}
