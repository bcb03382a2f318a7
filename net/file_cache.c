#include "net/file_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/http_date.h"
#include "net/mime.h"

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

int file_cache_init(struct file_cache *fc, int root_fd, uint32_t max_entries)
{
	memset(fc, 0, sizeof(*fc));
	if (file_root_init(&fc->root, root_fd, NULL) < 0)
		return -1;
	fc->max_entries = max_entries;
	fc->nbuckets = 1;
	while (fc->nbuckets < max_entries * 2)
		fc->nbuckets <<= 1;
	fc->buckets = calloc(fc->nbuckets, sizeof(*fc->buckets));
	if (!fc->buckets) {
		file_root_destroy(&fc->root);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int file_cache_follow(struct file_cache *fc, const char *root_path)
{
	int fd = fc->root.fd;
	struct file_root r;
	if (file_root_init(&r, fd, root_path) < 0)
		return -1;
	file_root_destroy(&fc->root);
	fc->root = r;
	return 0;
}

static void entry_free(struct file_entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	free(e->content);
	free(e->path);
	free(e);
}

static void lru_unlink(struct file_cache *fc, struct file_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		fc->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		fc->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_front(struct file_cache *fc, struct file_entry *e)
{
	e->lru_next = fc->lru_head;
	if (fc->lru_head)
		fc->lru_head->lru_prev = e;
	fc->lru_head = e;
	if (!fc->lru_tail)
		fc->lru_tail = e;
}

/* Takes e out of the table; it lives on while transfers hold it. */
static void unlist(struct file_cache *fc, struct file_entry *e)
{
	struct file_entry **p = &fc->buckets[hash(e->path) & (fc->nbuckets - 1)];
	while (*p && *p != e)
		p = &(*p)->next;
	if (*p)
		*p = e->next;
	lru_unlink(fc, e);
	fc->count--;
	e->stale = true;
	file_cache_put(fc, e);
}

void file_cache_put(struct file_cache *fc, struct file_entry *e)
{
	(void)fc;
	if (--e->refs == 0)
		entry_free(e);
}

static void flush(struct file_cache *fc)
{
	while (fc->lru_head)
		unlist(fc, fc->lru_head);
}

void file_cache_destroy(struct file_cache *fc)
{
	flush(fc);
	free(fc->buckets);
	fc->buckets = NULL;
	file_root_destroy(&fc->root);
}

void file_cache_tick(struct file_cache *fc, int64_t now_sec)
{
	if (fc->swept_sec == now_sec)
		return;
	fc->swept_sec = now_sec;
	if (file_root_check(&fc->root, now_sec))
		flush(fc);
	for (struct file_entry *e = fc->lru_tail, *prev; e; e = prev) {
		prev = e->lru_prev;
		if (e->checked_sec == now_sec)
			continue; /* used, so revalidated, this second */
		/* A deleted file (or one renamed over) keeps its disk space as
		 * long as it is open, and no request may come to notice. */
		struct stat st;
		if (now_sec - e->checked_sec >= FILE_INACTIVE_SEC ||
		    (e->fd >= 0 && fstat(e->fd, &st) == 0 && st.st_nlink == 0))
			unlist(fc, e);
	}
}

static bool same_file(const struct file_entry *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->size == (uint64_t)st->st_size &&
	       e->mtime == st->st_mtim.tv_sec && e->mtime_ns == st->st_mtim.tv_nsec &&
	       e->is_dir == S_ISDIR(st->st_mode);
}

static int errno_status(int e)
{
	return e == ENOENT || e == ENOTDIR || e == EXDEV || e == ELOOP || e == EACCES ||
			       e == EPERM || e == ENAMETOOLONG
		       ? 404
		       : 500;
}

static struct file_entry *load(struct file_cache *fc, const char *path, int64_t now_sec,
			       int *status)
{
	struct stat st;
	struct file_entry *e = calloc(1, sizeof(*e));
	if (!e || !(e->path = strdup(path))) {
		free(e);
		*status = 500;
		return NULL;
	}
	e->fd = file_open_beneath(&fc->root, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (e->fd < 0 || fstat(e->fd, &st) < 0) {
		*status = errno_status(errno);
		entry_free(e);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		*status = 404; /* devices, fifos, sockets: never served */
		entry_free(e);
		return NULL;
	}
	e->is_dir = S_ISDIR(st.st_mode);
	if (e->is_dir) {
		close(e->fd);
		e->fd = -1;
	}
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->size = e->is_dir ? 0 : (uint64_t)st.st_size;
	e->mtime = st.st_mtim.tv_sec;
	e->mtime_ns = st.st_mtim.tv_nsec;
	e->mime = mime_type_for(path, strlen(path));
	e->etag_len = (uint8_t)snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx-%lx\"",
					(unsigned long long)e->size,
					(unsigned long long)e->mtime * 1000000000ull +
						(unsigned long long)e->mtime_ns,
					(unsigned long)e->ino);
	http_date_format(e->mtime, e->last_modified);
	/* An mtime outside years 0..9999 has no HTTP date: leave it out. */
	int vn = snprintf(e->validators, sizeof(e->validators),
			  "%s%s%sETag: %.*s\r\nAccept-Ranges: bytes\r\n",
			  e->last_modified[0] ? "Last-Modified: " : "", e->last_modified,
			  e->last_modified[0] ? "\r\n" : "", (int)e->etag_len, e->etag);
	e->validators_len = (uint8_t)(vn < 0 ? 0 : (size_t)vn < sizeof(e->validators) ? vn : 0);
	if (!e->is_dir && e->size <= FILE_INLINE_MAX) {
		e->content = malloc(e->size ? e->size : 1);
		ssize_t n = e->content ? pread(e->fd, e->content, e->size, 0) : -1;
		if (n != (ssize_t)e->size) {
			/* Changed under us or unreadable: serve it by sendfile. */
			free(e->content);
			e->content = NULL;
		}
	}
	e->checked_sec = now_sec;
	e->refs = 1; /* the cache's */
	return e;
}

struct file_entry *file_cache_get(struct file_cache *fc, const char *path, int64_t now_sec,
				  int *status)
{
	if (file_root_check(&fc->root, now_sec))
		flush(fc); /* a new root: nothing of the old one is served */
	uint32_t b = hash(path) & (fc->nbuckets - 1);
	struct file_entry *e = fc->buckets[b];
	while (e && strcmp(e->path, path) != 0)
		e = e->next;

	if (e && e->checked_sec != now_sec) {
		struct stat st;
		int fd = file_open_beneath(&fc->root, path, O_PATH | O_CLOEXEC);
		bool same = fd >= 0 && fstat(fd, &st) == 0 && same_file(e, &st);
		if (fd >= 0)
			close(fd);
		if (same) {
			e->checked_sec = now_sec;
		} else {
			unlist(fc, e);
			e = NULL;
		}
	}
	if (!e) {
		e = load(fc, path, now_sec, status);
		if (!e)
			return NULL;
		if (fc->count >= fc->max_entries && fc->lru_tail)
			unlist(fc, fc->lru_tail);
		e->next = fc->buckets[b];
		fc->buckets[b] = e;
		fc->count++;
		lru_front(fc, e);
	} else if (fc->lru_head != e) {
		lru_unlink(fc, e);
		lru_front(fc, e);
	}
	e->refs++;
	return e;
}

void file_send_bound(int sock)
{
	int v = FILE_UNSENT_MAX;
	(void)setsockopt(sock, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &v, sizeof(v));
}

void file_send_cut(struct file_entry *e, uint64_t off, int sock)
{
	struct stat st;
	/* Within this second the entry would still promise the old length. */
	e->checked_sec--;
	if (e->fd >= 0 && fstat(e->fd, &st) == 0 && (uint64_t)st.st_size >= off)
		return;
	struct linger l = {.l_onoff = 1, .l_linger = 0};
	(void)setsockopt(sock, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}
