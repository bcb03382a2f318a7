/* Setting up an io_uring for a worker, and finding out whether this kernel
 * (and its sysctls and seccomp filters) lets herd use one at all. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/mech_uring.h"

#define SQ_ENTRIES 4096

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
int uring_ring_create(struct uring_state *st)
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
			return 0;
		}
		if (rc != -EINVAL)
			break; /* not about flags: fewer of them will not help */
	}
	return rc;
}

int uring_bufs_create(struct uring_state *st, bool prefault)
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

void uring_state_free(struct uring_state *st)
{
	if (st->have_ring)
		io_uring_queue_exit(&st->ring);
	if (st->schedstat_fd >= 0)
		close(st->schedstat_fd);
	free(st->br);
	free(st->bufs);
	free(st);
}

struct uring_state *uring_state_new(void)
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

int uring_enable(struct uring_state *st)
{
	/* liburing 2.3 declares io_uring_enable_rings but does not export it. */
	if (st->disabled &&
	    syscall(__NR_io_uring_register, st->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -1;
	st->disabled = false;
	return 0;
}

bool uring_check(char *why, size_t len)
{
	struct uring_state *st = uring_state_new();
	if (!st) {
		snprintf(why, len, "out of memory probing io_uring");
		return false;
	}
	int rc = uring_ring_create(st);
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
		uring_state_free(st);
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
	if (!fail && uring_enable(st) < 0)
		fail = "cannot enable an io_uring";
	if (!fail && (rc = uring_bufs_create(st, false)) < 0)
		fail = rc == -ENOMEM ? "out of memory for provided buffers"
				     : "provided buffer rings are not supported (Linux 5.19+)";
	if (!fail)
		fail = probe_multishot(st);
	if (fail)
		snprintf(why, len, "%s", fail);
	uring_state_free(st);
	return !fail;
}

