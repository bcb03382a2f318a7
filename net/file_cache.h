/* A worker's cache of open files under --root: descriptor, stat, validators
 * and, for small files, the bytes themselves.  Entries are revalidated with
 * one stat at most once a second, so a hot file costs no open or stat per
 * request and a replaced file is served fresh within a second.  Once a
 * second (file_cache_tick) the root's path is looked at again and entries
 * are closed that were deleted or not used for FILE_INACTIVE_SEC, so the
 * cache holds no disk space and no old release for long.
 * Single-threaded: each worker has its own. */
#ifndef HERD_FILE_CACHE_H
#define HERD_FILE_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/file_open.h"

/* Files up to this size are kept in memory and sent from it. */
#define FILE_INLINE_MAX (16 * 1024)
/* An entry not used for this long is closed, as nginx's open_file_cache
 * inactive=: reopening costs an open and a stat, keeping it a descriptor,
 * for a small file its bytes, and the disk space of a file replaced by a
 * way nlink does not show (another hard link). */
#define FILE_INACTIVE_SEC 20

struct file_entry {
	char *path;          /* relative to the root, normalized; the key */
	int fd;              /* -1 for directories */
	bool is_dir;
	bool stale;          /* replaced or evicted: freed when the last ref goes */
	uint64_t size;
	int64_t mtime;       /* seconds */
	dev_t dev;
	ino_t ino;
	long mtime_ns;
	const char *mime;
	char *content;       /* whole file when size <= FILE_INLINE_MAX */
	char etag[48];
	uint8_t etag_len;
	char last_modified[32]; /* IMF-fixdate */
	/* Built once per (re)load, not per request (net/http_static.c): the
	 * validator fields, and the last full 200 head with the second and
	 * response flags it was made for (the Date changes each second). */
	char validators[128];
	uint8_t validators_len;
	uint8_t head_flags;
	uint16_t head_len;      /* 0: none yet */
	int64_t head_sec;
	char head[384];
	int64_t checked_sec; /* last revalidation (CLOCK_REALTIME seconds), which
			      * is also the second it was last used */
	uint32_t refs;       /* the cache's own while listed, plus transfers */
	struct file_entry *next; /* hash chain */
	struct file_entry *lru_prev, *lru_next;
};

struct file_cache {
	struct file_root root;
	struct file_entry **buckets;
	uint32_t nbuckets, count, max_entries;
	struct file_entry *lru_head, *lru_tail; /* head: most recent */
	int64_t swept_sec;
};

/* root_fd: an O_PATH|O_DIRECTORY descriptor of --root (the cache keeps a
 * duplicate; the caller still owns root_fd). */
int file_cache_init(struct file_cache *fc, int root_fd, uint32_t max_entries);
void file_cache_destroy(struct file_cache *fc);
/* Follows the root's absolute path from now on: when it names another
 * directory (a switched symlink, a renamed directory), that is the root and
 * every entry of the old one is closed.  0, or -1 with errno. */
int file_cache_follow(struct file_cache *fc, const char *root_path);
/* Once a second (cheap to call more often): the root's path looked at, and
 * entries closed that were deleted (no link left) or not used for
 * FILE_INACTIVE_SEC.  A transfer in progress keeps its file open. */
void file_cache_tick(struct file_cache *fc, int64_t now_sec);

/* The entry for `path` with one reference for the caller, opened or
 * revalidated as needed; NULL with *status set (404 for missing, outside
 * the root or unreadable, 500 for other failures). */
struct file_entry *file_cache_get(struct file_cache *fc, const char *path, int64_t now_sec,
				  int *status);
void file_cache_put(struct file_cache *fc, struct file_entry *e);

/* ---- sending a body by sendfile(2) ----
 * sendfile queues references to the page cache, not copies: bytes waiting
 * in the socket are what the file holds when they leave, not when they were
 * queued.  Truncating a file zeroes, in place, the rest of the page or large
 * folio (up to 2 MiB on ext4) that holds the new end, so queued bytes past
 * it would reach the client as zeros; bytes rewritten in place would reach
 * it as a mix of two versions. */

/* File bytes a transfer leaves unsent in its socket at most: how far ahead
 * of the client a change to the file can still show. */
#define FILE_UNSENT_MAX (1024 * 1024)

/* Bounds the unsent bytes in sock to FILE_UNSENT_MAX (TCP_NOTSENT_LOWAT);
 * the socket reports writable again when less than half is left. */
void file_send_bound(int sock);

/* A transfer found its file ended at off, before the length the headers
 * promised: the answer cannot be completed, so the caller closes sock.  The
 * next request revalidates e.  When bytes past the file's current end were
 * already queued, the close becomes a reset (SO_LINGER 0), which drops them
 * instead of delivering them; otherwise what left is the file's prefix and
 * the close is an orderly one. */
void file_send_cut(struct file_entry *e, uint64_t off, int sock);

#endif
