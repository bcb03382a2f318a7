/* Tests for net/access_log.c, the times it shows (net/http_date.c's
 * http_gmtime, also behind the Date header), and the lines http_feed and
 * the timeout answer write for rejected requests: one line per response.
 * The same over real sockets: test_hardening_integration.c. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/access_log.h"
#include "net/http_date.h"
#include "net/http_response.h"
#include "net/proto.h"

#include "app_routes.h"
#include "unit_util.h"

#define NOW 1700000000 /* Tue, 14 Nov 2023 22:13:20 GMT */

static struct {
	struct access_log log;
	struct peer_addr peer;
	struct proto_state st;
	struct proto_env env;
	struct outbuf out;
	struct http_clock clk;
	char mem[65536];
	int fd;
	char text[65536]; /* the log, after fx_lines() */
} fx;

static void fx_init(void)
{
	memset(&fx, 0, sizeof(fx));
	char path[] = "/tmp/herd-alog-XXXXXX";
	fx.fd = mkstemp(path);
	cr_assert(fx.fd >= 0);
	unlink(path);
	cr_assert_eq(access_log_init(&fx.log, fx.fd), 0);
	fx.peer = (struct peer_addr){.ip = {192, 0, 2, 7}, .v4 = 1};
	fx.out = (struct outbuf){.p = fx.mem, .cap = sizeof(fx.mem)};
	http_clock_tick(&fx.clk, NOW);
	fx.env = (struct proto_env){.out = &fx.out, .clock = &fx.clk, .max_body = 1000,
				    .log = &fx.log, .peer = &fx.peer};
	app_routes_attach(&fx.env, false);
}

static void fx_fini(void)
{
	access_log_destroy(&fx.log);
	close(fx.fd);
}

TestSuite(access_log, .init = fx_init, .fini = fx_fini);

/* Flushes and reads the whole log; returns its line count. */
static int fx_lines(void)
{
	access_log_flush(&fx.log);
	ssize_t n = pread(fx.fd, fx.text, sizeof(fx.text) - 1, 0);
	cr_assert_geq(n, 0);
	fx.text[n] = 0;
	int lines = 0;
	for (ssize_t i = 0; i < n; i++)
		lines += fx.text[i] == '\n';
	return lines;
}

/* The log holds exactly this line (after "[time] "), once. */
static void expect_line(const char *tail)
{
	char want[8192];
	snprintf(want, sizeof(want), "192.0.2.7 - - [14/Nov/2023:22:13:20 +0000] %s\n", tail);
	const char *at = strstr(fx.text, want);
	cr_assert(at, "no line\n  %s\nin\n%s", want, fx.text);
	cr_assert_null(strstr(at + 1, want), "twice:\n%s", fx.text);
}

/* Responses in the output so far. */
static int responses(void)
{
	int n = 0;
	for (const char *p = fx.mem; (p = memmem(p, fx.mem + fx.out.len - p, "HTTP/1.1 ", 9));
	     p += 9)
		n += p == fx.mem || p[-1] == '\n';
	return n;
}

/* Feeds s on a fresh connection, as one read. */
static void feed_fresh(const char *s, size_t n)
{
	memset(&fx.st, 0, sizeof(fx.st));
	char *copy = dup_exact(s, n);
	(void)http_feed(&fx.st, copy, n, &fx.env);
	free(copy);
}

/* ---- time ------------------------------------------------------------------ */

Test(access_log, gmtime_matches_libc)
{
	rng_state = 15;
	for (int i = 0; i < 200000; i++) {
		/* Around now, and anywhere in years 0..9999 (some negative). */
		int64_t t = i < 1000 ? NOW + i * 86399LL
				     : (int64_t)(rnd() % 315537897600ULL) - 62167219200LL;
		struct http_tm mine;
		http_gmtime(t, &mine);
		time_t tt = (time_t)t;
		struct tm ref;
		cr_assert_not_null(gmtime_r(&tt, &ref));
		cr_assert(mine.year == ref.tm_year + 1900LL && mine.mon == ref.tm_mon &&
				  mine.mday == ref.tm_mday && mine.hour == ref.tm_hour &&
				  mine.min == ref.tm_min && mine.sec == ref.tm_sec &&
				  mine.wday == ref.tm_wday,
			  "%lld: %lld-%u-%u %u:%u:%u wd %u", (long long)t, (long long)mine.year,
			  mine.mon, mine.mday, mine.hour, mine.min, mine.sec, mine.wday);
	}
}

/* The Date line and the log's time, as strftime would write them in the C
 * locale, over a few years of seconds. */
Test(access_log, date_and_log_time_match_strftime)
{
	rng_state = 8;
	for (int i = 0; i < 2000; i++) {
		int64_t t = NOW + (int64_t)(rnd() % (5 * 366 * 86400ULL));
		time_t tt = (time_t)t;
		struct tm tm;
		gmtime_r(&tt, &tm);
		char want[128];
		strftime(want, sizeof(want), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		struct http_clock c = {0};
		http_clock_tick(&c, t);
		cr_assert_eq(c.date_len, strlen(want));
		cr_assert_eq(memcmp(c.date, want, c.date_len), 0, "%lld: %.*s", (long long)t,
			     (int)c.date_len, c.date);
		strftime(want, sizeof(want), "[%d/%b/%Y:%H:%M:%S +0000]", &tm);
		struct http_request req = {.method_name = {"GET", 3}, .target = {"/", 1},
					   .version_minor = 1};
		access_log_request(&fx.log, &fx.peer, &req, 200, 1, t);
		cr_assert_not_null(memmem(fx.log.buf, fx.log.len, want, strlen(want)),
				   "%s not in %.*s", want, (int)fx.log.len, fx.log.buf);
		fx.log.len = 0;
	}
}

/* ---- lines for rejected requests -------------------------------------------- */

Test(access_log, rejected_line_fields)
{
	struct http_request part;
	static const char head[] = "GET /a\"b HTTP/1.1\r\nReferer: r\r\nUser-Agent: u\\v\r\nX";
	cr_assert_eq(http_parse_request(head, sizeof(head) - 1, &part), HTTP_NEED_MORE);
	access_log_rejected(&fx.log, &fx.peer, head, sizeof(head) - 1, &part, 408, 20, NOW);
	access_log_rejected(&fx.log, &fx.peer, L("\r\n\r\nPUT /x HTTP/1.0"), NULL, 400, 0, NOW);
	access_log_rejected(&fx.log, &fx.peer, L("\x16\x03\x01\x00\r"), NULL, 400, 24, NOW);
	access_log_rejected(&fx.log, &fx.peer, L("\r\n\n"), NULL, 400, 24, NOW);
	access_log_rejected(&fx.log, &fx.peer, NULL, 0, NULL, 408, 24, NOW);
	cr_assert_eq(fx_lines(), 5);
	expect_line("\"GET /a\\x22b HTTP/1.1\" 408 20 \"r\" \"u\\x5cv\"");
	expect_line("\"PUT /x HTTP/1.0\" 400 - \"-\" \"-\"");
	expect_line("\"\\x16\\x03\\x01\\x00\" 400 24 \"-\" \"-\"");
	cr_assert_eq(strstr(fx.text, "\"-\" 400 24 \"-\" \"-\"\n") != NULL, 1, "%s", fx.text);
	expect_line("\"-\" 408 24 \"-\" \"-\"");
}

/* A request line longer than a field may be: cut at 1024 bytes. */
Test(access_log, rejected_long_line_cut)
{
	static char head[6000];
	memcpy(head, "GET /", 5);
	memset(head + 5, 'q', sizeof(head) - 5);
	access_log_rejected(&fx.log, &fx.peer, head, sizeof(head), NULL, 414, 19, NOW);
	cr_assert_eq(fx_lines(), 1);
	char want[1100];
	int k = snprintf(want, sizeof(want), "\"GET /");
	memset(want + k, 'q', 1019);
	snprintf(want + k + 1019, sizeof(want) - (size_t)k - 1019, "\" 414 19 \"-\" \"-\"");
	expect_line(want);
}

Test(access_log, held_lines)
{
	struct http_request req;
	static const char head[] = "POST /up HTTP/1.1\r\nHost: h\r\nUser-Agent: ua\r\n\r\n";
	cr_assert_gt(http_parse_request(head, sizeof(head) - 1, &req), 0);
	uint32_t t[10];
	for (int i = 0; i < 10; i++) {
		t[i] = access_log_hold(&fx.log, &fx.peer, &req, NOW);
		cr_assert_neq(t[i], 0);
	}
	cr_assert_eq(fx_lines(), 0, "a held line was written: %s", fx.text);
	/* The two oldest were evicted: their lines still come, without the
	 * request. */
	for (int i = 0; i < 10; i++)
		access_log_release(&fx.log, t[i], &fx.peer, i < 5 ? 413 : 200, i < 5 ? 22 : 13, NOW);
	cr_assert_eq(fx_lines(), 10);
	int ok413 = 0, ok200 = 0, anon = 0;
	for (const char *p = fx.text; (p = strstr(p, "] ")); p += 2) {
		ok413 += !strncmp(p + 2, "\"POST /up HTTP/1.1\" 413 22 \"-\" \"ua\"\n", 35);
		ok200 += !strncmp(p + 2, "\"POST /up HTTP/1.1\" 200 13 \"-\" \"ua\"\n", 35);
		anon += !strncmp(p + 2, "\"-\" 413 22 \"-\" \"-\"\n", 19);
	}
	cr_assert(ok413 == 3 && ok200 == 5 && anon == 2, "%d %d %d\n%s", ok413, ok200, anon,
		  fx.text);
}

/* ---- through http_feed: one line per response ------------------------------ */

#define HOST "Host: h\r\n"

Test(access_log, feed_rejections_one_line_each)
{
	static char many[4096];
	int k = snprintf(many, sizeof(many), "GET /m HTTP/1.1\r\n" HOST "User-Agent: m\r\n");
	for (int i = 0; i < 70; i++)
		k += snprintf(many + k, sizeof(many) - (size_t)k, "X%d: y\r\n", i);
	snprintf(many + k, sizeof(many) - (size_t)k, "\r\n");
	static char longt[5200];
	memcpy(longt, "GET /", 5);
	memset(longt + 5, 't', sizeof(longt) - 5);
	static const char *const reqs[] = {
		"GET / HTTP/1.1\r\nUser-Agent: nohost\r\n\r\n",     /* 400 */
		"GET / HTTP/3.0\r\n" HOST "\r\n",                    /* 505 */
		"POST / HTTP/1.1\r\n" HOST "Transfer-Encoding: br\r\n\r\n", /* 501 */
		"GET / HTTP/1.1\r\n" HOST "Content-Length: 1\r\nContent-Length: 2\r\n\r\n", /* 400 */
		"POST /plaintext HTTP/1.1\r\n" HOST "Content-Length: 1001\r\n\r\n", /* 413 */
		many,                                                 /* 431 */
		"GET /ok HTTP/1.1\r\n" HOST "\r\nGET /x HTTP/1.1\r\nBad Field : 1\r\n\r\n", /* 404, 400 */
	};
	for (size_t i = 0; i < N(reqs); i++)
		feed_fresh(reqs[i], strlen(reqs[i]));
	feed_fresh(longt, sizeof(longt)); /* 414 */
	int lines = fx_lines();
	cr_assert_eq(lines, responses(), "%d lines for %d responses:\n%s", lines, responses(),
		     fx.text);
	cr_assert_eq(lines, 9);
	expect_line("\"GET / HTTP/1.1\" 400 16 \"-\" \"nohost\"");
	expect_line("\"GET / HTTP/3.0\" 505 31 \"-\" \"-\"");
	expect_line("\"POST / HTTP/1.1\" 501 20 \"-\" \"-\"");
	expect_line("\"POST /plaintext HTTP/1.1\" 413 22 \"-\" \"-\"");
	expect_line("\"GET /m HTTP/1.1\" 431 36 \"-\" \"m\"");
	expect_line("\"GET /ok HTTP/1.1\" 404 14 \"-\" \"-\"");
	expect_line("\"GET /x HTTP/1.1\" 400 16 \"-\" \"-\"");
	cr_assert_not_null(strstr(fx.text, "\"GET /tttt"), "%s", fx.text);
	cr_assert_not_null(strstr(fx.text, "t\" 414 17 \"-\" \"-\"\n"), "%s", fx.text);
}

/* A chunked body too large for --max-body: its answer waited for the body,
 * so the one line says 413, not what the head alone would have got. */
Test(access_log, deferred_answer_logged_once)
{
	static const char head[] = "POST /plaintext HTTP/1.1\r\n" HOST "User-Agent: big\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	memset(&fx.st, 0, sizeof(fx.st));
	cr_assert_eq(http_feed(&fx.st, head, sizeof(head) - 1, &fx.env), sizeof(head) - 1);
	cr_assert_eq(fx_lines(), 0, "logged before the answer: %s", fx.text);
	cr_assert_eq(responses(), 0);
	(void)http_feed(&fx.st, L("400\r\n"), &fx.env);
	feed_fresh(L("HEAD /json HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
		     "3\r\nabc\r\n0\r\n\r\n"));
	cr_assert_eq(fx_lines(), 2);
	expect_line("\"POST /plaintext HTTP/1.1\" 413 22 \"-\" \"big\"");
	expect_line("\"HEAD /json HTTP/1.1\" 200 - \"-\" \"-\"");
	cr_assert_eq(responses(), 2);
}

/* The head timeout's 408: the request line and the fields that came. */
Test(access_log, timeout_answer_logged)
{
	static const char part[] = "GET /slow HTTP/1.1\r\nUser-Agent: slow\r\nAcc";
	memset(&fx.st, 0, sizeof(fx.st));
	cr_assert_eq(http_feed(&fx.st, part, sizeof(part) - 1, &fx.env), 0);
	proto_http.timeout_answer(&fx.st, part, sizeof(part) - 1, &fx.env);
	/* In a body whose answer waits for it. */
	static const char body[] = "POST /plaintext HTTP/1.1\r\n" HOST "User-Agent: b\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n5\r\nab";
	memset(&fx.st, 0, sizeof(fx.st));
	size_t used = http_feed(&fx.st, body, sizeof(body) - 1, &fx.env);
	proto_http.timeout_answer(&fx.st, body + used, sizeof(body) - 1 - used, &fx.env);
	cr_assert_eq(fx_lines(), 2);
	cr_assert_eq(responses(), 2);
	expect_line("\"GET /slow HTTP/1.1\" 408 20 \"-\" \"slow\"");
	expect_line("\"POST /plaintext HTTP/1.1\" 408 20 \"-\" \"b\"");
}

/* ---- proxied requests: access_log_prepare / access_log_finish -------------- */

/* The prepared line is the immediate one plus the upstream fields: logged
 * both ways, the two lines differ only by that tail. */
Test(access_log, proxied_line_matches_combined)
{
	struct http_request req;
	static const char head[] = "GET /api/a\"b?q=1 HTTP/1.1\r\nHost: h\r\nReferer: http://r/\r\n"
				   "User-Agent: ua\xc3x\r\n\r\n";
	cr_assert_gt(http_parse_request(head, sizeof(head) - 1, &req), 0);
	access_log_request(&fx.log, &fx.peer, &req, 200, 1234, NOW);
	char *prep = access_log_prepare(&fx.peer, &req, NOW);
	cr_assert_not_null(prep);
	access_log_finish(&fx.log, prep, &fx.peer, 200, 1234, "127.0.0.1:3000", 1234567, NOW + 5);
	cr_assert_eq(fx_lines(), 2);
	const char *plain = "\"GET /api/a\\x22b?q=1 HTTP/1.1\" 200 1234 \"http://r/\" \"ua\\xc3x\"";
	expect_line(plain);
	char want[512];
	snprintf(want, sizeof(want), "%s upstream=127.0.0.1:3000 upstream_time=1.234", plain);
	expect_line(want);
	/* The time is the request's (prepare), not the answer's. */
	cr_assert_null(strstr(fx.text, ":22:13:25"), "%s", fx.text);
}

Test(access_log, proxied_no_upstream_and_zero_bytes)
{
	struct http_request req;
	static const char head[] = "POST /up HTTP/1.0\r\n\r\n";
	cr_assert_gt(http_parse_request(head, sizeof(head) - 1, &req), 0);
	char *prep = access_log_prepare(&fx.peer, &req, NOW);
	cr_assert_not_null(prep);
	access_log_finish(&fx.log, prep, &fx.peer, 502, 0, NULL, 0, NOW);
	prep = access_log_prepare(&fx.peer, &req, NOW);
	access_log_finish(&fx.log, prep, &fx.peer, 504, 10, "unix:/run/a\"pp.sock", 60000999,
			  NOW);
	prep = access_log_prepare(&fx.peer, &req, NOW);
	access_log_finish(&fx.log, prep, &fx.peer, 200, 1, "[::1]:8080", 999, NOW);
	cr_assert_eq(fx_lines(), 3);
	expect_line("\"POST /up HTTP/1.0\" 502 - \"-\" \"-\" upstream=- upstream_time=-");
	expect_line("\"POST /up HTTP/1.0\" 504 10 \"-\" \"-\" upstream=unix:/run/a\\x22pp.sock "
		    "upstream_time=60.000");
	expect_line("\"POST /up HTTP/1.0\" 200 1 \"-\" \"-\" upstream=[::1]:8080 upstream_time=0.000");
}

/* Out of memory at prepare: the line still comes, without the request. */
Test(access_log, proxied_unprepared)
{
	access_log_finish(&fx.log, NULL, &fx.peer, 502, 0, "127.0.0.1:1", 1500, NOW);
	cr_assert_eq(fx_lines(), 1);
	expect_line("\"-\" 502 - \"-\" \"-\" upstream=127.0.0.1:1 upstream_time=0.001");
}

/* Many in flight at once, finished in another order, with worst-case
 * fields: every line whole, none lost, the buffer flushed as it fills. */
Test(access_log, proxied_many_in_flight)
{
	struct http_request req;
	static const char small[] = "GET /s HTTP/1.1\r\nHost: h\r\nReferer: x\r\n\r\n";
	cr_assert_gt(http_parse_request(small, sizeof(small) - 1, &req), 0);
	enum { IN_FLIGHT = 300 };
	static char *prep[IN_FLIGHT];
	for (int i = 0; i < IN_FLIGHT; i++) {
		prep[i] = access_log_prepare(&fx.peer, &req, NOW);
		cr_assert_not_null(prep[i]);
	}
	for (int i = IN_FLIGHT - 1; i >= 0; i--)
		access_log_finish(&fx.log, prep[i], &fx.peer, 200 + i % 5, (uint64_t)i, "u:1",
				  (uint64_t)i * 1000, NOW);
	cr_assert_eq(fx_lines(), IN_FLIGHT);
	expect_line("\"GET /s HTTP/1.1\" 204 299 \"x\" \"-\" upstream=u:1 upstream_time=0.299");
}

/* The longest line there is: fields cut at 1024 bytes, each byte escaped,
 * and the upstream's name at 256. */
#define UPSTREAM_NAME_CUT 256
Test(access_log, proxied_worst_case_line)
{
	static char head[HTTP_MAX_HEADER_BYTES];
	int k = snprintf(head, sizeof(head), "GET /");
	memset(head + k, 'q', 2000);
	k += 2000;
	k += snprintf(head + k, sizeof(head) - (size_t)k, " HTTP/1.1\r\nHost: h\r\nReferer: ");
	memset(head + k, '\x80', 2000);
	k += 2000;
	k += snprintf(head + k, sizeof(head) - (size_t)k, "\r\nUser-Agent: ");
	memset(head + k, '"', 2000);
	k += 2000;
	k += snprintf(head + k, sizeof(head) - (size_t)k, "\r\n\r\n");
	struct http_request req;
	cr_assert_eq(http_parse_request(head, (size_t)k, &req), k);
	char name[300];
	memset(name, '\\', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	for (int i = 0; i < 3; i++)
		access_log_finish(&fx.log, access_log_prepare(&fx.peer, &req, NOW), &fx.peer, 200,
				  1, name, 1, NOW);
	cr_assert_eq(fx_lines(), 3);
	char want[2048];
	int w = snprintf(want, sizeof(want), " upstream=");
	for (int i = 0; i < UPSTREAM_NAME_CUT; i++)
		w += snprintf(want + w, sizeof(want) - (size_t)w, "\\x5c");
	snprintf(want + w, sizeof(want) - (size_t)w, " upstream_time=0.000\n");
	cr_assert_not_null(strstr(fx.text, want), "%s", fx.text + strlen(fx.text) - 200);
}
