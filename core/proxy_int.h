/* Between the exchange (core/proxy.c) and the upstream connections
 * (core/proxy_up.c). */
#ifndef HERD_PROXY_INT_H
#define HERD_PROXY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/conn.h"
#include "core/upstream_state.h"
#include "net/http_parse.h"

struct worker;

enum xstate {
	X_CONNECTING, /* the upstream connection is being made */
	X_SENDING,    /* the request (head, body) goes out */
	X_WAITING,    /* sent: the response head is awaited */
	X_BODY,       /* the response body is relayed */
	X_TUNNEL,     /* after a 101: bytes both ways */
	X_FAILED,     /* herd's own answer waits for the client's output */
};

struct proxy_xfer {
	struct conn *client, *up;
	char *head; /* the upstream request head, kept for one retry */
	uint32_t head_len;
	char *log_line;
	int64_t start_ns;
	uint64_t resp_left, body_bytes;
	struct http_chunked resp_chunked;
	uint32_t tried; /* bit i: upstream i was tried */
	int status;
	uint8_t state, route, pflags /* PROXY_* */, resp_kind, uprflags /* UPR_* */;
	bool reused, retried, head_sent, req_done, got_bytes, head_out, up_keep, close_client;
	bool from_up; /* status is the upstream's */
};

/* One upstream's connections in this worker. */
struct up_pool {
	struct conn **idle; /* most recently used last */
	int nidle;
	int busy; /* exchanges using it: least outstanding wins */
};

struct proxy_worker {
	struct up_pool pool[HERD_MAX_UPSTREAMS];
	uint32_t rr[HERD_MAX_ROUTES]; /* ties go round robin */
	struct conn *guard; /* a mechanism call on it runs (proxy.c: mcall_read) */
};

/* core/proxy_up.c */
/* The worker's upstream bookkeeping, made at its first proxied request;
 * NULL: no memory. */
struct proxy_worker *up_worker(struct worker *w);
/* Finds an upstream for x and starts the request on it (a pooled
 * connection or a new one).  false: x is gone (answered 502). */
bool up_connect(struct worker *w, struct proxy_xfer *x);
/* The exchange is done with its upstream: pooled when it may be reused
 * (keep), else closed. */
void up_release(struct worker *w, struct proxy_xfer *x, bool keep);
struct upstream_shared *up_shared(struct worker *w, const struct proxy_xfer *x);
const char *up_name(const struct worker *w, int i);
void up_arm(struct worker *w, struct proxy_xfer *x);
/* Connecting failed: the next upstream, or 502. */
void up_connect_failed(struct worker *w, struct proxy_xfer *x);
/* An event on a pooled connection: it is closed.  false: it is in use. */
bool up_idle_event(struct worker *w, struct conn *up);

/* Chunked bodies herd only frames, never holds: no size bound of its own. */
#define CHUNKED_ANY (UINT64_C(1) << 62)

/* core/proxy.c */
/* Reads the upstream when nothing it sent waits for the client, and only a
 * little before its request is all out.  leave_out: its output just ended
 * (a writable wait may be registered).  false: x is gone. */
bool xfer_watch(struct worker *w, struct proxy_xfer *x, bool leave_out);
/* The upstream failed the exchange: one retry where allowed, else its
 * failure counted and 502/504 (or the client cut off). */
void xfer_trouble(struct worker *w, struct proxy_xfer *x, enum up_err kind);
/* Ends the exchange: the upstream pooled (keep) or closed, the line logged,
 * the client's connection back to the engine with w->out on its way. */
void xfer_finish(struct worker *w, struct proxy_xfer *x, bool keep);

/* The upstream connection is ready for (more of) the request.  leave_out:
 * it reported it can take more (a writable wait may be registered).
 * false: x is gone. */
bool xfer_send(struct worker *w, struct proxy_xfer *x, bool leave_out);
/* Answers the client herd's own status (502, 504) when nothing of the
 * response was sent yet, else cuts the client off. */
void xfer_fail(struct worker *w, struct proxy_xfer *x, int status);

/* core/proxy_relay.c */
/* What the upstream connection kept goes to the client, and what its close
 * means once nothing is kept.  false: x is gone. */
bool xfer_pump(struct worker *w, struct proxy_xfer *x);
/* The upstream answered before the request was all out.  false: x is gone. */
bool xfer_early_answer(struct worker *w, struct proxy_xfer *x);

#endif
