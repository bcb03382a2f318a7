/* A connection's life on an io_uring worker.
 *
 * Reads: one multishot recv into the worker's provided buffers stays armed
 * for the whole connection (after a single first recv, see enum recv_kind).
 * A buffer goes back to the ring in the loop turn that delivered it;
 * whatever the protocol leaves unconsumed is copied into the connection's
 * own input, so an idle connection holds no ring buffer.
 *
 * Sends: the protocol's output is copied out of the worker buffer and sent
 * with one SQE; only one send is in flight per connection, so bytes leave in
 * the protocol's order.  A file body (--root) follows with sendfile(2), a
 * POLLOUT request waiting whenever the socket is full.  Input that arrives
 * meanwhile is queued, not fed, and reading stops once too much of it piles
 * up.
 *
 * Close: a closed connection keeps its struct (U_CLOSED, "zombie") until the
 * CQE of every request it had in flight arrived, so no CQE can point at a
 * struct that was already reused. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uring.h"
#include "net/file_cache.h"

enum {
	U_CLOSED = 1u << 0,    /* waiting for its last CQE before returning to the pool */
	U_HELD = 1u << 1,      /* a CQE handler runs for it: not released under its feet */
	U_UNFED = 1u << 2,     /* c->in has bytes the protocol has not seen yet */
	U_PAUSED = 1u << 3,    /* recv cancelled: too much input queued behind a send */
	U_EOF = 1u << 4,       /* the peer sent FIN */
};

/* Input queued behind pending output before the recv is cancelled: as much
 * as one protocol round can answer (the worker's output buffer is 64 KiB);
 * the rest waits in the socket, where it costs the server nothing. */
#define PAUSE_INPUT (64 * 1024)
/* File bytes sent per turn before yielding to other connections. */
#define FILE_SEND_BUDGET (512 * 1024)
/* conn.u_ops: one bit per request kind that may still complete. */
#define IN_FLIGHT(op) (1u << (op))
/* Requests that produce output, one at a time (see received()). */
#define OUTPUT_OPS (IN_FLIGHT(OP_SEND) | IN_FLIGHT(OP_POLL))

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

static void drop_file(struct worker *w, struct conn *c)
{
	if (c->proto.file) {
		file_cache_put(w->files, c->proto.file);
		c->proto.file = NULL;
		c->proto.file_left = 0;
	}
	c->proto.flags &= (uint8_t)~PROTO_FILE;
}

static void release(struct worker *w, struct conn *c)
{
	struct uring_state *st = w->backend;
	conn_drop_output(c);
	st->zombies--;
	conn_pool_put(&w->pool, c);
}

static void fail(struct worker *w, struct conn *c, enum herd_err_kind kind)
{
	CTR_ADD(w->ctr, errors[kind], 1);
	if (kind == HERD_ERR_NOMEM)
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory, dropping a connection",
				     w->id);
	uconn_close(w, c);
}

void uconn_close(struct worker *w, struct conn *c)
{
	struct uring_state *st = w->backend;
	drop_file(w, c); /* sendfile is synchronous: no request reads it */
	set_timer(w, c, CONN_T_NONE);
	conn_drop_input(c);
	c->u_flags |= U_CLOSED;
	bool cancelled = true;
	for (unsigned op = OP_RECV; op <= OP_POLL; op++)
		if (c->u_ops & IN_FLIGHT(op))
			cancelled &= uring_cancel(w, ud_conn(c, op));
	/* Without a cancel, a shutdown still ends the requests (EOF, EPIPE,
	 * POLLHUP). */
	if (!cancelled)
		shutdown(c->fd, SHUT_RDWR);
	/* The requests hold the socket open until their cancel ran: only then
	 * does the peer see the FIN.  Queued after the cancels, both go out in
	 * the next submit. */
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (sqe) {
		io_uring_prep_close(sqe, c->fd);
		io_uring_sqe_set_data64(sqe, UD_IGNORE);
		sqe->flags |= st->skip_success;
	} else {
		close(c->fd);
	}
	c->fd = -1;
	w->nconns--;
	CTR_SUB(w->ctr, conns_active, 1);
	atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
	st->zombies++;
	if (!c->u_ops && !(c->u_flags & U_HELD))
		release(w, c);
}

enum recv_kind {
	RECV_MULTI,
	/* Opened without deferred accept: the socket is likely still empty,
	 * so wait for data rather than try a recv first. */
	RECV_MULTI_POLL_FIRST,
	/* Opened with its request already queued (deferred accept): read that
	 * with one recv and arm the multishot only when the connection stays
	 * for more, so a one-request connection never arms (and cancels) a
	 * poll. */
	RECV_ONCE,
};

static void arm_recv(struct worker *w, struct conn *c, enum recv_kind kind)
{
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe) {
		fail(w, c, HERD_ERR_READ);
		return;
	}
	if (kind == RECV_ONCE)
		io_uring_prep_recv(sqe, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	if (kind == RECV_MULTI_POLL_FIRST)
		sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, ud_conn(c, OP_RECV));
	c->u_ops |= IN_FLIGHT(OP_RECV);
}

static void queue_send(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe) {
		fail(w, c, HERD_ERR_WRITE);
		return;
	}
	/* Headers with a file body behind them wait for it (one segment). */
	int more = c->proto.flags & PROTO_FILE ? MSG_MORE : 0;
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off,
			   MSG_NOSIGNAL | more);
	io_uring_sqe_set_data64(sqe, ud_conn(c, OP_SEND));
	c->u_ops |= IN_FLIGHT(OP_SEND);
}

/* Moves the worker's output into the connection, where it lives until the
 * send completed.  A malloc per response: a recycled per-worker slab of send
 * buffers measured no cheaper (the allocator's thread cache serves these
 * sizes), and a burst of responses kept its peak memory.  false when out of
 * memory. */
static bool take_output(struct worker *w, struct conn *c)
{
	uint32_t n = (uint32_t)w->out.len;
	w->out.len = 0;
	return conn_keep_output(c, w->out.p, n) == 0;
}

static void serve(struct worker *w, struct conn *c, const char *data, uint32_t len);
static void settle(struct worker *w, struct conn *c);

/* The output went out: feed what waited behind it (input that arrived
 * meanwhile, or that the protocol left when it stopped early), or settle. */
static void output_done(struct worker *w, struct conn *c, bool stopped_early)
{
	if (stopped_early || (c->u_flags & U_UNFED))
		serve(w, c, c->in, c->in_len);
	else
		settle(w, c);
}

/* Sends the pending file body with sendfile(2) (io_uring has no sendfile,
 * and splicing would take a pipe per connection); when the socket is full,
 * or FILE_SEND_BUDGET bytes went out this turn, a POLLOUT request brings
 * the connection back. */
static void send_file(struct worker *w, struct conn *c)
{
	struct proto_state *st = &c->proto;
	size_t budget = FILE_SEND_BUDGET;
	while (st->file_left && budget) {
		off_t off = (off_t)st->file_off;
		size_t n = st->file_left < budget ? (size_t)st->file_left : budget;
		ssize_t k = sendfile(c->fd, st->file->fd, &off, n);
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0) {
			/* An error, or the file shrank under a promised length:
			 * the response cannot be completed. */
			fail(w, c, HERD_ERR_WRITE);
			return;
		}
		CTR_ADD(w->ctr, bytes_out, (uint64_t)k);
		st->file_off += (uint64_t)k;
		st->file_left -= (uint64_t)k;
		budget -= (size_t)k;
	}
	if (!st->file_left) {
		drop_file(w, c);
		/* The protocol stopped at the file: requests pipelined behind
		 * it come next, unless this answer was the last. */
		output_done(w, c, !(st->flags & (PROTO_CLOSE | PROTO_LINGER)));
		return;
	}
	if (budget < FILE_SEND_BUDGET || c->timer != CONN_T_WRITE)
		set_timer(w, c, CONN_T_WRITE); /* progress: the send timeout restarts */
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe) {
		fail(w, c, HERD_ERR_WRITE);
		return;
	}
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, ud_conn(c, OP_POLL));
	c->u_ops |= IN_FLIGHT(OP_POLL);
}

static void start_linger(struct worker *w, struct conn *c)
{
	/* Our answer is out; stop reading requests but keep draining the
	 * client's bytes, so closing does not reset the answer away. */
	shutdown(c->fd, SHUT_WR);
	c->lingering = 1;
	conn_drop_input(c);
	c->u_flags &= (uint8_t)~(U_UNFED | U_PAUSED);
	if (c->u_flags & U_EOF) {
		uconn_close(w, c);
		return;
	}
	set_timer(w, c, CONN_T_LINGER);
	if (!(c->u_ops & IN_FLIGHT(OP_RECV)))
		arm_recv(w, c, RECV_MULTI);
}

/* Decides what the connection waits for once no output is in progress and
 * the protocol has seen all input. */
static void settle(struct worker *w, struct conn *c)
{
	uint8_t f = c->proto.flags;
	if (f & PROTO_LINGER) {
		start_linger(w, c);
		return;
	}
	bool mid_request = c->in_len || c->proto.body_kind != HTTP_BODY_NONE;
	if ((f & PROTO_CLOSE) || (c->u_flags & U_EOF) || worker_drain_closes(w, mid_request)) {
		uconn_close(w, c);
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
	c->u_flags &= (uint8_t)~U_PAUSED;
	if (!(c->u_ops & IN_FLIGHT(OP_RECV)))
		arm_recv(w, c, RECV_MULTI);
}

static void serve(struct worker *w, struct conn *c, const char *data, uint32_t len)
{
	struct proto_env env = {.out = &w->out, .clock = &w->clock, .ctr = w->ctr,
				.draining = w->draining, .max_body = w->max_body,
				.files = w->files, .log = w->log, .peer = &c->peer};
	c->proto.flags &= (uint8_t)~PROTO_OUT_FULL;
	c->u_flags &= (uint8_t)~U_UNFED;
	size_t used = w->feed(&c->proto, data, len, &env);
	if (conn_keep_input(c, data + used, (uint32_t)(len - used)) < 0) {
		w->out.len = 0;
		fail(w, c, HERD_ERR_NOMEM);
		return;
	}
	if (w->out.len == 0) {
		if (c->proto.flags & PROTO_FILE)
			send_file(w, c);
		else
			settle(w, c);
		return;
	}
	if (!take_output(w, c)) {
		fail(w, c, HERD_ERR_NOMEM);
		return;
	}
	if (c->timer != CONN_T_WRITE)
		set_timer(w, c, CONN_T_WRITE);
	queue_send(w, c);
}

/* Appends to the kept input, growing it geometrically: a backlog behind a
 * slow send arrives in many small pieces. */
static int append_input(struct conn *c, const char *p, uint32_t n)
{
	if (c->in_cap - c->in_len < n &&
	    conn_reserve_input(c, n > c->in_len ? n : c->in_len) < 0)
		return -1;
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return 0;
}

static void received(struct worker *w, struct conn *c, const char *p, uint32_t n)
{
	CTR_ADD(w->ctr, bytes_in, n);
	/* After a final answer the protocol reads nothing more as a request
	 * (lingering drains, closing discards): keep none of it. */
	if (c->lingering || (c->proto.flags & (PROTO_CLOSE | PROTO_LINGER)))
		return;
	if (c->u_ops & OUTPUT_OPS) {
		/* Backpressure: the protocol sees no more input until the
		 * client took our output. */
		if (append_input(c, p, n) < 0) {
			fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		c->u_flags |= U_UNFED;
		if (c->in_len > PAUSE_INPUT && (c->u_ops & IN_FLIGHT(OP_RECV)) &&
		    !(c->u_flags & U_PAUSED)) {
			c->u_flags |= U_PAUSED;
			if (!uring_cancel(w, ud_conn(c, OP_RECV)))
				fail(w, c, HERD_ERR_READ);
		}
		return;
	}
	if (c->in_len) {
		if (append_input(c, p, n) < 0) {
			fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		serve(w, c, c->in, c->in_len);
		return;
	}
	serve(w, c, p, n);
}

static void on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	struct uring_state *st = w->backend;
	int res = cqe->res;
	bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->u_ops &= (uint8_t)~IN_FLIGHT(OP_RECV);
	if (c->u_flags & U_CLOSED) {
		/* Late data for a closed connection: only the buffer matters. */
	} else if (res > 0 && has_buf) {
		received(w, c, st->bufs + (size_t)bid * URING_BUF_SIZE, (uint32_t)res);
	} else if (res == 0) {
		c->u_flags |= U_EOF;
		/* Output still going out (a client that half-closed after its
		 * requests): close once it is sent, see settle(). */
		if (c->lingering || !(c->u_ops & OUTPUT_OPS))
			uconn_close(w, c);
	} else if (res != -ENOBUFS && res != -ECANCELED) {
		if (!c->lingering)
			CTR_ADD(w->ctr, errors[HERD_ERR_READ], 1);
		uconn_close(w, c);
	}
	if (has_buf)
		uring_buf_return(st, bid);
	/* The recv ended (a single one, ring out of buffers, CQ overflow):
	 * re-arm, unless output is in progress, when settle() does once it is
	 * out.  The buffers of this turn are back in the ring before the next
	 * submit, so this cannot spin. */
	if (!(c->u_ops & (IN_FLIGHT(OP_RECV) | OUTPUT_OPS)) &&
	    !(c->u_flags & (U_CLOSED | U_EOF | U_PAUSED)))
		arm_recv(w, c, RECV_MULTI);
}

static void on_send(struct worker *w, struct conn *c, int res)
{
	c->u_ops &= (uint8_t)~IN_FLIGHT(OP_SEND);
	if (c->u_flags & U_CLOSED)
		return;
	if (res <= 0) {
		fail(w, c, HERD_ERR_WRITE);
		return;
	}
	CTR_ADD(w->ctr, bytes_out, (uint64_t)res);
	c->out_off += (uint32_t)res;
	if (c->out_off < c->out_len) {
		set_timer(w, c, CONN_T_WRITE); /* progress: the send timeout restarts */
		queue_send(w, c);
		return;
	}
	conn_drop_output(c);
	if (c->proto.flags & PROTO_FILE)
		send_file(w, c);
	else
		output_done(w, c, c->proto.flags & PROTO_OUT_FULL);
}

static void on_poll(struct worker *w, struct conn *c, int res)
{
	c->u_ops &= (uint8_t)~IN_FLIGHT(OP_POLL);
	if (c->u_flags & U_CLOSED)
		return;
	if (res < 0) {
		fail(w, c, HERD_ERR_WRITE);
		return;
	}
	send_file(w, c); /* an error or hang-up shows in sendfile itself */
}

void uconn_on_cqe(struct worker *w, const struct io_uring_cqe *cqe)
{
	struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
	c->u_flags |= U_HELD;
	switch (cqe->user_data & OP_MASK) {
	case OP_RECV:
		on_recv(w, c, cqe);
		break;
	case OP_SEND:
		on_send(w, c, cqe->res);
		break;
	default:
		on_poll(w, c, cqe->res);
		break;
	}
	c->u_flags &= (uint8_t)~U_HELD;
	if ((c->u_flags & U_CLOSED) && !c->u_ops)
		release(w, c);
}

void uconn_open(struct worker *w, int fd, bool counted)
{
	struct conn *c = conn_pool_get(&w->pool);
	if (!c) {
		CTR_ADD(w->ctr, errors[HERD_ERR_NOMEM], 1);
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory, refusing a connection",
				     w->id);
		close(fd);
		if (counted)
			atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
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
	if (!counted)
		atomic_fetch_add_explicit(w->conns_open, 1, memory_order_relaxed);
	set_timer(w, c, CONN_T_READ);
	arm_recv(w, c, w->optimistic_read ? RECV_ONCE : RECV_MULTI_POLL_FIRST);
}

void uconn_expire(struct worker *w, struct conn *c)
{
	if (c->timer == CONN_T_READ && c->in_len && w->feed == http_feed) {
		/* A head that never completed gets a 408 (best effort). */
		struct proto_env env = {.out = &w->out, .clock = &w->clock, .ctr = w->ctr,
					.draining = true};
		http_timeout_response(&env);
		(void)send(c->fd, w->out.p, w->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		w->out.len = 0;
	}
	uconn_close(w, c);
}
