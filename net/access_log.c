#include "net/access_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/http_date.h"

#define LOG_BUF (64 * 1024)
/* Each escaped field takes at most FIELD_MAX input bytes, and an escaped
 * byte is up to 4 output bytes ("\x22").  A line has four such fields
 * (method, target, Referer, User-Agent) plus an address, a time, a status,
 * a length and punctuation: LINE_WORST bounds it, and a buffer with less
 * room than that is flushed first. */
#define FIELD_MAX 1024
#define LINE_WORST (4 * 4 * FIELD_MAX + 256)
_Static_assert(LOG_BUF > 2 * LINE_WORST, "access log buffer too small for a worst-case line");

/* Held lines (access_log_hold): fewer of them than connections that could
 * be sending a chunked body at once is fine, since an evicted one still
 * gets its line; their fields are cut shorter to keep them small. */
#define HOLD_SLOTS 8
#define HOLD_FIELD_MAX 256
#define HOLD_LINE (4 * 4 * HOLD_FIELD_MAX + 256)

struct access_hold {
	uint32_t ticket;  /* 0: free */
	uint16_t split;   /* the status goes here: after the request field */
	uint16_t len;
	char line[HOLD_LINE];
};

void peer_addr_from(struct peer_addr *p, const struct sockaddr *sa)
{
	memset(p, 0, sizeof(*p));
	if (sa->sa_family == AF_INET) {
		memcpy(p->ip, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		p->v4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(p->ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

void peer_addr_format(const struct peer_addr *p, char *buf, size_t len)
{
	static const uint8_t zero[16];
	if (!p || (!p->v4 && memcmp(p->ip, zero, 16) == 0) ||
	    !inet_ntop(p->v4 ? AF_INET : AF_INET6, p->ip, buf, (socklen_t)len))
		buf[0] = 0;
}

int access_log_init(struct access_log *log, int fd)
{
	memset(log, 0, sizeof(*log));
	log->fd = fd;
	log->cap = LOG_BUF;
	log->buf = malloc(LOG_BUF);
	log->held = calloc(HOLD_SLOTS, sizeof(*log->held));
	if (!log->buf || !log->held) {
		free(log->buf);
		free(log->held);
		log->buf = NULL;
		log->held = NULL;
		return -1;
	}
	return 0;
}

void access_log_destroy(struct access_log *log)
{
	access_log_flush(log);
	free(log->buf);
	free(log->held);
	log->buf = NULL;
	log->held = NULL;
}

void access_log_flush(struct access_log *log)
{
	size_t off = 0;
	while (off < log->len) {
		ssize_t n = write(log->fd, log->buf + off, log->len - off);
		if (n <= 0) {
			log->dropped++; /* disk full, EIO: never block the worker */
			break;
		}
		off += (size_t)n;
	}
	log->len = 0;
}

/* Quotes and non-printable bytes escaped, so a client cannot forge lines;
 * at most max input bytes. */
static char *put_escaped(char *dst, const char *src, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	if (len > max)
		len = max;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
			*dst++ = '\\';
			*dst++ = 'x';
			*dst++ = hex[ch >> 4];
			*dst++ = hex[ch & 15];
		} else {
			*dst++ = (char)ch;
		}
	}
	return dst;
}

static char *put_header(char *dst, const struct http_request *req, const char *name, size_t max)
{
	const struct http_header *h = req ? http_find_header(req, name) : NULL;
	if (!h || !h->value.len) {
		*dst++ = '-';
		return dst;
	}
	return put_escaped(dst, h->value.p, h->value.len, max);
}

/* "24/Nov/2026:06:35:42 +0000" into when[80]. */
static void format_when(char *when, size_t cap, int64_t now_sec)
{
	/* Arithmetic, not gmtime_r: see net/http_date.h. */
	struct http_tm tm;
	http_gmtime(now_sec, &tm);
	snprintf(when, cap, "%02u/%s/%04lld:%02u:%02u:%02u +0000", tm.mday,
		 http_month_name[tm.mon], (long long)tm.year, tm.hour, tm.min, tm.sec);
}

static char *put_start_when(char *p, const char *when, const struct peer_addr *peer)
{
	char ip[INET6_ADDRSTRLEN] = "-";
	if (peer->v4)
		inet_ntop(AF_INET, peer->ip, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, peer->ip, ip, sizeof(ip));
	return p + sprintf(p, "%s - - [%s] \"", ip, when);
}

/* `IP - - [time] "`: what starts every line. */
static char *put_start(char *p, struct access_log *log, const struct peer_addr *peer,
		       int64_t now_sec)
{
	if (log->sec != now_sec) {
		format_when(log->when, sizeof(log->when), now_sec);
		log->sec = now_sec;
	}
	return put_start_when(p, log->when, peer);
}

static char *put_request(char *p, const struct http_request *req, size_t max)
{
	p = put_escaped(p, req->method_name.p, req->method_name.len, max);
	*p++ = ' ';
	p = put_escaped(p, req->target.p, req->target.len, max);
	return p + sprintf(p, " HTTP/1.%u", req->version_minor);
}

/* `" status bytes "`: between the request field and the Referer. */
static char *put_status(char *p, int status, uint64_t body_bytes)
{
	p += sprintf(p, "\" %d ", status);
	if (body_bytes)
		p += sprintf(p, "%llu", (unsigned long long)body_bytes);
	else
		*p++ = '-';
	*p++ = ' ';
	*p++ = '"';
	return p;
}

/* `referer" "agent"\n`: what ends every line. */
static char *put_end(char *p, const struct http_request *req, size_t max)
{
	p = put_header(p, req, "Referer", max);
	memcpy(p, "\" \"", 3);
	p += 3;
	p = put_header(p, req, "User-Agent", max);
	*p++ = '"';
	*p++ = '\n';
	return p;
}

/* The buffer's end, with room for a worst-case line. */
static char *line_room(struct access_log *log)
{
	if (log->cap - log->len < LINE_WORST)
		access_log_flush(log);
	return log->buf + log->len;
}

void access_log_request(struct access_log *log, const struct peer_addr *peer,
			const struct http_request *req, int status, uint64_t body_bytes,
			int64_t now_sec)
{
	char *p = put_start(line_room(log), log, peer, now_sec);
	p = put_request(p, req, FIELD_MAX);
	p = put_status(p, status, body_bytes);
	p = put_end(p, req, FIELD_MAX);
	log->len = (size_t)(p - log->buf);
}

void access_log_rejected(struct access_log *log, const struct peer_addr *peer,
			 const char *head, size_t len, const struct http_request *partial,
			 int status, uint64_t body_bytes, int64_t now_sec)
{
	char *p = put_start(line_room(log), log, peer, now_sec);
	/* The parser skips empty lines before a request: so does the log. */
	size_t i = 0, n = 0;
	while (head && i < len && (head[i] == '\r' || head[i] == '\n'))
		i++;
	while (head && i + n < len && head[i + n] != '\r' && head[i + n] != '\n')
		n++;
	if (n)
		p = put_escaped(p, head + i, n, FIELD_MAX);
	else
		*p++ = '-';
	p = put_status(p, status, body_bytes);
	p = put_end(p, partial, FIELD_MAX);
	log->len = (size_t)(p - log->buf);
}

uint32_t access_log_hold(struct access_log *log, const struct peer_addr *peer,
			 const struct http_request *req, int64_t now_sec)
{
	if (++log->next_ticket == 0)
		log->next_ticket = 1;
	struct access_hold *h = &log->held[log->next_ticket % HOLD_SLOTS];
	h->ticket = log->next_ticket;
	char *p = put_start(h->line, log, peer, now_sec);
	p = put_request(p, req, HOLD_FIELD_MAX);
	h->split = (uint16_t)(p - h->line);
	p = put_end(p, req, HOLD_FIELD_MAX);
	h->len = (uint16_t)(p - h->line);
	return h->ticket;
}

void access_log_release(struct access_log *log, uint32_t ticket, const struct peer_addr *peer,
			int status, uint64_t body_bytes, int64_t now_sec)
{
	struct access_hold *h = &log->held[ticket % HOLD_SLOTS];
	if (!ticket || h->ticket != ticket) {
		access_log_rejected(log, peer, NULL, 0, NULL, status, body_bytes, now_sec);
		return;
	}
	char *p = line_room(log);
	memcpy(p, h->line, h->split);
	p = put_status(p + h->split, status, body_bytes);
	memcpy(p, h->line + h->split, (size_t)(h->len - h->split));
	log->len = (size_t)(p + (h->len - h->split) - log->buf);
	h->ticket = 0;
}

/* A prepared line is two strings in one block: the line up to the request
 * field's end, NUL, and the rest from the Referer on, NUL, without its
 * newline.  The escaped fields hold no NUL, so strlen finds the split and
 * the block needs no header. */
char *access_log_prepare(const struct peer_addr *peer, const struct http_request *req,
			 int64_t now_sec)
{
	/* Fields as long as an immediate line's (FIELD_MAX, not the held
	 * lines' cut), so a proxied request logs exactly like another; the
	 * block is shrunk to fit, since hundreds may wait at once. */
	char *line = malloc(LINE_WORST);
	if (!line)
		return NULL;
	char when[80];
	format_when(when, sizeof(when), now_sec);
	char *p = put_start_when(line, when, peer);
	p = put_request(p, req, FIELD_MAX);
	*p++ = '\0';
	p = put_end(p, req, FIELD_MAX);
	p[-1] = '\0'; /* the newline: the upstream fields go before it */
	char *fit = realloc(line, (size_t)(p - line));
	return fit ? fit : line;
}

/* Escaped upstream names are cut here; herd's own are under 120 bytes. */
#define UPSTREAM_NAME_MAX 256

static void finish(struct access_log *log, char *prepared, const struct peer_addr *peer,
		   int status, uint64_t body_bytes, bool proxied, const char *upstream,
		   uint64_t upstream_us, int64_t now_sec)
{
	size_t head = prepared ? strlen(prepared) : 0;
	size_t tail = prepared ? strlen(prepared + head + 1) : 0;
	/* The prepared parts, the status, the upstream fields: never more
	 * than LINE_WORST plus the upstream's escaped name. */
	size_t need = head + tail + 4 * UPSTREAM_NAME_MAX + 256;
	if (log->cap - log->len < need)
		access_log_flush(log);
	char *p = log->buf + log->len;
	if (prepared) {
		memcpy(p, prepared, head);
		p = put_status(p + head, status, body_bytes);
		memcpy(p, prepared + head + 1, tail);
		p += tail;
	} else {
		/* Out of memory at prepare time: the line still comes, without
		 * its request, as an evicted held line does. */
		p = put_start(p, log, peer, now_sec);
		*p++ = '-';
		p = put_status(p, status, body_bytes);
		p = put_end(p, NULL, FIELD_MAX) - 1;
	}
	if (!proxied) {
		*p++ = '\n';
		log->len = (size_t)(p - log->buf);
		free(prepared);
		return;
	}
	memcpy(p, " upstream=", 10);
	p += 10;
	if (upstream) {
		p = put_escaped(p, upstream, strlen(upstream), UPSTREAM_NAME_MAX);
		p += sprintf(p, " upstream_time=%llu.%03llu\n",
			     (unsigned long long)(upstream_us / 1000000),
			     (unsigned long long)(upstream_us / 1000 % 1000));
	} else {
		static const char none[] = "- upstream_time=-\n";
		memcpy(p, none, sizeof(none) - 1);
		p += sizeof(none) - 1;
	}
	log->len = (size_t)(p - log->buf);
	free(prepared);
}

void access_log_finish(struct access_log *log, char *prepared, const struct peer_addr *peer,
		       int status, uint64_t body_bytes, const char *upstream,
		       uint64_t upstream_us, int64_t now_sec)
{
	finish(log, prepared, peer, status, body_bytes, true, upstream, upstream_us, now_sec);
}

void access_log_finish_plain(struct access_log *log, char *prepared,
			     const struct peer_addr *peer, int status, uint64_t body_bytes,
			     int64_t now_sec)
{
	finish(log, prepared, peer, status, body_bytes, false, NULL, 0, now_sec);
}
