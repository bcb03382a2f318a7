/* Helpers shared by the static-file integration tests (test_static*_integration.c):
 * the tree, the server, requests and assertions.  See static_util.h. */
#include "static_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* File scope, not the test's stack: harness_fini() reaches the server after
 * the test body returned (each Criterion test runs in its own process). */
struct herd srv;
char base_dir[64];  /* BASE, "" when no tree */
char root_dir[96];  /* BASE/root */
pid_t act_pid;      /* socket-activated server, 0 when none */
int act_errfd = -1; /* its stderr */
bool act_passed;
int stall_fd[NSTALL] = {-1, -1, -1, -1, -1, -1, -1, -1};

/* ---- the tree ------------------------------------------------------------ */

struct tfile files[] = {
	{"empty.bin", 0, 1, NULL},        {"f1.bin", 1, 2, NULL},
	{"f4k.bin", 4096, 3, NULL},       {"f16k.bin", 16384, 4, NULL},
	{"f16k1.bin", 16385, 5, NULL},    {"f100k.bin", 102400, 6, NULL},
	{"f10m.bin", BIG_SIZE, 7, NULL},
};

void fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull | 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 32);
	}
}

const struct tfile *tf(const char *name)
{
	for (size_t i = 0; i < NFILES; i++)
		if (!strcmp(files[i].name, name)) {
			cr_assert(files[i].data, "%s was not created (make_tree(true) needed)", name);
			return &files[i];
		}
	cr_assert_fail("no test file %s", name);
	return NULL;
}

void path_in(char *out, size_t cap, const char *dir, const char *rel)
{
	int n = snprintf(out, cap, "%s/%s", dir, rel);
	cr_assert(n > 0 && (size_t)n < cap);
}

void write_at(const char *dir, const char *rel, const void *data, size_t len)
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

void write_str(const char *rel, const char *s)
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

void make_tree(bool big)
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

void static_fini(void)
{
	for (int i = 0; i < NSTALL; i++)
		if (stall_fd[i] >= 0) {
			close(stall_fd[i]);
			stall_fd[i] = -1;
		}
	if (act_pid > 0) {
		h_child_kill(act_pid, NULL);
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

void start(const char *workers)
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
int req(const char *method, const char *path, const char *hdrs, struct h_resp *r)
{
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, path,
			 hdrs ? hdrs : "");
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	int rc = h_exchange(srv.port, buf, r);
	cr_assert_eq(rc, H_OK, "%s %s: %s", method, path, h_result_str(rc));
	return r->status;
}

void expect_status(const char *method, const char *path, const char *hdrs, int status)
{
	struct h_resp r;
	int got = req(method, path, hdrs, &r);
	cr_assert_eq(got, status, "%s %s%s%s: status %d, want %d", method, path,
		     hdrs ? " with " : "", hdrs ? hdrs : "", got, status);
	h_resp_free(&r);
}

struct h_conn open_conn(void)
{
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0, "connect to 127.0.0.1:%d", srv.port);
	struct h_conn c;
	h_conn_init(&c, fd);
	return c;
}

void conn_req(struct h_conn *c, const char *method, const char *path, const char *hdrs)
{
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, path,
			 hdrs ? hdrs : "");
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert_eq(h_send_str(c->fd, buf), 0, "send %s %s", method, path);
}

void conn_read(struct h_conn *c, struct h_resp *r, bool head, const char *what)
{
	int rc = h_read_response(c, r, head, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
}

/* The next response on c is GET /plaintext's: proves that nothing stray
 * (a body after HEAD or 304) was sent before it. */
void conn_expect_plaintext(struct h_conn *c, const char *after)
{
	conn_req(c, "GET", "/plaintext", NULL);
	struct h_resp r;
	conn_read(c, &r, false, "GET /plaintext after");
	cr_assert_eq(r.status, 200, "after %s: the next response is %d, not /plaintext's 200",
		     after, r.status);
	cr_assert_str_eq(r.body, PLAIN, "after %s: framing lost", after);
	h_resp_free(&r);
}

void assert_body(const struct h_resp *r, const void *want, size_t len, const char *what)
{
	cr_assert_eq(r->body_len, len, "%s: body is %zu bytes, want %zu", what, r->body_len, len);
	if (len && memcmp(r->body, want, len)) {
		size_t i = 0;
		while (((const unsigned char *)r->body)[i] == ((const unsigned char *)want)[i])
			i++;
		cr_assert_fail("%s: body differs from the file at byte %zu", what, i);
	}
}

void assert_header(const struct h_resp *r, const char *name, const char *want,
		   const char *what)
{
	const char *v = h_header(r, name);
	cr_assert(v, "%s: no %s header", what, name);
	cr_assert_str_eq(v, want, "%s: %s: '%s', want '%s'", what, name, v, want);
}

void assert_length(const struct h_resp *r, size_t want, const char *what)
{
	cr_assert_eq(header_count(r, "Content-Length"), 1, "%s: %d Content-Length headers", what,
		     header_count(r, "Content-Length"));
	cr_assert_eq(r->content_length, want, "%s: Content-Length %zu, want %zu", what,
		     r->content_length, want);
}

time_t parse_imf(const char *s)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
	if (!rest || *rest || strlen(s) != 29)
		return (time_t)-1;
	return timegm(&tm);
}

void format_imf(time_t t, char *out, size_t cap)
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
void assert_file_headers(const struct h_resp *r, const char *rel, size_t size,
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
