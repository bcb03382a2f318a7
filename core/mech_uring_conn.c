/* A connection's I/O on an io_uring worker.
 *
 * Reads: one multishot recv into the worker's provided buffers stays armed
 * for the whole connection (after a single first recv, see enum recv_kind).
 * A buffer goes back to the ring in the loop turn that delivered it; the
 * engine copies whatever the protocol leaves unconsumed into the connection,
 * so an idle connection holds no ring buffer.
 *
 * Sends: the output is copied out of the worker buffer and sent with one
 * SQE; only one send is in flight per connection, so bytes leave in the
 * protocol's order.  A socket too full for a file body's next piece is
 * waited for with a POLLOUT request.
 *
 * Close: a closed connection keeps its struct ("zombie") until the CQE of
 * every request it had in flight arrived, so no CQE can point at a struct
 * that was already reused. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/log.h"
#include "core/mech_uring.h"

/* conn.io[0]: one bit per request kind that may still complete. */
#define IN_FLIGHT(op) (1u << (op))
/* Requests that produce output, one at a time. */
#define OUTPUT_OPS (IN_FLIGHT(OP_SEND) | IN_FLIGHT(OP_POLL))
/* conn.io[1] */
enum {
	U_CLOSED = 1u << 0, /* waiting for its last CQE before returning to the pool */
	U_HELD = 1u << 1,   /* a CQE handler runs for it: not released under its feet */
	U_MORE = 1u << 2,   /* the output in flight is sent with MSG_MORE */
};

#define OPS(c) ((c)->io[0])
#define UFLAGS(c) ((c)->io[1])

static void release(struct worker *w, struct conn *c)
{
	struct uring_state *st = w->io;
	st->zombies--;
	engine_release(w, c);
}

void uconn_close(struct worker *w, struct conn *c)
{
	struct uring_state *st = w->io;
	UFLAGS(c) |= U_CLOSED;
	bool cancelled = true;
	for (unsigned op = OP_RECV; op <= OP_POLL; op++)
		if (OPS(c) & IN_FLIGHT(op))
			cancelled &= uring_cancel(w, ud_conn(c, op));
	/* Without a cancel, a shutdown still ends the requests (EOF, EPIPE,
	 * POLLHUP). */
	if (!cancelled)
		shutdown(c->fd, SHUT_RDWR);
	else if ((c->flags & (CONN_LAST_OUT | CONN_ABORT)) == CONN_LAST_OUT)
		/* The corked last answer and the FIN leave together now, not at
		 * the close, which unread input would turn into a reset that
		 * discards them (as epoll_close).  A syscall: the kernel runs an
		 * IORING_OP_SHUTDOWN on its worker threads, after the close. */
		shutdown(c->fd, SHUT_WR);
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
	st->zombies++;
	if (!OPS(c) && !(UFLAGS(c) & U_HELD))
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
		engine_fail(w, c, HERD_ERR_READ);
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
	OPS(c) |= IN_FLIGHT(OP_RECV);
}

void uconn_start(struct worker *w, struct conn *c, bool data_waiting)
{
	arm_recv(w, c, data_waiting ? RECV_ONCE : RECV_MULTI_POLL_FIRST);
}

void uconn_read_on(struct worker *w, struct conn *c)
{
	if (!(OPS(c) & IN_FLIGHT(OP_RECV)))
		arm_recv(w, c, RECV_MULTI);
}

void uconn_read_off(struct worker *w, struct conn *c)
{
	if ((OPS(c) & IN_FLIGHT(OP_RECV)) && !uring_cancel(w, ud_conn(c, OP_RECV)))
		engine_fail(w, c, HERD_ERR_READ);
}

static bool queue_send(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe)
		return false;
	io_uring_prep_send(sqe, c->fd, c->out + c->out_off, c->out_len - c->out_off,
			   MSG_NOSIGNAL | (UFLAGS(c) & U_MORE ? MSG_MORE : 0));
	io_uring_sqe_set_data64(sqe, ud_conn(c, OP_SEND));
	OPS(c) |= IN_FLIGHT(OP_SEND);
	return true;
}

/* The output moves into the connection, where it lives until the send
 * completed: a copy per response, into one of the worker's spare buffers
 * (conn_keep_output), since w->out is the next connection's. */
enum mech_send uconn_send(struct worker *w, struct conn *c, bool more)
{
	uint32_t n = (uint32_t)w->out.len;
	w->out.len = 0;
	if (conn_keep_output(&w->pool, c, w->out.p, n) < 0)
		return MECH_NOMEM;
	UFLAGS(c) = (uint8_t)((UFLAGS(c) & ~U_MORE) | (more ? U_MORE : 0));
	return queue_send(w, c) ? MECH_PENDING : MECH_FAILED;
}

void uconn_wait_writable(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe) {
		engine_fail(w, c, HERD_ERR_WRITE);
		return;
	}
	io_uring_prep_poll_add(sqe, c->fd, POLLOUT);
	io_uring_sqe_set_data64(sqe, ud_conn(c, OP_POLL));
	OPS(c) |= IN_FLIGHT(OP_POLL);
}

static void on_recv(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	struct uring_state *st = w->io;
	int res = cqe->res;
	bool has_buf = cqe->flags & IORING_CQE_F_BUFFER;
	unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		OPS(c) &= (uint8_t)~IN_FLIGHT(OP_RECV);
	if (UFLAGS(c) & U_CLOSED) {
		/* Late data for a closed connection: only the buffer matters. */
	} else if (res > 0 && has_buf) {
		engine_input(w, c, st->bufs + (size_t)bid * URING_BUF_SIZE, (uint32_t)res);
	} else if (res == 0) {
		engine_input_end(w, c);
	} else if (res != -ENOBUFS && res != -ECANCELED) {
		engine_input_error(w, c);
	}
	if (has_buf)
		uring_buf_return(st, bid);
	/* The recv ended (a single one, ring out of buffers, CQ overflow):
	 * re-arm, unless output is in progress, when the engine does once it
	 * is out.  The buffers of this turn are back in the ring before the
	 * next submit, so this cannot spin. */
	if (!(OPS(c) & (IN_FLIGHT(OP_RECV) | OUTPUT_OPS)) && !(UFLAGS(c) & U_CLOSED) &&
	    !(c->flags & (CONN_EOF | CONN_PAUSED)))
		arm_recv(w, c, RECV_MULTI);
}

static void on_send(struct worker *w, struct conn *c, int res)
{
	OPS(c) &= (uint8_t)~IN_FLIGHT(OP_SEND);
	if (UFLAGS(c) & U_CLOSED)
		return;
	if (res <= 0) {
		engine_fail(w, c, HERD_ERR_WRITE);
		return;
	}
	if (!engine_output_sent(w, c, (size_t)res))
		engine_output_done(w, c);
	else if (!queue_send(w, c))
		engine_fail(w, c, HERD_ERR_WRITE);
}

static void on_poll(struct worker *w, struct conn *c, int res)
{
	OPS(c) &= (uint8_t)~IN_FLIGHT(OP_POLL);
	if (UFLAGS(c) & U_CLOSED)
		return;
	if (res < 0) {
		engine_fail(w, c, HERD_ERR_WRITE);
		return;
	}
	engine_output_done(w, c); /* an error or hang-up shows in the next send */
}

void uconn_on_cqe(struct worker *w, const struct io_uring_cqe *cqe)
{
	struct conn *c = (struct conn *)(uintptr_t)(cqe->user_data & ~(uint64_t)OP_MASK);
	UFLAGS(c) |= U_HELD;
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
	UFLAGS(c) &= (uint8_t)~U_HELD;
	if ((UFLAGS(c) & U_CLOSED) && !OPS(c))
		release(w, c);
}
