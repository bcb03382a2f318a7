/* herd-bare-uring: the least an io_uring server does per keep-alive
 * request, the floor herd --accept uring is measured against (issue 19;
 * bench/README.md, "Bare responders").  One thread, one ring, set up as
 * herd's (core/uring_setup.c): a single issuer with deferred task work,
 * a provided-buffer ring for receives.
 *   - one multishot accept on the listener, re-armed when it ends;
 *   - per connection one multishot recv into the provided buffers, armed
 *     once for the connection's life;
 *   - per completed read one send SQE with one answer per "\r\n\r\n",
 *     copied into the connection's buffer (the send reads it later);
 *   - one io_uring_submit_and_wait per loop turn: submitting the turn's
 *     SQEs and waiting are the same syscall.
 *
 *   herd-bare-uring PORT     (0: any; prints "listening on 127.0.0.1:PORT")
 */
#include <liburing.h>
#include <poll.h>

#include "bare.h"

#define NBUFS 256   /* provided receive buffers, 4 KiB each as epoll's stack buffer */
#define BUF_SIZE 4096
#define BGID 0
#define OUT_MAX 63 /* answers per send: 8 KiB per connection */

/* user_data: these constants, or a connection's address with the
 * operation in its low bits (malloc aligns to 16). */
enum { UD_IGNORE = 0, UD_ACCEPT = 1, UD_SIGNAL = 2, OP_RECV = 1, OP_SEND = 2, OP_MASK = 3 };

struct conn {
	int fd;
	unsigned ops;     /* OP_RECV | OP_SEND bits in flight: freed when none */
	bool closed;      /* the close is queued; waiting for the last CQE */
	bool close_after; /* a request said Connection: close */
	unsigned owed;    /* answers not yet in a send */
	unsigned off, len; /* of out: sent, filled */
	char out[OUT_MAX * BARE_RESP_LEN];
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;
static int br_added; /* buffers handed back this turn, published once */
static unsigned skip_success;
static struct bare_resp resp;

/* An SQE; when the queue is full, what is queued goes first. */
static struct io_uring_sqe *sqe_get(void)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		io_uring_submit(&ring);
		if (!(sqe = io_uring_get_sqe(&ring)))
			bare_die("io_uring_get_sqe");
	}
	return sqe;
}

static void sqe_ud(struct io_uring_sqe *sqe, struct conn *c, unsigned op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)c | op);
	c->ops |= op;
}

/* What of c->out is not sent yet: the kernel reads it after this turn. */
static void send_out(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_send(sqe, c->fd, c->out + c->off, c->len - c->off, MSG_NOSIGNAL);
	sqe_ud(sqe, c, OP_SEND);
}

static void buf_return(unsigned bid)
{
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
			      io_uring_buf_ring_mask(NBUFS), br_added++);
}

/* Best flags first, as core/uring_setup.c: deferred task work runs only
 * when this thread waits (no interrupting task work); then cooperative
 * task work; then whatever the kernel takes. */
static void ring_setup(void)
{
	static const unsigned sets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
					IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN, 0};
	int rc = -EINVAL;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]) && rc == -EINVAL; i++) {
		struct io_uring_params p = {.flags = sets[i] | IORING_SETUP_CQSIZE,
					    .cq_entries = 8192};
		rc = io_uring_queue_init_params(1024, &ring, &p);
		skip_success = p.features & IORING_FEAT_CQE_SKIP ? IOSQE_CQE_SKIP_SUCCESS : 0;
	}
	if (rc < 0)
		bare_die_rc(rc, "io_uring_queue_init_params");
	void *mem; /* the kernel maps the buffer ring by pages */
	if (posix_memalign(&mem, 4096, NBUFS * sizeof(struct io_uring_buf)) ||
	    !(bufs = malloc((size_t)NBUFS * BUF_SIZE)))
		bare_die("malloc");
	br = mem;
	io_uring_buf_ring_init(br);
	for (unsigned i = 0; i < NBUFS; i++)
		buf_return(i);
	io_uring_buf_ring_advance(br, br_added);
	br_added = 0;
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)br, .ring_entries = NBUFS,
				       .bgid = BGID};
	if ((rc = io_uring_register_buf_ring(&ring, &reg, 0)) < 0)
		bare_die_rc(rc, "io_uring_register_buf_ring (Linux 5.19+)");
}

static void arm_accept(int lfd)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
}

static void arm_recv(struct conn *c)
{
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BGID;
	sqe_ud(sqe, c, OP_RECV);
}

/* The connection ends: its multishot recv holds the socket open, so it is
 * cancelled first (else the close would send no FIN), then the close, both
 * in the next submit.  The struct lives until its last CQE came. */
static void conn_end(struct conn *c)
{
	struct io_uring_sqe *sqe;
	c->closed = true;
	if (c->ops & OP_RECV) {
		sqe = sqe_get();
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)c | OP_RECV, 0);
		io_uring_sqe_set_data64(sqe, UD_IGNORE);
	}
	sqe = sqe_get();
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
	sqe->flags |= (uint8_t)skip_success;
}

/* The answers owed, up to OUT_MAX of them, copied into the connection's
 * buffer (resp.text may show another second by the time the kernel reads). */
static void send_owed(struct conn *c)
{
	unsigned k = c->owed < OUT_MAX ? c->owed : OUT_MAX;
	for (unsigned i = 0; i < k; i++)
		memcpy(c->out + (size_t)i * BARE_RESP_LEN, resp.text, BARE_RESP_LEN);
	c->owed -= k;
	c->off = 0;
	c->len = k * (unsigned)BARE_RESP_LEN;
	send_out(c);
}

static void on_recv(struct conn *c, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->ops &= ~(unsigned)OP_RECV;
	if (cqe->res > 0 && !c->closed) {
		bool close_after;
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		c->owed += bare_count(bufs + (size_t)bid * BUF_SIZE, (size_t)cqe->res, &close_after);
		c->close_after |= close_after;
		if (c->owed && !(c->ops & OP_SEND))
			send_owed(c); /* else the send in flight finishes first */
	} else if (!c->closed && cqe->res != -ENOBUFS) {
		conn_end(c); /* EOF or error */
	}
	if (cqe->flags & IORING_CQE_F_BUFFER)
		buf_return(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
	/* Ended without an error (out of buffers, CQ overflow): again.  The
	 * buffers come back before the next submit. */
	if (!(c->ops & OP_RECV) && !c->closed)
		arm_recv(c);
}

static void on_send(struct conn *c, int res)
{
	c->ops &= ~(unsigned)OP_SEND;
	if (c->closed)
		return;
	if (res <= 0) {
		conn_end(c);
	} else if ((c->off += (unsigned)res) < c->len) {
		send_out(c); /* short send: the rest */
	} else if (c->owed) {
		send_owed(c);
	} else if (c->close_after) {
		conn_end(c); /* after its answer: the FIN follows the data */
	}
}

static void on_accept(int lfd, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		arm_accept(lfd); /* also after an error such as EMFILE */
	if (cqe->res < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		bare_die("calloc");
	c->fd = cqe->res;
	arm_recv(c);
}

int main(int argc, char **argv)
{
	unsigned port;
	int lfd = bare_listen(argc, argv, &port);
	int sfd = bare_signals();
	ring_setup();
	arm_accept(lfd);
	struct io_uring_sqe *sqe = sqe_get();
	io_uring_prep_poll_add(sqe, sfd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_SIGNAL);
	bare_date(&resp);
	bare_ready(port);

	for (bool stop = false; !stop;) {
		int rc = io_uring_submit_and_wait(&ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			bare_die_rc(rc, "io_uring_submit_and_wait");
		bare_date(&resp);
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uint64_t ud = cqe->user_data;
			struct conn *c = (struct conn *)(uintptr_t)(ud & ~(uint64_t)OP_MASK);
			n++;
			if (ud == UD_ACCEPT)
				on_accept(lfd, cqe);
			else if (ud == UD_SIGNAL)
				stop = true;
			else if (ud == UD_IGNORE)
				continue; /* a cancel or a close that failed: nothing to do */
			else if ((ud & OP_MASK) == OP_RECV)
				on_recv(c, cqe);
			else
				on_send(c, cqe->res);
			if (c && c->closed && !c->ops)
				free(c);
		}
		io_uring_cq_advance(&ring, n);
		/* One release store for the buffers handed back this turn. */
		if (br_added) {
			io_uring_buf_ring_advance(br, br_added);
			br_added = 0;
		}
	}
	/* Open connections go with the process (and the ring with them). */
	io_uring_queue_exit(&ring);
	close(lfd);
	return 0;
}
