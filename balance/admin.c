#include "balance/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/worker.h"
#include "net/http_parse.h"

#define ADMIN_DEADLINE_MS 5000
#define ADMIN_MAX_CONNS 64

struct admin_conn {
	int fd;
	bool spare; /* fd is the reserved slot (admin->spare_fd) */
	uint32_t in_len;
	size_t out_len, out_off;
	char *out;
	int64_t deadline_ms;
	struct admin_conn *next;
	char in[HTTP_MAX_HEADER_BYTES];
};

/* The reserve: when herd is out of descriptors (the workers hit EMFILE and
 * pause their accepts, see README "Limits and timeouts"), a /metrics scrape
 * is what an operator needs, and it needs a descriptor.  One is held for it
 * from the start as a duplicate of the listening socket.  On EMFILE/ENFILE
 * it is closed and the accept right after takes its slot: a worker could
 * only take it in between (and paused workers retry every 100 ms).  When
 * that connection ends, dup3 turns its descriptor back into the reserve, so
 * the slot is never free for anyone else.  A reserve that could not be made
 * is retried every tick. */
static void reserve(struct admin *adm)
{
	if (adm->spare_fd < 0)
		adm->spare_fd = fcntl(adm->listen_fd, F_DUPFD_CLOEXEC, 0);
}

static void release_fd(struct admin *adm, int fd, bool spare)
{
	if (spare && adm->spare_fd < 0 && dup3(adm->listen_fd, fd, O_CLOEXEC) == fd) {
		adm->spare_fd = fd;
		/* The next scrape can have it: the accept pause ends at the
		 * next tick rather than after its 100 ms. */
		if (adm->paused_until_ms)
			adm->paused_until_ms = 1;
	} else {
		close(fd);
	}
}

int admin_init(struct admin *adm, int listen_fd, int epfd, admin_render_fn render, void *arg)
{
	memset(adm, 0, sizeof(*adm));
	adm->spare_fd = -1;
	adm->listen_fd = listen_fd;
	adm->epfd = epfd;
	adm->render = render;
	adm->render_arg = arg;
	reserve(adm);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = adm};
	return epoll_ctl(epfd, EPOLL_CTL_ADD, listen_fd, &ev);
}

int admin_owns(const struct admin *adm, const void *tag)
{
	if (tag == adm)
		return 1;
	for (const struct admin_conn *c = adm->conns; c; c = c->next)
		if (c == tag)
			return 1;
	return 0;
}

static void drop(struct admin *adm, struct admin_conn *c)
{
	for (struct admin_conn **p = &adm->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	/* Explicitly: a handler process being started holds a copy of this
	 * descriptor until it execs, and epoll forgets a socket only when its
	 * last descriptor closes; until then it would report it to us with a
	 * pointer to the freed connection. */
	epoll_ctl(adm->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	release_fd(adm, c->fd, c->spare);
	free(c->out);
	free(c);
}

static int count_conns(const struct admin *adm)
{
	int n = 0;
	for (const struct admin_conn *c = adm->conns; c; c = c->next)
		n++;
	return n;
}

#define ADMIN_ACCEPT_PAUSE_MS 100

static int accept_conn(struct admin *adm, bool *spare)
{
	*spare = false;
	int fd = accept4(adm->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || adm->spare_fd < 0)
		return fd;
	close(adm->spare_fd);
	adm->spare_fd = -1;
	fd = accept4(adm->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		reserve(adm);
		errno = e;
		return -1;
	}
	*spare = true;
	return fd;
}

static void on_accept(struct admin *adm)
{
	for (;;) {
		bool spare;
		int fd = accept_conn(adm, &spare);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
				epoll_ctl(adm->epfd, EPOLL_CTL_DEL, adm->listen_fd, NULL);
				adm->paused_until_ms = worker_monotonic_ms() + ADMIN_ACCEPT_PAUSE_MS;
			}
			return;
		}
		struct admin_conn *c = count_conns(adm) < ADMIN_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			release_fd(adm, fd, spare);
			continue;
		}
		c->fd = fd;
		c->spare = spare;
		c->deadline_ms = worker_monotonic_ms() + ADMIN_DEADLINE_MS;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(adm->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			release_fd(adm, fd, spare);
			free(c);
			continue;
		}
		c->next = adm->conns;
		adm->conns = c;
	}
}

static bool is_path(const struct http_request *req, const char *path)
{
	size_t n = strlen(path);
	return req->target.len >= n && memcmp(req->target.p, path, n) == 0 &&
	       (req->target.len == n || req->target.p[n] == '?');
}

/* Renders /metrics into a malloc'd buffer; NULL when out of memory. */
static char *render_body(struct admin *adm, size_t *len_out)
{
	/* Counters move while we render: measure, render, and retry with room
	 * to spare if a series appeared in between. */
	size_t need = adm->render(adm->render_arg, NULL, 0) + 4096, len = 0;
	char *body = NULL;
	for (int tries = 0; tries < 4; tries++) {
		free(body);
		body = malloc(need);
		if (!body)
			return NULL;
		len = adm->render(adm->render_arg, body, need);
		if (len < need)
			break;
		need = len + 4096;
	}
	if (len >= need)
		len = need - 1;
	*len_out = len;
	return body;
}

static int build_reply(struct admin *adm, struct admin_conn *c, const struct http_request *req,
		       int parse_status)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	http_clock_tick(&adm->clock, (int64_t)ts.tv_sec);

	bool metrics = !parse_status && is_path(req, "/metrics");
	bool health = !parse_status && is_path(req, "/health");
	size_t len = 0;
	char *body = NULL;
	/* Only a /metrics answer pays for the render: a balancer probing
	 * /health every second should cost nothing. */
	if (metrics && !(body = render_body(adm, &len)))
		return -1;
	size_t cap = len + HTTP_RESPONSE_MAX + 4096;
	struct outbuf o = {.p = malloc(cap), .cap = cap};
	if (!o.p) {
		free(body);
		return -1;
	}
	unsigned head = !parse_status && req->method == HTTP_M_HEAD ? HTTP_RESP_HEAD : 0;
	if (parse_status) {
		http_response_error(&o, &adm->clock, parse_status);
	} else if (!metrics && !health) {
		static const char nf[] = "404 Not Found\n";
		http_response(&o, &adm->clock, 404, "text/plain", nf, sizeof(nf) - 1,
			      HTTP_RESP_CLOSE | head);
	} else if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD) {
		static const char na[] = "405 Method Not Allowed\n";
		http_response(&o, &adm->clock, 405, "text/plain", na, sizeof(na) - 1,
			      HTTP_RESP_CLOSE | HTTP_RESP_ALLOW_GET);
	} else if (health && adm->draining) {
		static const char dr[] = "draining\n";
		http_response(&o, &adm->clock, 503, "text/plain", dr, sizeof(dr) - 1,
			      HTTP_RESP_CLOSE | head);
	} else if (health) {
		static const char ok[] = "ok\n";
		http_response(&o, &adm->clock, 200, "text/plain", ok, sizeof(ok) - 1,
			      HTTP_RESP_CLOSE | head);
	} else {
		http_response(&o, &adm->clock, 200, "text/plain; version=0.0.4", body, len,
			      HTTP_RESP_CLOSE | head);
	}
	free(body);
	c->out = o.p;
	c->out_len = o.len;
	return 0;
}

static void on_conn(struct admin *adm, struct admin_conn *c)
{
	if (!c->out) {
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			drop(adm, c);
			return;
		}
		c->in_len += (uint32_t)n;
		struct http_request req;
		int r = http_parse_request(c->in, c->in_len, &req);
		if (r == HTTP_NEED_MORE)
			return;
		if (build_reply(adm, c, &req, r < 0 ? -r : 0) < 0) {
			drop(adm, c);
			return;
		}
		struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
		epoll_ctl(adm->epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
	ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n > 0)
		c->out_off += (size_t)n;
	if (n <= 0 || c->out_off == c->out_len)
		drop(adm, c);
}

void admin_on_event(struct admin *adm, void *tag)
{
	if (tag == adm)
		on_accept(adm);
	else
		on_conn(adm, tag);
}

void admin_tick(struct admin *adm, int64_t now_ms)
{
	reserve(adm);
	if (adm->paused_until_ms && now_ms >= adm->paused_until_ms) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = adm};
		if (epoll_ctl(adm->epfd, EPOLL_CTL_ADD, adm->listen_fd, &ev) == 0 || errno == EEXIST)
			adm->paused_until_ms = 0;
		else
			adm->paused_until_ms = now_ms + ADMIN_ACCEPT_PAUSE_MS;
	}
	struct admin_conn *c = adm->conns;
	while (c) {
		struct admin_conn *next = c->next;
		if (c->deadline_ms <= now_ms)
			drop(adm, c);
		c = next;
	}
}

void admin_close(struct admin *adm)
{
	while (adm->conns)
		drop(adm, adm->conns);
	if (adm->spare_fd >= 0)
		close(adm->spare_fd);
	adm->spare_fd = -1;
}
