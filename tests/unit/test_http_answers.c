/* Tests for what net/http_proto.c and net/http_static.c answer, driven
 * through http_feed() with plain buffers: methods (501, 405, OPTIONS *,
 * CONNECT), absolute-form routing, Expect and 1xx, preconditions on the
 * built-ins and on files, reason phrases.  The same rules over real
 * sockets: test_http_semantics_integration.c. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/access_log.h"
#include "net/file_cache.h"
#include "net/http_response.h"
#include "net/proto.h"

#include "app_routes.h"
#include "unit_util.h"

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"

static struct {
	struct proto_state st;
	struct proto_env env;
	struct outbuf out;
	struct http_clock clk;
	struct file_cache fc;
	struct access_log log;
	struct peer_addr peer;
	char mem[65536];
	const char *at; /* next unread response in mem */
	char root[64];
} fx;

static void fx_init(void)
{
	memset(&fx, 0, sizeof(fx));
	fx.out = (struct outbuf){.p = fx.mem, .cap = sizeof(fx.mem)};
	http_clock_tick(&fx.clk, 1700000000);
	fx.env = (struct proto_env){.out = &fx.out, .clock = &fx.clk,
				    .max_body = 1 << 20, .peer = &fx.peer};
	app_routes_attach(&fx.env, false);
	fx.at = fx.mem;
}

/* The root for file tests: f.txt (100 bytes of 'a'..'z'), sub/ (a dir). */
static void fx_root(void)
{
	snprintf(fx.root, sizeof(fx.root), "/tmp/herd-answers-XXXXXX");
	cr_assert_not_null(mkdtemp(fx.root));
	char path[128], data[100];
	for (int i = 0; i < 100; i++)
		data[i] = (char)('a' + i % 26);
	snprintf(path, sizeof(path), "%s/f.txt", fx.root);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	cr_assert(fd >= 0 && write(fd, data, sizeof(data)) == (ssize_t)sizeof(data));
	close(fd);
	snprintf(path, sizeof(path), "%s/sub", fx.root);
	cr_assert_eq(mkdir(path, 0755), 0);
	int root_fd = open(fx.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(root_fd >= 0);
	cr_assert_eq(file_cache_init(&fx.fc, root_fd, 16), 0);
	fx.env.files = &fx.fc;
	app_routes_attach(&fx.env, true);
}

static void fx_fini(void)
{
	if (fx.root[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.root);
		cr_assert_eq(system(cmd), 0);
	}
}

TestSuite(http_answers, .init = fx_init, .fini = fx_fini);

/* Feeds s in one piece, as one read would bring it. */
static void feed(const char *s)
{
	size_t n = strlen(s);
	size_t used = http_feed(&fx.st, s, n, &fx.env);
	cr_assert_eq(used, n, "%s: consumed %zu of %zu", esc(s, n), used, n);
	cr_assert(!(fx.st.flags & (PROTO_OUT_FULL | PROTO_FILE)), "%s: flags %#x", esc(s, n),
		  fx.st.flags);
}

struct ans {
	int status;
	char reason[48];
	char head[2048]; /* "\r\nName: value" lines, NUL-terminated */
	const char *body;
	size_t body_len;
};

/* A header's value, or NULL. */
static const char *hdr(const struct ans *a, const char *name, char *val, size_t cap)
{
	char key[64];
	snprintf(key, sizeof(key), "\r\n%s: ", name);
	const char *p = strstr(a->head, key);
	if (!p)
		return NULL;
	p += strlen(key);
	size_t n = strcspn(p, "\r");
	snprintf(val, cap, "%.*s", (int)n, p);
	return val;
}

/* The next response in the output; its body by Content-Length unless
 * no_body (HEAD, 1xx, 304). */
static void next(struct ans *a, bool no_body, const char *what)
{
	const char *end = fx.mem + fx.out.len;
	cr_assert(fx.at < end, "%s: no response", what);
	const char *eoh = strstr(fx.at, "\r\n\r\n");
	cr_assert(eoh && eoh < end, "%s: incomplete head", what);
	int off = 0;
	cr_assert_eq(sscanf(fx.at, "HTTP/1.1 %d %47[^\r]%n", &a->status, a->reason, &off), 2,
		     "%s: status line %s", what, esc(fx.at, 40));
	snprintf(a->head, sizeof(a->head), "%.*s", (int)(eoh + 2 - (fx.at + off)), fx.at + off);
	a->body = eoh + 4;
	a->body_len = 0;
	char v[32];
	if (!no_body && hdr(a, "Content-Length", v, sizeof(v)))
		a->body_len = strtoul(v, NULL, 10);
	cr_assert(a->body + a->body_len <= end, "%s: body cut", what);
	fx.at = a->body + a->body_len;
}

static void expect_status(int status, const char *reason, bool no_body, const char *what)
{
	struct ans a;
	next(&a, no_body, what);
	cr_assert_eq(a.status, status, "%s: status %d, want %d", what, a.status, status);
	cr_assert_str_eq(a.reason, reason, "%s", what);
}

static void expect_plain(const char *what)
{
	struct ans a;
	next(&a, false, what);
	cr_assert_eq(a.status, 200, "%s: %d", what, a.status);
	cr_assert_eq(a.body_len, strlen(PLAIN), "%s", what);
	cr_assert_eq(memcmp(a.body, PLAIN, a.body_len), 0, "%s", what);
}

static void expect_end(const char *what)
{
	cr_assert_eq(fx.at, fx.mem + fx.out.len, "%s: more output: %s", what,
		     esc(fx.at, (size_t)(fx.mem + fx.out.len - fx.at)));
}

#define REQ(line, fields) line "\r\nHost: h\r\n" fields "\r\n"
#define GET_PLAIN REQ("GET /plaintext HTTP/1.1", "")

/* ---- methods ---------------------------------------------------------------- */

/* RFC 9110 9.1: an unrecognized method is 501, and the connection stays
 * usable (its body, if any, is framed like any other). */
Test(http_answers, unknown_method_501)
{
	static const char *const reqs[] = {
		REQ("FOO /plaintext HTTP/1.1", ""),
		REQ("get /plaintext HTTP/1.1", ""),
		REQ("M-SEARCH * HTTP/1.1", ""),
		REQ("PURGE http://h/plaintext HTTP/1.1", ""),
		REQ("BREW h:1 HTTP/1.1", ""),
		REQ("PROPFIND /json HTTP/1.1", "Content-Length: 5\r\n") "hello",
		REQ("FOO /x HTTP/1.1", "Transfer-Encoding: chunked\r\n") "3\r\nabc\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < N(reqs); i++) {
		feed(reqs[i]);
		feed(GET_PLAIN);
		struct ans a;
		next(&a, false, reqs[i]);
		cr_assert_eq(a.status, 501, "%s: %d", reqs[i], a.status);
		cr_assert_str_eq(a.reason, "Not Implemented");
		cr_assert_eq(a.body_len, strlen("501 Not Implemented\n"));
		expect_plain(reqs[i]);
	}
	expect_end("501s");
	cr_assert_eq(fx.st.flags, 0, "a 501 closes nothing");
}

/* RFC 9110 15.5.6: a known method the resource does not allow is 405 with
 * Allow; CONNECT too (herd is no tunnel). */
Test(http_answers, known_method_405)
{
	static const char *const reqs[] = {
		REQ("POST /plaintext HTTP/1.1", "Content-Length: 0\r\n"),
		REQ("PUT /json HTTP/1.1", "Content-Length: 2\r\n") "hi",
		REQ("DELETE /plaintext HTTP/1.1", ""),
		REQ("PATCH /plaintext HTTP/1.1", ""),
		REQ("OPTIONS /plaintext HTTP/1.1", ""),
		REQ("TRACE /plaintext HTTP/1.1", ""),
		REQ("CONNECT h:443 HTTP/1.1", ""),
		REQ("CONNECT [::1]:8443 HTTP/1.1", ""),
		REQ("POST http://h/json HTTP/1.1", "Content-Length: 0\r\n"),
	};
	for (size_t i = 0; i < N(reqs); i++) {
		feed(reqs[i]);
		struct ans a;
		char v[64];
		next(&a, false, reqs[i]);
		cr_assert_eq(a.status, 405, "%s: %d", reqs[i], a.status);
		cr_assert_str_eq(a.reason, "Method Not Allowed");
		cr_assert_str_eq(hdr(&a, "Allow", v, sizeof(v)), "GET, HEAD", "%s", reqs[i]);
	}
	expect_end("405s");
	cr_assert_eq(fx.st.flags, 0);
}

/* OPTIONS * is about the server: 200, Allow, no content. */
Test(http_answers, options_asterisk)
{
	feed(REQ("OPTIONS * HTTP/1.1", "") GET_PLAIN);
	struct ans a;
	char v[64];
	next(&a, false, "OPTIONS *");
	cr_assert_eq(a.status, 200);
	cr_assert_str_eq(hdr(&a, "Allow", v, sizeof(v)), "GET, HEAD");
	cr_assert_str_eq(hdr(&a, "Content-Length", v, sizeof(v)), "0");
	cr_assert_null(hdr(&a, "Content-Type", v, sizeof(v)));
	expect_plain("after OPTIONS *");
	expect_end("OPTIONS *");
	/* GET * is no request at all. */
	feed(REQ("GET * HTTP/1.1", ""));
	expect_status(400, "Bad Request", false, "GET *");
	cr_assert(fx.st.flags & PROTO_LINGER);
}

/* ---- absolute-form ------------------------------------------------------------ */

Test(http_answers, absolute_form_routes_by_path)
{
	feed("GET http://h/plaintext HTTP/1.1\r\nHost: elsewhere\r\n\r\n"
	     "GET HTTP://H:8080/plaintext?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET https://h/plaintext HTTP/1.1\r\nHost: h\r\n\r\n"
	     "HEAD http://[::1]:80/json HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET http://h/nope HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n");
	expect_plain("http://h/plaintext");
	expect_plain("HTTP://H:8080/plaintext?x=1");
	expect_plain("https://h/plaintext");
	struct ans a;
	next(&a, true, "HEAD json");
	cr_assert_eq(a.status, 200);
	char v[32];
	cr_assert_eq(strtoul(hdr(&a, "Content-Length", v, sizeof(v)), NULL, 10), strlen(JSON));
	expect_status(404, "Not Found", false, "http://h/nope");
	expect_status(404, "Not Found", false, "http://h");
	expect_end("absolute-form");
	/* Another scheme: 400, and the connection is done. */
	feed(REQ("GET ftp://h/plaintext HTTP/1.1", ""));
	expect_status(400, "Bad Request", false, "ftp://");
	cr_assert(fx.st.flags & PROTO_LINGER);
}

Test(http_answers, invalid_host_400)
{
	feed("GET /plaintext HTTP/1.1\r\nHost: a b\r\n\r\n");
	expect_status(400, "Bad Request", false, "Host: a b");
	cr_assert(fx.st.flags & PROTO_LINGER);
	expect_end("Host");
}

/* ---- Expect ----------------------------------------------------------------- */

Test(http_answers, expect_continue_http11)
{
	feed(REQ("POST /plaintext HTTP/1.1", "Expect: 100-continue\r\nContent-Length: 3\r\n"));
	expect_status(100, "Continue", true, "1.1 100-continue");
	expect_status(405, "Method Not Allowed", false, "after 100");
	feed("abc" GET_PLAIN);
	expect_plain("after the body");
	/* No body, no 100 (RFC 9110 10.1.1). */
	feed(REQ("GET /plaintext HTTP/1.1", "Expect: 100-continue\r\n"));
	expect_plain("GET with 100-continue");
	expect_end("1.1");
}

/* RFC 9110 10.1.1 and 15.2: ignored in a 1.0 request, no 1xx to 1.0. */
Test(http_answers, expect_continue_http10)
{
	feed("POST /plaintext HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n"
	     "Content-Length: 3\r\n\r\nabc"
	     "PUT /json HTTP/1.0\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
	expect_status(405, "Method Not Allowed", false, "1.0 POST");
	expect_status(405, "Method Not Allowed", false, "1.0 PUT");
	expect_end("1.0: no 100");
}

Test(http_answers, expect_unknown_417)
{
	static const char *const reqs[] = {
		REQ("GET /plaintext HTTP/1.1", "Expect: foo\r\n"),
		REQ("POST /plaintext HTTP/1.1", "Expect: 100-continue, foo\r\nContent-Length: 2\r\n")
			"hi",
		REQ("POST /plaintext HTTP/1.1", "Expect: 100-continue\r\nExpect: x=y\r\n"
						"Content-Length: 0\r\n"),
		REQ("GET /nope HTTP/1.1", "Expect: 100-continue=1\r\n"),
		"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\nExpect: foo\r\n\r\n",
	};
	for (size_t i = 0; i < N(reqs); i++) {
		feed(reqs[i]);
		feed(GET_PLAIN);
		expect_status(417, "Expectation Failed", false, reqs[i]); /* and no 100 first */
		expect_plain(reqs[i]);
	}
	/* HEAD: the headers only. */
	feed(REQ("HEAD /plaintext HTTP/1.1", "Expect: foo\r\n") GET_PLAIN);
	expect_status(417, "Expectation Failed", true, "HEAD");
	expect_plain("after HEAD");
	expect_end("417s");
}

/* A chunked body is read before its answer: the 417 (and an unknown
 * method's 501) wait for it, and the access log names the real status. */
Test(http_answers, deferred_answers_logged)
{
	char path[] = "/tmp/herd-answers-log-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	unlink(path);
	cr_assert_eq(access_log_init(&fx.log, fd), 0);
	fx.env.log = &fx.log;
	feed(REQ("POST /plaintext HTTP/1.1", "Expect: foo\r\nTransfer-Encoding: chunked\r\n"));
	expect_end("nothing before the body");
	feed("2\r\nhi\r\n0\r\n\r\n");
	expect_status(417, "Expectation Failed", false, "after the body");
	feed(REQ("FOO /plaintext HTTP/1.1", "Transfer-Encoding: chunked\r\n") "0\r\n\r\n");
	expect_status(501, "Not Implemented", false, "FOO chunked");
	access_log_flush(&fx.log);
	char buf[1024] = "";
	cr_assert_gt(pread(fd, buf, sizeof(buf) - 1, 0), 0);
	cr_assert_not_null(strstr(buf, "\"POST /plaintext HTTP/1.1\" 417 "), "%s", buf);
	cr_assert_not_null(strstr(buf, "\"FOO /plaintext HTTP/1.1\" 501 "), "%s", buf);
	access_log_destroy(&fx.log);
}

/* ---- preconditions on the built-ins -------------------------------------------------- */

/* No validators: If-Match only matches "*", If-None-Match "*" is 304. */
Test(http_answers, builtin_preconditions)
{
	feed(REQ("GET /plaintext HTTP/1.1", "If-Match: \"x\"\r\n")
	     REQ("HEAD /json HTTP/1.1", "If-Match: \"x\", W/\"y\"\r\n")
	     REQ("GET /plaintext HTTP/1.1", "If-Match: *\r\n")
	     REQ("GET /plaintext HTTP/1.1", "If-None-Match: *\r\n")
	     REQ("GET /plaintext HTTP/1.1", "If-None-Match: \"x\"\r\n")
	     REQ("GET /plaintext HTTP/1.1", "If-Modified-Since: Tue, 14 Nov 2100 22:13:20 GMT\r\n")
	     REQ("GET /plaintext HTTP/1.1", "If-Unmodified-Since: Tue, 14 Nov 1990 22:13:20 GMT\r\n")
	     /* Not a 2xx without them: the conditions do not count (13.2.1). */
	     REQ("DELETE /plaintext HTTP/1.1", "If-Match: \"x\"\r\n")
	     REQ("GET /nope HTTP/1.1", "If-Match: \"x\"\r\n"));
	expect_status(412, "Precondition Failed", false, "If-Match x");
	expect_status(412, "Precondition Failed", true, "HEAD If-Match x");
	expect_plain("If-Match *");
	struct ans a;
	char v[32];
	next(&a, true, "If-None-Match *");
	cr_assert_eq(a.status, 304);
	cr_assert_str_eq(a.reason, "Not Modified");
	cr_assert_null(hdr(&a, "Content-Length", v, sizeof(v)));
	expect_plain("If-None-Match x");
	expect_plain("If-Modified-Since: no date to compare");
	expect_plain("If-Unmodified-Since: no date to compare");
	expect_status(405, "Method Not Allowed", false, "DELETE If-Match");
	expect_status(404, "Not Found", false, "404 If-Match");
	expect_end("built-in preconditions");
	cr_assert_eq(fx.st.flags, 0, "412 and 304 keep the connection");
}

/* ---- files ------------------------------------------------------------------ */

static void file_validators(char *etag, size_t cap)
{
	feed(REQ("GET /f.txt HTTP/1.1", ""));
	struct ans a;
	next(&a, false, "GET /f.txt");
	cr_assert_eq(a.status, 200);
	cr_assert_eq(a.body_len, 100);
	cr_assert_not_null(hdr(&a, "ETag", etag, cap));
	char lm[64];
	cr_assert_not_null(hdr(&a, "Last-Modified", lm, sizeof(lm)));
}

/* RFC 9110 13.2.2 on a file, through the handler: every step's answer. */
Test(http_answers, file_preconditions)
{
	fx_root();
	char etag[64], r[4096];
	file_validators(etag, sizeof(etag));
	snprintf(r, sizeof(r),
		 REQ("GET /f.txt HTTP/1.1", "If-Match: \"x\"\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Match: %s\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Match: W/%s\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Match: \"x\", %s\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Unmodified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Match: \"x\"\r\nIf-None-Match: %s\r\n")
		 REQ("GET /f.txt HTTP/1.1", "If-Match: %s\r\nIf-None-Match: %s\r\n")
		 REQ("HEAD /f.txt HTTP/1.1", "If-Match: \"x\"\r\n")
		 REQ("POST /f.txt HTTP/1.1", "If-Match: \"x\"\r\n")
		 REQ("GET /nope HTTP/1.1", "If-Match: \"x\"\r\n"),
		 etag, etag, etag, etag, etag, etag);
	feed(r);
	expect_status(412, "Precondition Failed", false, "If-Match x");
	expect_status(200, "OK", false, "If-Match etag");
	expect_status(412, "Precondition Failed", false, "If-Match weak");
	expect_status(200, "OK", false, "If-Match list");
	expect_status(412, "Precondition Failed", false, "If-Unmodified-Since 1990");
	expect_status(200, "OK", false, "If-Unmodified-Since 2100");
	expect_status(412, "Precondition Failed", false, "412 before 304");
	struct ans a;
	char v[64];
	next(&a, true, "If-Match and If-None-Match");
	cr_assert_eq(a.status, 304);
	cr_assert_str_eq(hdr(&a, "ETag", v, sizeof(v)), etag);
	expect_status(412, "Precondition Failed", true, "HEAD If-Match x");
	expect_status(405, "Method Not Allowed", false, "POST: 405 before preconditions");
	expect_status(404, "Not Found", false, "404 before preconditions");
	expect_end("file preconditions");
	cr_assert_eq(fx.st.flags, 0);
}

Test(http_answers, file_ranges)
{
	fx_root();
	char etag[64], r[2048];
	file_validators(etag, sizeof(etag));
	snprintf(r, sizeof(r),
		 REQ("GET /f.txt HTTP/1.1", "Range: bytes=0-9\r\n")
		 REQ("GET /f.txt HTTP/1.1", "Range: bytes=200-\r\n")
		 REQ("GET /f.txt HTTP/1.1", "Range: bytes=0-1,5-6\r\n")
		 REQ("GET /f.txt HTTP/1.1", "Range: bytes=0-0\r\nIf-Match: %s\r\n")
		 REQ("GET /f.txt HTTP/1.1", "Range: bytes=0-0\r\nIf-Range: \"x\"\r\n")
		 REQ("GET /f.txt HTTP/1.1", "Range: bytes=-2\r\nIf-Range: %s\r\n"),
		 etag, etag);
	feed(r);
	struct ans a;
	char v[64];
	next(&a, false, "bytes=0-9");
	cr_assert_eq(a.status, 206);
	cr_assert_str_eq(a.reason, "Partial Content");
	cr_assert_str_eq(hdr(&a, "Content-Range", v, sizeof(v)), "bytes 0-9/100");
	cr_assert_eq(a.body_len, 10);
	cr_assert_eq(memcmp(a.body, "abcdefghij", 10), 0);
	next(&a, false, "bytes=200-");
	cr_assert_eq(a.status, 416);
	cr_assert_str_eq(a.reason, "Range Not Satisfiable");
	cr_assert_str_eq(hdr(&a, "Content-Range", v, sizeof(v)), "bytes */100");
	/* Several ranges: the whole file (see http_range.h for why). */
	next(&a, false, "two ranges");
	cr_assert_eq(a.status, 200);
	cr_assert_eq(a.body_len, 100);
	expect_status(206, "Partial Content", false, "If-Match and Range");
	next(&a, false, "If-Range mismatch");
	cr_assert_eq(a.status, 200);
	cr_assert_eq(a.body_len, 100);
	next(&a, false, "If-Range match");
	cr_assert_eq(a.status, 206);
	cr_assert_eq(memcmp(a.body, "uv", 2), 0);
	expect_end("ranges");
}

Test(http_answers, file_absolute_form)
{
	fx_root();
	feed("GET http://h/f.txt HTTP/1.1\r\nHost: other\r\n\r\n"
	     "GET HTTPS://h:8443/sub?a=b HTTP/1.1\r\nHost: h\r\n\r\n"
	     "GET http://h/plaintext HTTP/1.1\r\nHost: h\r\n\r\n");
	struct ans a;
	char v[64];
	next(&a, false, "http://h/f.txt");
	cr_assert_eq(a.status, 200);
	cr_assert_eq(a.body_len, 100);
	next(&a, false, "directory without slash");
	cr_assert_eq(a.status, 301);
	cr_assert_str_eq(hdr(&a, "Location", v, sizeof(v)), "/sub/?a=b");
	expect_plain("built-in wins over files");
	expect_end("absolute-form files");
	feed("GET http://h/../f.txt HTTP/1.1\r\nHost: h\r\n\r\n");
	expect_status(400, "Bad Request", false, "traversal in absolute-form");
}

/* ---- reason phrases ---------------------------------------------------------- */

Test(http_answers, reason_phrases)
{
	static const struct {
		int status;
		const char *reason;
	} t[] = {
		/* Everything herd sends... */
		{100, "Continue"}, {200, "OK"}, {206, "Partial Content"},
		{301, "Moved Permanently"}, {304, "Not Modified"}, {400, "Bad Request"},
		{404, "Not Found"}, {405, "Method Not Allowed"}, {408, "Request Timeout"},
		{412, "Precondition Failed"}, {413, "Content Too Large"}, {414, "URI Too Long"},
		{416, "Range Not Satisfiable"}, {417, "Expectation Failed"},
		{431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
		{501, "Not Implemented"}, {503, "Service Unavailable"},
		{505, "HTTP Version Not Supported"},
		/* ...and the rest of RFC 9110 15, for what comes next. */
		{101, "Switching Protocols"}, {201, "Created"}, {202, "Accepted"},
		{203, "Non-Authoritative Information"}, {204, "No Content"}, {205, "Reset Content"},
		{300, "Multiple Choices"}, {302, "Found"}, {303, "See Other"}, {305, "Use Proxy"},
		{307, "Temporary Redirect"}, {308, "Permanent Redirect"}, {401, "Unauthorized"},
		{402, "Payment Required"}, {403, "Forbidden"}, {406, "Not Acceptable"},
		{407, "Proxy Authentication Required"}, {409, "Conflict"}, {410, "Gone"},
		{411, "Length Required"}, {415, "Unsupported Media Type"},
		{421, "Misdirected Request"}, {422, "Unprocessable Content"},
		{426, "Upgrade Required"}, {502, "Bad Gateway"}, {504, "Gateway Timeout"},
	};
	for (size_t i = 0; i < N(t); i++)
		cr_assert_str_eq(http_reason(t[i].status), t[i].reason, "%d", t[i].status);
	cr_assert_str_eq(http_reason(299), "Unknown");
	cr_assert_str_eq(http_reason(600), "Unknown");
	/* The error answers carry it in the status line and the body. */
	http_response_error(&fx.out, &fx.clk, 416);
	expect_status(416, "Range Not Satisfiable", false, "error 416");
	cr_assert_eq(memcmp(fx.at - 26, "416 Range Not Satisfiable\n", 26), 0);
}
