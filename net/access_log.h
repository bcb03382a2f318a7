/* The access log: one line per request in the combined log format,
 * formatted into a per-worker buffer and written when it fills or once a
 * second, so the request path takes no lock and makes no write.  Every
 * write holds whole lines and the file is O_APPEND: workers' lines never
 * interleave mid-line. */
#ifndef HERD_ACCESS_LOG_H
#define HERD_ACCESS_LOG_H

#include <stdint.h>
#include <sys/socket.h>

#include "net/http_parse.h"

struct access_log {
	int fd;         /* shared; reopened in place (dup2) on SIGUSR2 */
	char *buf;
	size_t len, cap;
	int64_t sec;    /* the second `when` shows */
	char when[80];  /* "24/Nov/2026:06:35:42 +0000" */
	uint64_t dropped; /* lines lost to write errors */
};

/* A peer address as kept per connection: 16 bytes (IPv4 mapped into IPv6). */
struct peer_addr {
	uint8_t ip[16];
	uint8_t v4;
};

void peer_addr_from(struct peer_addr *p, const struct sockaddr *sa);

int access_log_init(struct access_log *log, int fd);
void access_log_destroy(struct access_log *log);
/* Formats one line; body_bytes as sent (0 shows as "-"). */
void access_log_request(struct access_log *log, const struct peer_addr *peer,
			const struct http_request *req, int status, uint64_t body_bytes,
			int64_t now_sec);
/* Writes what is buffered (called once a second and at exit). */
void access_log_flush(struct access_log *log);

#endif
