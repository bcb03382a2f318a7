/* The io_uring mechanism's private state and the calls between its files:
 * mech_uring.c owns the ring, the wake eventfd, waiting and delivering
 * completions; mech_uring_accept.c the accept it arms for the race;
 * mech_uring_conn.c a connection's receives, sends and close; uring_setup.c
 * creating the ring and probing the kernel. */
#ifndef HERD_MECH_URING_H
#define HERD_MECH_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/mech.h"
#include "core/worker.h"

/* Provided receive buffers, one group per ring (sizing: loop_uring.c). */
#define URING_NBUFS 512
#define URING_BUF_SIZE 8192
#define URING_BGID 0

/* user_data: small constants for the worker's own requests, or a struct conn
 * pointer (8-byte aligned) with the operation in its low three bits.  No
 * object lives in the first page, so no pointer is below UD_CONN_MIN. */
enum {
	UD_IGNORE = 0, /* cancels and closes: a CQE only says they found nothing */
	UD_WAKE = 2,
	UD_ACCEPT = 16, /* + the listener's index: UD_ACCEPT .. UD_ACCEPT + HERD_MAX_LISTEN - 1 */
	UD_CONN_MIN = 4096,
};
_Static_assert(UD_ACCEPT + HERD_MAX_LISTEN <= UD_CONN_MIN, "accept tags below conn pointers");

/* The accept armed on one listener (mech_uring_accept.c). */
struct uring_accept {
	bool armed, single, cancelling;
	unsigned long armed_nofile; /* RLIMIT_NOFILE when it was armed */
};
enum { OP_RECV = 1, OP_SEND = 2, OP_POLL = 3, OP_MASK = 7 };

_Static_assert(_Alignof(struct conn) > OP_MASK, "conn pointers carry the op in 3 low bits");

static inline uint64_t ud_conn(const struct conn *c, unsigned op)
{
	return (uint64_t)(uintptr_t)c | op;
}

struct uring_state {
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	char *bufs;           /* URING_NBUFS * URING_BUF_SIZE */
	unsigned br_added;    /* buffers handed back, not yet published */
	uint8_t skip_success; /* IOSQE_CQE_SKIP_SUCCESS where the kernel has it */
	bool have_ring;
	bool disabled;        /* created R_DISABLED: the worker thread enables it */
	bool ring_fd_registered;
	int64_t busy_sample_ms; /* busy time, read once per 8 ms block of now_ms */
	uint64_t busy_ns;
	int schedstat_fd;       /* the worker thread's /proc schedstat */
	bool have_schedstat;
	struct uring_accept acc[HERD_MAX_LISTEN]; /* one per w->listeners[] */
	bool wake_armed;
	bool turn_accepts;    /* a CQE of this turn carried an accept */
	int64_t nofile_check_ms;
	int zombies;          /* closed connections a CQE may still point at */
};

/* uring_setup.c */
struct uring_state *uring_state_new(void);
void uring_state_free(struct uring_state *st);
/* 0 or -errno. */
int uring_ring_create(struct uring_state *st);
/* Registers the provided buffers; `prefault` touches every page now.  0 or
 * -errno. */
int uring_bufs_create(struct uring_state *st, bool prefault);
/* Binds a ring created disabled to the calling thread, its only submitter.
 * 0, or -1 with errno set. */
int uring_enable(struct uring_state *st);
/* loop_uring_available(): whether this kernel lets herd use io_uring. */
bool uring_check(char *why, size_t len);

/* mech_uring.c */
/* An SQE, flushing the queue first when it is full; NULL only if even that
 * failed. */
struct io_uring_sqe *uring_sqe(struct worker *w);
/* Queues a cancel of the request with this user_data; false without an SQE. */
bool uring_cancel(struct worker *w, uint64_t ud);

static inline void uring_buf_return(struct uring_state *st, unsigned bid)
{
	io_uring_buf_ring_add(st->br, st->bufs + (size_t)bid * URING_BUF_SIZE, URING_BUF_SIZE,
			      (unsigned short)bid, io_uring_buf_ring_mask(URING_NBUFS),
			      (int)st->br_added++);
}

/* mech_uring_accept.c */
bool uaccept_race_set(struct worker *w, bool want);
void uaccept_race_turn(struct worker *w);
void uaccept_on_cqe(struct worker *w, const struct io_uring_cqe *cqe);
/* Whether any listener still has an accept armed. */
bool uaccept_any_armed(const struct worker *w);
/* At exit: gives back the slots of single accepts that will never fill. */
void uaccept_release_single(struct worker *w);

/* mech_uring_conn.c */
void uconn_on_cqe(struct worker *w, const struct io_uring_cqe *cqe);
void uconn_start(struct worker *w, struct conn *c, bool data_waiting);
void uconn_read_on(struct worker *w, struct conn *c);
void uconn_read_off(struct worker *w, struct conn *c);
enum mech_send uconn_send(struct worker *w, struct conn *c, bool more);
void uconn_wait_writable(struct worker *w, struct conn *c);
void uconn_close(struct worker *w, struct conn *c);

#endif
