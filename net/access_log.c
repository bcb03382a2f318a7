#include "net/access_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_BUF (64 * 1024)
/* Each escaped field takes at most FIELD_MAX input bytes, and an escaped
 * byte is up to 4 output bytes ("\x22").  A line has four such fields
 * (method, target, Referer, User-Agent) plus an address, a time, a status,
 * a length and punctuation: LINE_WORST bounds it, and a buffer with less
 * room than that is flushed first. */
#define FIELD_MAX 1024
#define LINE_WORST (4 * 4 * FIELD_MAX + 256)
_Static_assert(LOG_BUF > 2 * LINE_WORST, "access log buffer too small for a worst-case line");

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

int access_log_init(struct access_log *log, int fd)
{
	memset(log, 0, sizeof(*log));
	log->fd = fd;
	log->cap = LOG_BUF;
	log->buf = malloc(LOG_BUF);
	return log->buf ? 0 : -1;
}

void access_log_destroy(struct access_log *log)
{
	access_log_flush(log);
	free(log->buf);
	log->buf = NULL;
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

/* Quotes and non-printable bytes escaped, so a client cannot forge lines. */
static size_t put_escaped(char *dst, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (len > FIELD_MAX)
		len = FIELD_MAX;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		} else {
			dst[o++] = (char)ch;
		}
	}
	return o;
}

static size_t put_header(char *dst, const struct http_request *req, const char *name)
{
	const struct http_header *h = http_find_header(req, name);
	if (!h || !h->value.len) {
		dst[0] = '-';
		return 1;
	}
	return put_escaped(dst, h->value.p, h->value.len);
}

void access_log_request(struct access_log *log, const struct peer_addr *peer,
			const struct http_request *req, int status, uint64_t body_bytes,
			int64_t now_sec)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	if (log->sec != now_sec) {
		struct tm tm;
		time_t t = (time_t)now_sec;
		gmtime_r(&t, &tm);
		snprintf(log->when, sizeof(log->when), "%02d/%s/%04d:%02d:%02d:%02d +0000",
			 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		log->sec = now_sec;
	}
	if (log->cap - log->len < LINE_WORST)
		access_log_flush(log);

	char ip[INET6_ADDRSTRLEN] = "-";
	if (peer->v4)
		inet_ntop(AF_INET, peer->ip, ip, sizeof(ip));
	else
		inet_ntop(AF_INET6, peer->ip, ip, sizeof(ip));

	char *p = log->buf + log->len;
	p += sprintf(p, "%s - - [%s] \"", ip, log->when);
	p += put_escaped(p, req->method_name.p, req->method_name.len);
	*p++ = ' ';
	p += put_escaped(p, req->target.p, req->target.len);
	p += sprintf(p, " HTTP/1.%u\" %d ", req->version_minor, status);
	if (body_bytes)
		p += sprintf(p, "%llu", (unsigned long long)body_bytes);
	else
		*p++ = '-';
	*p++ = ' ';
	*p++ = '"';
	p += put_header(p, req, "Referer");
	*p++ = '"';
	*p++ = ' ';
	*p++ = '"';
	p += put_header(p, req, "User-Agent");
	*p++ = '"';
	*p++ = '\n';
	log->len = (size_t)(p - log->buf);
}
