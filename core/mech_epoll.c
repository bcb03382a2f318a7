/* The epoll mechanism: readiness.  Level-triggered, one read per readiness,
 * so a busy connection cannot starve the others and an idle one costs no
 * syscall; output is written at once and only what the socket does not take
 * waits for EPOLLOUT (reading stops meanwhile: that is the backpressure).
 *
 * Serves four accept strategies that differ only in how connections reach
 * the worker:
 *   exclusive  the shared listeners in every epoll with EPOLLEXCLUSIVE
 *   herd       the shared listeners in every epoll, every waiter woken
 *   reuseport  the worker's own SO_REUSEPORT listeners (one per address)
 *   listener   fds handed over by the acceptor thread through a queue */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/race.h"
#include "core/worker.h"

#define MAX_EVENTS 256

struct epoll_state {
	int epfd;
	uint32_t listen_events;
	int nevents;
	/* Connections closed while a batch of events is delivered: another
	 * event of the batch may still name one (a proxied exchange closes
	 * its other side), so they return to the pool after the batch. */
	bool dispatching;
	struct conn *closed;
	uint64_t busy_since_ns;
	struct epoll_event evs[MAX_EVENTS];
};

/* conn.io[0]: what the connection's registration says. */
enum { REGISTERED = 1u << 0, WANT_OUT = 1u << 1, CLOSED = 1u << 2 };

static int epoll_init(struct worker *w)
{
	struct epoll_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -1;
	w->io = st;
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st->epfd < 0)
		return -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->wake_fd};
	if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0)
		return -1;
	/* EPOLLEXCLUSIVE: one arrival wakes one waiting worker, not all. */
	st->listen_events = EPOLLIN | (w->mode == HERD_ACCEPT_EXCLUSIVE ? EPOLLEXCLUSIVE : 0);
	return 0;
}

static void epoll_destroy(struct worker *w)
{
	struct epoll_state *st = w->io;
	if (!st)
		return;
	if (st->epfd >= 0)
		close(st->epfd);
	free(st);
	w->io = NULL;
}

static int epoll_start(struct worker *w)
{
	struct epoll_state *st = w->io;
	st->busy_since_ns = worker_clock_ns();
	return 0;
}

static int epoll_wait_turn(struct worker *w, int timeout_ms)
{
	struct epoll_state *st = w->io;
	worker_busy_until_now(w, st->busy_since_ns); /* the busy fraction, for scaling */
	int n = epoll_wait(st->epfd, st->evs, MAX_EVENTS, timeout_ms);
	st->busy_since_ns = worker_clock_ns();
	if (n < 0 && errno != EINTR) {
		herd_log("worker %d: epoll_wait: %s", w->id, strerror(errno));
		return -1;
	}
	st->nevents = n < 0 ? 0 : n;
	return 0;
}

static void epoll_finish(struct worker *w)
{
	(void)w; /* every descriptor is closed: nothing can still report */
}

static void unwatch(struct worker *w, int upto)
{
	struct epoll_state *st = w->io;
	for (int i = 0; i < upto; i++)
		epoll_ctl(st->epfd, EPOLL_CTL_DEL, w->listeners[i].fd, NULL);
}

/* The listeners are in this worker's epoll exactly when the worker races:
 * all of them or none, so stepping out, pausing and draining hold for
 * every address alike.  Each registration's tag is its listener, so a
 * wake-up names the queue to accept from. */
static bool epoll_race_set(struct worker *w, bool want)
{
	struct epoll_state *st = w->io;
	if (w->mode == HERD_ACCEPT_LISTENER)
		return false; /* the acceptor thread races for us */
	if (want == w->watching_listener)
		return want;
	if (!want) {
		unwatch(w, w->nlisten);
		w->watching_listener = false;
		return false;
	}
	for (int i = 0; i < w->nlisten; i++) {
		struct epoll_event ev = {.events = st->listen_events, .data.ptr = &w->listeners[i]};
		if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, w->listeners[i].fd, &ev) < 0 &&
		    errno != EEXIST) {
			/* Retry on a later turn rather than drop out for good. */
			unwatch(w, i);
			race_hold(w, w->now_ms + RACE_PAUSE_MS, false);
			return false;
		}
	}
	w->watching_listener = true;
	return true;
}

static int want(struct worker *w, struct conn *c, bool out)
{
	struct epoll_state *st = w->io;
	struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
	if (!(c->io[0] & REGISTERED)) {
		if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -1;
	} else if (!(c->io[0] & WANT_OUT) != !out) {
		if (epoll_ctl(st->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return -1;
	}
	c->io[0] = (uint8_t)(REGISTERED | (out ? WANT_OUT : 0));
	return 0;
}

static void on_readable(struct worker *w, struct conn *c)
{
	ssize_t n = recv(c->fd, w->rbuf, w->rbuf_cap, 0);
	if (n > 0) {
		engine_input(w, c, w->rbuf, (uint32_t)n);
	} else if (n == 0) {
		engine_input_end(w, c);
	} else if (errno != EAGAIN) {
		engine_input_error(w, c);
	} else if (!(c->io[0] & REGISTERED) && want(w, c, false) < 0) {
		/* The optimistic first read found nothing yet. */
		engine_fail(w, c, HERD_ERR_READ);
	}
}

static void on_writable(struct worker *w, struct conn *c)
{
	if (c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN)
				engine_fail(w, c, HERD_ERR_WRITE);
			return;
		}
		if (engine_output_sent(w, c, (size_t)n))
			return;
	}
	engine_output_done(w, c);
}

/* The listener a tag names, or -1 (compared as addresses: a connection's
 * tag points into another object). */
static int listener_of(const struct worker *w, const void *tag)
{
	uintptr_t t = (uintptr_t)tag, first = (uintptr_t)w->listeners;
	if (t < first || t >= first + sizeof(w->listeners[0]) * (size_t)w->nlisten)
		return -1;
	return (int)((t - first) / sizeof(w->listeners[0]));
}

static void epoll_dispatch(struct worker *w)
{
	struct epoll_state *st = w->io;
	st->dispatching = true;
	for (int i = 0; i < st->nevents; i++) {
		void *tag = st->evs[i].data.ptr;
		int li = listener_of(w, tag);
		if (li >= 0) {
			race_listener_ready(w, li);
		} else if (tag == &w->wake_fd) {
			race_woken(w);
		} else {
			/* Errors and hang-ups surface from the read or send. */
			struct conn *c = tag;
			if (c->io[0] & CLOSED)
				continue;
			if (c->io[0] & WANT_OUT)
				on_writable(w, c);
			else
				on_readable(w, c);
		}
	}
	st->nevents = 0;
	st->dispatching = false;
	while (st->closed) {
		struct conn *c = st->closed;
		st->closed = c->next;
		engine_release(w, c);
	}
}

static void epoll_conn_start(struct worker *w, struct conn *c, bool data_waiting)
{
	if (data_waiting)
		on_readable(w, c);
	else if (want(w, c, false) < 0)
		engine_fail(w, c, HERD_ERR_ACCEPT);
}

static void epoll_read_on(struct worker *w, struct conn *c)
{
	if (want(w, c, false) < 0)
		engine_fail(w, c, HERD_ERR_READ);
}

static void epoll_read_off(struct worker *w, struct conn *c)
{
	/* Input is not read while output waits for EPOLLOUT anyway; a
	 * connection waiting for input (a proxied exchange's other side) leaves
	 * the set: level-triggered readiness would spin, and even with no
	 * events asked for a hang-up is reported. */
	struct epoll_state *st = w->io;
	if ((c->io[0] & (REGISTERED | WANT_OUT)) != REGISTERED)
		return;
	if (epoll_ctl(st->epfd, EPOLL_CTL_DEL, c->fd, NULL) < 0) {
		engine_fail(w, c, HERD_ERR_READ);
		return;
	}
	c->io[0] = 0;
}

static enum mech_send epoll_send(struct worker *w, struct conn *c, bool more)
{
	ssize_t n = send(c->fd, w->out.p, w->out.len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
	if (n < 0) {
		if (errno != EAGAIN) {
			w->out.len = 0;
			return MECH_FAILED;
		}
		n = 0;
	}
	CTR_ADD(w->ctr, bytes_out, (uint64_t)n);
	size_t left = w->out.len - (size_t)n;
	w->out.len = 0;
	if (!left)
		return MECH_SENT;
	if (conn_keep_output(&w->pool, c, w->out.p + n, (uint32_t)left) < 0)
		return MECH_NOMEM;
	return want(w, c, true) < 0 ? MECH_FAILED : MECH_PENDING;
}

static void epoll_wait_writable(struct worker *w, struct conn *c)
{
	if (want(w, c, true) < 0)
		engine_fail(w, c, HERD_ERR_WRITE);
}

static void epoll_close(struct worker *w, struct conn *c)
{
	struct epoll_state *st = w->io;
	/* The corked last answer and the FIN leave now, together, whatever
	 * the client sent since: a close with unread input would reset the
	 * connection and discard them. */
	if ((c->flags & (CONN_LAST_OUT | CONN_ABORT)) == CONN_LAST_OUT)
		shutdown(c->fd, SHUT_WR);
	close(c->fd); /* also takes it out of the epoll set */
	c->fd = -1;
	if (!st->dispatching) {
		engine_release(w, c);
		return;
	}
	c->io[0] = CLOSED;
	c->next = st->closed; /* off every timer list by now */
	st->closed = c;
}

const struct mech mech_epoll = {
	.name = "epoll",
	.init = epoll_init,
	.destroy = epoll_destroy,
	.start = epoll_start,
	.wait = epoll_wait_turn,
	.dispatch = epoll_dispatch,
	.finish = epoll_finish,
	.race_set = epoll_race_set,
	.conn_start = epoll_conn_start,
	.read_on = epoll_read_on,
	.read_off = epoll_read_off,
	.send = epoll_send,
	.wait_writable = epoll_wait_writable,
	.close = epoll_close,
};
