/* A worker's cache of open files under --root: descriptor, stat, validators
 * and, for small files, the bytes themselves.  Entries are revalidated with
 * one fstatat at most once a second, so a hot file costs no open or stat
 * per request and a replaced file is served fresh within a second.
 * Single-threaded: each worker has its own. */
#ifndef HERD_FILE_CACHE_H
#define HERD_FILE_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Files up to this size are kept in memory and sent from it. */
#define FILE_INLINE_MAX (16 * 1024)

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
	int64_t checked_sec; /* last revalidation (CLOCK_REALTIME seconds) */
	uint32_t refs;       /* the cache's own while listed, plus transfers */
	struct file_entry *next; /* hash chain */
	struct file_entry *lru_prev, *lru_next;
};

struct file_cache {
	int root_fd;
	struct file_entry **buckets;
	uint32_t nbuckets, count, max_entries;
	struct file_entry *lru_head, *lru_tail; /* head: most recent */
};

/* root_fd: an O_PATH|O_DIRECTORY descriptor of --root (not owned). */
int file_cache_init(struct file_cache *fc, int root_fd, uint32_t max_entries);
void file_cache_destroy(struct file_cache *fc);

/* The entry for `path` with one reference for the caller, opened or
 * revalidated as needed; NULL with *status set (404 for missing, outside
 * the root or unreadable, 500 for other failures). */
struct file_entry *file_cache_get(struct file_cache *fc, const char *path, int64_t now_sec,
				  int *status);
void file_cache_put(struct file_cache *fc, struct file_entry *e);

/* Opens `path` beneath root_fd without ever leaving it (.., absolute or
 * escaping symlinks).  flags as for openat.  -1 with errno on failure. */
int file_open_beneath(int root_fd, const char *path, int flags);

#endif
