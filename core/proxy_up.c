/* Upstream connections of one worker: which upstream a request goes to,
 * making the connection, and the pool of idle ones kept for reuse.
 *
 * Nothing here is shared with other workers but the upstream's health and
 * statistics (core/upstream_state.h): each worker balances, connects and
 * pools on its own, so a request never waits on another thread. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/engine_seam.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/engine_proxy.h"
#include "core/proxy_int.h"
#include "core/worker.h"

struct proxy_worker *up_worker(struct worker *w)
{
	if (w->proxy)
		return w->proxy;
	struct proxy_worker *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	int cap = w->up_idle_max > 0 ? w->up_idle_max : 1;
	for (int i = 0; i < w->upstreams->naddrs; i++) {
		if (!(p->pool[i].idle = calloc((size_t)cap, sizeof(struct conn *)))) {
			w->proxy = p;
			proxy_worker_free(w);
			return NULL;
		}
	}
	return w->proxy = p;
}

void proxy_worker_free(struct worker *w)
{
	if (!w->proxy)
		return;
	for (int i = 0; i < HERD_MAX_UPSTREAMS; i++)
		free(w->proxy->pool[i].idle);
	free(w->proxy);
	w->proxy = NULL;
}

struct upstream_shared *up_shared(struct worker *w, const struct proxy_xfer *x)
{
	return &w->up_shared[x->up ? x->up->up_index : 0];
}

const char *up_name(const struct worker *w, int i)
{
	return w->upstreams->addrs[i].name;
}

/* The client waits on the upstream's timer, which it outlives a little. */
void up_arm(struct worker *w, struct proxy_xfer *x)
{
	if (x->up)
		engine_set_timer(w, x->up, x->state == X_CONNECTING ? CONN_T_UP_CONNECT
								   : CONN_T_UP_READ);
	if (!(x->client->flags & CONN_WRITING))
		engine_set_timer(w, x->client, CONN_T_PROXIED);
}

/* Least outstanding requests in this worker among the route's usable
 * upstreams not tried yet; ties go round robin.  -1: none is left. */
static int pick(struct worker *w, struct proxy_xfer *x)
{
	const struct upstream_route *r = &w->upstreams->routes[x->route];
	struct proxy_worker *p = w->proxy;
	int best = -1, best_busy = 0;
	uint32_t start = p->rr[x->route]++;
	for (int k = 0; k < r->n; k++) {
		int i = r->first + (int)((start + (uint32_t)k) % (uint32_t)r->n);
		if ((x->tried & (1u << i)) || !upstream_usable(&w->up_shared[i], w->now_ms))
			continue;
		if (best < 0 || p->pool[i].busy < best_busy) {
			best = i;
			best_busy = p->pool[i].busy;
		}
	}
	return best;
}

static void pool_remove(struct worker *w, struct conn *up)
{
	struct up_pool *pl = &w->proxy->pool[up->up_index];
	for (int k = 0; k < pl->nidle; k++) {
		if (pl->idle[k] != up)
			continue;
		memmove(&pl->idle[k], &pl->idle[k + 1], sizeof(pl->idle[0]) * (size_t)(pl->nidle - k - 1));
		pl->nidle--;
		atomic_fetch_sub_explicit(&w->up_shared[up->up_index].idle, 1, memory_order_relaxed);
		return;
	}
}

/* Closes an upstream connection the worker is done with. */
static void up_close(struct worker *w, struct conn *up)
{
	if (!up->px)
		pool_remove(w, up);
	up->px = NULL;
	engine_set_timer(w, up, CONN_T_NONE);
	conn_drop_input(up);
	w->mech->close(w, up);
}

void up_release(struct worker *w, struct proxy_xfer *x, bool keep)
{
	struct conn *up = x->up;
	if (!up)
		return;
	x->up = NULL;
	struct up_pool *pl = &w->proxy->pool[up->up_index];
	pl->busy--;
	up->px = NULL;
	if (!keep || w->draining || pl->nidle >= w->up_idle_max || up->in_len ||
	    (up->flags & (CONN_EOF | CONN_WRITING))) {
		up->px = x; /* not in the pool: up_close must not look there */
		up_close(w, up);
		return;
	}
	pl->idle[pl->nidle++] = up;
	atomic_fetch_add_explicit(&w->up_shared[up->up_index].idle, 1, memory_order_relaxed);
	engine_set_timer(w, up, CONN_T_UP_IDLE);
	/* Watched while idle: a close or stray bytes from the upstream retire it
	 * before any request is written on it. */
	up->flags &= (uint8_t)~CONN_PAUSED;
	w->mech->read_on(w, up);
}

static struct conn *pool_take(struct worker *w, int i)
{
	struct up_pool *pl = &w->proxy->pool[i];
	if (!pl->nidle)
		return NULL;
	struct conn *up = pl->idle[--pl->nidle];
	atomic_fetch_sub_explicit(&w->up_shared[i].idle, 1, memory_order_relaxed);
	return up;
}

/* A new connection to upstream i.  0: connected or on its way (*upp);
 * -1: this upstream refused (try another); -2: herd is out of descriptors
 * or memory (logged; no other upstream would do better). */
static int open_up(struct worker *w, int i, struct conn **upp, bool *now)
{
	const struct upstream_addr *a = &w->upstreams->addrs[i];
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		herd_log_ratelimited(&w->log_slot, "worker %d: no socket for upstream %s: %s", w->id,
				     a->name, strerror(errno));
		return -2;
	}
	if (a->sa.ss_family != AF_UNIX) {
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	int r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
	if (r < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct conn *up = conn_pool_get(&w->pool);
	if (!up) {
		close(fd);
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory for an upstream connection",
				     w->id);
		return -2;
	}
	up->fd = fd;
	up->flags = CONN_UPSTREAM;
	up->up_index = (uint8_t)i;
	*upp = up;
	*now = r == 0;
	return 0;
}

bool up_connect(struct worker *w, struct proxy_xfer *x)
{
	if (!up_worker(w)) {
		xfer_fail(w, x, 502);
		return false;
	}
	for (;;) {
		int i = pick(w, x);
		if (i < 0) {
			xfer_fail(w, x, 502);
			return false;
		}
		x->tried |= 1u << i;
		/* A retry goes out on a fresh connection. */
		struct conn *up = x->retried ? NULL : pool_take(w, i);
		bool now = true;
		x->reused = up != NULL;
		if (!up) {
			int r = open_up(w, i, &up, &now);
			if (r == -1) {
				upstream_note_fail(&w->up_shared[i], UP_ERR_CONNECT, w->now_ms);
				continue;
			}
			if (r == -2) {
				xfer_fail(w, x, 502);
				return false;
			}
		}
		w->proxy->pool[i].busy++;
		up->px = x;
		x->up = up;
		atomic_fetch_add_explicit(&w->up_shared[i].requests, 1, memory_order_relaxed);
		if (!now) {
			x->state = X_CONNECTING;
			up_arm(w, x);
			w->mech->wait_writable(w, up);
			return true;
		}
		x->state = X_SENDING;
		up_arm(w, x);
		return xfer_send(w, x, false);
	}
}

/* Connect failed: the next upstream, while nothing of the request went. */
void up_connect_failed(struct worker *w, struct proxy_xfer *x)
{
	struct conn *up = x->up;
	upstream_note_fail(&w->up_shared[up->up_index], UP_ERR_CONNECT, w->now_ms);
	w->proxy->pool[up->up_index].busy--;
	x->up = NULL;
	up_close(w, up);
	x->state = X_CONNECTING;
	(void)up_connect(w, x);
}

void proxy_up_writable(struct worker *w, struct conn *up)
{
	struct proxy_xfer *x = up->px;
	up->flags &= (uint8_t)~CONN_WRITING;
	if (!x)
		return;
	if (x->state == X_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(up->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			up_connect_failed(w, x);
			return;
		}
		x->state = X_SENDING;
	}
	up_arm(w, x);
	(void)xfer_send(w, x, true);
}

void proxy_up_expire(struct worker *w, struct conn *up)
{
	struct proxy_xfer *x = up->px;
	if (!x) {
		up_close(w, up); /* idle too long in the pool */
		return;
	}
	if (x->state == X_CONNECTING) {
		up_connect_failed(w, x);
		return;
	}
	if (x->client->flags & CONN_WRITING) {
		/* The client is not taking the response: its own send timeout
		 * decides, not the upstream's. */
		engine_set_timer(w, up, CONN_T_UP_READ);
		return;
	}
	if (x->state == X_SENDING && !x->req_done && !(up->flags & CONN_WRITING)) {
		xfer_fail(w, x, 408); /* the client's body stopped arriving */
		return;
	}
	/* An idle tunnel is nobody's failure. */
	if (x->state != X_TUNNEL)
		upstream_note_fail(up_shared(w, x), UP_ERR_TIMEOUT, w->now_ms);
	xfer_fail(w, x, 504);
}

void proxy_up_close(struct worker *w, struct conn *up)
{
	struct proxy_xfer *x = up->px;
	if (x) {
		/* The worker is closing everything: the client follows. */
		w->proxy->pool[up->up_index].busy--;
		x->up = NULL;
	}
	up_close(w, up);
}

/* A pooled connection that speaks or closes while idle is retired. */
bool up_idle_event(struct worker *w, struct conn *up)
{
	if (up->px)
		return false;
	up_close(w, up);
	return true;
}
