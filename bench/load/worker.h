/*
 * One worker thread: its own epoll instance and its own connections.  The
 * counters and the interval histogram are shared with the main thread under
 * `lock`, which the worker holds while it processes one batch of events, so
 * the main thread's once-a-second snapshot costs the worker nothing per
 * request.
 *
 * Names carry a load_ prefix (struct load_worker, load_conn_open, ...): the
 * server has its own struct worker, struct conn and conn_open, and one grep
 * should find one of them.
 */
#ifndef HERD_LOAD_WORKER_H
#define HERD_LOAD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/types.h>

#include "config.h"
#include "errs.h"
#include "hist.h"
#include "request.h"
#include "resp.h"
#include "stats.h"

/* Unused TLS tickets kept per thread (--tls-resume): more than the
 * connections a thread has open at once in any bundled test or benchmark. */
#define LOAD_TLS_SESSIONS 256

#define LOAD_RBUF_SIZE (64 * 1024)  /* per-thread receive buffer */
#define RETRY_NS (20 * 1000000ULL)  /* back-off after a failed connect */
#define SCAN_NS (20 * 1000000ULL)   /* timeout / retry scan period */

enum load_conn_state {
	C_DOWN,       /* not connected (fd may hold a socket to reuse); reopened
		       * at `deadline` when there is work */
	C_CONNECTING,
	C_HANDSHAKE,  /* https: TCP is up, the TLS handshake is not done */
	C_BUSY,       /* requests in flight */
	C_WAIT,       /* connected, nothing in flight (rate gap, quota reached) */
	C_HOLD,       /* --storm/--idle: answered, kept open */
	C_CLOSING,    /* --close: answered, waiting for the server's FIN */
	C_DONE,       /* --storm/--idle: finished or failed, never reopened */
};

struct load_conn {
	int fd;
	uint8_t state;
	bool closing;        /* the server announced it closes after this response */
	bool peer_fin;       /* the server's FIN has arrived */
	bool up;             /* connected: counted in stats' open connections */
	uint16_t carry_len;  /* partial response bytes kept between reads */
	uint32_t inflight;
	uint32_t out_off, out_len; /* unsent part of the current batch */
	uint32_t echo_off;   /* bytes of the current echo already matched */
	uint32_t owed;       /* --rate: requests due but not yet sent */
	uint32_t sent;       /* --conn-rate: requests sent on this connection */
	const char *out;     /* the batch being sent (one URL's request) */
	uint64_t owed_t;     /* --rate: intended send time of the first owed one */
	uint64_t t_send;     /* start of the in-flight batch's latency */
	uint64_t deadline;   /* connect/response timeout, or retry time when down */
	uint64_t t_conn;     /* https: connect() called, start of the handshake latency */
	uint64_t t_due;      /* --conn-rate: when this connection was due to start */
	SSL *ssl;            /* https: this connection's TLS state, NULL between connections */
	struct resp rp;
	char *carry;         /* allocated on first need, kept for the slot */
};

struct load_worker {
	/* set by the main thread before start, read-only afterwards */
	const struct config *cfg;
	const struct request *rq;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned id;
	unsigned nconns;
	bool limited;         /* -n: stop after `quota` responses */
	uint64_t quota;
	double rate;          /* this worker's share of --rate */
	double rate_offset_ns; /* staggers the workers' schedules */
	double conn_rate;     /* this worker's share of --conn-rate */
	char addr_str[64];    /* for error descriptions */
	int cpu;              /* -1: not pinned */
	uint64_t t_start, t_stats, t_end; /* t_end UINT64_MAX: no time limit */
	uint64_t timeout_ns;
	uint64_t hold_ns;     /* --idle */
	atomic_bool *stop;
	SSL_CTX *tls;         /* https://, shared by every worker; else NULL */
	pthread_t tid;

	/* shared with the main thread under lock */
	pthread_mutex_t lock;
	struct stats st;
	struct hist *interval; /* latencies since the main thread's last snapshot */
	struct hist *hs_interval; /* https: handshake times, likewise; else NULL */
	uint64_t t_finish;    /* end of this worker's measured period */
	struct err_samples errs;
	char setup_error[160];
	atomic_bool done;

	/* private to the worker thread */
	int ep;
	struct load_conn *conns;
	char *rbuf;
	uint64_t inflight;
	unsigned settled;     /* --storm/--idle conns that are HOLD or DONE */
	uint64_t hold_end;
	uint64_t t_last;      /* last completed response */
	bool stopping;
	bool nodelay;
	/* --tls-resume: tickets got and not used yet, newest last.  A TLS 1.3
	 * ticket is good for one resumption (RFC 8446 C.4; OpenSSL's client
	 * marks it used), so concurrent connections each need their own. */
	struct ssl_session_st *tls_sessions[LOAD_TLS_SESSIONS];
	int tls_nsessions;
	uint64_t rng;         /* picks the URL of each request */
	/* --conn-rate: connections due that no free slot has taken yet */
	uint64_t cr_owed, cr_owed_t;
	/* --rate and --conn-rate schedule */
	double period_ns, conn_period_ns;
	uint64_t sched_k, sched_next;
	unsigned sched_i;
};

void *load_worker_main(void *arg);

/* client.c: what a connection without work in flight does next */
void load_worker_kick(struct load_worker *w, struct load_conn *c, uint64_t now);
void load_worker_settle(struct load_worker *w, uint64_t now);

/* conn.c */
void load_conn_open(struct load_worker *w, struct load_conn *c, uint64_t now);
void load_conn_send(struct load_worker *w, struct load_conn *c, unsigned k, uint64_t t_start,
		    uint64_t now);
void load_conn_fail(struct load_worker *w, struct load_conn *c, enum err_kind kind, uint64_t now);
/* The same, described for the summary: why (may be NULL) and what was read. */
void load_conn_fail_why(struct load_worker *w, struct load_conn *c, enum err_kind kind,
			uint64_t now, const char *why, const char *data, size_t len);
void load_conn_drop(struct load_worker *w, struct load_conn *c);
void load_conn_event(struct load_worker *w, struct load_conn *c, uint32_t events);

#endif
