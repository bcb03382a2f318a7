/* The io_uring backend (--accept uring): one ring per worker, a multishot
 * accept on every shared listener in every ring, multishot recvs into a
 * per-worker provided-buffer ring, and every SQE of a loop turn submitted by
 * the same io_uring_enter that waits for the next completions.
 *
 * Receive buffers: 512 of 8 KiB per worker.  A buffer is only held from the
 * CQE that filled it to the end of that loop turn (leftovers are copied into
 * the connection), so the count bounds how many connections can deliver
 * data in one turn, not how many may be open; beyond it recvs end with
 * ENOBUFS and are re-armed for the next turn.  8 KiB is HTTP's header limit:
 * a head that arrived at once is answered, or refused, straight from the
 * buffer without being copied, and a pipelined batch of 16 fits.  The
 * kernel takes buffers in ring order, so every one of them is in use after
 * the first busy moments anyway: the 4 MiB are faulted in at start, which
 * keeps page faults off the data path and the resident size flat. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mech_uring.h"
#include "core/race.h"

/* How long the exit path waits for cancelled requests to report back. */
#define EXIT_REAP_MS 1000

bool loop_uring_available(char *why, size_t len)
{
	return uring_check(why, len);
}

static int uring_init(struct worker *w)
{
	char why[160];
	if (w->id == 0 && !loop_uring_available(why, sizeof(why))) {
		herd_log("io_uring backend unavailable: %s", why);
		errno = ENOTSUP;
		return -1;
	}
	struct uring_state *st = uring_state_new();
	if (!st) {
		errno = ENOMEM;
		return -1;
	}
	w->io = st;
	st->schedstat_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* see uring_start() */
	int rc = uring_ring_create(st);
	if (rc == 0)
		rc = uring_bufs_create(st, true);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}

static void uring_destroy(struct worker *w)
{
	if (w->io)
		uring_state_free(w->io);
	w->io = NULL;
}

struct io_uring_sqe *uring_sqe(struct worker *w)
{
	struct uring_state *st = w->io;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
	if (!sqe) {
		io_uring_submit(&st->ring);
		sqe = io_uring_get_sqe(&st->ring);
	}
	return sqe;
}

bool uring_cancel(struct worker *w, uint64_t ud)
{
	struct uring_state *st = w->io;
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe)
		return false;
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, UD_IGNORE);
	sqe->flags |= st->skip_success;
	return true;
}

static void arm_wake(struct worker *w)
{
	struct uring_state *st = w->io;
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe)
		return; /* the stop flag is still seen within a second */
	io_uring_prep_poll_multishot(sqe, w->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_WAKE);
	st->wake_armed = true;
}

static void on_wake(struct worker *w, const struct io_uring_cqe *cqe)
{
	struct uring_state *st = w->io;
	race_woken(w);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		st->wake_armed = false;
		if (!w->exiting)
			arm_wake(w);
	}
}

/* Handles every CQE there is. */
static void reap(struct worker *w)
{
	struct uring_state *st = w->io;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&st->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		n++;
		if (ud >= UD_CONN_MIN) {
			uconn_on_cqe(w, cqe);
		} else if (ud >= UD_ACCEPT && ud < UD_ACCEPT + HERD_MAX_LISTEN) {
			uaccept_on_cqe(w, cqe);
		} else if (ud == UD_WAKE) {
			on_wake(w, cqe);
		}
	}
	io_uring_cq_advance(&st->ring, n);
	/* One release store for all the buffers handed back this turn. */
	if (st->br_added) {
		io_uring_buf_ring_advance(st->br, (int)st->br_added);
		st->br_added = 0;
	}
}

static void uring_dispatch(struct worker *w)
{
	struct uring_state *st = w->io;
	st->turn_accepts = false;
	reap(w);
	if (st->turn_accepts)
		CTR_ADD(w->ctr, wakeups, 1);
}

/* Submits the turn's SQEs and waits for the next completions, in one
 * io_uring_enter.  (Asking the kernel to hold the wait until a batch of
 * completions gathered, min_wait, measured no cheaper per request here:
 * under load the completions of a turn already come in batches.) */
static int wait_turn(struct uring_state *st, int timeout_ms)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
				       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
	int rc = io_uring_submit_and_wait_timeout(&st->ring, &cqe, 1, &ts, NULL);
	return rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY ? 0 : rc;
}

/* Nanoseconds this thread ran or waited to run (what epoll's wall clock
 * around its work amounts to), from /proc/thread-self/schedstat; without
 * it, just the time it ran.  0 when neither can be read. */
static uint64_t thread_busy_ns(struct uring_state *st)
{
	if (st->have_schedstat) {
		char buf[96];
		unsigned long long run, delay;
		ssize_t n = pread(st->schedstat_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			if (sscanf(buf, "%llu %llu", &run, &delay) == 2)
				return run + delay;
		}
	}
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The busy fraction the supervisor scales by.  Much of this worker's work
 * (sends, recvs, accepts) runs inside io_uring_enter, where a wall clock
 * around the wait (the epoll backend's measure) would count it as idle:
 * the scheduler's figures count it and not the sleeping. */
static void account_busy(struct worker *w)
{
	struct uring_state *st = w->io;
	if (w->now_ms >> 3 == st->busy_sample_ms >> 3)
		return; /* once per 8 ms block: the supervisor samples far longer windows */
	st->busy_sample_ms = w->now_ms;
	uint64_t busy = thread_busy_ns(st);
	if (st->busy_ns && busy > st->busy_ns)
		CTR_ADD(w->ctr, busy_ns, busy - st->busy_ns);
	st->busy_ns = busy;
}

/* Every connection is closed and the accept cancelled: waits until no CQE
 * can refer to anything the worker is about to free. */
static void uring_finish(struct worker *w)
{
	struct uring_state *st = w->io;
	if (st->wake_armed)
		uring_cancel(w, UD_WAKE);
	int64_t deadline = worker_monotonic_ms() + EXIT_REAP_MS;
	while (st->zombies || uaccept_any_armed(w) || st->wake_armed) {
		int64_t left = deadline - worker_monotonic_ms();
		if (left <= 0) {
			herd_log("worker %d: %d connection(s) still had requests in flight at exit",
				 w->id, st->zombies);
			break;
		}
		if (wait_turn(st, left > 50 ? 50 : (int)left) < 0)
			break;
		reap(w);
	}
	io_uring_submit(&st->ring); /* the last closes */
	uaccept_release_single(w);
	if (st->ring_fd_registered)
		io_uring_unregister_ring_fd(&st->ring);
	st->ring_fd_registered = false;
}

static int uring_start(struct worker *w)
{
	struct uring_state *st = w->io;
	if (uring_enable(st) < 0)
		return -1;
	/* Saves a file lookup per io_uring_enter; optional. */
	st->ring_fd_registered = io_uring_register_ring_fd(&st->ring) == 1;
	/* Only this thread can name its own schedstat, so it opens it, onto
	 * the descriptor init set aside: whenever the thread gets to run, the
	 * process holds the same descriptors. */
	int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && st->schedstat_fd >= 0 && dup3(fd, st->schedstat_fd, O_CLOEXEC) >= 0)
		st->have_schedstat = true;
	if (fd >= 0)
		close(fd);
	arm_wake(w);
	return 0;
}

/* Submits the turn's SQEs and waits, in one io_uring_enter. */
static int uring_wait(struct worker *w, int timeout_ms)
{
	account_busy(w);
	int rc = wait_turn(w->io, timeout_ms);
	if (rc < 0)
		herd_log("worker %d: io_uring_enter: %s", w->id, strerror(-rc));
	return rc;
}

/* Grouped as the interface is: the worker's loop, the race, a connection. */
const struct mech mech_uring = {
	.name = "io_uring",
	.init = uring_init, .destroy = uring_destroy, .start = uring_start,
	.wait = uring_wait, .dispatch = uring_dispatch, .finish = uring_finish,
	.race_set = uaccept_race_set, .race_turn = uaccept_race_turn,
	.conn_start = uconn_start, .read_on = uconn_read_on, .read_off = uconn_read_off,
	.send = uconn_send, .wait_writable = uconn_wait_writable, .close = uconn_close,
};
