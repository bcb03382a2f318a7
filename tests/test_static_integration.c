/* Static file serving (--root, --access-log) of the real binary, over
 * loopback.
 *
 * Every test builds its own tree with mkdtemp:
 *
 *   BASE/secret.txt         outside the root: no byte of it may ever be served
 *   BASE/root/              --root
 *     index.html, empty.bin (0 B), f1.bin (1 B), f4k.bin, f16k.bin (the
 *     in-memory limit), f16k1.bin (one byte over), f100k.bin, f10m.bin
 *     (only for the tests that need it), small.txt, typed files (.css .js
 *     .json .png .html, no extension), plaintext and json (shadowed by the
 *     built-ins), sub/ (no index, with sub/deeper/ and sub/.hidden), site/
 *     (with index.html), .hidden, .git/config, a FIFO, a character device
 *     (when mknod is permitted), symlinks in and out of the root, a/ (for
 *     /a/../../x)
 *
 * Random contents come from a fixed seed.  The tests:
 *
 *   bytes_exact      0 B .. 10 MiB byte-exact, on one keep-alive connection
 *                    and on fresh ones; headers (types, ETag, Last-Modified)
 *   content_types    extension -> Content-Type; built-ins beat files
 *   head             headers only, Content-Length of the file, framing kept
 *   not_modified     If-None-Match (ETag, *, list, W/) and If-Modified-Since
 *   ranges           206 (a-b, a-, -n, in memory and by sendfile), 416,
 *                    multi-range / garbage -> 200, HEAD ignores Range
 *   if_range         If-Range mismatch -> whole file
 *   directories      301 with Location (query kept), index.html, 404
 *   not_found        missing files, FIFO, device, dotfiles
 *   traversal        every escape attempt 400/404, never a secret byte
 *   symlinks         out of the root 404, inside served
 *   method           405 with Allow: GET, HEAD on files
 *   pipelined        file requests pipelined in one write, in order
 *   stalled_readers  8 clients stop reading a 10 MiB body: another client
 *                    still served within 0.5 s, RSS flat, fds back to baseline
 *   truncated_during_transfer  a file cut short under a transfer: the
 *                    connection closes (no hang), the prefix is right
 *   cache_fresh      a file replaced (rename, in-place rewrite) is served
 *                    fresh within 1.5 s
 *   socket_activation LISTEN_PID/LISTEN_FDS: the passed socket is used
 *   access_log       combined-format lines match the requests; escaping;
 *                    SIGUSR2 reopen after a rename
 *   access_log_long_fields  120 pipelined requests whose fields are all
 *                    escape-worthy bytes: every line whole and printable
 *   curl             curl as a real client: ranges, -z (304), -L, whole file
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"
#define SECRET "HERD-SECRET-5eed-do-not-serve-this\n"
#define SECRET_MARK "HERD-SECRET"
#define BIG_SIZE (10u * 1024 * 1024)
#define INDEX_HTML "<!doctype html><title>root index</title>\n"
#define SITE_INDEX "<!doctype html><title>site index</title>\n"
#define SMALL_TXT "hello, small file\n"
#define OCTET "application/octet-stream"

static void static_fini(void);
TestSuite(static_files, .fini = static_fini, .timeout = 30);

/* File scope, not the test's stack: harness_fini() reaches the server after
 * the test body returned (each Criterion test runs in its own process). */
static struct herd srv;
static char base_dir[64];  /* BASE, "" when no tree */
static char root_dir[96];  /* BASE/root */
static pid_t act_pid;      /* socket-activated server, 0 when none */
static int act_errfd = -1; /* its stderr */
static bool act_passed;
#define NSTALL 8
static int stall_fd[NSTALL] = {-1, -1, -1, -1, -1, -1, -1, -1};

/* ---- the tree ------------------------------------------------------------ */

struct tfile {
	const char *name;
	size_t size;
	uint64_t seed;
	unsigned char *data; /* filled by make_tree */
};

static struct tfile files[] = {
	{"empty.bin", 0, 1, NULL},        {"f1.bin", 1, 2, NULL},
	{"f4k.bin", 4096, 3, NULL},       {"f16k.bin", 16384, 4, NULL},
	{"f16k1.bin", 16385, 5, NULL},    {"f100k.bin", 102400, 6, NULL},
	{"f10m.bin", BIG_SIZE, 7, NULL},
};
#define NFILES (sizeof(files) / sizeof(files[0]))

static void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull | 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 32);
	}
}

static const struct tfile *tf(const char *name)
{
	for (size_t i = 0; i < NFILES; i++)
		if (!strcmp(files[i].name, name)) {
			cr_assert(files[i].data, "%s was not created (make_tree(true) needed)", name);
			return &files[i];
		}
	cr_assert_fail("no test file %s", name);
	return NULL;
}

static void path_in(char *out, size_t cap, const char *dir, const char *rel)
{
	int n = snprintf(out, cap, "%s/%s", dir, rel);
	cr_assert(n > 0 && (size_t)n < cap);
}

static void write_at(const char *dir, const char *rel, const void *data, size_t len)
{
	char p[512];
	path_in(p, sizeof(p), dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "create %s: %s", p, strerror(errno));
	const char *c = data;
	while (len > 0) {
		ssize_t w = write(fd, c, len);
		cr_assert(w > 0, "write %s: %s", p, strerror(errno));
		c += w;
		len -= (size_t)w;
	}
	cr_assert_eq(close(fd), 0);
}

static void write_str(const char *rel, const char *s)
{
	write_at(root_dir, rel, s, strlen(s));
}

static void mkdir_in(const char *rel)
{
	char p[512];
	path_in(p, sizeof(p), root_dir, rel);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
}

static void symlink_in(const char *rel, const char *target)
{
	char p[512];
	path_in(p, sizeof(p), root_dir, rel);
	cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
}

static void make_tree(bool big)
{
	/* tmpfs when there is one: what is tested is HTTP, not the disk, and
	 * a page cache reclaimed under a busy machine makes sendfile wait on
	 * block I/O for seconds. */
	strcpy(base_dir, "/dev/shm/herd-static-XXXXXX");
	if (!mkdtemp(base_dir)) {
		strcpy(base_dir, "/tmp/herd-static-XXXXXX");
		cr_assert(mkdtemp(base_dir), "mkdtemp: %s", strerror(errno));
	}
	path_in(root_dir, sizeof(root_dir), base_dir, "root");
	cr_assert_eq(mkdir(root_dir, 0755), 0);
	write_at(base_dir, "secret.txt", SECRET, strlen(SECRET));

	for (size_t i = 0; i < NFILES; i++) {
		struct tfile *f = &files[i];
		if (f->size == BIG_SIZE && !big)
			continue;
		f->data = malloc(f->size ? f->size : 1);
		cr_assert(f->data);
		fill_random(f->data, f->size, f->seed);
		write_at(root_dir, f->name, f->data, f->size);
	}
	write_str("index.html", INDEX_HTML);
	write_str("small.txt", SMALL_TXT);
	write_str("page.html", "<p>page</p>\n");
	write_str("style.css", "body{color:red}\n");
	write_str("app.js", "console.log(1);\n");
	write_str("data.json", "{\"a\":1}\n");
	write_str("img.png", "\x89PNG\r\n\x1a\n");
	write_str("noext", "no extension\n");
	write_str("UPPER.TXT", "upper case extension\n");
	write_str("plaintext", "FILE-NAMED-PLAINTEXT\n");
	write_str("json", "FILE-NAMED-JSON\n");
	mkdir_in("sub");
	mkdir_in("sub/deeper");
	write_str("sub/inner.txt", "inner\n");
	write_str("sub/.hidden", "hidden in sub\n");
	mkdir_in("site");
	write_str("site/index.html", SITE_INDEX);
	write_str(".hidden", "hidden\n");
	mkdir_in(".git");
	write_str(".git/config", "[core]\n");
	mkdir_in("a");
	char p[512];
	path_in(p, sizeof(p), root_dir, "fifo");
	cr_assert_eq(mkfifo(p, 0644), 0, "mkfifo: %s", strerror(errno));

	/* A character device (/dev/null's numbers) if we may create one. */
	path_in(p, sizeof(p), root_dir, "null.dev");
	if (mknod(p, S_IFCHR | 0644, makedev(1, 3)) != 0)
		cr_log_info("mknod: %s (device case not run)", strerror(errno));
	symlink_in("link-in.bin", "f4k.bin");
	symlink_in("sub/link-up.bin", "../f4k.bin");
	symlink_in("link-out.txt", "../secret.txt");
	char abs_secret[256];
	path_in(abs_secret, sizeof(abs_secret), base_dir, "secret.txt");
	symlink_in("link-abs.txt", abs_secret);
	symlink_in("link-dir-out", "..");
	symlink_in("link-etc", "/etc");
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static void remove_tree(void)
{
	if (base_dir[0])
		nftw(base_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	base_dir[0] = 0;
}

static void static_fini(void)
{
	for (int i = 0; i < NSTALL; i++)
		if (stall_fd[i] >= 0) {
			close(stall_fd[i]);
			stall_fd[i] = -1;
		}
	if (act_pid > 0) {
		kill(-act_pid, SIGKILL);
		kill(act_pid, SIGKILL);
		waitpid(act_pid, NULL, 0);
		if (!act_passed && act_errfd >= 0) {
			char buf[8192];
			ssize_t n = pread(act_errfd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = 0;
			fprintf(stderr, "---- socket-activated herd pid %d stderr ----\n%s---- end ----\n",
				(int)act_pid, buf);
		}
		act_pid = 0;
	}
	if (act_errfd >= 0)
		close(act_errfd);
	act_errfd = -1;
	harness_fini();
	remove_tree();
}

static void start(const char *workers)
{
	herd_start(&srv, "--workers", workers, "--root", root_dir);
}

/* ---- requests ------------------------------------------------------------ */

static int header_count(const struct h_resp *r, const char *name)
{
	int n = 0;
	for (int i = 0; i < r->nheaders; i++)
		n += !strcasecmp(r->names[i], name);
	return n;
}

/* method path on a fresh connection with extra header lines (each ending
 * in \r\n); asserts a complete response arrived and returns its status. */
static int req(const char *method, const char *path, const char *hdrs, struct h_resp *r)
{
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, path,
			 hdrs ? hdrs : "");
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	int rc = h_exchange(srv.port, buf, r);
	cr_assert_eq(rc, H_OK, "%s %s: %s", method, path, h_result_str(rc));
	return r->status;
}

static void expect_status(const char *method, const char *path, const char *hdrs, int status)
{
	struct h_resp r;
	int got = req(method, path, hdrs, &r);
	cr_assert_eq(got, status, "%s %s%s%s: status %d, want %d", method, path,
		     hdrs ? " with " : "", hdrs ? hdrs : "", got, status);
	h_resp_free(&r);
}

static struct h_conn open_conn(void)
{
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0, "connect to 127.0.0.1:%d", srv.port);
	struct h_conn c;
	h_conn_init(&c, fd);
	return c;
}

static void conn_req(struct h_conn *c, const char *method, const char *path, const char *hdrs)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, path,
			 hdrs ? hdrs : "");
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert_eq(h_send_str(c->fd, buf), 0, "send %s %s", method, path);
}

static void conn_read(struct h_conn *c, struct h_resp *r, bool head, const char *what)
{
	int rc = h_read_response(c, r, head, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
}

/* The next response on c is GET /plaintext's: proves that nothing stray
 * (a body after HEAD or 304) was sent before it. */
static void conn_expect_plaintext(struct h_conn *c, const char *after)
{
	conn_req(c, "GET", "/plaintext", NULL);
	struct h_resp r;
	conn_read(c, &r, false, "GET /plaintext after");
	cr_assert_eq(r.status, 200, "after %s: the next response is %d, not /plaintext's 200",
		     after, r.status);
	cr_assert_str_eq(r.body, PLAIN, "after %s: framing lost", after);
	h_resp_free(&r);
}

static void assert_body(const struct h_resp *r, const void *want, size_t len, const char *what)
{
	cr_assert_eq(r->body_len, len, "%s: body is %zu bytes, want %zu", what, r->body_len, len);
	if (len && memcmp(r->body, want, len)) {
		size_t i = 0;
		while (((const unsigned char *)r->body)[i] == ((const unsigned char *)want)[i])
			i++;
		cr_assert_fail("%s: body differs from the file at byte %zu", what, i);
	}
}

static void assert_header(const struct h_resp *r, const char *name, const char *want,
			  const char *what)
{
	const char *v = h_header(r, name);
	cr_assert(v, "%s: no %s header", what, name);
	cr_assert_str_eq(v, want, "%s: %s: '%s', want '%s'", what, name, v, want);
}

static void assert_length(const struct h_resp *r, size_t want, const char *what)
{
	cr_assert_eq(header_count(r, "Content-Length"), 1, "%s: %d Content-Length headers", what,
		     header_count(r, "Content-Length"));
	cr_assert_eq(r->content_length, want, "%s: Content-Length %zu, want %zu", what,
		     r->content_length, want);
}

static time_t parse_imf(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
	if (!rest || *rest || strlen(s) != 29)
		return (time_t)-1;
	return timegm(&tm);
}

static void format_imf(time_t t, char *out, size_t cap)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static time_t mtime_of(const char *rel)
{
	char p[512];
	struct stat st;
	path_in(p, sizeof(p), root_dir, rel);
	cr_assert_eq(stat(p, &st), 0);
	return st.st_mtim.tv_sec;
}

/* The headers every 200 file response carries. */
static void assert_file_headers(const struct h_resp *r, const char *rel, size_t size,
				const char *type, const char *what)
{
	assert_header(r, "Server", "herd", what);
	cr_assert_eq(header_count(r, "Date"), 1, "%s: Date headers", what);
	time_t date = parse_imf(h_header(r, "Date"));
	cr_assert(date != (time_t)-1, "%s: Date not IMF-fixdate: %s", what, h_header(r, "Date"));
	long long skew = (long long)date - (long long)time(NULL);
	cr_assert(skew > -10 && skew < 10, "%s: Date %llds off", what, skew);
	assert_length(r, size, what);
	assert_header(r, "Content-Type", type, what);
	assert_header(r, "Accept-Ranges", "bytes", what);
	cr_assert_eq(header_count(r, "ETag"), 1, "%s: ETag headers", what);
	const char *etag = h_header(r, "ETag");
	size_t el = strlen(etag);
	cr_assert(el >= 3 && etag[0] == '"' && strchr(etag + 1, '"') == etag + el - 1,
		  "%s: ETag is not a strong quoted entity-tag: %s", what, etag);
	cr_assert_eq(header_count(r, "Last-Modified"), 1, "%s: Last-Modified headers", what);
	time_t lm = parse_imf(h_header(r, "Last-Modified"));
	cr_assert(lm != (time_t)-1, "%s: Last-Modified not IMF-fixdate: %s", what,
		  h_header(r, "Last-Modified"));
	cr_assert_eq(lm, mtime_of(rel), "%s: Last-Modified %s is not the file's mtime", what,
		     h_header(r, "Last-Modified"));
}

/* ---- byte-exact bodies and headers --------------------------------------- */

HTEST(static_files, bytes_exact)
{
	make_tree(true);
	start("2");
	/* One keep-alive connection, every size in turn (the connection must
	 * stay framed across in-memory and sendfile bodies), then /plaintext. */
	struct h_conn c = open_conn();
	for (size_t i = 0; i < NFILES; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/%s", files[i].name);
		conn_req(&c, "GET", path, NULL);
		struct h_resp r;
		conn_read(&c, &r, false, path);
		cr_assert_eq(r.status, 200, "GET %s: status %d", path, r.status);
		assert_file_headers(&r, files[i].name, files[i].size, OCTET, path);
		assert_body(&r, files[i].data, files[i].size, path);
		const char *conn = h_header(&r, "Connection");
		cr_assert(!conn || strcasecmp(conn, "close"), "GET %s: Connection: close", path);
		h_resp_free(&r);
	}
	conn_expect_plaintext(&c, "the 10 MiB file");
	h_conn_close(&c);

	/* Fresh connections: the same bytes (served from the cache now). */
	for (size_t i = 0; i < NFILES; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/%s", files[i].name);
		struct h_resp r;
		cr_assert_eq(req("GET", path, NULL, &r), 200, "GET %s again", path);
		assert_body(&r, files[i].data, files[i].size, path);
		h_resp_free(&r);
	}

	/* Connection: close (and HTTP/1.0) after a sendfile body: the whole
	 * body, then the server closes. */
	static const char *const closers[] = {
		"GET /f10m.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"GET /f100k.bin HTTP/1.0\r\n\r\n",
		"GET /f16k1.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	};
	static const char *const closer_file[] = {"f10m.bin", "f100k.bin", "f16k1.bin"};
	for (size_t i = 0; i < 3; i++) {
		c = open_conn();
		cr_assert_eq(h_send_str(c.fd, closers[i]), 0);
		struct h_resp r;
		conn_read(&c, &r, false, closers[i]);
		cr_assert_eq(r.status, 200, "%.40s: %d", closers[i], r.status);
		const struct tfile *f = tf(closer_file[i]);
		assert_body(&r, f->data, f->size, closers[i]);
		h_resp_free(&r);
		cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1,
			     "%.40s: the server did not close after the body", closers[i]);
		h_conn_close(&c);
	}

	/* The ETag is stable while the file is unchanged. */
	struct h_resp a, b;
	req("GET", "/f4k.bin", NULL, &a);
	req("GET", "/f4k.bin", NULL, &b);
	cr_assert_str_eq(h_header(&a, "ETag"), h_header(&b, "ETag"), "ETag changes between requests");
	h_resp_free(&a);
	h_resp_free(&b);
}

HTEST(static_files, content_types)
{
	make_tree(false);
	start("2");
	static const struct {
		const char *path, *type, *body;
	} cases[] = {
		{"/index.html", "text/html; charset=utf-8", INDEX_HTML},
		{"/page.html", "text/html; charset=utf-8", "<p>page</p>\n"},
		{"/small.txt", "text/plain; charset=utf-8", SMALL_TXT},
		{"/UPPER.TXT", "text/plain; charset=utf-8", "upper case extension\n"},
		{"/data.json", "application/json", "{\"a\":1}\n"},
		{"/img.png", "image/png", "\x89PNG\r\n\x1a\n"},
		{"/noext", OCTET, "no extension\n"},
		{"/f4k.bin", OCTET, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_resp r;
		cr_assert_eq(req("GET", cases[i].path, NULL, &r), 200, "GET %s: %d", cases[i].path,
			     r.status);
		assert_file_headers(&r, cases[i].path + 1,
				    cases[i].body ? strlen(cases[i].body) : 4096, cases[i].type,
				    cases[i].path);
		if (cases[i].body)
			assert_body(&r, cases[i].body, strlen(cases[i].body), cases[i].path);
		h_resp_free(&r);
	}
	/* CSS: text/css (any parameters); JavaScript: text/javascript (or the
	 * legacy application/javascript). */
	struct h_resp r;
	cr_assert_eq(req("GET", "/style.css", NULL, &r), 200);
	const char *css = h_header(&r, "Content-Type");
	cr_assert(css && !strncmp(css, "text/css", 8) && (!css[8] || css[8] == ';'),
		  "GET /style.css: Content-Type %s", css ? css : "(none)");
	assert_body(&r, "body{color:red}\n", 16, "GET /style.css");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/app.js", NULL, &r), 200);
	const char *ct = h_header(&r, "Content-Type");
	cr_assert(ct && (!strncmp(ct, "text/javascript", 15) ||
			 !strncmp(ct, "application/javascript", 22)),
		  "GET /app.js: Content-Type %s", ct ? ct : "(none)");
	h_resp_free(&r);

	/* The built-ins win over files of the same name. */
	cr_assert_eq(req("GET", "/plaintext", NULL, &r), 200);
	cr_assert_str_eq(r.body, PLAIN, "GET /plaintext served the file, not the built-in");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/json", NULL, &r), 200);
	cr_assert_str_eq(r.body, JSON, "GET /json served the file, not the built-in");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/plaintext?x=1", NULL, &r), 200);
	cr_assert_str_eq(r.body, PLAIN, "GET /plaintext?x=1");
	h_resp_free(&r);
	/* A query string does not change which file is served. */
	cr_assert_eq(req("GET", "/small.txt?v=3&x=%2F..", NULL, &r), 200, "query: %d", r.status);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET /small.txt?v=3");
	h_resp_free(&r);
	/* Percent-encoded names are decoded. */
	cr_assert_eq(req("GET", "/%73mall%2Etxt", NULL, &r), 200, "encoded name: %d", r.status);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET /%73mall%2Etxt");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/sub/./../small.txt", NULL, &r), 200, "dot segments: %d",
		     r.status);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET /sub/./../small.txt");
	h_resp_free(&r);
}

/* ---- HEAD ---------------------------------------------------------------- */

HTEST(static_files, head)
{
	make_tree(true);
	start("2");
	struct h_conn c = open_conn();
	static const char *const names[] = {"f4k.bin", "f10m.bin", "empty.bin", "f16k1.bin"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct tfile *f = tf(names[i]);
		char path[64];
		snprintf(path, sizeof(path), "/%s", f->name);
		struct h_resp g, h;
		cr_assert_eq(req("GET", path, NULL, &g), 200);
		conn_req(&c, "HEAD", path, NULL);
		conn_read(&c, &h, true, path);
		cr_assert_eq(h.status, 200, "HEAD %s: %d", path, h.status);
		assert_file_headers(&h, f->name, f->size, OCTET, path);
		cr_assert_str_eq(h_header(&h, "ETag"), h_header(&g, "ETag"), "HEAD %s: ETag", path);
		cr_assert_str_eq(h_header(&h, "Last-Modified"), h_header(&g, "Last-Modified"),
				 "HEAD %s: Last-Modified", path);
		h_resp_free(&g);
		h_resp_free(&h);
		/* No body: the next response on the connection comes right away. */
		conn_expect_plaintext(&c, "HEAD of a file");
	}
	/* Nothing more arrives after the last answer. */
	struct pollfd p = {c.fd, POLLIN, 0};
	cr_assert_eq(c.len, 0u, "stray bytes after HEAD responses");
	cr_assert_eq(poll(&p, 1, 100), 0, "stray bytes after HEAD responses");
	h_conn_close(&c);

	/* HEAD of a directory, a missing file, a dotfile. */
	struct h_resp r;
	cr_assert_eq(req("HEAD", "/site/", NULL, &r), 200);
	assert_length(&r, strlen(SITE_INDEX), "HEAD /site/");
	h_resp_free(&r);
	expect_status("HEAD", "/nope.txt", NULL, 404);
	expect_status("HEAD", "/.hidden", NULL, 404);
	expect_status("HEAD", "/sub", NULL, 301);
}

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

/* ---- directories and 404s ------------------------------------------------- */

static void expect_redirect(const char *target, const char *location)
{
	struct h_resp r;
	int st = req("GET", target, NULL, &r);
	cr_assert_eq(st, 301, "GET %s: status %d, want 301", target, st);
	assert_header(&r, "Location", location, target);
	h_resp_free(&r);
}

HTEST(static_files, directories)
{
	make_tree(false);
	start("2");
	expect_redirect("/sub", "/sub/");
	expect_redirect("/sub?a=1&b=%2F", "/sub/?a=1&b=%2F");
	expect_redirect("/sub/deeper", "/sub/deeper/");
	expect_redirect("/site", "/site/");
	expect_redirect("/site?x", "/site/?x");

	struct h_resp r;
	cr_assert_eq(req("GET", "/site/", NULL, &r), 200, "GET /site/: %d", r.status);
	assert_body(&r, SITE_INDEX, strlen(SITE_INDEX), "GET /site/");
	assert_file_headers(&r, "site/index.html", strlen(SITE_INDEX), "text/html; charset=utf-8",
			    "GET /site/");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/site/?q=1", NULL, &r), 200, "GET /site/?q=1: %d", r.status);
	assert_body(&r, SITE_INDEX, strlen(SITE_INDEX), "GET /site/?q=1");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/site/index.html", NULL, &r), 200);
	assert_body(&r, SITE_INDEX, strlen(SITE_INDEX), "GET /site/index.html");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/", NULL, &r), 200, "GET /: %d", r.status);
	assert_body(&r, INDEX_HTML, strlen(INDEX_HTML), "GET /");
	h_resp_free(&r);

	/* A directory without index.html. */
	expect_status("GET", "/sub/", NULL, 404);
	expect_status("GET", "/sub/deeper/", NULL, 404);
	expect_status("GET", "/a/", NULL, 404);
	/* A file inside a directory. */
	cr_assert_eq(req("GET", "/sub/inner.txt", NULL, &r), 200);
	assert_body(&r, "inner\n", 6, "GET /sub/inner.txt");
	h_resp_free(&r);
}

HTEST(static_files, not_found)
{
	make_tree(false);
	start("2");
	static const char *const paths[] = {
		"/nope", "/nope.txt", "/sub/nope.txt", "/nope/", "/nope/deeper.txt",
		"/fifo", "/fifo/", "/null.dev", "/.hidden", "/%2ehidden", "/.git/config", "/.git/", "/.git",
		"/sub/.hidden", "/.", "/sub/...", "/...", "/sub/.nope",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct h_resp r;
		int st = req("GET", paths[i], NULL, &r);
		/* "/." normalizes to the root: served as "/" is fine too. */
		if (!strcmp(paths[i], "/.") && st == 200) {
			h_resp_free(&r);
			continue;
		}
		cr_assert_eq(st, 404, "GET %s: status %d, want 404", paths[i], st);
		cr_assert(!memmem(r.body, r.body_len, "hidden", 6), "GET %s: leaked a dotfile",
			  paths[i]);
		h_resp_free(&r);
	}
	/* The FIFO did not block anything: the server still answers. */
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

/* ---- traversal ------------------------------------------------------------ */

/* No byte of the secret anywhere in the response. */
static void assert_no_secret(const struct h_resp *r, const char *what)
{
	cr_assert(!memmem(r->body, r->body_len, SECRET_MARK, strlen(SECRET_MARK)),
		  "%s: THE SECRET OUTSIDE THE ROOT WAS SERVED: %.80s", what, r->body);
	cr_assert(!memmem(r->body, r->body_len, SECRET, strlen(SECRET)), "%s: secret", what);
	for (int i = 0; i < r->nheaders; i++)
		cr_assert(!strstr(r->values[i], SECRET_MARK), "%s: secret in header %s", what,
			  r->names[i]);
}

HTEST(static_files, traversal)
{
	make_tree(false);
	start("2");
	/* Exactly 400, from the contract. */
	static const char *const bad[] = {
		"/../secret.txt",
		"/%2e%2e/secret.txt",
		"/%2E%2e%2fsecret.txt",
		"/a/../../secret.txt",
		"/..",
		"/../",
		"/a/b/../../../secret.txt",
		"/./../secret.txt",
		"/%2e%2E/%2e%2e/secret.txt",
		"/.%2e/secret.txt",
		"/%2e./secret.txt",
		"/sub/%2e%2e/%2e%2e/secret.txt",
		"/..%2fsecret.txt",
		"/%2fsecret.txt",
		"/sub%2Finner.txt",
		"/sub%2finner.txt",
		"/small.txt%00",
		"/%00",
		"/small%00.txt",
		"/bad%zz",
		"/bad%2",
		"/bad%",
		"/bad%g0.txt",
		"/%%32%65%%32%65/secret.txt",
		"/../root/small.txt",
		"/a/../../root/small.txt",
		"/../../../../../../../../etc/passwd",
		"/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/a/..%2F..%2Fsecret.txt",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct h_resp r;
		int st = req("GET", bad[i], NULL, &r);
		assert_no_secret(&r, bad[i]);
		cr_assert_eq(st, 400, "GET %s: status %d, want 400", bad[i], st);
		h_resp_free(&r);
		st = req("HEAD", bad[i], NULL, &r);
		cr_assert_eq(st, 400, "HEAD %s: status %d, want 400", bad[i], st);
		h_resp_free(&r);
	}
	/* Not escapes (or not well-formed ones): refused with 400 or 404,
	 * never the secret. */
	static const char *const refused[] = {
		"/%252e%252e/secret.txt", /* double encoding: a literal name */
		"/..\\secret.txt",
		"/..%5csecret.txt",
		"/link-dir-out/secret.txt",
		"/link-dir-out/root/../secret.txt",
		"/link-etc/passwd",
		"/link-out.txt",
		"/link-abs.txt",
		"/%2e%2e%5csecret.txt",
		"/...../secret.txt",
		"/sub/../../secret.txt?x",
		"//../secret.txt",
		"/.%00./secret.txt",
		"/%c0%ae%c0%ae/secret.txt", /* overlong UTF-8 dots: just bytes */
		"/secret.txt",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct h_resp r;
		int st = req("GET", refused[i], NULL, &r);
		assert_no_secret(&r, refused[i]);
		cr_assert(st == 400 || st == 404, "GET %s: status %d, want 400 or 404", refused[i],
			  st);
		h_resp_free(&r);
	}
	/* Targets that are not origin-form paths. */
	static const char *const raw[] = {
		"GET ../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://t/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		struct h_resp r;
		int rc = h_exchange(srv.port, raw[i], &r);
		cr_assert_eq(rc, H_OK, "%.30s: %s", raw[i], h_result_str(rc));
		assert_no_secret(&r, raw[i]);
		cr_assert(r.status == 400 || r.status == 404, "%.30s: status %d", raw[i], r.status);
		h_resp_free(&r);
	}
	/* The same escapes pipelined on one connection after a good request:
	 * every answer in order, none of them the secret. */
	struct h_conn c = open_conn();
	char batch[4096] = "";
	for (size_t i = 0; i < 6; i++) {
		char one[256];
		snprintf(one, sizeof(one), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", bad[i]);
		strcat(batch, one);
	}
	strcat(batch, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert_eq(h_send_str(c.fd, batch), 0);
	for (size_t i = 0; i < 6; i++) {
		struct h_resp r;
		int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS);
		if (rc != H_OK) /* a 400 may close the connection: fine */
			break;
		assert_no_secret(&r, bad[i]);
		cr_assert_eq(r.status, 400, "pipelined GET %s: %d", bad[i], r.status);
		h_resp_free(&r);
	}
	h_conn_close(&c);
	h_assert_get(srv.port, "/small.txt", SMALL_TXT);
}

HTEST(static_files, symlinks)
{
	make_tree(false);
	start("2");
	const struct tfile *f = tf("f4k.bin");
	struct h_resp r;
	cr_assert_eq(req("GET", "/link-in.bin", NULL, &r), 200, "symlink inside the root: %d",
		     r.status);
	assert_body(&r, f->data, f->size, "GET /link-in.bin");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/sub/link-up.bin", NULL, &r), 200,
		     "symlink to ../f4k.bin (inside the root): %d", r.status);
	assert_body(&r, f->data, f->size, "GET /sub/link-up.bin");
	h_resp_free(&r);
	static const char *const out[] = {"/link-out.txt", "/link-abs.txt",
					  "/link-dir-out/secret.txt", "/link-etc/passwd",
					  "/link-etc/hostname"};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		for (int k = 0; k < 2; k++) { /* the second time from the cache */
			int st = req("GET", out[i], NULL, &r);
			assert_no_secret(&r, out[i]);
			cr_assert_eq(st, 404, "GET %s (symlink out of the root): %d, want 404",
				     out[i], st);
			cr_assert(!memmem(r.body, r.body_len, "root:", 5), "GET %s: /etc leaked",
				  out[i]);
			h_resp_free(&r);
		}
	}
	/* The directory symlink out of the root without a slash: no redirect
	 * into it either (a 301 would reveal it is a directory; 404 wanted). */
	expect_status("GET", "/link-dir-out", NULL, 404);
}

HTEST(static_files, method)
{
	make_tree(false);
	start("2");
	static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf),
			 "%s /f4k.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
			 methods[i]);
		struct h_resp r;
		int rc = h_exchange(srv.port, buf, &r);
		cr_assert_eq(rc, H_OK, "%s /f4k.bin: %s", methods[i], h_result_str(rc));
		cr_assert_eq(r.status, 405, "%s /f4k.bin: %d, want 405", methods[i], r.status);
		assert_header(&r, "Allow", "GET, HEAD", methods[i]);
		h_resp_free(&r);
	}
	/* On a keep-alive connection the body is skipped and the next request
	 * is served. */
	struct h_conn c = open_conn();
	cr_assert_eq(h_send_str(c.fd, "POST /small.txt HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 5\r\n\r\nhello"
				      "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
		     0);
	struct h_resp r;
	conn_read(&c, &r, false, "POST /small.txt");
	cr_assert_eq(r.status, 405, "POST /small.txt: %d", r.status);
	assert_header(&r, "Allow", "GET, HEAD", "POST /small.txt");
	h_resp_free(&r);
	conn_read(&c, &r, false, "GET after POST");
	cr_assert_eq(r.status, 200);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET after POST");
	h_resp_free(&r);
	h_conn_close(&c);
	/* A directory and a missing file answer POST with 405 or 404. */
	struct h_resp d;
	cr_assert_eq(h_exchange(srv.port, "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
				&d),
		     H_OK);
	cr_assert(d.status == 404 || d.status == 405, "POST /nope: %d", d.status);
	h_resp_free(&d);
}

/* ---- pipelining ----------------------------------------------------------- */

static void read_expect_file(struct h_conn *c, const char *name, const char *what)
{
	struct h_resp r;
	conn_read(c, &r, false, what);
	cr_assert_eq(r.status, 200, "%s: status %d", what, r.status);
	if (!strcmp(name, "small.txt")) {
		assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), what);
	} else {
		const struct tfile *f = tf(name);
		assert_body(&r, f->data, f->size, what);
	}
	h_resp_free(&r);
}

HTEST(static_files, pipelined)
{
	make_tree(true);
	start("2");
	static const char *const orders[][3] = {
		{"small.txt", "f100k.bin", "f4k.bin"},
		{"f100k.bin", "small.txt", "f100k.bin"},
		{"f10m.bin", "small.txt", "f16k1.bin"},
		{"f16k.bin", "f10m.bin", "f1.bin"},
	};
	for (size_t o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
		for (int pass = 0; pass < 2; pass++) { /* cold, then cached */
			struct h_conn c = open_conn();
			char batch[1024];
			snprintf(batch, sizeof(batch),
				 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
				 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
				 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n",
				 orders[o][0], orders[o][1], orders[o][2]);
			cr_assert_eq(send(c.fd, batch, strlen(batch), MSG_NOSIGNAL),
				     (ssize_t)strlen(batch), "one write");
			for (int k = 0; k < 3; k++) {
				char what[128];
				snprintf(what, sizeof(what), "pipelined #%d /%s (batch %zu)", k + 1,
					 orders[o][k], o);
				read_expect_file(&c, orders[o][k], what);
			}
			/* Same connection still usable. */
			conn_expect_plaintext(&c, "three pipelined file responses");
			h_conn_close(&c);
		}
	}

	/* A mixed batch: HEAD, 304, range, 404, built-in, and a final
	 * Connection: close, in one write. */
	struct h_resp r;
	cr_assert_eq(req("GET", "/f100k.bin", NULL, &r), 200);
	char etag[128];
	snprintf(etag, sizeof(etag), "%s", h_header(&r, "ETag"));
	h_resp_free(&r);
	char batch[2048];
	snprintf(batch, sizeof(batch),
		 "HEAD /f100k.bin HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /f100k.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n"
		 "GET /f100k.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=50000-50099\r\n\r\n"
		 "GET /nope.bin HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /f4k.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		 etag);
	struct h_conn c = open_conn();
	cr_assert_eq(send(c.fd, batch, strlen(batch), MSG_NOSIGNAL), (ssize_t)strlen(batch));
	conn_read(&c, &r, true, "pipelined HEAD");
	cr_assert_eq(r.status, 200);
	assert_length(&r, 102400, "pipelined HEAD");
	h_resp_free(&r);
	conn_read(&c, &r, true, "pipelined 304");
	cr_assert_eq(r.status, 304, "pipelined If-None-Match: %d", r.status);
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined range");
	cr_assert_eq(r.status, 206, "pipelined range: %d", r.status);
	assert_body(&r, tf("f100k.bin")->data + 50000, 100, "pipelined range");
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined 404");
	cr_assert_eq(r.status, 404, "pipelined 404: %d", r.status);
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined /json");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, JSON, "pipelined /json");
	h_resp_free(&r);
	read_expect_file(&c, "f4k.bin", "pipelined last (Connection: close)");
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "no close after Connection: close");
	h_conn_close(&c);
}

/* ---- stalled readers ------------------------------------------------------ */

static int proc_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* "fd->target, ..." of a process, for failure messages. */
static void fd_list(pid_t pid, char *out, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	out[0] = 0;
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	size_t len = 0;
	while ((e = readdir(d)) && len + 300 < cap) {
		if (e->d_name[0] == '.')
			continue;
		char link[400], target[256];
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = 0;
		len += (size_t)snprintf(out + len, cap - len, "%s->%s ", e->d_name, target);
	}
	closedir(d);
}

static long proc_rss_kib(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* RSS bounds: x8 under ASan, not checked under TSan (0), as in the attack
 * tests. */
static int rss_scale(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "r");
	int scale = 1;
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "libtsan")) {
			scale = 0;
			break;
		} else if (strstr(line, "libasan")) {
			scale = 8;
			break;
		}
	fclose(f);
	return scale;
}

static int settled_fds(pid_t pid)
{
	int prev = proc_fds(pid), n = prev;
	for (int i = 0; i < 50; i++) {
		h_sleep_ms(20);
		n = proc_fds(pid);
		if (n == prev && i >= 4)
			break;
		prev = n;
	}
	return n;
}

#define STALL_RSS_SLACK_KIB 4096

/* Connect, GET, read, close: the whole thing, in ms; asserts the body. */
static long long timed_get(const char *path, const void *body, size_t len)
{
	long long t0 = h_now_ms();
	char buf[256];
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: probe\r\n\r\n", path);
	struct h_resp r;
	int rc = h_exchange(srv.port, buf, &r);
	long long ms = h_now_ms() - t0;
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
	cr_assert_eq(r.status, 200, "GET %s: %d", path, r.status);
	assert_body(&r, body, len, path);
	h_resp_free(&r);
	return ms;
}

HTEST(static_files, stalled_readers)
{
	make_tree(true);
	/* One worker: the stalled transfers and the probe share its loop, and
	 * the fd baseline is exact (the file cache holds one descriptor). */
	start("1");
	const struct tfile *big = tf("f10m.bin"), *f4k = tf("f4k.bin");
	/* Warm-up: the big file through once (cached descriptor), small ones. */
	for (int i = 0; i < 2; i++) {
		timed_get("/f10m.bin", big->data, big->size);
		timed_get("/f4k.bin", f4k->data, f4k->size);
		timed_get("/small.txt", SMALL_TXT, strlen(SMALL_TXT));
		h_assert_get(srv.port, "/plaintext", PLAIN);
	}
	int scale = rss_scale(srv.pid);
	int base_fds = settled_fds(srv.pid);
	long base_rss = proc_rss_kib(srv.pid);
	cr_assert(base_fds > 0 && base_rss > 0, "cannot read /proc/%d", (int)srv.pid);

	for (int i = 0; i < NSTALL; i++) {
		stall_fd[i] = h_connect_host("127.0.0.1", srv.port, 4096);
		cr_assert(stall_fd[i] >= 0, "stalled client %d: connect", i);
		cr_assert_eq(h_send_str(stall_fd[i], "GET /f10m.bin HTTP/1.1\r\nHost: s\r\n\r\n"), 0);
	}
	/* Let the server accept them and fill what the sockets take; then it
	 * must wait. */
	long long until = h_now_ms() + 3000;
	int during_fds;
	while ((during_fds = proc_fds(srv.pid)) < base_fds + NSTALL && h_now_ms() < until)
		h_sleep_ms(10);
	h_sleep_ms(300);
	during_fds = proc_fds(srv.pid);
	cr_assert_geq(during_fds, base_fds + NSTALL,
		      "the server holds %d fds with %d stalled clients (baseline %d): "
		      "were they closed?",
		      during_fds, NSTALL, base_fds);

	long peak_rss = base_rss;
	long long worst_ms = 0;
	long long t_end = h_now_ms() + 1200;
	int probes = 0;
	while (h_now_ms() < t_end) {
		long long ms = probes % 2 ? timed_get("/f4k.bin", f4k->data, f4k->size)
					  : timed_get("/small.txt", SMALL_TXT, strlen(SMALL_TXT));
		if (ms > worst_ms)
			worst_ms = ms;
		probes++;
		for (int k = 0; k < 5; k++) {
			long rss = proc_rss_kib(srv.pid);
			if (rss > peak_rss)
				peak_rss = rss;
			h_sleep_ms(20);
		}
	}
	cr_log_info("stalled_readers: %d probes, slowest %lld ms; RSS %ld -> peak %ld KiB; "
		    "fds %d -> %d",
		    probes, worst_ms, base_rss, peak_rss, base_fds, during_fds);
	cr_assert_leq(worst_ms, 500, "a small request took %lld ms while %d clients stalled",
		      worst_ms, NSTALL);
	if (scale)
		cr_assert_leq(peak_rss - base_rss, (long)STALL_RSS_SLACK_KIB * scale,
			      "server RSS grew %ld KiB (%ld -> %ld) with %d stalled 10 MiB "
			      "transfers",
			      peak_rss - base_rss, base_rss, peak_rss, NSTALL);

	/* The transfers really are stalled (not finished), and what arrived is
	 * the right response: read the head and some body of one of them. */
	for (int i = 0; i < NSTALL; i++) {
		int q = 0;
		cr_assert_eq(ioctl(stall_fd[i], FIONREAD, &q), 0);
		cr_assert_lt((size_t)q, (size_t)BIG_SIZE, "client %d got everything", i);
	}
	struct h_conn c;
	h_conn_init(&c, stall_fd[0]);
	stall_fd[0] = -1;
	struct h_resp r;
	cr_assert_eq(h_read_response(&c, &r, true, H_TIMEOUT_MS), H_OK, "stalled client's head");
	cr_assert_eq(r.status, 200);
	assert_length(&r, BIG_SIZE, "stalled client");
	h_resp_free(&r);
	/* Reading the rest resumes the transfer: the whole body arrives. */
	size_t got = c.len, want = BIG_SIZE;
	unsigned char *buf = malloc(BIG_SIZE);
	cr_assert(buf);
	memcpy(buf, c.buf, got);
	long long deadline = h_now_ms() + 5000;
	while (got < want && h_now_ms() < deadline) {
		struct pollfd p = {c.fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			continue;
		ssize_t n = recv(c.fd, buf + got, want - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	cr_assert_eq(got, want, "resumed client got %zu of %zu body bytes", got, want);
	cr_assert(!memcmp(buf, big->data, want), "resumed client: body differs");
	free(buf);
	h_conn_close(&c);

	for (int i = 1; i < NSTALL; i++) {
		close(stall_fd[i]);
		stall_fd[i] = -1;
	}
	long long t0 = h_now_ms();
	int n;
	while ((n = proc_fds(srv.pid)) > base_fds && h_now_ms() - t0 < 3000)
		h_sleep_ms(10);
	if (n != base_fds) {
		char list[2048];
		fd_list(srv.pid, list, sizeof(list));
		cr_assert_fail("server fds %d, baseline %d, 3 s after the stalled clients closed: %s",
			       n, base_fds, list);
	}
	/* And it still serves the big file byte-exact. */
	timed_get("/f10m.bin", big->data, big->size);
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

/* A file truncated under a transfer in flight: the response cannot be
 * completed, so the connection must close (not hang) and what did arrive is
 * the file's prefix; afterwards the truncated file is served. */
HTEST(static_files, truncated_during_transfer)
{
	make_tree(true);
	start("1");
	const struct tfile *big = tf("f10m.bin");
	int fd = h_connect_host("127.0.0.1", srv.port, 4096);
	cr_assert(fd >= 0);
	struct h_conn c;
	h_conn_init(&c, fd);
	cr_assert_eq(h_send_str(fd, "GET /f10m.bin HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	struct h_resp r;
	cr_assert_eq(h_read_response(&c, &r, true, H_TIMEOUT_MS), H_OK);
	cr_assert_eq(r.status, 200);
	assert_length(&r, BIG_SIZE, "GET /f10m.bin");
	h_resp_free(&r);
	h_sleep_ms(100);
	char p[512];
	path_in(p, sizeof(p), root_dir, "f10m.bin");
	const size_t cut = 1024 * 1024;
	cr_assert_eq(truncate(p, (off_t)cut), 0);

	unsigned char *buf = malloc(BIG_SIZE);
	cr_assert(buf);
	size_t got = c.len;
	memcpy(buf, c.buf, got);
	h_conn_close(&c);
	long long deadline = h_now_ms() + 5000;
	bool closed = false;
	while (got < BIG_SIZE && h_now_ms() < deadline) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + got, BIG_SIZE - got, 0);
		if (n <= 0) {
			closed = true;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	cr_assert(closed || got == BIG_SIZE,
		  "a transfer of a file truncated to %zu bytes hung: %zu of %u body bytes after "
		  "5 s, connection still open",
		  cut, got, BIG_SIZE);
	cr_assert(!memcmp(buf, big->data, got), "the bytes sent are not the file's prefix");
	free(buf);

	/* The server goes on, and serves the truncated file within 1.5 s
	 * (until its cache revalidates, a response cut short is all it can
	 * give: the promised length no longer exists). */
	deadline = h_now_ms() + 1500;
	for (;;) {
		int rc = h_exchange(srv.port, "GET /f10m.bin HTTP/1.1\r\nHost: t\r\n\r\n", &r);
		cr_assert(rc == H_OK || rc == H_PARTIAL, "GET /f10m.bin after the truncation: %s",
			  h_result_str(rc));
		bool fresh = rc == H_OK && r.status == 200 && r.body_len == cut &&
			     !memcmp(r.body, big->data, cut);
		if (rc == H_OK)
			h_resp_free(&r);
		if (fresh)
			break;
		cr_assert(h_now_ms() < deadline, "the truncated file not served within 1.5 s");
		h_sleep_ms(50);
	}
}

/* ---- cache freshness ------------------------------------------------------ */

enum { V_OLD, V_NEW, V_EMPTY, V_OTHER };

static int classify(const struct h_resp *r, const void *old, size_t oldlen, const void *new,
		    size_t newlen)
{
	if (r->status != 200)
		return V_OTHER;
	if (r->body_len == newlen && !memcmp(r->body, new, newlen))
		return V_NEW;
	if (r->body_len == oldlen && !memcmp(r->body, old, oldlen))
		return V_OLD;
	return r->body_len == 0 ? V_EMPTY : V_OTHER;
}

HTEST(static_files, cache_fresh)
{
	make_tree(false);
	start("2");
	/* Three replacements at once:
	 *   a.txt    small, replaced by rename() of a new file
	 *   b.txt    small, rewritten in place with another size
	 *   f100k    sendfile path, replaced by rename() of another 100 KiB */
	static const char a_old[] = "version one of a\n", a_new[] = "version TWO of a, longer\n";
	static const char b_old[] = "b before the rewrite, long line\n", b_new[] = "b after\n";
	const struct tfile *big = tf("f100k.bin");
	unsigned char *big_new = malloc(big->size);
	cr_assert(big_new);
	fill_random(big_new, big->size, 99);
	write_str("a.txt", a_old);
	write_str("b.txt", b_old);

	/* Warm every worker's cache (several fresh connections). */
	for (int i = 0; i < 8; i++) {
		struct h_resp r;
		cr_assert_eq(req("GET", "/a.txt", NULL, &r), 200);
		assert_body(&r, a_old, strlen(a_old), "a.txt before");
		h_resp_free(&r);
		cr_assert_eq(req("GET", "/b.txt", NULL, &r), 200);
		assert_body(&r, b_old, strlen(b_old), "b.txt before");
		h_resp_free(&r);
		cr_assert_eq(req("GET", "/f100k.bin", NULL, &r), 200);
		assert_body(&r, big->data, big->size, "f100k.bin before");
		h_resp_free(&r);
	}

	char from[512], to[512];
	write_str(".a.new", a_new);
	write_at(root_dir, ".f100k.new", big_new, big->size);
	long long t0 = h_now_ms();
	path_in(from, sizeof(from), root_dir, ".a.new");
	path_in(to, sizeof(to), root_dir, "a.txt");
	cr_assert_eq(rename(from, to), 0);
	path_in(from, sizeof(from), root_dir, ".f100k.new");
	path_in(to, sizeof(to), root_dir, "f100k.bin");
	cr_assert_eq(rename(from, to), 0);
	path_in(to, sizeof(to), root_dir, "b.txt");
	int fd = open(to, O_WRONLY | O_TRUNC | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, b_new, strlen(b_new)), (ssize_t)strlen(b_new));
	close(fd);

	static const char *const paths[] = {"/a.txt", "/b.txt", "/f100k.bin"};
	const void *olds[] = {a_old, b_old, big->data}, *news[] = {a_new, b_new, big_new};
	size_t oldl[] = {strlen(a_old), strlen(b_old), big->size},
	       newl[] = {strlen(a_new), strlen(b_new), big->size};
	long long fresh_at[3] = {-1, -1, -1};
	while (h_now_ms() - t0 < 1500 && (fresh_at[0] < 0 || fresh_at[1] < 0 || fresh_at[2] < 0)) {
		for (int i = 0; i < 3; i++) {
			if (fresh_at[i] >= 0)
				continue;
			struct h_resp r;
			req("GET", paths[i], NULL, &r);
			int v = classify(&r, olds[i], oldl[i], news[i], newl[i]);
			cr_assert(v == V_OLD || v == V_NEW || (i == 1 && v == V_EMPTY),
				  "GET %s after the replacement: status %d, %zu bytes, neither old "
				  "nor new content",
				  paths[i], r.status, r.body_len);
			if (v == V_NEW)
				fresh_at[i] = h_now_ms() - t0;
			h_resp_free(&r);
		}
		h_sleep_ms(25);
	}
	cr_log_info("cache_fresh: fresh after %lld / %lld / %lld ms", fresh_at[0], fresh_at[1],
		    fresh_at[2]);
	for (int i = 0; i < 3; i++)
		cr_assert(fresh_at[i] >= 0, "GET %s still served the old content 1.5 s after it was "
					    "replaced",
			  paths[i]);
	/* From 1.5 s on, every worker serves the new content, every time. */
	long long left = 1500 - (h_now_ms() - t0);
	if (left > 0)
		h_sleep_ms((int)left);
	for (int k = 0; k < 8; k++)
		for (int i = 0; i < 3; i++) {
			struct h_resp r;
			req("GET", paths[i], NULL, &r);
			int v = classify(&r, olds[i], oldl[i], news[i], newl[i]);
			cr_assert_eq(v, V_NEW, "GET %s %lld ms after the replacement: not the new "
					       "content (status %d, %zu bytes)",
				     paths[i], h_now_ms() - t0, r.status, r.body_len);
			h_resp_free(&r);
		}
	/* A deleted file is gone within the same bound. */
	path_in(to, sizeof(to), root_dir, "a.txt");
	cr_assert_eq(unlink(to), 0);
	h_sleep_ms(1500);
	for (int k = 0; k < 4; k++)
		expect_status("GET", "/a.txt", NULL, 404);
	free(big_new);
}

/* ---- socket activation ---------------------------------------------------- */

HTEST(static_files, socket_activation)
{
	const char *bin = getenv("HERD_BIN");
	cr_assert(bin && *bin, "HERD_BIN is not set");
	make_tree(false);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 64), 0);
	socklen_t al = sizeof(a);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	int port = ntohs(a.sin_port);

	char errpath[] = "/tmp/herd-act-XXXXXX";
	int wfd = mkstemp(errpath);
	cr_assert(wfd >= 0);
	act_errfd = open(errpath, O_RDONLY | O_CLOEXEC);
	unlink(errpath);
	cr_assert(act_errfd >= 0);

	/* reuseport needs a socket per worker, which activation cannot pass:
	 * that mode runs this test with the default accept mode. */
	const char *mode = getenv("HERD_ACCEPT");
	bool pass_mode = mode && *mode && strcmp(mode, "reuseport") != 0;
	/* --listen only keeps a server that ignored the passed socket on
	 * loopback: with activation it must bind nothing. */
	const char *argv[] = {bin,	"--workers", "1", "--root", root_dir, "--listen", "127.0.0.1:0",
			      pass_mode ? "--accept" : NULL, mode, NULL};
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(wfd, 1);
		dup2(wfd, 2);
		if (lfd != 3)
			dup2(lfd, 3); /* dup2 clears CLOEXEC on the copy */
		fcntl(3, F_SETFD, 0);
		for (int fd = 4; fd < 1024; fd++)
			close(fd);
		char pidbuf[32];
		snprintf(pidbuf, sizeof(pidbuf), "%d", (int)getpid());
		setenv("LISTEN_FDS", "1", 1);
		setenv("LISTEN_PID", pidbuf, 1);
		execv(bin, (char *const *)argv);
		dprintf(2, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	act_pid = pid;
	close(wfd);

	/* The log line, bounded. */
	char text[8192];
	long long deadline = h_now_ms() + 5000;
	for (;;) {
		ssize_t n = pread(act_errfd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = 0;
		if (strstr(text, "using the listening socket passed by systemd"))
			break;
		cr_assert(!strstr(text, "listening on "),
			  "herd bound a socket of its own instead of the passed one: %s", text);
		int st;
		cr_assert_eq(waitpid(pid, &st, WNOHANG), 0, "socket-activated herd exited: %s",
			     text);
		cr_assert(h_now_ms() < deadline, "no 'using the listening socket passed by "
						 "systemd' within 5 s: %s",
			  text);
		h_sleep_ms(10);
	}
	/* It answers on our socket (it bound none of its own). */
	h_assert_get(port, "/plaintext", PLAIN);
	struct h_resp r;
	cr_assert_eq(h_exchange(port, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), H_OK);
	cr_assert_eq(r.status, 200);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "socket-activated GET /small.txt");
	h_resp_free(&r);
	const char *lo = strstr(text, "listening on ");
	if (lo) {
		char want[64];
		snprintf(want, sizeof(want), ":%d", port);
		const char *eol = strchr(lo, '\n');
		size_t ll = eol ? (size_t)(eol - lo) : strlen(lo);
		cr_assert(memmem(lo, ll, want, strlen(want)),
			  "'listening on' names another port than the passed socket's %d: %.*s",
			  port, (int)ll, lo);
	}
	/* SIGTERM: a clean exit, as without activation. */
	kill(pid, SIGTERM);
	int st = 0;
	long long t0 = h_now_ms();
	pid_t w;
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 && h_now_ms() - t0 < 5000)
		h_sleep_ms(10);
	if (w == 0) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	act_pid = 0;
	cr_assert_neq(w, 0, "socket-activated herd did not exit within 5 s of SIGTERM");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "socket-activated herd exit status 0x%x after SIGTERM", st);
	act_passed = true;
	close(lfd);
}

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

/* ---- curl ------------------------------------------------------------------ */

/* Runs argv (PATH search) with stdout captured, bounded by timeout_ms.
 * Returns the exit status (or -1 on timeout); *out is malloc'd. */
static int run_capture(const char *const *argv, int timeout_ms, char **out, size_t *outlen)
{
	int p[2];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(devnull, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
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
	int st = 0;
	while (!timed_out && waitpid(pid, &st, WNOHANG) == 0) {
		if (h_now_ms() > deadline) {
			timed_out = true;
			break;
		}
		h_sleep_ms(5);
	}
	if (timed_out) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
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
