/* Static files: slow readers, files truncated or replaced under the
 * server (the file cache and its revalidation).
 *
 * Each test builds its own tree (see static_util.h).  The tests:
 *
 *   stalled_readers  8 clients stop reading a 10 MiB body: another client
 *                    still served within 0.5 s, RSS flat, fds back to baseline
 *   truncated_during_transfer  a file cut short under a transfer: the
 *                    connection closes (no hang), the prefix is right
 *   cache_fresh      a file replaced (rename, in-place rewrite) is served
 *                    fresh within 1.5 s
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "static_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(static_files, .fini = static_fini, .timeout = 30);

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
	c.fd = -1; /* read below: only the buffer goes */
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
