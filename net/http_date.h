/* HTTP dates (RFC 9110 5.6.7) for Date, Last-Modified and the conditional
 * request headers.
 *
 * Both directions are plain arithmetic on the proleptic Gregorian calendar:
 * gmtime_r/strftime/strptime would bring the locale, the TZ machinery and
 * their locks into a hot path that only ever needs UTC and English names. */
#ifndef HERD_HTTP_DATE_H
#define HERD_HTTP_DATE_H

#include <stddef.h>
#include <stdint.h>

/* The UTC calendar fields of an instant.  Everything that shows a time
 * (the Date header, the access log) goes through this rather than
 * gmtime_r: glibc's first gmtime_r in a process reads TZ and /etc/localtime
 * and allocates (tzset), which in a worker's clock tick is a malloc under
 * whatever memory pressure the server is in, and a descriptor. */
struct http_tm {
	int64_t year; /* proleptic Gregorian, e.g. 2026 */
	uint8_t mon;  /* 0..11 */
	uint8_t mday; /* 1..31 */
	uint8_t hour, min, sec;
	uint8_t wday; /* 0 = Sunday */
};

void http_gmtime(int64_t unix_seconds, struct http_tm *tm);

extern const char http_month_name[12][4];

/* Length of an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT". */
#define HTTP_DATE_LEN 29

/* Writes unix_seconds as an IMF-fixdate plus a NUL and returns 29.
 * The format has a four-digit year, so only 0000-01-01T00:00:00Z to
 * 9999-12-31T23:59:59Z can be written; outside that out is "" and the
 * result 0, so a caller leaves out Last-Modified instead of sending a
 * wrong one (think of a file whose mtime was set to garbage). */
size_t http_date_format(int64_t unix_seconds, char out[HTTP_DATE_LEN + 1]);

/* Parses s[0..len) as one of the three forms a recipient must accept:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"
 *   asctime      "Sun Nov  6 08:49:37 1994"  (day also as "06" or "16")
 * 0 with *unix_seconds set, or -1 with it untouched.
 *
 * Strict where leniency would only guess: the whole input must match (no
 * surrounding whitespace: the header parser already strips OWS), names and
 * "GMT" are case-sensitive as the grammar says, the day must exist in that
 * month and year, hour < 24, minute < 60, second <= 60.  A leap second
 * 23:59:60 reads as the next day's 00:00:00, which is what POSIX time does.
 * The day name must be a valid one but is not checked against the date: it
 * carries no information, and nobody gains from rejecting a date that a
 * broken generator labelled wrongly.  An unparseable date makes the
 * conditional header be ignored, which costs a full response, never a wrong
 * 304.
 *
 * RFC 850's two-digit year is read with a fixed pivot, 70-99 as 19xx and
 * 00-69 as 20xx, rather than RFC 9110's "more than 50 years in the future"
 * rule: that rule needs the clock, and the answers only differ after 2019
 * for years that no live client sends in this obsolete form. */
int http_date_parse(const char *s, size_t len, int64_t *unix_seconds);

#endif
