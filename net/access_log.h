/* The access log: one line per response in the combined log format,
 * formatted into a per-worker buffer and written when it fills or once a
 * second, so the request path takes no lock and makes no write.  Every
 * write holds whole lines and the file is O_APPEND: workers' lines never
 * interleave mid-line.
 *
 * Every response herd sends gets a line, the rejected ones too (400, 408,
 * 413, 414, 431, 501, 505), with what is known of their request, as nginx
 * logs its 400s: the request line as it arrived, or "-" when none did. */
#ifndef HERD_ACCESS_LOG_H
#define HERD_ACCESS_LOG_H

#include <stdint.h>
#include <sys/socket.h>

#include "net/http_parse.h"

struct access_hold;

struct access_log {
	int fd;         /* shared; reopened in place (dup2) on SIGUSR2 */
	char *buf;
	size_t len, cap;
	int64_t sec;    /* the second `when` shows */
	char when[80];  /* "24/Nov/2026:06:35:42 +0000" */
	uint64_t dropped; /* lines lost to write errors */
	struct access_hold *held; /* lines waiting for their status */
	uint32_t next_ticket;
};

/* A peer address as kept per connection: 16 bytes (IPv4 mapped into IPv6). */
struct peer_addr {
	uint8_t ip[16];
	uint8_t v4;
};

void peer_addr_from(struct peer_addr *p, const struct sockaddr *sa);
/* The address as text ("" when unknown: all zero). */
void peer_addr_format(const struct peer_addr *p, char *buf, size_t len);

int access_log_init(struct access_log *log, int fd);
void access_log_destroy(struct access_log *log);
/* Formats one line for an answered request; body_bytes as sent (0 shows
 * as "-"). */
void access_log_request(struct access_log *log, const struct peer_addr *peer,
			const struct http_request *req, int status, uint64_t body_bytes,
			int64_t now_sec);
/* One line for an answer to a request that did not parse or never finished
 * arriving: head[0..len) is what arrived of it (NULL: nothing usable), and
 * its first line, escaped, is the request field ("-" when empty).  Referer
 * and User-Agent come from `partial`, when given: the http_parse_request
 * result for head, whose fields up to the error or the end are valid. */
void access_log_rejected(struct access_log *log, const struct peer_addr *peer,
			 const char *head, size_t len, const struct http_request *partial,
			 int status, uint64_t body_bytes, int64_t now_sec);

/* A request whose answer waits for its body (a chunked body under
 * --max-body): its line is formatted now, while the head is in the buffer,
 * and written by access_log_release with the status finally sent, so one
 * response is one line whatever the body does.  Returns a ticket (never 0).
 * A few lines are held per worker; past that, the oldest is evicted and its
 * release logs the request as "-". */
uint32_t access_log_hold(struct access_log *log, const struct peer_addr *peer,
			 const struct http_request *req, int64_t now_sec);
void access_log_release(struct access_log *log, uint32_t ticket, const struct peer_addr *peer,
			int status, uint64_t body_bytes, int64_t now_sec);

/* A proxied request: its status is known only once the upstream answers,
 * and a worker may have hundreds in flight, more than the held lines
 * above are meant for.  Its line is formatted while its head is at hand
 * into a malloc'd buffer the caller keeps; NULL when out of memory (then
 * access_log_finish logs "-" for the request). */
char *access_log_prepare(const struct peer_addr *peer, const struct http_request *req,
			 int64_t now_sec);
/* Completes and writes (buffers) the line, frees `prepared`: status, body
 * bytes sent, and at the end " upstream=ADDR upstream_time=S.SSS" (upstream
 * NULL, no upstream answered: "upstream=- upstream_time=-").  peer and
 * now_sec are used only when prepared is NULL. */
void access_log_finish(struct access_log *log, char *prepared, const struct peer_addr *peer,
		       int status, uint64_t body_bytes, const char *upstream,
		       uint64_t upstream_us, int64_t now_sec);
/* The same without the upstream fields: an answer a handler deferred. */
void access_log_finish_plain(struct access_log *log, char *prepared,
			     const struct peer_addr *peer, int status, uint64_t body_bytes,
			     int64_t now_sec);

/* Writes what is buffered (called once a second and at exit). */
void access_log_flush(struct access_log *log);

#endif
