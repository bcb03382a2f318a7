/* Opening beneath the root: openat2(RESOLVE_BENEATH) in the kernel, and a
 * walk in user space for what the kernel refuses although it may stay inside
 * (an absolute symlink: the kernel cannot know where our root is in the
 * namespace) and for kernels without openat2.
 *
 * The walk never lets the kernel follow anything: each step opens one plain
 * name in a directory already reached from the root, with O_NOFOLLOW; a
 * symlink's target is read and put in front of the names still to walk, and
 * ".." drops the last directory reached and walks to its parent again from
 * the root.  So whatever the tree does meanwhile (renames, links switched),
 * every open is of a child of a directory reached from the root by children:
 * beneath it.  A race can only change which file inside is served. */
#include "net/file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Symlinks followed in one open, as the kernel's MAXSYMLINKS. */
#define LINK_HOPS 40

/* An absolute path without empty or "." segments and without a trailing
 * '/', so prefixes compare by bytes.  ".." stays: through a symlink it may
 * climb anywhere, so a target with one never matches a root prefix it
 * would have to go through.  -1 when it does not fit. */
static int squeeze(const char *in, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = in; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n && !(n == 1 && *p == '.')) {
			if (o + n + 2 > cap)
				return -1;
			out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

static void find_real(struct file_root *r)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", r->fd);
	ssize_t n = readlink(proc, r->real, sizeof(r->real) - 1);
	/* A deleted root reads "/x (deleted)": no target can name it then,
	 * which is right. */
	r->real[n > 0 && r->real[0] == '/' ? n : 0] = '\0';
}

int file_root_init(struct file_root *r, int fd, const char *path)
{
	struct stat st;
	memset(r, 0, sizeof(*r));
	r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (r->fd < 0)
		return -1;
	if (path) {
		size_t cap = strlen(path) + 2;
		r->path = malloc(cap);
		if (!r->path || path[0] != '/' || squeeze(path, r->path, cap) < 0) {
			int e = r->path ? EINVAL : ENOMEM;
			file_root_destroy(r);
			errno = e;
			return -1;
		}
	}
	if (fstat(r->fd, &st) < 0) {
		int e = errno;
		file_root_destroy(r);
		errno = e;
		return -1;
	}
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	find_real(r);
	return 0;
}

void file_root_destroy(struct file_root *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->path);
	r->path = NULL;
}

int file_root_check(struct file_root *r, int64_t now_sec)
{
	if (!r->path || r->checked_sec == now_sec)
		return 0;
	r->checked_sec = now_sec;
	struct stat st;
	int fd = open(r->path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r->err = errno;
		if (fd >= 0)
			close(fd);
		return 0;
	}
	r->err = 0;
	bool same = st.st_dev == r->dev && st.st_ino == r->ino;
	if (same) {
		close(fd);
	} else {
		close(r->fd);
		r->fd = fd;
		r->dev = st.st_dev;
		r->ino = st.st_ino;
	}
	find_real(r); /* the same directory may have moved */
	return !same;
}

/* The part of the squeezed absolute path t below root (squeezed too), or
 * NULL when t is not root or below it. */
static const char *below(const char *t, const char *root)
{
	size_t n = strlen(root);
	if (n == 1)
		return t + 1; /* the root is "/" */
	if (strncmp(t, root, n) != 0 || (t[n] != '/' && t[n] != '\0'))
		return NULL;
	return t + n;
}

struct walk {
	const struct file_root *r;
	int dir;                 /* the directory reached, a real one */
	char done[PATH_MAX];     /* its path below the root, "" for the root */
	size_t dlen;
	char todo[2 * PATH_MAX]; /* the names still to walk */
};

/* Walks from the root to w->done again, each step a plain directory. */
static int reach_done(struct walk *w)
{
	int dir = fcntl(w->r->fd, F_DUPFD_CLOEXEC, 0);
	for (const char *p = w->done; dir >= 0 && *p;) {
		const char *end = strchrnul(p, '/');
		char seg[NAME_MAX + 1];
		size_t n = (size_t)(end - p);
		memcpy(seg, p, n);
		seg[n] = '\0';
		int next = openat(dir, seg, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dir);
		dir = next;
		p = *end ? end + 1 : end;
	}
	if (dir < 0)
		return -1;
	close(w->dir);
	w->dir = dir;
	return 0;
}

/* The names to walk become target, then rest (which points into todo). */
static int put_in_front(struct walk *w, const char *target, const char *rest)
{
	char tmp[sizeof(w->todo)];
	int n = snprintf(tmp, sizeof(tmp), "%s/%s", target, rest);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	memcpy(w->todo, tmp, (size_t)n + 1);
	return 0;
}

/* One symlink met on the walk: its target goes in front of rest.  0, or an
 * errno value. */
static int follow(struct walk *w, int link, const char *rest)
{
	char target[PATH_MAX], abs[PATH_MAX];
	ssize_t k = readlinkat(link, "", target, sizeof(target) - 1);
	if (k < 0)
		return errno;
	target[k] = '\0';
	const char *rel = target;
	if (target[0] == '/') {
		/* Inside when it names the root by the path we follow or by
		 * where that is now; then it is walked from the root. */
		rel = NULL;
		if (squeeze(target, abs, sizeof(abs)) == 0) {
			if (w->r->path)
				rel = below(abs, w->r->path);
			if (!rel && w->r->real[0])
				rel = below(abs, w->r->real);
		}
		if (!rel)
			return EXDEV;
		w->dlen = 0;
		w->done[0] = '\0';
		if (reach_done(w) < 0)
			return errno;
	}
	return put_in_front(w, rel, rest) < 0 ? ENAMETOOLONG : 0;
}

int file_open_walk(const struct file_root *r, const char *path, int flags)
{
	struct walk *w = malloc(sizeof(*w));
	if (!w)
		return -1;
	w->r = r;
	w->dlen = 0;
	w->done[0] = '\0';
	int fd = -1, err = 0, hops = 0;
	if (strlen(path) >= sizeof(w->todo)) {
		free(w);
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(w->todo, path);
	w->dir = fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
	const char *p = w->todo;
	while (w->dir >= 0) {
		while (*p == '/')
			p++;
		if (!*p) { /* the walk ends on a directory */
			fd = openat(w->dir, ".", flags);
			err = errno;
			break;
		}
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		char seg[NAME_MAX + 1];
		if (n > NAME_MAX) {
			err = ENAMETOOLONG;
			break;
		}
		memcpy(seg, p, n);
		seg[n] = '\0';
		p = end;
		if (!strcmp(seg, "."))
			continue;
		if (!strcmp(seg, "..")) {
			if (!w->dlen) {
				err = EXDEV; /* above the root */
				break;
			}
			while (w->dlen && w->done[w->dlen - 1] != '/')
				w->dlen--;
			w->dlen -= w->dlen > 0; /* and the '/' before it */
			w->done[w->dlen] = '\0';
			if (reach_done(w) < 0) {
				err = errno;
				break;
			}
			continue;
		}
		struct stat st;
		int next = openat(w->dir, seg, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 || fstat(next, &st) < 0) {
			err = errno;
			if (next >= 0)
				close(next);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			err = ++hops > LINK_HOPS ? ELOOP : follow(w, next, p);
			close(next);
			if (err)
				break;
			p = w->todo;
			continue;
		}
		while (*p == '/')
			p++;
		if (!*p) { /* the last name: opened as asked */
			close(next);
			fd = openat(w->dir, seg, flags | O_NOFOLLOW);
			err = errno;
			break;
		}
		if (!S_ISDIR(st.st_mode) || w->dlen + n + 2 > sizeof(w->done)) {
			close(next);
			err = S_ISDIR(st.st_mode) ? ENAMETOOLONG : ENOTDIR;
			break;
		}
		if (w->dlen)
			w->done[w->dlen++] = '/';
		memcpy(w->done + w->dlen, seg, n + 1);
		w->dlen += n;
		close(w->dir);
		w->dir = next;
	}
	if (w->dir >= 0)
		close(w->dir);
	else
		err = errno;
	free(w);
	if (fd < 0)
		errno = err ? err : ENOENT;
	return fd;
}

int file_open_beneath(const struct file_root *r, const char *path, int flags)
{
	static _Atomic int no_openat2; /* a process-wide fact about the kernel */
	if (!*path)
		path = ".";
	if (!no_openat2) {
		struct open_how how = {.flags = (uint64_t)flags,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
		int fd = (int)syscall(SYS_openat2, r->fd, path, &how, sizeof(how));
		/* EXDEV is an escape or an absolute symlink, which may point
		 * inside; EAGAIN a rename that raced a ".." in the kernel's
		 * walk.  The walk here tells them apart. */
		if (fd >= 0 || (errno != EXDEV && errno != EAGAIN && errno != ENOSYS))
			return fd;
		if (errno == ENOSYS)
			no_openat2 = 1;
	}
	return file_open_walk(r, path, flags);
}
