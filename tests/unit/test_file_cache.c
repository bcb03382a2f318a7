/* Unit tests of the file cache and of opening beneath the root
 * (net/file_cache.c, net/file_open.c), with a fake clock:
 *
 *   open            symlinks inside the root followed (relative, absolute by
 *                   the followed path or by the real location, chains, to
 *                   directories), everything else refused; the kernel path
 *                   (openat2) and the user-space walk agree
 *   tick            entries closed once deleted, renamed over or inactive
 *                   for FILE_INACTIVE_SEC; a transfer keeps its file
 *   root            a switched symlink or a renamed directory becomes the
 *                   root at the next second, a missing path keeps the old
 *   send_cut        a transfer cut short resets only when bytes past the
 *                   file's end were queued, and revalidates its entry */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/file_cache.h"
#include "net/file_open.h"

#include "unit_util.h"

#define T0 1700000000 /* the fake clock's start */

static char base[64];    /* BASE */
static char www[96];     /* BASE/www -> rel1 */
static char rel1[96];    /* BASE/rel1: the root */

static void at(char *out, size_t cap, const char *rel)
{
	int n = snprintf(out, cap, "%s/%s", base, rel);
	cr_assert(n > 0 && (size_t)n < cap);
}

static void put(const char *rel, const char *s)
{
	char p[256];
	at(p, sizeof(p), rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "create %s: %s", p, strerror(errno));
	cr_assert_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

static void dir(const char *rel)
{
	char p[256];
	at(p, sizeof(p), rel);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
}

static void link_to(const char *rel, const char *target)
{
	char p[256];
	at(p, sizeof(p), rel);
	cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
}

/* BASE/secret, BASE/rel1 (the root) and BASE/rel2, BASE/www -> rel1. */
static void tree(void)
{
	strcpy(base, "/tmp/herd-fcache-XXXXXX");
	cr_assert_not_null(mkdtemp(base));
	at(www, sizeof(www), "www");
	at(rel1, sizeof(rel1), "rel1");
	put("secret", "SECRET\n");
	dir("rel1");
	dir("rel1/sub");
	dir("rel2");
	put("rel1/v.txt", "one\n");
	put("rel1/sub/in.txt", "inner\n");
	put("rel2/v.txt", "two\n");
	link_to("www", "rel1");
	char t[256];
	snprintf(t, sizeof(t), "%s/v.txt", www); /* by the followed path */
	link_to("rel1/abs-path.txt", t);
	snprintf(t, sizeof(t), "%s/sub/in.txt", rel1); /* by the real location */
	link_to("rel1/abs-real.txt", t);
	snprintf(t, sizeof(t), "%s/sub", www);
	link_to("rel1/abs-dir", t);
	link_to("rel1/chain.txt", "abs-path.txt");
	link_to("rel1/sub/up.txt", "../v.txt");
	snprintf(t, sizeof(t), "%s/../secret", rel1);
	link_to("rel1/abs-dotdot", t);
	snprintf(t, sizeof(t), "%s/secret", base);
	link_to("rel1/abs-out", t);
	snprintf(t, sizeof(t), "%s/rel2/v.txt", base);
	link_to("rel1/abs-sibling", t);
	link_to("rel1/rel-out", "../secret");
	link_to("rel1/sub/rel-out2", "../../rel2/v.txt");
	link_to("rel1/etc", "/etc");
	link_to("rel1/loop", "loop");
	snprintf(t, sizeof(t), "%s", www);
	link_to("rel1/self", t); /* the root itself */
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static void fini(void)
{
	if (base[0])
		nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(open, .fini = fini);
TestSuite(tick, .fini = fini);
TestSuite(root, .fini = fini);
TestSuite(send_cut, .fini = fini);

/* The file's contents through fd, "" for a directory. */
static const char *contents(int fd)
{
	static char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void root_at_www(struct file_root *r)
{
	int fd = open(www, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(file_root_init(r, fd, www), 0);
	close(fd); /* the root keeps its own */
}

Test(open, inside_followed_outside_refused)
{
	tree();
	struct file_root r;
	root_at_www(&r);
	static const struct {
		const char *path, *want; /* want NULL: refused */
	} cases[] = {
		{"v.txt", "one\n"},
		{"abs-path.txt", "one\n"},
		{"abs-real.txt", "inner\n"},
		{"abs-dir/in.txt", "inner\n"},
		{"chain.txt", "one\n"},
		{"sub/up.txt", "one\n"},
		{"self/self/v.txt", "one\n"},
		{"abs-dotdot", NULL},
		{"abs-out", NULL},
		{"abs-sibling", NULL},
		{"rel-out", NULL},
		{"sub/rel-out2", NULL},
		{"etc/passwd", NULL},
		{"loop", NULL},
		{"missing", NULL},
	};
	for (size_t i = 0; i < N(cases); i++)
		for (int walk = 0; walk < 2; walk++) {
			const char *p = cases[i].path;
			int fd = walk ? file_open_walk(&r, p, O_RDONLY | O_CLOEXEC)
				      : file_open_beneath(&r, p, O_RDONLY | O_CLOEXEC);
			int e = errno;
			if (cases[i].want) {
				cr_assert(fd >= 0, "%s %s: %s", walk ? "walk" : "open", p, strerror(e));
				cr_assert_str_eq(contents(fd), cases[i].want, "%s %s",
						 walk ? "walk" : "open", p);
				close(fd);
			} else {
				cr_assert(fd < 0, "%s %s: opened (%s), want refused",
					  walk ? "walk" : "open", p, contents(fd));
			}
		}
	/* The errors say why: escapes are EXDEV, a loop ELOOP. */
	cr_assert(file_open_walk(&r, "abs-out", O_RDONLY) < 0 && errno == EXDEV);
	cr_assert(file_open_walk(&r, "rel-out", O_RDONLY) < 0 && errno == EXDEV);
	cr_assert(file_open_walk(&r, "loop", O_RDONLY) < 0 && errno == ELOOP);
	cr_assert(file_open_walk(&r, "v.txt/x", O_RDONLY) < 0 && errno == ENOTDIR);
	/* O_PATH (revalidation) resolves the same way. */
	int fd = file_open_beneath(&r, "abs-dir", O_PATH | O_CLOEXEC);
	struct stat st;
	cr_assert(fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
	close(fd);
	file_root_destroy(&r);
}

/* Without a followed path (a fixed root) an absolute link can still name
 * the root by where it really is. */
Test(open, fixed_root_by_real_location)
{
	tree();
	struct file_root r;
	int fd = open(rel1, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(file_root_init(&r, fd, NULL), 0);
	close(fd);
	fd = file_open_beneath(&r, "abs-real.txt", O_RDONLY);
	cr_assert(fd >= 0, "abs-real.txt: %s", strerror(errno));
	cr_assert_str_eq(contents(fd), "inner\n");
	close(fd);
	/* www is not a path this root follows, but it resolves to rel1: a
	 * link through it is refused (by bytes, not by following www). */
	cr_assert(file_open_beneath(&r, "abs-path.txt", O_RDONLY) < 0);
	file_root_destroy(&r);
}

static struct file_cache fc;

static struct file_entry *get(const char *path, int64_t now)
{
	int status = 0;
	struct file_entry *e = file_cache_get(&fc, path, now, &status);
	cr_assert(e, "GET %s: %d", path, status);
	return e;
}

static void cache_at_www(void)
{
	int fd = open(www, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert(fd >= 0);
	cr_assert_eq(file_cache_init(&fc, fd, 16), 0);
	cr_assert_eq(file_cache_follow(&fc, www), 0);
	close(fd);
}

Test(tick, deleted_and_renamed_over_closed)
{
	tree();
	cache_at_www();
	put("rel1/a.txt", "a\n");
	put("rel1/b.txt", "b\n");
	file_cache_put(&fc, get("a.txt", T0));
	file_cache_put(&fc, get("b.txt", T0));
	file_cache_put(&fc, get("v.txt", T0));
	cr_assert_eq(fc.count, 3);
	char p[256], q[256];
	at(p, sizeof(p), "rel1/a.txt");
	cr_assert_eq(unlink(p), 0);
	put("rel1/b.new", "b2\n");
	at(p, sizeof(p), "rel1/b.new");
	at(q, sizeof(q), "rel1/b.txt");
	cr_assert_eq(rename(p, q), 0);
	file_cache_tick(&fc, T0); /* the same second: nothing looked at */
	cr_assert_eq(fc.count, 3);
	file_cache_tick(&fc, T0 + 1);
	cr_assert_eq(fc.count, 1, "deleted and renamed-over entries still cached: %u", fc.count);
	file_cache_destroy(&fc);
}

Test(tick, inactive_closed)
{
	tree();
	cache_at_www();
	file_cache_put(&fc, get("v.txt", T0));
	file_cache_put(&fc, get("sub/in.txt", T0));
	file_cache_put(&fc, get("sub/in.txt", T0 + 5)); /* used again */
	file_cache_tick(&fc, T0 + FILE_INACTIVE_SEC - 1);
	cr_assert_eq(fc.count, 2);
	file_cache_tick(&fc, T0 + FILE_INACTIVE_SEC);
	cr_assert_eq(fc.count, 1, "an entry unused for %d s still cached", FILE_INACTIVE_SEC);
	file_cache_tick(&fc, T0 + 5 + FILE_INACTIVE_SEC);
	cr_assert_eq(fc.count, 0);
	file_cache_destroy(&fc);
}

Test(tick, transfer_keeps_its_file)
{
	tree();
	cache_at_www();
	struct file_entry *e = get("v.txt", T0); /* held, as by a transfer */
	char p[256];
	at(p, sizeof(p), "rel1/v.txt");
	cr_assert_eq(unlink(p), 0);
	file_cache_tick(&fc, T0 + 1);
	cr_assert_eq(fc.count, 0);
	cr_assert(e->stale);
	cr_assert_str_eq(contents(e->fd), "one\n", "the transfer's descriptor was closed");
	file_cache_put(&fc, e);
	file_cache_destroy(&fc);
}

Test(root, symlink_switched)
{
	tree();
	cache_at_www();
	struct file_entry *e = get("v.txt", T0);
	cr_assert_str_eq(contents(e->fd), "one\n");
	file_cache_put(&fc, e);
	file_cache_put(&fc, get("sub/in.txt", T0));
	char p[256];
	at(p, sizeof(p), "www.new");
	cr_assert_eq(symlink("rel2", p), 0);
	cr_assert_eq(rename(p, www), 0);
	e = get("v.txt", T0); /* looked at this second already */
	cr_assert_str_eq(contents(e->fd), "one\n");
	file_cache_put(&fc, e);
	e = get("v.txt", T0 + 1);
	cr_assert_str_eq(contents(e->fd), "two\n", "the switched root not followed");
	file_cache_put(&fc, e);
	cr_assert_eq(fc.count, 1, "entries of the old root still cached");
	int status = 0;
	cr_assert_null(file_cache_get(&fc, "sub/in.txt", T0 + 1, &status));
	cr_assert_eq(status, 404);
	file_cache_destroy(&fc);
}

Test(root, directory_replaced_and_missing)
{
	tree();
	int fd = open(rel1, O_PATH | O_DIRECTORY | O_CLOEXEC);
	cr_assert_eq(file_cache_init(&fc, fd, 16), 0);
	cr_assert_eq(file_cache_follow(&fc, rel1), 0);
	close(fd);
	file_cache_put(&fc, get("v.txt", T0));
	char p[256], q[256];
	at(p, sizeof(p), "rel1.old");
	cr_assert_eq(rename(rel1, p), 0);
	/* Half a deploy: the path names nothing; the old root still serves. */
	file_cache_tick(&fc, T0 + 1);
	cr_assert_eq(fc.root.err, ENOENT);
	struct file_entry *e = get("v.txt", T0 + 2);
	cr_assert_str_eq(contents(e->fd), "one\n");
	file_cache_put(&fc, e);
	at(q, sizeof(q), "rel2");
	cr_assert_eq(rename(q, rel1), 0);
	e = get("v.txt", T0 + 3);
	cr_assert_eq(fc.root.err, 0);
	cr_assert_str_eq(contents(e->fd), "two\n", "the replaced directory not followed");
	file_cache_put(&fc, e);
	file_cache_destroy(&fc);
}

/* A TCP pair on loopback: *srv_fd accepted, returns the client's. */
static int tcp_pair(int *srv_fd)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert(l >= 0 && bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0);
	*srv_fd = accept(l, NULL, NULL);
	cr_assert(*srv_fd >= 0);
	close(l);
	return c;
}

static bool resets(int sock)
{
	struct linger lg;
	socklen_t len = sizeof(lg);
	cr_assert_eq(getsockopt(sock, SOL_SOCKET, SO_LINGER, &lg, &len), 0);
	return lg.l_onoff && lg.l_linger == 0;
}

Test(send_cut, reset_only_past_the_end)
{
	tree();
	cache_at_www();
	int s, c = tcp_pair(&s);
	struct file_entry *e = get("v.txt", T0); /* 4 bytes */
	file_send_cut(e, 4, s); /* sent up to the end: an orderly close */
	cr_assert_not(resets(s));
	cr_assert_neq(e->checked_sec, T0, "the entry would still promise its old length");
	file_send_cut(e, 5, s); /* a byte past the end was queued */
	cr_assert(resets(s));
	file_cache_put(&fc, e);
	close(s);
	close(c);
	file_cache_destroy(&fc);
}
