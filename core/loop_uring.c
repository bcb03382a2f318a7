/* The io_uring backend (--accept uring): one ring per worker, a multishot
 * accept on the shared listener in every ring, multishot recvs into a
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uring.h"

#define SQ_ENTRIES 4096
/* Completion batching, see wait_turn(). */
#define COALESCE_US 50
#define COALESCE_MAX 32
#define RATE_WINDOW_NS 1000000
/* IORING_FEAT_MIN_TIMEOUT (Linux 6.12), newer than liburing 2.3. */
#define FEAT_MIN_TIMEOUT (1U << 15)
/* How long the exit path waits for cancelled requests to report back. */
#define EXIT_REAP_MS 1000

static int read_sysctl(const char *path)
{
	int v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* Best flags first: a single issuer whose completions run only when it
 * waits (fewer interrupts, batched task work); then without deferred task
 * work; then whatever the kernel takes.  Rings with a single issuer start
 * disabled, because init runs on the supervisor thread and the kernel binds
 * the issuer when the ring is enabled (by the worker thread). */
static int ring_create(struct uring_state *st)
{
	static const unsigned sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED,
		0,
	};
	int rc = -EINVAL;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		struct io_uring_params p = {.flags = sets[i] | IORING_SETUP_CQSIZE,
					    .cq_entries = 2 * SQ_ENTRIES};
		rc = io_uring_queue_init_params(SQ_ENTRIES, &st->ring, &p);
		if (rc == 0) {
			st->have_ring = true;
			st->disabled = sets[i] & IORING_SETUP_R_DISABLED;
			st->skip_success = p.features & IORING_FEAT_CQE_SKIP ? IOSQE_CQE_SKIP_SUCCESS : 0;
			st->coalesce = p.features & FEAT_MIN_TIMEOUT;
			return 0;
		}
		if (rc != -EINVAL)
			break; /* not about flags: fewer of them will not help */
	}
	return rc;
}

static int bufs_create(struct uring_state *st, bool prefault)
{
	size_t ring_bytes = URING_NBUFS * sizeof(struct io_uring_buf);
	void *mem;
	/* The kernel maps the buffer ring by pages. */
	if (posix_memalign(&mem, 4096, ring_bytes))
		return -ENOMEM;
	st->br = mem;
	st->bufs = malloc((size_t)URING_NBUFS * URING_BUF_SIZE);
	if (!st->bufs)
		return -ENOMEM;
	/* A write per page (a zeroing memset may become calloc and touch
	 * nothing). */
	for (size_t off = 0; prefault && off < (size_t)URING_NBUFS * URING_BUF_SIZE; off += 4096)
		((volatile char *)st->bufs)[off] = 0;
	io_uring_buf_ring_init(st->br);
	for (unsigned i = 0; i < URING_NBUFS; i++)
		uring_buf_return(st, i);
	io_uring_buf_ring_advance(st->br, (int)st->br_added);
	st->br_added = 0;
	struct io_uring_buf_reg reg = {.ring_addr = (uintptr_t)st->br,
				       .ring_entries = URING_NBUFS,
				       .bgid = URING_BGID};
	return io_uring_register_buf_ring(&st->ring, &reg, 0);
}

static void state_free(struct uring_state *st)
{
	if (st->have_ring)
		io_uring_queue_exit(&st->ring);
	free(st->br);
	free(st->bufs);
	uconn_free_chunks(st);
	free(st);
}

static struct uring_state *state_new(void)
{
	struct uring_state *st = calloc(1, sizeof(*st));
	if (st)
		st->schedstat_fd = -1;
	return st;
}

/* A multishot request on a socket pair and on a listener must each report
 * one completion and stay armed. */
static const char *probe_multishot(struct uring_state *st)
{
	const char *why = NULL;
	int sv[2] = {-1, -1}, lfd = -1, cfd = -1;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t salen = sizeof(sa_family_t);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    (cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, salen) < 0 || listen(lfd, 4) < 0) {
		why = "cannot create the probe sockets";
		goto out;
	}
	salen = sizeof(sa);
	getsockname(lfd, (struct sockaddr *)&sa, &salen);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(&st->ring);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	sqe->user_data = 2;
	if (write(sv[1], "x", 1) != 1 || connect(cfd, (struct sockaddr *)&sa, salen) < 0) {
		why = "cannot use the probe sockets";
		goto out;
	}
	io_uring_submit(&st->ring);
	unsigned seen = 0;
	for (int i = 0; i < 2 && !why; i++) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 1};
		if (io_uring_wait_cqe_timeout(&st->ring, &cqe, &ts) < 0) {
			why = "multishot accept/recv never completed";
			break;
		}
		bool ok = cqe->res >= 0 && (cqe->flags & IORING_CQE_F_MORE);
		if (cqe->user_data == 1 && !ok)
			why = "multishot recv with provided buffers is not supported (Linux 6.0+)";
		else if (cqe->user_data == 2 && !ok)
			why = "multishot accept is not supported (Linux 5.19+)";
		if (cqe->user_data == 2 && cqe->res >= 0)
			close(cqe->res);
		seen |= (unsigned)cqe->user_data;
		io_uring_cqe_seen(&st->ring, cqe);
	}
	if (!why && seen != 3)
		why = "multishot accept/recv completed oddly";
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	return why;
}

bool loop_uring_available(char *why, size_t len)
{
	struct uring_state *st = state_new();
	if (!st) {
		snprintf(why, len, "out of memory probing io_uring");
		return false;
	}
	int rc = ring_create(st);
	if (rc < 0) {
		int disabled = read_sysctl("/proc/sys/kernel/io_uring_disabled");
		if (disabled > 0)
			snprintf(why, len, "io_uring is disabled (sysctl kernel.io_uring_disabled=%d)",
				 disabled);
		else if (rc == -ENOSYS || rc == -EPERM)
			snprintf(why, len, "io_uring_setup is not permitted here (%s; seccomp?)",
				 strerror(-rc));
		else
			snprintf(why, len, "io_uring_setup failed: %s", strerror(-rc));
		state_free(st);
		return false;
	}
	const char *fail = NULL;
	struct io_uring_probe *probe = io_uring_get_probe_ring(&st->ring);
	static const int ops[] = {IORING_OP_ACCEPT, IORING_OP_RECV, IORING_OP_SEND,
				  IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL, IORING_OP_CLOSE};
	if (!probe)
		fail = "cannot probe io_uring opcodes";
	for (size_t i = 0; !fail && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!io_uring_opcode_supported(probe, ops[i]))
			fail = "io_uring lacks accept/recv/send/poll/cancel/close opcodes";
	if (probe)
		io_uring_free_probe(probe);
	if (!fail && !(st->ring.features & IORING_FEAT_EXT_ARG))
		fail = "io_uring cannot wait with a timeout (Linux 5.11+)";
	if (!fail && st->disabled &&
	    syscall(__NR_io_uring_register, st->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		fail = "cannot enable an io_uring";
	if (!fail && (rc = bufs_create(st, false)) < 0)
		fail = rc == -ENOMEM ? "out of memory for provided buffers"
				     : "provided buffer rings are not supported (Linux 5.19+)";
	if (!fail)
		fail = probe_multishot(st);
	if (fail)
		snprintf(why, len, "%s", fail);
	state_free(st);
	return !fail;
}

static int uring_init(struct worker *w)
{
	char why[160];
	if (w->id == 0 && !loop_uring_available(why, sizeof(why))) {
		herd_log("io_uring backend unavailable: %s", why);
		errno = ENOTSUP;
		return -1;
	}
	struct uring_state *st = state_new();
	if (!st) {
		errno = ENOMEM;
		return -1;
	}
	w->backend = st;
	int rc = ring_create(st);
	if (rc == 0)
		rc = bufs_create(st, true);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	/* Every ring races on the one shared listener. */
	w->balance = w->balance && w->npeers > 1;
	return 0;
}

static void uring_destroy(struct worker *w)
{
	if (w->backend)
		state_free(w->backend);
	w->backend = NULL;
}

struct io_uring_sqe *uring_sqe(struct worker *w)
{
	struct uring_state *st = w->backend;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&st->ring);
	if (!sqe) {
		io_uring_submit(&st->ring);
		sqe = io_uring_get_sqe(&st->ring);
	}
	return sqe;
}

bool uring_cancel(struct worker *w, uint64_t ud)
{
	struct uring_state *st = w->backend;
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
	struct uring_state *st = w->backend;
	struct io_uring_sqe *sqe = uring_sqe(w);
	if (!sqe)
		return; /* the stop flag is still seen within a second */
	io_uring_prep_poll_multishot(sqe, w->wake_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, UD_WAKE);
	st->wake_armed = true;
}

static void on_wake(struct worker *w, const struct io_uring_cqe *cqe)
{
	struct uring_state *st = w->backend;
	/* A stop request, or a peer's nudge. */
	worker_clear_wake(w);
	uaccept_nudged(w);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		st->wake_armed = false;
		if (!st->exiting)
			arm_wake(w);
	}
}

/* Handles every CQE there is; true when one of them was an accept. */
static bool reap(struct worker *w)
{
	struct uring_state *st = w->backend;
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	bool accepts = false;
	io_uring_for_each_cqe(&st->ring, head, cqe) {
		uint64_t ud = cqe->user_data;
		n++;
		if (ud >= UD_CONN_MIN) {
			uconn_on_cqe(w, cqe);
		} else if (ud == UD_ACCEPT) {
			accepts = true;
			uaccept_on_cqe(w, cqe);
		} else if (ud == UD_WAKE) {
			on_wake(w, cqe);
		}
	}
	io_uring_cq_advance(&st->ring, n);
	/* Completions from outside per microsecond, over windows of at least
	 * RATE_WINDOW_NS: single turns are too short to say anything. */
	st->win_events += n > st->submitted_expect ? n - st->submitted_expect : 0;
	st->submitted_expect = 0;
	uint64_t win_ns = st->wake_ns - st->win_start_ns;
	if (win_ns >= RATE_WINDOW_NS) {
		st->event_rate = 1000.0 * st->win_events / (double)win_ns;
		st->win_events = 0;
		st->win_start_ns = st->wake_ns;
	}
	/* One release store for all the buffers handed back this turn. */
	if (st->br_added) {
		io_uring_buf_ring_advance(st->br, (int)st->br_added);
		st->br_added = 0;
	}
	return accepts;
}

static void leave_race(struct worker *w)
{
	struct uring_state *st = w->backend;
	uaccept_sync(w); /* w->draining is set: cancels the accept */
	/* Submitted now rather than with the turn's batch: the supervisor
	 * is waiting for left_race. */
	if (st->accept_cancelling)
		io_uring_submit(&st->ring);
}

static void expire_timers(struct worker *w)
{
	for (int t = 0; t < CONN_T_COUNT; t++) {
		struct conn_list *l = &w->timers[t];
		while (l->head && l->head->deadline_ms <= w->now_ms)
			uconn_expire(w, l->head);
	}
}

static int next_timeout_ms(const struct worker *w)
{
	int64_t next = w->now_ms + 1000; /* the Date header ticks once a second */
	for (int t = 0; t < CONN_T_COUNT; t++)
		if (w->timers[t].head && w->timers[t].head->deadline_ms < next)
			next = w->timers[t].head->deadline_ms;
	if (w->accept_paused && !w->draining && w->accept_resume_ms < next)
		next = w->accept_resume_ms;
	if (w->accept_more && w->in_race)
		return 0;
	if (w->draining) {
		int64_t dl = atomic_load(&w->stop_deadline_ms);
		if (dl < next)
			next = dl;
	}
	int64_t d = next - w->now_ms;
	/* Coarse clocks tick every few ms: never spin on a deadline just passed. */
	return d < 1 ? 1 : (int)d;
}

/* Publishes the queued SQEs like liburing's own submit does; returns how
 * many the kernel has not consumed yet. */
static unsigned flush_sq(struct io_uring *r)
{
	struct io_uring_sq *sq = &r->sq;
	if (sq->sqe_head != sq->sqe_tail) {
		sq->sqe_head = sq->sqe_tail;
		io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
	}
	return sq->sqe_tail - io_uring_smp_load_acquire(sq->khead);
}

/* Submits the turn's SQEs and waits for completions in one io_uring_enter.
 *
 * Each sleep and wake-up of the worker costs about as much as serving a
 * request.  When completions from outside (new data, new connections)
 * arrive fast enough that several are due within COALESCE_US, the worker
 * waits for that many, on top of those its own submissions produce at once
 * (sends, first recvs), but for at most COALESCE_US: after that any
 * completion ends the wait (the kernel's min_wait, Linux 6.12+).  A worker
 * seeing fewer events, or with few connections, waits for one completion
 * as usual, so a lone client or a trickle of connections pays no added
 * latency, and a misjudged batch costs at most COALESCE_US. */
static int wait_turn(struct worker *w, int timeout_ms)
{
	struct uring_state *st = w->backend;
	struct io_uring *r = &st->ring;
	unsigned submit = flush_sq(r);
	unsigned wait_nr = 1, min_wait_us = 0;
	/* Each connection sends one request at a time as a rule: waiting for
	 * more than a fraction of them would stall the clients, not batch. */
	unsigned due = (unsigned)(st->event_rate * COALESCE_US);
	if (due > (unsigned)w->nconns / 4)
		due = (unsigned)w->nconns / 4;
	st->submitted_expect = st->expect;
	st->expect = 0;
	if (io_uring_cq_ready(r)) {
		if (!submit)
			return 0;
		wait_nr = 0;
	} else if (st->coalesce && due >= 2 && timeout_ms > 0) {
		wait_nr = st->submitted_expect + (due < COALESCE_MAX ? due : COALESCE_MAX);
		min_wait_us = COALESCE_US;
	}
	struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
				       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
	struct io_uring_getevents_arg arg = {.sigmask_sz = _NSIG / 8,
					     .pad = min_wait_us, /* min_wait_usec */
					     .ts = (uintptr_t)&ts};
	unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
	int fd = r->ring_fd;
	if (st->ring_fd_registered) {
		flags |= IORING_ENTER_REGISTERED_RING;
		fd = r->enter_ring_fd;
	}
	int rc = io_uring_enter2((unsigned)fd, submit, wait_nr, flags, (sigset_t *)&arg,
				 sizeof(arg));
	st->wake_ns = worker_clock_ns();
	return rc == -ETIME || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY ? 0 : rc;
}

/* Nanoseconds this thread ran or waited to run (what epoll's wall clock
 * around its work amounts to), from /proc/thread-self/schedstat; without
 * it, just the time it ran.  0 when neither can be read. */
static uint64_t thread_busy_ns(struct uring_state *st)
{
	if (st->schedstat_fd >= 0) {
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
 * the scheduler's figures count it and not the sleeping.  Read once per
 * coarse clock tick. */
static void account_busy(struct worker *w)
{
	struct uring_state *st = w->backend;
	if (w->now_ms == st->busy_sample_ms)
		return;
	st->busy_sample_ms = w->now_ms;
	uint64_t busy = thread_busy_ns(st);
	if (st->busy_ns && busy > st->busy_ns)
		CTR_ADD(w->ctr, busy_ns, busy - st->busy_ns);
	st->busy_ns = busy;
}

static void begin_drain(struct worker *w)
{
	/* Idle keep-alive connections have nothing in flight: close them now.
	 * The others close after their current response (settle()). */
	struct conn_list *idle = &w->timers[CONN_T_IDLE];
	while (idle->head)
		uconn_close(w, idle->head);
}

/* Closes every connection and waits until no CQE can refer to anything the
 * worker is about to free. */
static void finish(struct worker *w)
{
	struct uring_state *st = w->backend;
	for (int t = 0; t < CONN_T_COUNT; t++)
		while (w->timers[t].head)
			uconn_close(w, w->timers[t].head);
	st->exiting = true;
	uaccept_sync(w);
	if (st->wake_armed)
		uring_cancel(w, UD_WAKE);
	int64_t deadline = worker_monotonic_ms() + EXIT_REAP_MS;
	while (st->zombies || st->accept_armed || st->wake_armed) {
		int64_t left = deadline - worker_monotonic_ms();
		if (left <= 0) {
			herd_log("worker %d: %d connection(s) still had requests in flight at exit",
				 w->id, st->zombies);
			break;
		}
		if (wait_turn(w, left > 50 ? 50 : (int)left) < 0)
			break;
		reap(w);
	}
	io_uring_submit(&st->ring); /* the last closes */
	if (st->accept_armed && st->accept_single) /* its slot, never to be filled */
		atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
}

static int start_ring(struct worker *w)
{
	struct uring_state *st = w->backend;
	if (st->disabled &&
	    syscall(__NR_io_uring_register, st->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -1;
	/* Saves a file lookup per io_uring_enter; optional. */
	st->ring_fd_registered = io_uring_register_ring_fd(&st->ring) == 1;
	st->schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	return 0;
}

static void *uring_run(void *arg)
{
	struct worker *w = arg;
	struct uring_state *st = w->backend;

	if (start_ring(w) < 0) {
		herd_log("worker %d: cannot enable its io_uring: %s", w->id, strerror(errno));
		atomic_store(&w->left_race, true);
		atomic_store_explicit(&w->finished, true, memory_order_release);
		return NULL;
	}
	w->now_ms = worker_monotonic_ms();
	http_clock_tick(&w->clock, worker_realtime_sec());
	arm_wake(w);
	uaccept_sync(w);
	st->wake_ns = st->win_start_ns = worker_clock_ns();
	for (;;) {
		int rc = wait_turn(w, next_timeout_ms(w));
		if (rc < 0) {
			herd_log("worker %d: io_uring_enter: %s", w->id, strerror(-rc));
			break;
		}
		w->now_ms = worker_monotonic_ms();
		http_clock_tick(&w->clock, worker_realtime_sec());
		/* Before the batch, so its responses already say Connection:
		 * close. */
		bool drain_now = worker_stop_requested(w);
		if (drain_now)
			leave_race(w);
		if (reap(w))
			CTR_ADD(w->ctr, wakeups, 1);
		if (drain_now)
			begin_drain(w);
		expire_timers(w);
		worker_tick_log(w);
		uaccept_tick(w);
		account_busy(w);
		if (w->draining &&
		    (w->nconns == 0 || w->now_ms >= atomic_load(&w->stop_deadline_ms)))
			break;
	}
	finish(w);
	if (st->ring_fd_registered)
		io_uring_unregister_ring_fd(&st->ring);
	st->ring_fd_registered = false;
	if (st->schedstat_fd >= 0)
		close(st->schedstat_fd);
	st->schedstat_fd = -1;
	atomic_store(&w->left_race, true);
	atomic_store_explicit(&w->finished, true, memory_order_release);
	return NULL;
}

const struct loop_ops loop_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.run = uring_run,
	.destroy = uring_destroy,
};
