/* A connection's life on an epoll worker: read, run the protocol, send, and
 * decide what to wait for next (more input, the socket draining, or a
 * timeout).  Level-triggered, one read per readiness, so a busy connection
 * cannot starve the others and an idle one costs no syscall. */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"
#include "net/file_cache.h"

/* Protocol rounds per event when the output buffer keeps filling up; then
 * the connection yields to the others and resumes on EPOLLOUT. */
#define SERVE_ROUNDS 8
/* Input room guaranteed before reading into a connection's own buffer. */
#define READ_ROOM 4096
/* File bytes sent per event before yielding to other connections. */
#define FILE_SEND_BUDGET (512 * 1024)

static void set_timer(struct worker *w, struct conn *c, enum conn_timer t)
{
	if (c->timer != CONN_T_NONE)
		conn_list_remove(&w->timers[c->timer], c);
	c->timer = (uint8_t)t;
	if (t == CONN_T_NONE)
		return;
	c->deadline_ms = w->now_ms + w->timers[t].timeout_ms;
	conn_list_append(&w->timers[t], c);
}

static int want(struct worker *w, struct conn *c, bool out)
{
	struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
	if (!c->registered) {
		if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			return -1;
		c->registered = 1;
	} else if (c->want_out != out) {
		if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
			return -1;
	}
	c->want_out = out;
	return 0;
}

static void fail(struct worker *w, struct conn *c, enum herd_err_kind kind)
{
	CTR_ADD(w->ctr, errors[kind], 1);
	if (kind == HERD_ERR_NOMEM)
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory, dropping a connection",
				     w->id);
	conn_close(w, c);
}

static void drop_file(struct worker *w, struct conn *c)
{
	if (c->proto.file) {
		file_cache_put(w->files, c->proto.file);
		c->proto.file = NULL;
		c->proto.file_left = 0;
	}
	c->proto.flags &= (uint8_t)~PROTO_FILE;
}

void conn_close(struct worker *w, struct conn *c)
{
	drop_file(w, c);
	set_timer(w, c, CONN_T_NONE);
	close(c->fd); /* also takes it out of the epoll set */
	conn_drop_input(c);
	conn_drop_output(c);
	w->nconns--;
	CTR_SUB(w->ctr, conns_active, 1);
	atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
	conn_pool_put(&w->pool, c);
}

static void start_linger(struct worker *w, struct conn *c)
{
	/* Our answer is out; stop reading requests but keep draining the
	 * client's bytes, so closing does not reset the answer away. */
	shutdown(c->fd, SHUT_WR);
	c->lingering = 1;
	conn_drop_input(c);
	set_timer(w, c, CONN_T_LINGER);
	if (want(w, c, false) < 0)
		conn_close(w, c);
}

/* Sends the pending file body: 1 when done, 0 when the socket is full or
 * the budget spent (resume on EPOLLOUT), -1 when the connection closed. */
static int send_file(struct worker *w, struct conn *c)
{
	struct proto_state *st = &c->proto;
	size_t budget = FILE_SEND_BUDGET;
	while (st->file_left && budget) {
		off_t off = (off_t)st->file_off;
		size_t n = st->file_left < budget ? (size_t)st->file_left : budget;
		ssize_t k = sendfile(c->fd, st->file->fd, &off, n);
		if (k < 0 && errno == EAGAIN)
			return 0;
		if (k <= 0) {
			/* An error, or the file shrank under a promised length:
			 * the response cannot be completed. */
			fail(w, c, HERD_ERR_WRITE);
			return -1;
		}
		CTR_ADD(w->ctr, bytes_out, (uint64_t)k);
		st->file_off += (uint64_t)k;
		st->file_left -= (uint64_t)k;
		budget -= (size_t)k;
	}
	if (st->file_left)
		return 0;
	drop_file(w, c);
	return 1;
}

static void serve(struct worker *w, struct conn *c, const char *data, uint32_t len);

/* Decides what the connection waits for after its output was handed over. */
static void settle(struct worker *w, struct conn *c)
{
	uint8_t f = c->proto.flags;
	if (!c->out_len && (f & PROTO_FILE)) {
		int r = send_file(w, c);
		if (r < 0)
			return;
		if (r > 0 && !(c->proto.flags & (PROTO_CLOSE | PROTO_LINGER))) {
			/* Requests pipelined behind the file come next. */
			serve(w, c, c->in, c->in_len);
			return;
		}
		f = c->proto.flags;
	}
	if (c->out_len || (f & (PROTO_OUT_FULL | PROTO_FILE))) {
		if (c->timer != CONN_T_WRITE)
			set_timer(w, c, CONN_T_WRITE);
		if (want(w, c, true) < 0)
			fail(w, c, HERD_ERR_WRITE);
		return;
	}
	if (f & PROTO_LINGER) {
		start_linger(w, c);
		return;
	}
	bool mid_request = c->in_len || c->proto.body_kind != HTTP_BODY_NONE;
	if ((f & PROTO_CLOSE) || worker_drain_closes(w, mid_request)) {
		conn_close(w, c);
		return;
	}
	if (mid_request) {
		/* The head timeout runs from the request's first byte, not from
		 * the latest one: a trickling client cannot extend it. */
		if (c->timer != CONN_T_READ)
			set_timer(w, c, CONN_T_READ);
	} else {
		set_timer(w, c, CONN_T_IDLE);
	}
	if (want(w, c, false) < 0)
		fail(w, c, HERD_ERR_READ);
}

/* Sends the worker's output buffer; what the socket does not take now is
 * kept by the connection.  false when the connection was closed. */
static bool send_out(struct worker *w, struct conn *c)
{
	if (w->out.len == 0)
		return true;
	/* Headers with a file body behind them wait for it (one segment). */
	int more = c->proto.flags & PROTO_FILE ? MSG_MORE : 0;
	ssize_t n = send(c->fd, w->out.p, w->out.len, MSG_NOSIGNAL | more);
	if (n < 0) {
		if (errno != EAGAIN) {
			w->out.len = 0;
			fail(w, c, HERD_ERR_WRITE);
			return false;
		}
		n = 0;
	}
	CTR_ADD(w->ctr, bytes_out, (uint64_t)n);
	if ((size_t)n < w->out.len &&
	    conn_keep_output(c, w->out.p + n, (uint32_t)(w->out.len - (size_t)n)) < 0) {
		w->out.len = 0;
		fail(w, c, HERD_ERR_NOMEM);
		return false;
	}
	w->out.len = 0;
	return true;
}

static void serve(struct worker *w, struct conn *c, const char *data, uint32_t len)
{
	for (int round = 0;; round++) {
		struct proto_env env = {.out = &w->out, .clock = &w->clock, .ctr = w->ctr,
					.draining = w->draining, .max_body = w->max_body,
					.files = w->files, .log = w->log, .peer = &c->peer};
		c->proto.flags &= (uint8_t)~PROTO_OUT_FULL;
		size_t used = w->feed(&c->proto, data, len, &env);
		if (conn_keep_input(c, data + used, (uint32_t)(len - used)) < 0) {
			w->out.len = 0;
			fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		if (!send_out(w, c))
			return;
		if (c->out_len || !(c->proto.flags & PROTO_OUT_FULL) || round + 1 == SERVE_ROUNDS)
			break;
		data = c->in;
		len = c->in_len;
	}
	settle(w, c);
}

static void on_readable(struct worker *w, struct conn *c)
{
	char *buf;
	uint32_t cap;

	if (c->in_len) {
		if (conn_reserve_input(c, READ_ROOM) < 0) {
			fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		buf = c->in + c->in_len;
		cap = c->in_cap - c->in_len;
	} else {
		buf = w->rbuf;
		cap = w->rbuf_cap;
	}
	ssize_t n = recv(c->fd, buf, cap, 0);
	if (n <= 0) {
		if (n < 0 && errno == EAGAIN) {
			if (!c->registered)
				settle(w, c);
			return;
		}
		if (n < 0 && !c->lingering)
			CTR_ADD(w->ctr, errors[HERD_ERR_READ], 1);
		conn_close(w, c);
		return;
	}
	CTR_ADD(w->ctr, bytes_in, (uint64_t)n);
	if (c->lingering)
		return;
	if (c->in_len)
		serve(w, c, c->in, c->in_len + (uint32_t)n);
	else
		serve(w, c, w->rbuf, (uint32_t)n);
}

static void on_writable(struct worker *w, struct conn *c)
{
	if (c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN)
				fail(w, c, HERD_ERR_WRITE);
			return;
		}
		CTR_ADD(w->ctr, bytes_out, (uint64_t)n);
		c->out_off += (uint32_t)n;
		if (c->out_off < c->out_len) {
			set_timer(w, c, CONN_T_WRITE); /* progress: the send timeout restarts */
			return;
		}
		conn_drop_output(c);
	}
	if (c->proto.flags & PROTO_OUT_FULL)
		serve(w, c, c->in, c->in_len);
	else
		settle(w, c);
}

void conn_on_event(struct worker *w, struct conn *c, uint32_t events)
{
	(void)events; /* errors and hang-ups surface from the read or send itself */
	if (c->want_out)
		on_writable(w, c);
	else
		on_readable(w, c);
}

void conn_open(struct worker *w, int fd)
{
	struct conn *c = conn_pool_get(&w->pool);
	if (!c) {
		atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
		CTR_ADD(w->ctr, errors[HERD_ERR_NOMEM], 1);
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory, refusing a connection",
				     w->id);
		close(fd);
		return;
	}
	c->fd = fd;
	if (w->log) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
			peer_addr_from(&c->peer, (struct sockaddr *)&ss);
	}
	w->nconns++;
	CTR_ADD(w->ctr, conns_active, 1);
	/* Its slot in conns_open was reserved before the accept. */
	set_timer(w, c, CONN_T_READ);
	if (w->optimistic_read) {
		on_readable(w, c);
		return;
	}
	if (want(w, c, false) < 0)
		fail(w, c, HERD_ERR_ACCEPT);
}

void conn_expire(struct worker *w, struct conn *c)
{
	if (c->timer == CONN_T_READ && c->in_len && w->feed == http_feed) {
		/* A head that never completed gets a 408 (best effort). */
		struct proto_env env = {.out = &w->out, .clock = &w->clock, .ctr = w->ctr,
					.draining = true};
		http_timeout_response(&env);
		(void)send(c->fd, w->out.p, w->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		w->out.len = 0;
	}
	conn_close(w, c);
}

void conn_begin_drain(struct worker *w)
{
	/* Idle keep-alive connections close soon (worker_drain_idle); the
	 * others close after their current response (settle()). */
	worker_drain_idle(w, conn_close);
}
