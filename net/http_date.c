/* HTTP date formatting and parsing without libc time functions.
 *
 * The day <-> civil date conversions are Howard Hinnant's algorithms
 * ("chrono-Compatible Low-Level Date Algorithms"): they count in 400-year
 * eras starting on March 1st, so the leap day is the last day of a year and
 * month lengths follow a linear formula.  Exact for every proleptic
 * Gregorian date, including negative day counts. */
#include "net/http_date.h"

#include <stdbool.h>
#include <string.h>

#define SECS_PER_DAY 86400

static const char wday_short[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday"};
const char http_month_name[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return dim[m - 1] + (m == 2 && is_leap(y));
}

static char *put2(char *p, unsigned v)
{
	*p++ = (char)('0' + v / 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

static char *put3(char *p, const char *s)
{
	memcpy(p, s, 3);
	return p + 3;
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define DATE_MIN (INT64_C(-719528) * SECS_PER_DAY)
#define DATE_MAX (INT64_C(2932897) * SECS_PER_DAY - 1)

void http_gmtime(int64_t t, struct http_tm *tm)
{
	int64_t days = t / SECS_PER_DAY, secs = t % SECS_PER_DAY;
	if (secs < 0) {
		secs += SECS_PER_DAY;
		days--;
	}
	unsigned m, d;
	civil_from_days(days, &tm->year, &m, &d);
	tm->mon = (uint8_t)(m - 1);
	tm->mday = (uint8_t)d;
	tm->wday = (uint8_t)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
	tm->hour = (uint8_t)(secs / 3600);
	tm->min = (uint8_t)(secs / 60 % 60);
	tm->sec = (uint8_t)(secs % 60);
}

size_t http_date_format(int64_t t, char out[HTTP_DATE_LEN + 1])
{
	if (t < DATE_MIN || t > DATE_MAX) {
		out[0] = '\0';
		return 0;
	}
	struct http_tm tm;
	http_gmtime(t, &tm);

	char *p = put3(out, wday_short[tm.wday]);
	*p++ = ',';
	*p++ = ' ';
	p = put2(p, tm.mday);
	*p++ = ' ';
	p = put3(p, http_month_name[tm.mon]);
	*p++ = ' ';
	p = put2(p, (unsigned)(tm.year / 100));
	p = put2(p, (unsigned)(tm.year % 100));
	*p++ = ' ';
	p = put2(p, tm.hour);
	*p++ = ':';
	p = put2(p, tm.min);
	*p++ = ':';
	p = put2(p, tm.sec);
	memcpy(p, " GMT", 5); /* with the NUL */
	return HTTP_DATE_LEN;
}

/* Exactly n digits at s. */
static bool digits(const char *s, unsigned n, unsigned *v)
{
	unsigned x = 0;
	for (unsigned i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (unsigned)(s[i] - '0');
	}
	*v = x;
	return true;
}

static int find3(const char (*names)[4], int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (memcmp(names[i], s, 3) == 0)
			return i;
	return -1;
}

/* "HH:MM:SS" into seconds of the day (60 allowed for a leap second). */
static bool parse_time(const char *s, unsigned *secs)
{
	unsigned h, m, sec;
	if (!digits(s, 2, &h) || s[2] != ':' || !digits(s + 3, 2, &m) || s[5] != ':' ||
	    !digits(s + 6, 2, &sec))
		return false;
	if (h > 23 || m > 59 || sec > 60)
		return false;
	*secs = h * 3600 + m * 60 + sec;
	return true;
}

static int finish(int64_t y, int mon, unsigned d, unsigned secs, int64_t *out)
{
	if (mon < 0 || d < 1 || d > days_in_month(y, (unsigned)mon + 1))
		return -1;
	*out = days_from_civil(y, (unsigned)mon + 1, d) * SECS_PER_DAY + secs;
	return 0;
}

int http_date_parse(const char *s, size_t len, int64_t *unix_seconds)
{
	unsigned d, y, secs;
	if (len == HTTP_DATE_LEN && s[3] == ',') {
		/* "Sun, 06 Nov 1994 08:49:37 GMT" */
		if (find3(wday_short, 7, s) < 0 || s[4] != ' ' || !digits(s + 5, 2, &d) ||
		    s[7] != ' ' || s[11] != ' ' || !digits(s + 12, 4, &y) || s[16] != ' ' ||
		    !parse_time(s + 17, &secs) || memcmp(s + 25, " GMT", 4) != 0)
			return -1;
		return finish(y, find3(http_month_name, 12, s + 8), d, secs, unix_seconds);
	}
	if (len == 24 && s[3] == ' ') {
		/* "Sun Nov  6 08:49:37 1994" */
		if (find3(wday_short, 7, s) < 0 || s[7] != ' ' || s[10] != ' ' ||
		    !parse_time(s + 11, &secs) || s[19] != ' ' || !digits(s + 20, 4, &y))
			return -1;
		if (s[8] == ' ') {
			if (!digits(s + 9, 1, &d))
				return -1;
		} else if (!digits(s + 8, 2, &d)) {
			return -1;
		}
		return finish(y, find3(http_month_name, 12, s + 4), d, secs, unix_seconds);
	}
	/* "Sunday, 06-Nov-94 08:49:37 GMT" */
	const char *comma = memchr(s, ',', len < 10 ? len : 10);
	if (!comma)
		return -1;
	size_t nl = (size_t)(comma - s);
	bool named = false;
	for (int i = 0; i < 7 && !named; i++)
		named = strlen(wday_long[i]) == nl && memcmp(wday_long[i], s, nl) == 0;
	if (!named || len != nl + 24) /* ", 06-Nov-94 08:49:37 GMT" */
		return -1;
	const char *p = comma + 1;
	if (p[0] != ' ' || !digits(p + 1, 2, &d) || p[3] != '-' || p[7] != '-' ||
	    !digits(p + 8, 2, &y) || p[10] != ' ' || !parse_time(p + 11, &secs) ||
	    memcmp(p + 19, " GMT", 4) != 0)
		return -1;
	return finish(y < 70 ? 2000 + y : 1900 + y, find3(http_month_name, 12, p + 4), d, secs,
		      unix_seconds);
}
