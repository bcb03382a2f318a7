/* The harness's sockets and HTTP/1.x client (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- sockets ---- */

int h_connect_host(const char *host, int port, int rcvbuf)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	if (rc != 0) {
		struct pollfd p = {fd, POLLOUT, 0};
		int e = 0;
		socklen_t el = sizeof(e);
		if (errno != EINPROGRESS || poll(&p, 1, H_TIMEOUT_MS) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
			int saved = e ? e : errno == EINPROGRESS ? ETIMEDOUT : errno;
			close(fd);
			errno = saved; /* for the caller's message */
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int h_connect(int port)
{
	return h_connect_host("127.0.0.1", port, 0);
}

int h_send(int fd, const void *buf, size_t n, int timeout_ms)
{
	const char *p = buf;
	while (n > 0) {
		struct pollfd pf = {fd, POLLOUT, 0};
		int pr = poll(&pf, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr != 1)
			return -1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int h_send_str(int fd, const char *s)
{
	return h_send(fd, s, strlen(s), H_TIMEOUT_MS);
}

void h_close_rst(int fd)
{
	struct linger l = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ---- HTTP client ---- */

void h_conn_init(struct h_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cap = 65536;
	c->buf = malloc(c->cap);
}

void h_conn_close(struct h_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

int h_conn_fill(struct h_conn *c, long long deadline)
{
	if (c->eof || c->error)
		return 0;
	if (c->cap - c->len < 16384)
		c->buf = realloc(c->buf, c->cap *= 2);
	for (;;) {
		int left = (int)(deadline - h_now_ms());
		struct pollfd p = {c->fd, POLLIN, 0};
		int pr = poll(&p, 1, left > 0 ? left : 0);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr != 1)
			return -1;
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (r > 0) {
			c->len += (size_t)r;
			return 1;
		}
		if (r == 0) {
			c->eof = true;
			return 0;
		}
		if (errno == EAGAIN || errno == EINTR)
			continue;
		c->error = errno;
		return 0;
	}
}

void h_conn_consume(struct h_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

int h_split_head(char *head, int *status, char *version, size_t vlen, char **names,
		 char **values, int *nheaders)
{
	char *save, *line = strtok_r(head, "\r\n", &save);
	int minor;
	if (!line || sscanf(line, "HTTP/1.%d %3d", &minor, status) != 2 || *status < 100 ||
	    *status > 599 || strlen(line) < 12 || line[12] != ' ')
		return H_BAD;
	snprintf(version, vlen, "%.8s", line);
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		char *colon = strchr(line, ':');
		if (!colon || *nheaders == H_MAX_HEADERS)
			return H_BAD;
		*colon = 0;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = 0;
		names[*nheaders] = line;
		values[(*nheaders)++] = v;
	}
	return H_OK;
}

static int parse_head(struct h_resp *r, const char *p, size_t n)
{
	if (n >= sizeof(r->head))
		return H_BAD;
	memcpy(r->head, p, n);
	r->head[n] = 0;
	if (h_split_head(r->head, &r->status, r->version, sizeof(r->version), r->names, r->values,
			 &r->nheaders) != H_OK)
		return H_BAD;
	const char *cl = h_header(r, "Content-Length");
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno || *end || end == cl || v > (1ull << 30))
			return H_BAD;
		r->has_length = true;
		r->content_length = (size_t)v;
	}
	return H_OK;
}

int h_read_response(struct h_conn *c, struct h_resp *r, bool head_request, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	memset(r, 0, offsetof(struct h_resp, head)); /* head[] is large: skip it */
	r->has_length = false;
	r->body = NULL;
	r->body_len = r->content_length = 0;
	char *end;
	int f;
	while (!(c->len >= 4 && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)))) {
		if ((f = h_conn_fill(c, deadline)) <= 0)
			return f < 0 ? H_TIMEOUT : c->len ? H_PARTIAL : H_EOF;
	}
	size_t hlen = (size_t)(end - c->buf) + 4;
	int rc = parse_head(r, c->buf, hlen - 2);
	if (rc != H_OK)
		return rc;
	h_conn_consume(c, hlen);

	bool bodyless = head_request || r->status < 200 || r->status == 204 || r->status == 304;
	if (bodyless) {
		r->body = calloc(1, 1);
		return H_OK;
	}
	if (r->has_length) {
		while (c->len < r->content_length)
			if ((f = h_conn_fill(c, deadline)) <= 0)
				return f < 0 ? H_TIMEOUT : H_PARTIAL;
		r->body_len = r->content_length;
	} else { /* close-delimited */
		while ((f = h_conn_fill(c, deadline)) > 0)
			;
		if (f < 0)
			return H_TIMEOUT;
		r->body_len = c->len;
	}
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, c->buf, r->body_len);
	r->body[r->body_len] = 0;
	h_conn_consume(c, r->body_len);
	return H_OK;
}

int h_conn_wait_eof(struct h_conn *c, int timeout_ms)
{
	if (c->len)
		return -1;
	long long deadline = h_now_ms() + timeout_ms;
	int f = h_conn_fill(c, deadline);
	return f == 0 ? 1 : f < 0 ? 0 : -1;
}

void h_resp_free(struct h_resp *r)
{
	free(r->body);
	r->body = NULL;
}

const char *h_header(const struct h_resp *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->names[i], name))
			return r->values[i];
	return NULL;
}

const char *h_result_str(int rc)
{
	static const char *const text[] = {"ok", "EOF before a response", "timeout",
					   "connection closed mid-response", "malformed response"};
	return rc <= 0 && rc >= H_BAD ? text[-rc] : "?";
}

int h_exchange(int port, const char *request, struct h_resp *r)
{
	/* Freeable even if the connect fails (h_metrics frees it). */
	memset(r, 0, offsetof(struct h_resp, head));
	r->body = NULL;
	r->body_len = 0;
	int fd = h_connect(port);
	if (fd < 0)
		return H_EOF;
	struct h_conn c;
	h_conn_init(&c, fd);
	int rc = h_send_str(fd, request) == 0 ? H_OK : H_EOF;
	if (rc == H_OK)
		rc = h_read_response(&c, r, !strncmp(request, "HEAD ", 5), H_TIMEOUT_MS);
	h_conn_close(&c);
	return rc;
}

void h_assert_get(int port, const char *path, const char *body)
{
	char req[256];
	struct h_resp r;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	int rc = h_exchange(port, req, &r);
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
	cr_assert_eq(r.status, 200, "GET %s: status %d", path, r.status);
	cr_assert_str_eq(r.body, body, "GET %s: body", path);
	h_resp_free(&r);
}
