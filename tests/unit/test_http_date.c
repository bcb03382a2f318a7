/* Tests for net/http_date.c, checked against glibc's gmtime_r over random
 * instants.
 *
 * Inputs are handed over as heap copies of exactly their length, without a
 * NUL, so ASan catches any read past the end. */
#include <criterion/criterion.h>

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/http_date.h"

#include "unit_util.h"

/* ---------------------------------------------------------------- dates */

#define RFC_EXAMPLE INT64_C(784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */
#define DATE_MIN INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define DATE_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wdays_long[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int parse(const char *s, size_t len, int64_t *t)
{
	char *copy = dup_exact(s, len);
	int64_t v = INT64_MIN + 7;
	int r = http_date_parse(copy, len, &v);
	free(copy);
	if (r != 0)
		cr_assert_eq(v, INT64_MIN + 7, "\"%s\": output written on failure", esc(s, len));
	else
		*t = v;
	cr_assert(r == 0 || r == -1);
	return r;
}

static int parse_str(const char *s, int64_t *t)
{
	return parse(s, strlen(s), t);
}

static void gm(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	cr_assert_not_null(gmtime_r(&tt, tm));
}

Test(date, format_known)
{
	static const struct {
		int64_t t;
		const char *s;
	} cases[] = {
		{RFC_EXAMPLE, "Sun, 06 Nov 1994 08:49:37 GMT"},
		{0, "Thu, 01 Jan 1970 00:00:00 GMT"},
		{-1, "Wed, 31 Dec 1969 23:59:59 GMT"},
		{951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
		{4107542400, "Mon, 01 Mar 2100 00:00:00 GMT"},
		{1709164800, "Thu, 29 Feb 2024 00:00:00 GMT"},
		{2147483647, "Tue, 19 Jan 2038 03:14:07 GMT"},
		{2147483648, "Tue, 19 Jan 2038 03:14:08 GMT"},
		{4294967296, "Sun, 07 Feb 2106 06:28:16 GMT"},
		{DATE_MAX, "Fri, 31 Dec 9999 23:59:59 GMT"},
		{DATE_MIN, "Sat, 01 Jan 0000 00:00:00 GMT"},
		{-2208988800, "Mon, 01 Jan 1900 00:00:00 GMT"},
		{-11644473600, "Mon, 01 Jan 1601 00:00:00 GMT"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[HTTP_DATE_LEN + 1];
		memset(out, 'X', sizeof(out));
		size_t n = http_date_format(cases[i].t, out);
		cr_expect_eq(n, HTTP_DATE_LEN, "%" PRId64, cases[i].t);
		cr_expect_str_eq(out, cases[i].s, "%" PRId64, cases[i].t);
	}
}

Test(date, format_out_of_range)
{
	static const int64_t bad[] = {DATE_MAX + 1, DATE_MIN - 1, INT64_MAX, INT64_MIN,
				      INT64_MIN + 1, INT64_C(1) << 62};
	for (size_t i = 0; i < N(bad); i++) {
		char out[HTTP_DATE_LEN + 1];
		memset(out, 'X', sizeof(out));
		cr_expect_eq(http_date_format(bad[i], out), 0, "%" PRId64, bad[i]);
		cr_expect_eq(out[0], '\0', "%" PRId64, bad[i]);
	}
}

/* Random instants over the whole range and over 1970..2100, compared with
 * glibc, and parsed back in all three forms. */
Test(date, random_against_gmtime)
{
	rng_state = 1994;
	for (int i = 0; i < 200000; i++) {
		int64_t t;
		if (i & 1)
			t = DATE_MIN + (int64_t)(rnd() % (uint64_t)(DATE_MAX - DATE_MIN + 1));
		else
			t = (int64_t)(rnd() % UINT64_C(4102444800)); /* 1970..2099 */
		struct tm tm;
		gm(t, &tm);
		char want[64], out[HTTP_DATE_LEN + 1];
		snprintf(want, sizeof(want), "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		cr_assert_eq(http_date_format(t, out), HTTP_DATE_LEN, "%" PRId64, t);
		cr_assert_str_eq(out, want, "%" PRId64, t);

		int64_t back = 0;
		cr_assert_eq(parse(out, HTTP_DATE_LEN, &back), 0, "%s", out);
		cr_assert_eq(back, t, "%s", out);

		char asc[64];
		snprintf(asc, sizeof(asc), "%s %s %2d %02d:%02d:%02d %04d", wdays[tm.tm_wday],
			 months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 tm.tm_year + 1900);
		cr_assert_eq(parse_str(asc, &back), 0, "%s", asc);
		cr_assert_eq(back, t, "%s", asc);

		int year = tm.tm_year + 1900;
		if (year >= 1970 && year <= 2069) {
			char r850[64];
			snprintf(r850, sizeof(r850), "%s, %02d-%s-%02d %02d:%02d:%02d GMT",
				 wdays_long[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], year % 100,
				 tm.tm_hour, tm.tm_min, tm.tm_sec);
			cr_assert_eq(parse_str(r850, &back), 0, "%s", r850);
			cr_assert_eq(back, t, "%s", r850);
		}
	}
}

/* Every day from 1969 to 2101, so each month length and leap rule is hit. */
Test(date, every_day)
{
	for (int64_t t = -86400 * 366; t < INT64_C(4133980800); t += 86400) {
		struct tm tm;
		gm(t + 86399, &tm);
		char want[64], out[HTTP_DATE_LEN + 1];
		snprintf(want, sizeof(want), "%s, %02d %s %04d 23:59:59 GMT", wdays[tm.tm_wday],
			 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
		http_date_format(t + 86399, out);
		cr_assert_str_eq(out, want);
		int64_t back;
		cr_assert_eq(parse(want, HTTP_DATE_LEN, &back), 0, "%s", want);
		cr_assert_eq(back, t + 86399);
	}
}

Test(date, parse_rfc_examples)
{
	int64_t t = 0;
	cr_assert_eq(parse_str("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	cr_assert_eq(t, RFC_EXAMPLE);
	t = 0;
	cr_assert_eq(parse_str("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	cr_assert_eq(t, RFC_EXAMPLE);
	t = 0;
	cr_assert_eq(parse_str("Sun Nov  6 08:49:37 1994", &t), 0);
	cr_assert_eq(t, RFC_EXAMPLE);
}

Test(date, parse_valid_edges)
{
	static const struct {
		const char *s;
		int64_t t;
	} cases[] = {
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
		{"Wed, 31 Dec 1969 23:59:59 GMT", -1},
		{"Sat, 01 Jan 0000 00:00:00 GMT", DATE_MIN},
		{"Fri, 31 Dec 9999 23:59:59 GMT", DATE_MAX},
		{"Thu, 29 Feb 2024 12:00:00 GMT", 1709208000},
		{"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
		{"Wed, 31 Dec 2008 23:59:60 GMT", 1230768000}, /* leap second */
		{"Sat, 30 Jun 2012 23:59:60 GMT", 1341100800},
		/* The weekday is not checked against the date. */
		{"Mon, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE},
		{"Monday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE},
		{"Mon Nov  6 08:49:37 1994", RFC_EXAMPLE},
		/* RFC 850 two-digit years: 70-99 -> 19xx, 00-69 -> 20xx. */
		{"Thursday, 01-Jan-70 00:00:00 GMT", 0},
		{"Friday, 31-Dec-99 23:59:59 GMT", 946684799},
		{"Saturday, 01-Jan-00 00:00:00 GMT", 946684800},
		{"Tuesday, 29-Feb-00 00:00:00 GMT", 951782400},
		{"Wednesday, 31-Dec-69 23:59:59 GMT", 3155759999},
		{"Wednesday, 09-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 3 * 86400},
		/* asctime: day as " 6", "06" or "16". */
		{"Sun Nov 06 08:49:37 1994", RFC_EXAMPLE},
		{"Wed Nov 16 08:49:37 1994", RFC_EXAMPLE + 10 * 86400},
		{"Thu Jan  1 00:00:00 1970", 0},
		{"Fri Dec 31 23:59:59 9999", DATE_MAX},
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t t = 0;
		cr_expect_eq(parse_str(cases[i].s, &t), 0, "\"%s\"", cases[i].s);
		cr_expect_eq(t, cases[i].t, "\"%s\": got %" PRId64 ", want %" PRId64, cases[i].s,
			     t, cases[i].t);
	}
}

Test(date, parse_invalid)
{
	static const struct {
		const char *s;
		size_t len;
	} cases[] = {
		/* Days that do not exist. */
		{L("Fri, 30 Feb 2024 00:00:00 GMT")},
		{L("Wed, 29 Feb 2023 00:00:00 GMT")},
		{L("Mon, 29 Feb 2100 00:00:00 GMT")},
		{L("Sun, 31 Apr 2024 00:00:00 GMT")},
		{L("Sun, 31 Jun 2024 00:00:00 GMT")},
		{L("Sun, 31 Sep 2024 00:00:00 GMT")},
		{L("Sun, 31 Nov 2024 00:00:00 GMT")},
		{L("Sun, 00 Jan 2024 00:00:00 GMT")},
		{L("Sun, 32 Jan 2024 00:00:00 GMT")},
		{L("Sun, 99 Dec 2024 00:00:00 GMT")},
		{L("Thursday, 30-Feb-24 00:00:00 GMT")},
		{L("Wednesday, 29-Feb-23 00:00:00 GMT")},
		{L("Sun Feb 30 00:00:00 2024")},
		{L("Sun Feb  0 00:00:00 2024")},
		/* Times that do not exist. */
		{L("Sun, 06 Nov 1994 24:00:00 GMT")},
		{L("Sun, 06 Nov 1994 08:60:00 GMT")},
		{L("Sun, 06 Nov 1994 08:49:61 GMT")},
		{L("Sun, 06 Nov 1994 99:99:99 GMT")},
		{L("Sunday, 06-Nov-94 24:00:00 GMT")},
		{L("Sun Nov  6 24:00:00 1994")},
		{L("Sun Nov  6 08:49:61 1994")},
		/* Garbage and near misses. */
		{L("")},
		{L("x")},
		{L("Sun")},
		{L("Sun,")},
		{L("Sunday,")},
		{L("0")},
		{L("784111777")},
		{L("1994-11-06T08:49:37Z")},
		{L("Sun, 06 Nov 1994 08:49:37 +0000")},
		{L("Sun, 06 Nov 1994 08:49:37 UTC")},
		{L("Sun, 06 Nov 1994 08:49:37 gmt")},
		{L("sun, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 nov 1994 08:49:37 GMT")},
		{L("SUN, 06 NOV 1994 08:49:37 GMT")},
		{L("Xyz, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Foo 1994 08:49:37 GMT")},
		{L("Sun, 6 Nov 1994 08:49:37 GMT")},
		{L("Sun,  6 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Nov 94 08:49:37 GMT")},
		{L("Sun, 06 Nov +994 08:49:37 GMT")},
		{L("Sun, -6 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Nov 1994 8:49:37 GMT")},
		{L("Sun, 06 Nov 1994 08:49:37  GMT")},
		{L("Sun, 06 Nov 1994 08-49-37 GMT")},
		{L("Sun, 06 Nov 1994 08:49:3x GMT")},
		{L("Sun, 06-Nov-1994 08:49:37 GMT")},
		{L("Sun,06 Nov 1994 08:49:37 GMT ")},
		{L("Sun\0 06 Nov 1994 08:49:37 GMT")},
		{L("Sunday, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06-Nov-94 08:49:37 GMT")},
		{L("Sunday, 06-Nov-1994 08:49:37 GMT")},
		{L("Sunday, 6-Nov-94 08:49:37 GMT")},
		{L("Sunday,06-Nov-94 08:49:37 GMT")},
		{L("Sundae, 06-Nov-94 08:49:37 GMT")},
		{L("sunday, 06-Nov-94 08:49:37 GMT")},
		{L("Sunday, 06-Nov-94 08:49:37 UTC")},
		{L("Sunday, 06/Nov/94 08:49:37 GMT")},
		{L("Sun Nov 6 08:49:37 1994")},
		{L("Sun Nov  6 08:49:37 94")},
		{L("Sun Nov  x 08:49:37 1994")},
		{L("Sun Nov x6 08:49:37 1994")},
		{L("Sun  Nov 6 08:49:37 1994")},
		{L("Sun Nov  6 08:49:37 1994 GMT")},
		{L("Sun Nov  6 08:49:37 +994")},
		{L("Sun Foo  6 08:49:37 1994")},
		/* Trailing and leading junk. */
		{L("Sun, 06 Nov 1994 08:49:37 GMT ")},
		{L(" Sun, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Nov 1994 08:49:37 GMTx")},
		{L("Sun, 06 Nov 1994 08:49:37 GMT\0")},
		{L("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT")},
		{L("Sunday, 06-Nov-94 08:49:37 GMT ")},
		{L("Sunday, 06-Nov-94 08:49:37 GMTx")},
		{L("Sun Nov  6 08:49:37 1994 ")},
		{L("Sun Nov  6 08:49:37 19945")},
		{L("\tSun Nov  6 08:49:37 1994")},
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t t;
		cr_expect_eq(parse(cases[i].s, cases[i].len, &t), -1, "\"%s\" was accepted",
			     esc(cases[i].s, cases[i].len));
	}
}

/* No proper prefix of a valid date is a date. */
Test(date, parse_prefixes)
{
	static const char *const valid[] = {
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Wednesday, 09-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
	};
	for (size_t i = 0; i < N(valid); i++) {
		size_t n = strlen(valid[i]);
		int64_t t;
		cr_assert_eq(parse(valid[i], n, &t), 0, "%s", valid[i]);
		for (size_t k = 0; k < n; k++)
			cr_expect_eq(parse(valid[i], k, &t), -1, "prefix %zu of \"%s\"", k,
				     valid[i]);
	}
}

/* Random bytes over the date alphabet: never a crash, and whatever is
 * accepted formats back to a well-formed date. */
Test(date, parse_random_noise)
{
	static const char alpha[] = "SunMoTeWdhFrSatJaFbMpyJlgOcNvDGT ,-:0123456789";
	rng_state = 7;
	char base[3][40] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
			    "Sun Nov  6 08:49:37 1994"};
	for (int iter = 0; iter < 100000; iter++) {
		char s[40];
		size_t n = strlen(base[iter % 3]);
		memcpy(s, base[iter % 3], n);
		for (int k = 1 + (int)(rnd() % 3); k > 0; k--)
			s[rnd() % n] = alpha[rnd() % (sizeof(alpha) - 1)];
		int64_t t;
		if (parse(s, n, &t) == 0) {
			char out[HTTP_DATE_LEN + 1];
			cr_assert_eq(http_date_format(t, out), HTTP_DATE_LEN, "%s", s);
			int64_t back;
			cr_assert_eq(parse(out, HTTP_DATE_LEN, &back), 0);
			cr_assert_eq(back, t);
		}
	}
}
