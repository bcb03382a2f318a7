/* Static files: the tree changing under a running server (issue 15,
 * findings 6 and 7).
 *
 * Each test builds its own tree (see static_util.h).  The tests:
 *
 *   deleted_file_released   a file deleted, another renamed over: both
 *                           descriptors closed within 2.5 s, no request needed
 *   truncated_ahead_tmpfs   a file truncated ahead of what the server queued:
 *   truncated_ahead_disk    the client gets exactly the file's new length of
 *                           the right bytes, no zeros, then an orderly close
 *                           (tmpfs pages; ext4's large folios)
 *   truncated_behind_bounded  truncated behind what is queued: the
 *                           connection closes, and the bytes that still reach
 *                           the client past the new end stay within
 *                           FILE_UNSENT_MAX (the kernel's zero-copy window)
 *   root_symlink_switched   --root a symlink switched to a new release:
 *   root_symlink_switched_procs  served from it within a second, every
 *                           worker (and handler process), old files closed
 *   root_dir_replaced       the root directory renamed away, a new one put
 *                           in place, with a moment of no root in between
 *   root_no_escape          absolute symlinks inside the (switched) root
 *                           served, those outside it (the old release too) 404
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "static_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(static_files, .fini = static_fini, .timeout = 30);

/* net/file_cache.h: file bytes a transfer leaves unsent at most. */
#define UNSENT_MAX (1024 * 1024)

/* How many descriptors of process pid point to a path containing needle,
 * and, with `deleted`, to a deleted file (the target then ends so). */
static int open_fds_of(pid_t pid, const char *needle, bool deleted)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char link[320], target[512];
		snprintf(link, sizeof(link), "%s/%s", path, e->d_name);
		ssize_t k = readlink(link, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = 0;
		size_t len = k > 0 ? (size_t)k : 0;
		n += len && strstr(target, needle) &&
		     (!deleted || (len > 10 && !strcmp(target + len - 10, " (deleted)")));
	}
	closedir(d);
	return n;
}

/* The same over the server and its handler processes (--procs): the
 * children of any of its threads. */
static int fds_anywhere(const char *needle, bool deleted)
{
	int n = open_fds_of(srv.pid, needle, deleted);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)srv.pid);
	DIR *d = opendir(path);
	struct dirent *t;
	while (d && (t = readdir(d))) {
		char kids[400];
		snprintf(kids, sizeof(kids), "%s/%s/children", path, t->d_name);
		FILE *f = t->d_name[0] != '.' ? fopen(kids, "r") : NULL;
		int child;
		while (f && fscanf(f, "%d", &child) == 1)
			n += open_fds_of(child, needle, deleted);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* ms until no descriptor of the server names needle, or -1 after limit. */
static long long ms_until_closed(const char *needle, bool deleted, int limit_ms)
{
	long long t0 = h_now_ms();
	while (fds_anywhere(needle, deleted) > 0) {
		if (h_now_ms() - t0 > limit_ms)
			return -1;
		h_sleep_ms(20);
	}
	return h_now_ms() - t0;
}

HTEST(static_files, deleted_file_released)
{
	make_tree(false);
	start("1");
	unsigned char *big = malloc(100000);
	cr_assert(big);
	fill_random(big, 100000, 11);
	write_at(root_dir, "gone.bin", big, 100000);
	write_str("gone.txt", "small, kept in memory and open\n");
	write_at(root_dir, "over.bin", big, 100000);
	struct h_resp r;
	static const char *const names[] = {"/gone.bin", "/gone.txt", "/over.bin"};
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(req("GET", names[i], NULL, &r), 200, "GET %s", names[i]);
		h_resp_free(&r);
	}
	cr_assert_eq(fds_anywhere("/gone.bin", false), 1, "the cache did not keep gone.bin open");
	char p[512], q[512];
	path_in(p, sizeof(p), root_dir, "gone.bin");
	cr_assert_eq(unlink(p), 0);
	path_in(p, sizeof(p), root_dir, "gone.txt");
	cr_assert_eq(unlink(p), 0);
	write_str(".over.new", "the new over.bin\n");
	path_in(p, sizeof(p), root_dir, ".over.new");
	path_in(q, sizeof(q), root_dir, "over.bin");
	cr_assert_eq(rename(p, q), 0);
	/* No request comes: only the server's own sweep can close them. */
	long long ms = ms_until_closed(root_dir, true, 2500);
	int left = fds_anywhere(root_dir, true);
	cr_log_info("deleted_file_released: closed after %lld ms (-1: %d still open)", ms, left);
	cr_assert_geq(ms, 0, "%d deleted files still open 2.5 s after the deletion", left);
	expect_status("GET", "/gone.bin", NULL, 404);
	cr_assert_eq(req("GET", "/over.bin", NULL, &r), 200);
	assert_body(&r, "the new over.bin\n", 17, "over.bin after the rename");
	h_resp_free(&r);
	free(big);
}

/* ---- truncation under a transfer -------------------------------------- */

struct cut_result {
	size_t got, wrong, zeros; /* body bytes; those differing from the file */
	bool eof, reset;          /* how it ended: FIN, RST (else: still open) */
};

/* GET of a 10 MiB file written in one piece under base (so the page cache
 * may use large folios), truncated to `cut` 100 ms after the head arrived,
 * by a client reading slowly (small receive buffer). */
static struct cut_result truncate_under_transfer(const char *tmpl, size_t cut)
{
	strcpy(base_dir, tmpl);
	cr_assert(mkdtemp(base_dir), "mkdtemp %s: %s", tmpl, strerror(errno));
	path_in(root_dir, sizeof(root_dir), base_dir, "root");
	cr_assert_eq(mkdir(root_dir, 0755), 0);
	unsigned char *data = malloc(BIG_SIZE), *buf = malloc(BIG_SIZE);
	cr_assert(data && buf);
	fill_random(data, BIG_SIZE, 21);
	write_at(root_dir, "big.bin", data, BIG_SIZE);
	start("1");

	int fd = h_connect_host("127.0.0.1", srv.port, 4096);
	cr_assert(fd >= 0);
	struct h_conn c;
	h_conn_init(&c, fd);
	cr_assert_eq(h_send_str(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	struct h_resp r;
	cr_assert_eq(h_read_response(&c, &r, true, H_TIMEOUT_MS), H_OK);
	cr_assert_eq(r.status, 200);
	assert_length(&r, BIG_SIZE, "GET /big.bin");
	h_resp_free(&r);
	h_sleep_ms(100);
	char p[512];
	path_in(p, sizeof(p), root_dir, "big.bin");
	cr_assert_eq(truncate(p, (off_t)cut), 0);

	struct cut_result res = {0};
	res.got = c.len;
	memcpy(buf, c.buf, c.len);
	c.fd = -1; /* read below: only the buffer goes */
	h_conn_close(&c);
	long long deadline = h_now_ms() + 5000;
	while (res.got < BIG_SIZE && h_now_ms() < deadline) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = recv(fd, buf + res.got, BIG_SIZE - res.got, 0);
		if (n <= 0) {
			res.eof = n == 0;
			res.reset = n < 0 && errno == ECONNRESET;
			break;
		}
		res.got += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; i < res.got; i++)
		if (buf[i] != data[i]) {
			res.wrong++;
			res.zeros += buf[i] == 0;
		}
	free(buf);
	free(data);
	cr_log_info("cut at %zu: %zu body bytes, %zu of them wrong (%zu zeros), %s", cut, res.got,
		    res.wrong, res.zeros,
		    res.eof ? "then FIN" : res.reset ? "then RST" : "still open");
	return res;
}

/* The cut lies beyond what the server may have queued (UNSENT_MAX), and off
 * a page boundary, so the kernel zeroes the rest of that page or folio. */
#define CUT_AHEAD (UNSENT_MAX + UNSENT_MAX / 2 + 12345)

static void expect_clean_cut(const struct cut_result *res)
{
	cr_assert_eq(res->wrong, 0, "%zu body bytes are not the file's (%zu zeros)", res->wrong,
		     res->zeros);
	cr_assert_eq(res->got, (size_t)CUT_AHEAD,
		     "%zu body bytes for a file truncated to %d: want exactly the new length",
		     res->got, CUT_AHEAD);
	cr_assert(res->eof, "the connection %s after the file's new end, want an orderly close",
		  res->reset ? "was reset" : "stayed open 5 s");
}

HTEST(static_files, truncated_ahead_tmpfs)
{
	struct cut_result res = truncate_under_transfer("/dev/shm/herd-changes-XXXXXX", CUT_AHEAD);
	expect_clean_cut(&res);
}

HTEST(static_files, truncated_ahead_disk)
{
	struct cut_result res = truncate_under_transfer("/var/tmp/herd-changes-XXXXXX", CUT_AHEAD);
	expect_clean_cut(&res);
}

/* Truncated behind what is already queued: those bytes live in the page
 * cache the kernel just zeroed, and only a reset can still drop them.  The
 * server notices when it next may send, so some may reach the client first:
 * at most what it keeps unsent (plus a segment and the client's receive
 * buffer, hence the quarter), where before it was the whole send buffer. */
HTEST(static_files, truncated_behind_bounded)
{
	const size_t cut = 100000;
	struct cut_result res = truncate_under_transfer("/var/tmp/herd-changes-XXXXXX", cut);
	cr_assert(res.eof || res.reset, "the connection stayed open 5 s after the truncation");
	size_t past = res.got > cut ? res.got - cut : 0;
	cr_assert_leq(past, (size_t)UNSENT_MAX + UNSENT_MAX / 4,
		      "%zu bytes past the file's new end reached the client (%zu wrong)", past,
		      res.wrong);
	/* Before the cut every byte is the file's. */
	cr_assert_leq(res.wrong, past, "bytes before the new end are wrong");
}

/* ---- the root ---------------------------------------------------------- */

static char www[128], rel1[128], rel2[128];

/* BASE/rel1 and BASE/rel2, two releases with their own v.txt; BASE/www ->
 * rel1 is the root. */
static void releases(void)
{
	make_tree(false);
	path_in(www, sizeof(www), base_dir, "www");
	path_in(rel1, sizeof(rel1), base_dir, "rel1");
	path_in(rel2, sizeof(rel2), base_dir, "rel2");
	cr_assert_eq(mkdir(rel1, 0755), 0);
	cr_assert_eq(mkdir(rel2, 0755), 0);
	write_at(rel1, "v.txt", "release 1\n", 10);
	write_at(rel2, "v.txt", "release 2\n", 10);
	unsigned char big[100000];
	fill_random(big, sizeof(big), 31);
	write_at(rel1, "big.bin", big, sizeof(big));
	write_at(rel2, "big.bin", big, sizeof(big));
	cr_assert_eq(symlink("rel1", www), 0);
}

/* The body of GET path on a fresh connection ("" unless 200). */
static void get_body(const char *path, char *out, size_t cap)
{
	struct h_resp r;
	int st = req("GET", path, NULL, &r);
	snprintf(out, cap, "%s", st == 200 ? r.body : "");
	h_resp_free(&r);
}

/* After a switch at t0 (h_now_ms): GET /v.txt over and over for a while,
 * every answer being want or before (no 404, nothing else).  Returns the ms
 * from t0 to the first answer want, or -1; *old_sent_ms: when the last
 * request answered `before` was sent.  Each worker looks at the root on its
 * own schedule, so one may serve the new release while another still
 * serves the old: what must hold is that no request sent a second after the
 * switch gets the old one, whatever a request's latency on a busy machine. */
static long long ms_until_served(long long t0, const char *want, const char *before,
				 long long *old_sent_ms)
{
	char body[64];
	long long first = -1;
	*old_sent_ms = -1;
	while (h_now_ms() - t0 < 1500 || (first < 0 && h_now_ms() - t0 < 3000)) {
		long long sent = h_now_ms() - t0;
		get_body("/v.txt", body, sizeof(body));
		if (!strcmp(body, want)) {
			if (first < 0)
				first = h_now_ms() - t0;
		} else {
			cr_assert_str_eq(body, before, "GET /v.txt during the switch");
			*old_sent_ms = sent;
		}
		h_sleep_ms(10);
	}
	return first;
}

/* The server looks at the root's path at most once a second: a request
 * sent a second after the switch (and a coarse clock tick) must see it. */
#define SWITCH_MS 1000
#define CLOCK_SLACK_MS 20

static void assert_switched(long long ms, long long old_sent, const char *what)
{
	cr_log_info("%s: the new root first served after %lld ms; the last old answer was to a "
		    "request sent at %lld ms",
		    what, ms, old_sent);
	cr_assert_geq(ms, 0, "%s: the old root still served 3 s after the switch", what);
	cr_assert_leq(old_sent, SWITCH_MS + CLOCK_SLACK_MS,
		      "%s: a request sent %lld ms after the switch got the old root", what,
		      old_sent);
}

static void switch_www_to(const char *target)
{
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.new", www);
	cr_assert_eq(symlink(target, tmp), 0);
	cr_assert_eq(rename(tmp, www), 0); /* atomic, as deploy tools do */
}

static void root_switch(const char *const *extra)
{
	releases();
	const char *args[12] = {"--workers", "2", "--root", www};
	for (int i = 0; extra && extra[i]; i++)
		args[4 + i] = extra[i];
	herd_start_accept(&srv, NULL, args);
	char body[64];
	for (int i = 0; i < 8; i++) { /* every worker's cache warm */
		get_body("/v.txt", body, sizeof(body));
		cr_assert_str_eq(body, "release 1\n");
		get_body("/big.bin", body, sizeof(body));
	}
	cr_assert_gt(fds_anywhere("/rel1/big.bin", false), 0, "the cache did not keep big.bin open");
	long long t0 = h_now_ms(), old_sent;
	switch_www_to("rel2");
	long long ms = ms_until_served(t0, "release 2\n", "release 1\n", &old_sent);
	assert_switched(ms, old_sent, "root symlink switched");
	/* From then on every worker (and process) serves the new release. */
	for (int i = 0; i < 8; i++) {
		get_body("/v.txt", body, sizeof(body));
		cr_assert_str_eq(body, "release 2\n", "a worker went on with the old release");
	}
	long long closed = ms_until_closed("/rel1/big.bin", false, 2500);
	cr_assert_geq(closed, 0, "files of the old release still open 2.5 s after the switch");
}

HTEST(static_files, root_symlink_switched)
{
	root_switch(NULL);
}

HTEST(static_files, root_symlink_switched_procs)
{
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && !strcmp(mode, "reuseport")) {
		harness_passed();
		cr_skip_test("--procs refuses --accept reuseport");
	}
	root_switch((const char *const[]){"--procs", "2", NULL});
}

HTEST(static_files, root_dir_replaced)
{
	releases();
	/* The root is a real directory this time: rel1 itself. */
	herd_start(&srv, "--workers", "2", "--root", rel1);
	char body[64], old[160];
	for (int i = 0; i < 4; i++) {
		get_body("/v.txt", body, sizeof(body));
		cr_assert_str_eq(body, "release 1\n");
	}
	snprintf(old, sizeof(old), "%s.old", rel1);
	cr_assert_eq(rename(rel1, old), 0);
	/* A moment with no root at the path: the old one still answers. */
	long long t0 = h_now_ms();
	while (h_now_ms() - t0 < 1200) {
		get_body("/v.txt", body, sizeof(body));
		cr_assert_str_eq(body, "release 1\n", "no root at the path: the old one must serve");
		h_sleep_ms(50);
	}
	long long old_sent;
	t0 = h_now_ms();
	cr_assert_eq(rename(rel2, rel1), 0);
	long long ms = ms_until_served(t0, "release 2\n", "release 1\n", &old_sent);
	assert_switched(ms, old_sent, "root directory replaced");
	/* The moment without a root was logged. */
	char log[8192];
	ssize_t n = pread(srv.errfd, log, sizeof(log) - 1, 0);
	log[n > 0 ? n : 0] = 0;
	cr_assert(strstr(log, "cannot open --root"), "nothing logged: %s", log);
}

HTEST(static_files, root_no_escape)
{
	releases();
	char t[256];
	/* In rel2, the release switched to: */
	snprintf(t, sizeof(t), "%s/v.txt", www); /* through the root's path */
	char at[256];
	path_in(at, sizeof(at), rel2, "abs-path.txt");
	cr_assert_eq(symlink(t, at), 0);
	snprintf(t, sizeof(t), "%s/v.txt", rel2); /* by where the root is */
	path_in(at, sizeof(at), rel2, "abs-real.txt");
	cr_assert_eq(symlink(t, at), 0);
	snprintf(t, sizeof(t), "%s/v.txt", rel1); /* into the old release */
	path_in(at, sizeof(at), rel2, "abs-old.txt");
	cr_assert_eq(symlink(t, at), 0);
	snprintf(t, sizeof(t), "%s/secret.txt", base_dir);
	path_in(at, sizeof(at), rel2, "abs-out.txt");
	cr_assert_eq(symlink(t, at), 0);
	snprintf(t, sizeof(t), "%s/../secret.txt", rel2);
	path_in(at, sizeof(at), rel2, "abs-dotdot.txt");
	cr_assert_eq(symlink(t, at), 0);
	path_in(at, sizeof(at), rel2, "rel-old.txt");
	cr_assert_eq(symlink("../rel1/v.txt", at), 0);
	herd_start(&srv, "--workers", "2", "--root", www);
	expect_status("GET", "/abs-path.txt", NULL, 404); /* not in rel1 yet */
	switch_www_to("rel2");
	h_sleep_ms(1100);
	char body[64];
	for (int i = 0; i < 4; i++) {
		get_body("/abs-path.txt", body, sizeof(body));
		cr_assert_str_eq(body, "release 2\n", "absolute symlink by the root's path");
		get_body("/abs-real.txt", body, sizeof(body));
		cr_assert_str_eq(body, "release 2\n", "absolute symlink by the root's location");
		expect_status("GET", "/abs-old.txt", NULL, 404);
		expect_status("GET", "/abs-out.txt", NULL, 404);
		expect_status("GET", "/abs-dotdot.txt", NULL, 404);
		expect_status("GET", "/rel-old.txt", NULL, 404);
	}
}
