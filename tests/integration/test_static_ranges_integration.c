/* Static files: conditional and range requests (304, 206, 416, If-Range),
 * and curl as a real client of them.
 *
 * Each test builds its own tree (see static_util.h).  The tests:
 *
 *   not_modified     If-None-Match (ETag, *, list, W/) and If-Modified-Since
 *   ranges           206 (a-b, a-, -n, in memory and by sendfile), 416,
 *                    multi-range / garbage -> 200, HEAD ignores Range
 *   if_range         If-Range mismatch -> whole file
 *   curl             curl as a real client: ranges, -z (304), -L, whole file
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "static_util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TestSuite(static_files, .fini = static_fini, .timeout = 30);

/* ---- conditionals -------------------------------------------------------- */

/* A 304 on keep-alive connection c: no body, no Content-Length. */
static void expect_304(struct h_conn *c, const char *method, const char *path, const char *hdrs)
{
	char what[512];
	snprintf(what, sizeof(what), "%s %s with %s", method, path, hdrs);
	conn_req(c, method, path, hdrs);
	struct h_resp r;
	conn_read(c, &r, true, what);
	cr_assert_eq(r.status, 304, "%s: status %d, want 304", what, r.status);
	cr_assert(!h_header(&r, "Content-Length"), "%s: 304 with Content-Length: %s", what,
		  h_header(&r, "Content-Length"));
	cr_assert(!h_header(&r, "Transfer-Encoding"), "%s: 304 with Transfer-Encoding", what);
	h_resp_free(&r);
	conn_expect_plaintext(c, what); /* no body was sent */
}

static void expect_full(struct h_conn *c, const char *path, const char *hdrs,
			const struct tfile *f)
{
	char what[512];
	snprintf(what, sizeof(what), "GET %s with %s", path, hdrs);
	conn_req(c, "GET", path, hdrs);
	struct h_resp r;
	conn_read(c, &r, false, what);
	cr_assert_eq(r.status, 200, "%s: status %d, want 200", what, r.status);
	assert_body(&r, f->data, f->size, what);
	h_resp_free(&r);
}

HTEST(static_files, not_modified)
{
	make_tree(false);
	start("2");
	static const char *const names[] = {"f4k.bin", "f100k.bin"}; /* memory, sendfile */
	for (size_t i = 0; i < 2; i++) {
		const struct tfile *f = tf(names[i]);
		char path[64], h[512], etag[128], lm[64];
		snprintf(path, sizeof(path), "/%s", f->name);
		struct h_resp r;
		cr_assert_eq(req("GET", path, NULL, &r), 200);
		snprintf(etag, sizeof(etag), "%s", h_header(&r, "ETag"));
		snprintf(lm, sizeof(lm), "%s", h_header(&r, "Last-Modified"));
		h_resp_free(&r);
		struct h_conn c = open_conn();

		snprintf(h, sizeof(h), "If-None-Match: %s\r\n", etag);
		expect_304(&c, "GET", path, h);
		expect_304(&c, "HEAD", path, h);
		expect_304(&c, "GET", path, "If-None-Match: *\r\n");
		snprintf(h, sizeof(h), "If-None-Match: \"nope\", %s, \"other\"\r\n", etag);
		expect_304(&c, "GET", path, h);
		snprintf(h, sizeof(h), "If-None-Match: W/%s\r\n", etag);
		expect_304(&c, "GET", path, h);
		snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", lm);
		expect_304(&c, "GET", path, h);
		char later[64], earlier[64];
		time_t t = parse_imf(lm);
		format_imf(t + 86400, later, sizeof(later));
		format_imf(t - 86400, earlier, sizeof(earlier));
		snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", later);
		expect_304(&c, "GET", path, h);

		/* Modified since, or a different tag: the whole file. */
		snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", earlier);
		expect_full(&c, path, h, f);
		expect_full(&c, path, "If-None-Match: \"nope\"\r\n", f);
		/* If-None-Match wins: a mismatching tag with a matching date. */
		snprintf(h, sizeof(h), "If-None-Match: \"nope\"\r\nIf-Modified-Since: %s\r\n", lm);
		expect_full(&c, path, h, f);
		/* A tag of the right shape but another file's. */
		expect_full(&c, path, "If-None-Match: \"0-0-0\"\r\n", f);
		h_conn_close(&c);
	}
}

/* ---- ranges -------------------------------------------------------------- */

static void expect_206(const char *path, const char *range, size_t first, size_t last)
{
	const struct tfile *f = tf(path + 1);
	char h[256], what[256], cr[128];
	snprintf(h, sizeof(h), "Range: %s\r\n", range);
	snprintf(what, sizeof(what), "GET %s Range: %s", path, range);
	struct h_resp r;
	int st = req("GET", path, h, &r);
	cr_assert_eq(st, 206, "%s: status %d, want 206", what, st);
	snprintf(cr, sizeof(cr), "bytes %zu-%zu/%zu", first, last, f->size);
	assert_header(&r, "Content-Range", cr, what);
	assert_length(&r, last - first + 1, what);
	assert_body(&r, f->data + first, last - first + 1, what);
	h_resp_free(&r);
}

static void expect_416(const char *path, const char *range)
{
	const struct tfile *f = tf(path + 1);
	char h[256], what[256], cr[128];
	snprintf(h, sizeof(h), "Range: %s\r\n", range);
	snprintf(what, sizeof(what), "GET %s Range: %s", path, range);
	struct h_resp r;
	int st = req("GET", path, h, &r);
	cr_assert_eq(st, 416, "%s: status %d, want 416", what, st);
	snprintf(cr, sizeof(cr), "bytes */%zu", f->size);
	assert_header(&r, "Content-Range", cr, what);
	cr_assert(f->size == 0 || !memmem(r.body, r.body_len, f->data, f->size < 16 ? f->size : 16),
		  "%s: 416 carries file bytes", what);
	h_resp_free(&r);
}

static void expect_whole(const char *path, const char *hdrs)
{
	const struct tfile *f = tf(path + 1);
	char what[256];
	snprintf(what, sizeof(what), "GET %s with %.*s", path, (int)strcspn(hdrs, "\r"), hdrs);
	struct h_resp r;
	int st = req("GET", path, hdrs, &r);
	cr_assert_eq(st, 200, "%s: status %d, want 200 (whole file)", what, st);
	cr_assert(!h_header(&r, "Content-Range"), "%s: 200 with Content-Range", what);
	assert_length(&r, f->size, what);
	assert_body(&r, f->data, f->size, what);
	h_resp_free(&r);
}

HTEST(static_files, ranges)
{
	make_tree(true);
	start("2");
	static const char *const paths[] = {"/f4k.bin", "/f100k.bin", "/f10m.bin"};
	for (size_t i = 0; i < 3; i++) {
		const char *p = paths[i];
		size_t size = tf(p + 1)->size;
		char range[128];
		expect_206(p, "bytes=100-199", 100, 199);
		expect_206(p, "bytes=0-0", 0, 0);
		snprintf(range, sizeof(range), "bytes=%zu-", size - 1000);
		expect_206(p, range, size - 1000, size - 1);
		expect_206(p, "bytes=1000-", 1000, size - 1);
		expect_206(p, "bytes=-500", size - 500, size - 1);
		expect_206(p, "bytes=-1", size - 1, size - 1);
		snprintf(range, sizeof(range), "bytes=%zu-%zu", size / 2, size * 4);
		expect_206(p, range, size / 2, size - 1); /* last clamped */
		snprintf(range, sizeof(range), "bytes=-%zu", size * 2);
		expect_206(p, range, 0, size - 1); /* suffix longer than the file */
		snprintf(range, sizeof(range), "bytes=%zu-", size);
		expect_416(p, range);
		snprintf(range, sizeof(range), "bytes=%zu-%zu", size + 10, size + 20);
		expect_416(p, range);
		expect_416(p, "bytes=-0");
		/* Several ranges or garbage: the whole file. */
		expect_whole(p, "Range: bytes=0-1,5-6\r\n");
		expect_whole(p, "Range: bytes=0-99, 200-299\r\n");
		expect_whole(p, "Range: bytes=abc\r\n");
		expect_whole(p, "Range: bytes=5-1\r\n");
		expect_whole(p, "Range: items=0-10\r\n");
		expect_whole(p, "Range: 0-10\r\n");
	}
	expect_206("/f10m.bin", "bytes=5000000-5000099", 5000000, 5000099);
	expect_416("/empty.bin", "bytes=0-");
	expect_206("/f1.bin", "bytes=0-", 0, 0);

	/* Range is for GET only: HEAD answers the whole file's headers. */
	struct h_resp r;
	cr_assert_eq(req("HEAD", "/f100k.bin", "Range: bytes=0-9\r\n", &r), 200,
		     "HEAD with Range: %d", r.status);
	assert_length(&r, 102400, "HEAD with Range");
	h_resp_free(&r);

	/* Ranges on one keep-alive connection stay framed, from memory and by
	 * sendfile from an offset. */
	struct h_conn c = open_conn();
	const struct tfile *f = tf("f100k.bin");
	for (int k = 0; k < 4; k++) {
		char h[128];
		size_t a = (size_t)k * 25000 + 7, b = a + 20000 + (size_t)k;
		snprintf(h, sizeof(h), "Range: bytes=%zu-%zu\r\n", a, b);
		conn_req(&c, "GET", "/f100k.bin", h);
		conn_read(&c, &r, false, h);
		cr_assert_eq(r.status, 206, "%s on keep-alive: %d", h, r.status);
		assert_body(&r, f->data + a, b - a + 1, h);
		h_resp_free(&r);
	}
	conn_expect_plaintext(&c, "ranges");
	h_conn_close(&c);
}

HTEST(static_files, if_range)
{
	make_tree(false);
	start("2");
	const struct tfile *f = tf("f100k.bin");
	struct h_resp r;
	cr_assert_eq(req("GET", "/f100k.bin", NULL, &r), 200);
	char etag[128], h[512];
	snprintf(etag, sizeof(etag), "%s", h_header(&r, "ETag"));
	h_resp_free(&r);

	expect_whole("/f100k.bin", "Range: bytes=0-99\r\nIf-Range: \"not-the-tag\"\r\n");
	expect_whole("/f4k.bin", "Range: bytes=0-99\r\nIf-Range: \"not-the-tag\"\r\n");
	/* The tag of another file. */
	cr_assert_eq(req("GET", "/f4k.bin", NULL, &r), 200);
	snprintf(h, sizeof(h), "Range: bytes=0-99\r\nIf-Range: %s\r\n", h_header(&r, "ETag"));
	h_resp_free(&r);
	expect_whole("/f100k.bin", h);
	/* An old date. */
	expect_whole("/f100k.bin", "Range: bytes=0-99\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n");

	/* The matching tag: the range applies. */
	snprintf(h, sizeof(h), "Range: bytes=10-19\r\nIf-Range: %s\r\n", etag);
	cr_assert_eq(req("GET", "/f100k.bin", h, &r), 206, "If-Range with the ETag: %d", r.status);
	assert_body(&r, f->data + 10, 10, "If-Range match");
	h_resp_free(&r);
}


/* ---- curl ------------------------------------------------------------------ */

/* Runs argv (PATH search) with stdout captured, bounded by timeout_ms.
 * Returns the exit status (or -1 on timeout); *out is malloc'd. */
static int run_capture(const char *const *argv, int timeout_ms, char **out, size_t *outlen)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t pid = h_spawn(argv, &(struct h_spawn_opts){.in = H_DEVNULL, .out = p[1],
							 .err = H_DEVNULL, .path = true,
							 .own_group = true, .die_with_parent = true});
	close(p[1]);
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	long long deadline = h_now_ms() + timeout_ms;
	bool timed_out = false;
	for (;;) {
		int left = (int)(deadline - h_now_ms());
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf = {p[0], POLLIN, 0};
		if (poll(&pf, 1, left) <= 0)
			continue;
		if (cap - len < 65536)
			buf = realloc(buf, cap *= 2);
		ssize_t n = read(p[0], buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(p[0]);
	int st = 0, left = (int)(deadline - h_now_ms());
	if (!h_child_wait(pid, timed_out || left < 0 ? 0 : left, &st))
		timed_out = true;
	buf[len] = 0;
	*out = buf;
	*outlen = len;
	return timed_out ? -1 : st;
}

static bool have_curl(void)
{
	const char *argv[] = {"curl", "--version", NULL};
	char *out;
	size_t len;
	int st = run_capture(argv, 5000, &out, &len);
	free(out);
	return st == 0;
}

/* curl -q -s --max-time 5 --noproxy '*' EXTRA... URL */
static int curl(const char *const *extra, const char *path, char **out, size_t *len)
{
	const char *argv[32];
	int n = 0;
	char url[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
	argv[n++] = "curl";
	argv[n++] = "-q";
	argv[n++] = "-s";
	argv[n++] = "--max-time";
	argv[n++] = "5";
	argv[n++] = "--noproxy";
	argv[n++] = "*";
	for (; *extra; extra++)
		argv[n++] = *extra;
	argv[n++] = url;
	argv[n] = NULL;
	int st = run_capture(argv, 8000, out, len);
	cr_assert(st != -1, "curl %s did not finish within 8 s", path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

HTEST(static_files, curl)
{
	if (!have_curl()) {
		harness_passed();
		cr_skip_test("curl is not installed");
	}
	make_tree(true);
	start("2");
	char *out;
	size_t len;
	const struct tfile *f100 = tf("f100k.bin"), *big = tf("f10m.bin");

	cr_assert_eq(curl((const char *[]){"-r", "100-199", NULL}, "/f100k.bin", &out, &len), 0);
	cr_assert_eq(len, 100u, "curl -r 100-199: %zu bytes", len);
	cr_assert(!memcmp(out, f100->data + 100, 100), "curl -r 100-199: wrong bytes");
	free(out);

	cr_assert_eq(curl((const char *[]){"-r", "-300", NULL}, "/f10m.bin", &out, &len), 0);
	cr_assert_eq(len, 300u);
	cr_assert(!memcmp(out, big->data + BIG_SIZE - 300, 300), "curl -r -300: wrong bytes");
	free(out);

	cr_assert_eq(curl((const char *[]){NULL}, "/f10m.bin", &out, &len), 0, "curl 10 MiB");
	cr_assert_eq(len, (size_t)BIG_SIZE, "curl 10 MiB: %zu bytes", len);
	cr_assert(!memcmp(out, big->data, BIG_SIZE), "curl 10 MiB: wrong bytes");
	free(out);

	/* -z FILE: If-Modified-Since from the file's own mtime. */
	char disk[512];
	path_in(disk, sizeof(disk), root_dir, "f100k.bin");
	cr_assert_eq(curl((const char *[]){"-o", "/dev/null", "-w", "%{http_code}", "-z", disk, NULL},
			  "/f100k.bin", &out, &len),
		     0);
	cr_assert_str_eq(out, "304", "curl -z <the file>: %s", out);
	free(out);
	cr_assert_eq(curl((const char *[]){"-o", "/dev/null", "-w", "%{http_code} %{size_download}",
					   "-z", "1 Jan 2001 00:00:00 GMT", NULL},
			  "/f100k.bin", &out, &len),
		     0);
	cr_assert_str_eq(out, "200 102400", "curl -z <old date>: %s", out);
	free(out);

	/* -L follows the directory redirect to its index. */
	cr_assert_eq(curl((const char *[]){"-L", NULL}, "/site", &out, &len), 0);
	cr_assert_str_eq(out, SITE_INDEX, "curl -L /site");
	free(out);
	cr_assert_eq(curl((const char *[]){"-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
					   NULL},
			  "/site?a=b", &out, &len),
		     0);
	char want[256];
	snprintf(want, sizeof(want), "301 http://127.0.0.1:%d/site/?a=b", srv.port);
	cr_assert_str_eq(out, want, "curl /site?a=b");
	free(out);

	/* HEAD (-I): headers, then nothing. */
	cr_assert_eq(curl((const char *[]){"-I", NULL}, "/f4k.bin", &out, &len), 0);
	cr_assert(strcasestr(out, "content-length: 4096\r\n"), "curl -I: %s", out);
	cr_assert(strcasestr(out, "accept-ranges: bytes\r\n"), "curl -I: %s", out);
	cr_assert(!strncmp(out, "HTTP/1.1 200", 12), "curl -I: %s", out);
	free(out);

	/* 416 and a traversal curl does not normalize away. */
	cr_assert_eq(curl((const char *[]){"-o", "/dev/null", "-w", "%{http_code}", "-r",
					   "200000-", NULL},
			  "/f100k.bin", &out, &len),
		     0);
	cr_assert_str_eq(out, "416", "curl -r past the end: %s", out);
	free(out);
	cr_assert_eq(curl((const char *[]){"--path-as-is", "-w", "\n%{http_code}", NULL},
			  "/../secret.txt", &out, &len),
		     0);
	cr_assert(!strstr(out, SECRET_MARK), "curl --path-as-is /../secret.txt got the secret");
	cr_assert(len >= 3 && !strcmp(out + len - 3, "400"), "curl /../secret.txt: %s", out);
	free(out);

	/* Two files in one curl run (one reused connection). */
	char first[128];
	snprintf(first, sizeof(first), "http://127.0.0.1:%d/f4k.bin", srv.port);
	cr_assert_eq(curl((const char *[]){first, NULL}, "/small.txt", &out, &len), 0);
	const struct tfile *f4k = tf("f4k.bin");
	cr_assert_eq(len, f4k->size + strlen(SMALL_TXT), "curl two URLs: %zu bytes", len);
	cr_assert(!memcmp(out, f4k->data, f4k->size), "curl two URLs: first body");
	cr_assert(!memcmp(out + f4k->size, SMALL_TXT, strlen(SMALL_TXT)), "curl two URLs: second");
	free(out);
}
