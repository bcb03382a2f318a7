/* The active health check (see balance/proxy_health.h).  One round probes
 * every upstream at once with non-blocking sockets under one deadline, so
 * a round takes at most the timeout whatever the number of upstreams.
 * Entries sharing a name (one URL in two routes) are probed once. */
#include "balance/proxy_health.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"

/* A probe's connect and answer together, unless the interval is shorter. */
#define PROBE_TIMEOUT_MS 1000
/* The status line is all we read: "HTTP/1.1 200 OK\r\n" fits many times. */
#define PROBE_READ 256

enum probe_state { P_CONNECT, P_SEND, P_READ, P_DONE };

struct probe {
	int idx; /* the entry probed; its result goes to every entry of its name */
	int fd;
	enum probe_state st;
	char req[1400];
	size_t req_len, sent;
	char resp[PROBE_READ];
	size_t got;
	bool ok;
	char why[96];
};

static void finish(struct probe *p, bool ok, const char *why)
{
	p->ok = ok;
	snprintf(p->why, sizeof(p->why), "%s", why);
	p->st = P_DONE;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static void begin(struct proxy_health *h, struct probe *p, int idx)
{
	const struct upstream_addr *a = &h->t->addrs[idx];
	*p = (struct probe){.idx = idx, .fd = -1, .st = P_CONNECT};
	int n = snprintf(p->req, sizeof(p->req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
			 "User-Agent: herd-health\r\n\r\n",
			 h->path, a->host);
	if (n < 0 || (size_t)n >= sizeof(p->req)) {
		finish(p, false, "health path too long");
		return;
	}
	p->req_len = (size_t)n;
	p->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0) {
		finish(p, false, strerror(errno));
		return;
	}
	if (connect(p->fd, (const struct sockaddr *)&a->sa, a->len) == 0) {
		p->st = P_SEND;
	} else if (errno != EINPROGRESS) {
		finish(p, false, strerror(errno));
		return;
	}
}

/* "HTTP/1.x NNN" at the start of a complete status line. */
static void judge(struct probe *p)
{
	char why[48];
	if (p->got < 12 || memcmp(p->resp, "HTTP/1.", 7) != 0 || p->resp[8] != ' ' ||
	    p->resp[9] < '1' || p->resp[9] > '5' || p->resp[10] < '0' || p->resp[10] > '9' ||
	    p->resp[11] < '0' || p->resp[11] > '9') {
		finish(p, false, "not an HTTP response");
		return;
	}
	int status = (p->resp[9] - '0') * 100 + (p->resp[10] - '0') * 10 + (p->resp[11] - '0');
	snprintf(why, sizeof(why), "status %d", status);
	finish(p, status >= 200 && status < 400, why);
}

/* Moves a probe on after poll said its socket is ready. */
static void step(struct probe *p, short revents)
{
	if (p->st == P_CONNECT) {
		int e = 0;
		socklen_t len = sizeof(e);
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			e = errno;
		if (e) {
			finish(p, false, strerror(e));
			return;
		}
		if (!(revents & POLLOUT)) {
			if (revents & (POLLERR | POLLHUP))
				finish(p, false, "connect failed");
			return;
		}
		p->st = P_SEND;
	}
	if (p->st == P_SEND) {
		ssize_t n = send(p->fd, p->req + p->sent, p->req_len - p->sent, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN) {
			finish(p, false, strerror(errno));
			return;
		}
		if (n > 0)
			p->sent += (size_t)n;
		if (p->sent == p->req_len)
			p->st = P_READ;
		return;
	}
	if (p->st != P_READ)
		return;
	ssize_t n = recv(p->fd, p->resp + p->got, sizeof(p->resp) - 1 - p->got, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0) {
		finish(p, false, strerror(errno));
		return;
	}
	if (n == 0) {
		if (p->got)
			judge(p);
		else
			finish(p, false, "closed without an answer");
		return;
	}
	p->got += (size_t)n;
	p->resp[p->got] = 0;
	if (strstr(p->resp, "\r\n") || strchr(p->resp, '\n') || p->got == sizeof(p->resp) - 1)
		judge(p);
}

static void record(struct proxy_health *h, const struct probe *p)
{
	const char *name = h->t->addrs[p->idx].name;
	int down = !p->ok;
	bool changed = false;
	for (int i = 0; i < h->t->naddrs; i++)
		if (strcmp(h->t->addrs[i].name, name) == 0)
			changed |= atomic_exchange_explicit(&h->u[i].active_down, down,
							    memory_order_relaxed) != down;
	if (!changed)
		return;
	if (down)
		herd_log("upstream %s: health check failed (%s): down", name, p->why);
	else
		herd_log("upstream %s: health check passed (%s): up", name, p->why);
}

/* One round; false when asked to stop during it. */
static bool round_once(struct proxy_health *h)
{
	struct probe probes[HERD_MAX_UPSTREAMS];
	struct pollfd pfd[HERD_MAX_UPSTREAMS + 1];
	int at[HERD_MAX_UPSTREAMS + 1];
	int n = 0;
	for (int i = 0; i < h->t->naddrs; i++) {
		bool seen = false;
		for (int k = 0; k < i && !seen; k++)
			seen = strcmp(h->t->addrs[k].name, h->t->addrs[i].name) == 0;
		if (!seen)
			begin(h, &probes[n++], i);
	}
	int64_t deadline = worker_monotonic_ms() + h->timeout_ms;
	for (;;) {
		int np = 0;
		pfd[np++] = (struct pollfd){.fd = h->wake_fd, .events = POLLIN};
		for (int i = 0; i < n; i++) {
			if (probes[i].st == P_DONE)
				continue;
			short ev = probes[i].st == P_READ ? POLLIN : POLLOUT;
			at[np] = i;
			pfd[np++] = (struct pollfd){.fd = probes[i].fd, .events = ev};
		}
		int64_t left = deadline - worker_monotonic_ms();
		if (np == 1 || left <= 0)
			break;
		int r = poll(pfd, (nfds_t)np, (int)left);
		if (r < 0 && errno != EINTR) {
			herd_log("proxy health: poll: %s", strerror(errno));
			break;
		}
		if (r > 0 && pfd[0].revents) {
			for (int i = 0; i < n; i++)
				if (probes[i].st != P_DONE)
					finish(&probes[i], false, "stopping");
			return false;
		}
		for (int k = 1; r > 0 && k < np; k++)
			if (pfd[k].revents)
				step(&probes[at[k]], pfd[k].revents);
	}
	for (int i = 0; i < n; i++) {
		if (probes[i].st != P_DONE)
			finish(&probes[i], false, "timed out");
		record(h, &probes[i]);
	}
	return true;
}

static void *run(void *arg)
{
	struct proxy_health *h = arg;
	for (;;) {
		int64_t next = worker_monotonic_ms() + h->interval_ms;
		if (!round_once(h))
			return NULL;
		struct pollfd pfd = {.fd = h->wake_fd, .events = POLLIN};
		int64_t left;
		while ((left = next - worker_monotonic_ms()) > 0) {
			int r = poll(&pfd, 1, (int)left);
			if (r > 0)
				return NULL;
			if (r < 0 && errno != EINTR) {
				herd_log("proxy health: poll: %s", strerror(errno));
				return NULL;
			}
		}
	}
}

int proxy_health_start(struct proxy_health *h, const struct herd_config *cfg,
		       struct upstream_shared *u)
{
	*h = (struct proxy_health){.wake_fd = -1};
	if (!cfg->proxy_health || cfg->proxy.naddrs == 0)
		return 0;
	h->t = &cfg->proxy;
	h->u = u;
	h->path = cfg->proxy_health;
	h->interval_ms = config_ms(cfg->proxy_health_interval_s);
	h->timeout_ms = h->interval_ms < PROBE_TIMEOUT_MS ? h->interval_ms : PROBE_TIMEOUT_MS;
	h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (h->wake_fd < 0) {
		herd_log("cannot start the proxy health checks: %s", strerror(errno));
		return -1;
	}
	int rc = pthread_create(&h->thread, NULL, run, h);
	if (rc) {
		herd_log("cannot start the proxy health checks: %s", strerror(rc));
		close(h->wake_fd);
		h->wake_fd = -1;
		return -1;
	}
	h->on = true;
	return 0;
}

void proxy_health_stop(struct proxy_health *h)
{
	if (h->on) {
		uint64_t one = 1;
		if (write(h->wake_fd, &one, sizeof(one)) < 0)
			herd_log("proxy health: cannot wake the thread: %s", strerror(errno));
		pthread_join(h->thread, NULL);
		h->on = false;
	}
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	h->wake_fd = -1;
}
