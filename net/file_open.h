/* The document root and opening files beneath it.
 *
 * The root follows its path as a deployer expects: a symlink switched to a
 * new release (/srv/www -> releases/42) or a directory renamed into place is
 * picked up by re-opening the path at most once a second.  Whatever the
 * root is, nothing outside it is ever opened: every name is resolved beneath
 * the root's descriptor, and a symlink's target, relative or absolute, is
 * followed only while it stays inside.
 * Single-threaded: each worker's file cache has its own. */
#ifndef HERD_FILE_OPEN_H
#define HERD_FILE_OPEN_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct file_root {
	int fd;            /* O_PATH | O_DIRECTORY, owned */
	dev_t dev;
	ino_t ino;
	char *path;        /* the path followed (absolute), or NULL: a fixed root */
	char real[PATH_MAX]; /* where fd is now ("" when /proc cannot say) */
	int64_t checked_sec; /* last look at path */
	int err;           /* errno of the last failed look at path, else 0 */
};

/* A root at a duplicate of fd (the caller keeps fd).  path: follow it from
 * now on (copied; must be absolute), or NULL.  0, or -1 with errno. */
int file_root_init(struct file_root *r, int fd, const char *path);
void file_root_destroy(struct file_root *r);

/* Re-opens the path, at most once per now_sec: 1 when it names another
 * directory now (r->fd switched to it), 0 when not.  A path that cannot be
 * opened (a deploy half done) keeps the old root, with r->err set. */
int file_root_check(struct file_root *r, int64_t now_sec);

/* Opens `path` (relative, normalized: no "." or ".." segments) beneath the
 * root; flags as for openat.  Symlinks, the last component's too, are
 * followed while they stay inside the root: a relative target
 * that climbs above it, or an absolute one that names neither the root's
 * path nor its real location, fails with EXDEV.  -1 with errno on failure. */
int file_open_beneath(const struct file_root *r, const char *path, int flags);
/* The user-space walk alone: what file_open_beneath falls back to when the
 * kernel refuses (EXDEV) or has no openat2.  For tests. */
int file_open_walk(const struct file_root *r, const char *path, int flags);

#endif
