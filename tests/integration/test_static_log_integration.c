/* Static files: the access log (--access-log).
 *
 * Each test builds its own tree (see static_util.h).  The tests:
 *
 *   access_log       combined-format lines match the requests; escaping;
 *                    SIGUSR2 reopen after a rename
 *   access_log_long_fields  120 pipelined requests whose fields are all
 *                    escape-worthy bytes: every line whole and printable
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "static_util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

TestSuite(static_files, .fini = static_fini, .timeout = 30);

/* ---- access log ----------------------------------------------------------- */

struct logline {
	char *tail; /* after "] " */
	bool used;
};

/* Splits the log into lines, checks each one's prefix (client, identities,
 * a timestamp within 60 s of now); returns the count. */
static int read_log(const char *path, struct logline *out, int max, char **keep)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "access log %s: %s", path, strerror(errno));
	size_t cap = 1 << 16, len = 0;
	char *s = malloc(cap);
	size_t n;
	while ((n = fread(s + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 1024)
			s = realloc(s, cap *= 2);
	}
	s[len] = 0;
	fclose(f);
	*keep = s;
	cr_assert(len == 0 || s[len - 1] == '\n', "access log does not end with a newline: %s", s);
	int count = 0;
	time_t now = time(NULL);
	for (char *line = s, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		*nl = 0;
		static const char pre[] = "127.0.0.1 - - [";
		cr_assert(!strncmp(line, pre, sizeof(pre) - 1), "log line prefix: %s", line);
		char *ts = line + sizeof(pre) - 1;
		struct tm tm = {0};
		char *rest = strptime(ts, "%d/%b/%Y:%H:%M:%S +0000", &tm);
		cr_assert(rest && rest - ts == 26 && !strncmp(rest, "] ", 2),
			  "log line timestamp: %s", line);
		long long skew = (long long)timegm(&tm) - (long long)now;
		cr_assert(skew > -60 && skew < 5, "log timestamp %lld s off: %s", skew, line);
		cr_assert_lt(count, max, "more than %d log lines", max);
		out[count].tail = rest + 2;
		out[count].used = false;
		count++;
	}
	return count;
}

static void expect_line(struct logline *lines, int n, const char *tail, const char *all)
{
	for (int i = 0; i < n; i++)
		if (!lines[i].used && !strcmp(lines[i].tail, tail)) {
			lines[i].used = true;
			return;
		}
	cr_assert_fail("no access log line ending in\n  %s\nlog:\n%s", tail, all);
}

/* The contract: lines are written at least once a second.  Polls the file
 * until it holds `want` lines (a second, plus slack for a loaded machine),
 * then waits a little longer so that any extra line would show too.
 * Returns the ms it took. */
#define LOG_WAIT_MS 2000
static long long wait_log_lines(const char *path, int want)
{
	long long t0 = h_now_ms();
	for (;;) {
		int n = 0;
		FILE *f = fopen(path, "r");
		if (f) {
			int ch;
			while ((ch = getc(f)) != EOF)
				n += ch == '\n';
			fclose(f);
		}
		if (n >= want || h_now_ms() - t0 > LOG_WAIT_MS)
			break;
		h_sleep_ms(20);
	}
	long long took = h_now_ms() - t0;
	h_sleep_ms(150);
	return took;
}

/* A snapshot of the log file for error messages. */
static char *file_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = calloc(1, 1 << 16);
	if (f) {
		size_t n = fread(s, 1, (1 << 16) - 1, f);
		s[n] = 0;
		fclose(f);
	}
	return s;
}

HTEST(static_files, access_log)
{
	make_tree(false);
	char logpath[256], rotated[256];
	path_in(logpath, sizeof(logpath), base_dir, "access.log");
	path_in(rotated, sizeof(rotated), base_dir, "access.log.1");
	herd_start(&srv, "--workers", "2", "--root", root_dir, "--access-log", logpath);

	struct h_resp r;
	/* Each request and its expected line tail (bytes from the response). */
	char exp[16][512];
	int ne = 0;

	cr_assert_eq(req("GET", "/f4k.bin",
			 "Referer: http://ref.example/p?a=1\r\nUser-Agent: test-agent/1.0\r\n", &r),
		     200);
	char etag[128];
	snprintf(etag, sizeof(etag), "%s", h_header(&r, "ETag"));
	snprintf(exp[ne++], 512,
		 "\"GET /f4k.bin HTTP/1.1\" 200 4096 \"http://ref.example/p?a=1\" \"test-agent/1.0\"");
	h_resp_free(&r);

	cr_assert_eq(req("HEAD", "/f4k.bin", NULL, &r), 200);
	snprintf(exp[ne++], 512, "\"HEAD /f4k.bin HTTP/1.1\" 200 - \"-\" \"-\"");
	h_resp_free(&r);

	char h[256];
	snprintf(h, sizeof(h), "If-None-Match: %s\r\nUser-Agent: cond\r\n", etag);
	cr_assert_eq(req("GET", "/f4k.bin", h, &r), 304);
	snprintf(exp[ne++], 512, "\"GET /f4k.bin HTTP/1.1\" 304 - \"-\" \"cond\"");
	h_resp_free(&r);

	cr_assert_eq(req("GET", "/missing.txt", NULL, &r), 404);
	snprintf(exp[ne++], 512, "\"GET /missing.txt HTTP/1.1\" 404 %zu \"-\" \"-\"", r.body_len);
	h_resp_free(&r);

	cr_assert_eq(req("GET", "/f100k.bin", "Range: bytes=0-99\r\n", &r), 206);
	snprintf(exp[ne++], 512, "\"GET /f100k.bin HTTP/1.1\" 206 100 \"-\" \"-\"");
	h_resp_free(&r);

	cr_assert_eq(req("GET", "/f100k.bin?v=2", NULL, &r), 200);
	snprintf(exp[ne++], 512, "\"GET /f100k.bin?v=2 HTTP/1.1\" 200 102400 \"-\" \"-\"");
	h_resp_free(&r);

	cr_assert_eq(req("GET", "/empty.bin", NULL, &r), 200);
	snprintf(exp[ne++], 512, "\"GET /empty.bin HTTP/1.1\" 200 - \"-\" \"-\"");
	h_resp_free(&r);

	/* Hostile fields: a quote that would end the field, a backslash, a tab,
	 * a forged line tail. */
	cr_assert_eq(req("GET", "/small.txt",
			 "User-Agent: evil\"agent\\x\tz\" 200 1 \"-\" \"fake\r\n"
			 "Referer: http://r/\"q\r\n",
			 &r),
		     200);
	snprintf(exp[ne++], 512,
		 "\"GET /small.txt HTTP/1.1\" 200 %zu \"http://r/\\x22q\" "
		 "\"evil\\x22agent\\x5cx\\x09z\\x22 200 1 \\x22-\\x22 \\x22fake\"",
		 strlen(SMALL_TXT));
	h_resp_free(&r);

	cr_assert_eq(h_exchange(srv.port,
				"POST /f4k.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
				&r),
		     H_OK);
	cr_assert_eq(r.status, 405);
	snprintf(exp[ne++], 512, "\"POST /f4k.bin HTTP/1.1\" 405 %zu \"-\" \"-\"", r.body_len);
	h_resp_free(&r);

	cr_assert_eq(req("GET", "/sub?x=1", NULL, &r), 301);
	snprintf(exp[ne++], 512, "\"GET /sub?x=1 HTTP/1.1\" 301 %zu \"-\" \"-\"", r.body_len);
	h_resp_free(&r);

	cr_assert_eq(h_exchange(srv.port, "GET /f1.bin HTTP/1.0\r\nUser-Agent: old\r\n\r\n", &r),
		     H_OK);
	cr_assert_eq(r.status, 200);
	snprintf(exp[ne++], 512, "\"GET /f1.bin HTTP/1.0\" 200 1 \"-\" \"old\"");
	h_resp_free(&r);

	cr_assert_eq(req("GET", "/plaintext", "User-Agent: builtin\r\n", &r), 200);
	snprintf(exp[ne++], 512, "\"GET /plaintext HTTP/1.1\" 200 13 \"-\" \"builtin\"");
	h_resp_free(&r);

	/* Three pipelined on one connection. */
	struct h_conn c = open_conn();
	cr_assert_eq(h_send_str(c.fd, "GET /f1.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: p1\r\n\r\n"
				      "GET /f16k1.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: p2\r\n\r\n"
				      "GET /nope HTTP/1.1\r\nHost: t\r\nUser-Agent: p3\r\n\r\n"),
		     0);
	conn_read(&c, &r, false, "pipelined 1");
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined 2");
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined 3");
	size_t nope_len = r.body_len;
	h_resp_free(&r);
	h_conn_close(&c);
	snprintf(exp[ne++], 512, "\"GET /f1.bin HTTP/1.1\" 200 1 \"-\" \"p1\"");
	snprintf(exp[ne++], 512, "\"GET /f16k1.bin HTTP/1.1\" 200 16385 \"-\" \"p2\"");
	snprintf(exp[ne++], 512, "\"GET /nope HTTP/1.1\" 404 %zu \"-\" \"p3\"", nope_len);

	/* Written within a second: every line is there. */
	long long took = wait_log_lines(logpath, ne);
	cr_log_info("access_log: %d lines written after %lld ms", ne, took);
	struct logline lines[64];
	char *keep;
	int n = read_log(logpath, lines, 64, &keep);
	char *all = file_text(logpath);
	cr_assert_eq(n, ne, "%d access log lines for %d requests:\n%s", n, ne, all);
	for (int i = 0; i < ne; i++)
		expect_line(lines, n, exp[i], all);
	free(keep);
	free(all);

	/* logrotate: rename, SIGUSR2, new lines go to a new file at the path. */
	cr_assert_eq(rename(logpath, rotated), 0);
	herd_signal(&srv, SIGUSR2);
	long long deadline = h_now_ms() + 3000;
	struct stat st;
	while (stat(logpath, &st) != 0) {
		cr_assert(h_now_ms() < deadline, "SIGUSR2 did not create a new %s within 3 s",
			  logpath);
		h_sleep_ms(10);
	}
	h_sleep_ms(300); /* created, then switched to: leave it the moment */
	for (int i = 0; i < 4; i++) { /* fresh connections: both workers */
		char ua[64];
		snprintf(ua, sizeof(ua), "User-Agent: after-reopen-%d\r\n", i);
		cr_assert_eq(req("GET", "/f1.bin", ua, &r), 200);
		h_resp_free(&r);
	}
	wait_log_lines(logpath, 4);
	n = read_log(logpath, lines, 64, &keep);
	all = file_text(logpath);
	cr_assert_eq(n, 4, "%d lines in the reopened log, want 4:\n%s", n, all);
	for (int i = 0; i < 4; i++) {
		char t[128];
		snprintf(t, sizeof(t), "\"GET /f1.bin HTTP/1.1\" 200 1 \"-\" \"after-reopen-%d\"", i);
		expect_line(lines, n, t, all);
	}
	free(keep);
	free(all);
	n = read_log(rotated, lines, 64, &keep);
	all = file_text(rotated);
	cr_assert_eq(n, ne, "the rotated log changed: %d lines, want %d:\n%s", n, ne, all);
	free(keep);
	free(all);
}

/* Many requests whose Referer, User-Agent and target are nothing but
 * characters that must be escaped (each byte becomes four), mixed with
 * fillers of growing size, all pipelined in one write so they land in one
 * worker's log buffer within a second.  Every line must come out whole and
 * well-formed: one per request, printable ASCII only, each field a run of
 * \x22 (possibly cut short, never raw bytes). */
#define LF_PAIRS 60
#define LF_FIELD 1024

static bool only_x22(const char *s, size_t n)
{
	if (n == 0 || n % 4)
		return false;
	for (size_t i = 0; i < n; i += 4)
		if (memcmp(s + i, "\\x22", 4))
			return false;
	return true;
}

/* Checks one line tail; returns 0 for a hostile line, k+1 for a filler with
 * a User-Agent of k 'f's, -1 for the priming/closing lines, -2 if bad. */
static int classify_lf_line(const char *t)
{
	if (!strcmp(t, "\"GET /f1.bin HTTP/1.1\" 200 1 \"-\" \"-\""))
		return -1;
	static const char fpre[] = "\"GET /f1.bin HTTP/1.1\" 200 1 \"-\" \"";
	size_t tl = strlen(t);
	if (!strncmp(t, fpre, sizeof(fpre) - 1) && tl > sizeof(fpre) && t[tl - 1] == '"') {
		size_t k = tl - sizeof(fpre);
		for (size_t i = 0; i < k; i++)
			if (t[sizeof(fpre) - 1 + i] != 'f')
				return -2;
		return (int)k + 1;
	}
	static const char hpre[] = "\"GET /f1.bin?";
	if (strncmp(t, hpre, sizeof(hpre) - 1))
		return -2;
	const char *a = t + sizeof(hpre) - 1;
	const char *b = strstr(a, " HTTP/1.1\" 200 1 \"");
	if (!b || !only_x22(a, (size_t)(b - a)))
		return -2;
	a = b + strlen(" HTTP/1.1\" 200 1 \"");
	b = strstr(a, "\" \"");
	if (!b || !only_x22(a, (size_t)(b - a)))
		return -2;
	a = b + 3;
	if (tl < 1 || t[tl - 1] != '"' || !only_x22(a, (size_t)(t + tl - 1 - a)))
		return -2;
	return 0;
}

HTEST(static_files, access_log_long_fields)
{
	make_tree(false);
	char logpath[256];
	path_in(logpath, sizeof(logpath), base_dir, "access.log");
	herd_start(&srv, "--workers", "1", "--root", root_dir, "--access-log", logpath);
	const struct tfile *f1 = tf("f1.bin");
	struct h_resp r;
	cr_assert_eq(req("GET", "/f1.bin", NULL, &r), 200);
	h_resp_free(&r);
	h_sleep_ms(100);

	char quotes[LF_FIELD + 1];
	memset(quotes, '"', LF_FIELD);
	quotes[LF_FIELD] = 0;
	size_t cap = 1 << 20, len = 0;
	char *batch = malloc(cap);
	cr_assert(batch);
	for (int i = 0; i < LF_PAIRS; i++) {
		len += (size_t)snprintf(batch + len, cap - len,
					"GET /f1.bin?%.*s HTTP/1.1\r\nHost: t\r\nReferer: %s\r\n"
					"User-Agent: %s\r\n\r\n",
					LF_FIELD - 8, quotes, quotes, quotes);
		len += (size_t)snprintf(batch + len, cap - len,
					"GET /f1.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: ");
		memset(batch + len, 'f', (size_t)(50 * i + 1));
		len += (size_t)(50 * i + 1);
		len += (size_t)snprintf(batch + len, cap - len, "\r\n\r\n");
	}
	len += (size_t)snprintf(batch + len, cap - len,
				"GET /f1.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	cr_assert_lt(len, cap);
	struct h_conn c = open_conn();
	cr_assert_eq(h_send(c.fd, batch, len, H_TIMEOUT_MS), 0, "sending the batch");
	free(batch);
	for (int i = 0; i < 2 * LF_PAIRS + 1; i++) {
		char what[64];
		snprintf(what, sizeof(what), "response %d of %d", i + 1, 2 * LF_PAIRS + 1);
		conn_read(&c, &r, false, what);
		cr_assert_eq(r.status, 200, "%s: %d", what, r.status);
		assert_body(&r, f1->data, 1, what);
		h_resp_free(&r);
	}
	h_conn_close(&c);
	cr_assert(herd_alive(&srv), "herd died");

	wait_log_lines(logpath, 2 * LF_PAIRS + 2);
	FILE *f = fopen(logpath, "r");
	cr_assert(f);
	static char text[4 << 20];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (text[i] != '\n' && ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)) {
			size_t from = i > 200 ? i - 200 : 0;
			cr_assert_fail("access log byte %zu is raw 0x%02x (not escaped, not written by "
				       "any request); around it: %.*s",
				       i, (unsigned char)text[i], 260, text + from);
		}
	int lines = 0, hostile = 0, other = 0, fillers = 0;
	bool seen[LF_PAIRS] = {0};
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		cr_assert(nl, "last log line unterminated");
		*nl = 0;
		lines++;
		static const char pre[] = "127.0.0.1 - - [";
		char *t = strstr(line, "] \"");
		cr_assert(!strncmp(line, pre, sizeof(pre) - 1) && t && t - line == 41,
			  "log line %d malformed: %.300s", lines, line);
		int k = classify_lf_line(t + 2);
		cr_assert_neq(k, -2, "log line %d malformed (%zu bytes): %.300s ... %.200s", lines,
			      strlen(line), line, line + (strlen(line) > 200 ? strlen(line) - 200 : 0));
		if (k == 0)
			hostile++;
		else if (k < 0)
			other++;
		else {
			/* A filler's User-Agent whole, or cut short (at 256 bytes or
			 * more) when long. */
			int u = k - 1;
			bool exact = (u - 1) % 50 == 0 && (u - 1) / 50 < LF_PAIRS && !seen[(u - 1) / 50];
			cr_assert(exact || (u >= 256 && u < 50 * (LF_PAIRS - 1) + 1),
				  "log line %d: unexpected filler User-Agent of %d bytes", lines, u);
			if (exact)
				seen[(u - 1) / 50] = true;
			fillers++;
		}
	}
	cr_assert_eq(lines, 2 * LF_PAIRS + 2, "%d log lines for %d requests", lines,
		     2 * LF_PAIRS + 2);
	cr_assert_eq(hostile, LF_PAIRS);
	cr_assert_eq(fillers, LF_PAIRS);
	cr_assert_eq(other, 2);
	cr_assert(herd_alive(&srv), "herd died");
}
