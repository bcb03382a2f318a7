/* A client connection as a worker sees it, and the per-worker structures
 * that hold connections: a pool, and one deadline list per timeout kind.
 *
 * Every timeout of a kind has the same length, so appending at the tail keeps
 * each list sorted by deadline: arming, re-arming and cancelling are O(1)
 * unlinks and appends, and expiry only looks at list heads. */
#ifndef HERD_CONN_H
#define HERD_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "net/access_log.h"
#include "net/proto.h"

enum conn_timer {
	CONN_T_IDLE,   /* keep-alive, between requests */
	CONN_T_READ,   /* a request head or body is arriving */
	CONN_T_WRITE,  /* the client is not taking our output */
	CONN_T_LINGER, /* error sent, draining input before close */
	/* Reverse proxy (core/proxy.c). */
	CONN_T_UP_CONNECT, /* an upstream connection is being made */
	CONN_T_UP_READ,    /* request out, waiting for (more of) the response */
	CONN_T_UP_IDLE,    /* pooled upstream connection, unused */
	CONN_T_PROXIED,    /* a client waiting on its upstream (whose timer fires first) */
	CONN_T_APP,        /* a handler's deferred answer (--handler-timeout) */
	CONN_T_COUNT,
	CONN_T_NONE = CONN_T_COUNT,
};

/* struct conn.flags: the engine's view of a connection (core/engine.c). */
enum {
	CONN_LINGER = 1u << 0,   /* answered an error: draining input until close */
	CONN_UNFED = 1u << 1,    /* in[] has bytes the protocol has not seen yet */
	CONN_PAUSED = 1u << 2,   /* reading stopped: too much input behind output */
	CONN_EOF = 1u << 3,      /* the peer sent FIN */
	CONN_WRITING = 1u << 4,  /* output handed to the mechanism, not yet done */
	CONN_ABORT = 1u << 5,    /* closing on an error (counted): no goodbye */
	CONN_UPSTREAM = 1u << 6, /* herd's connection to an upstream, not a client's */
	CONN_LAST_OUT = 1u << 7, /* the last answer went out corked (MSG_MORE): the FIN pushes it */
};

struct tls_conn;
struct proxy_xfer;
struct herd_response;

struct conn {
	int fd;
	uint8_t timer; /* enum conn_timer: the list this connection is on */
	uint8_t flags; /* CONN_* */
	uint8_t io[2]; /* the mechanism's own state, opaque to the engine */
	uint32_t in_len, in_cap;   /* input kept between reads */
	uint32_t out_len, out_off; /* output the socket has not taken yet */
	char *in;                  /* NULL when nothing is kept: idle costs no buffer */
	char *out;
	int64_t deadline_ms;
	struct conn *prev, *next;  /* on the timer list, or the pool's free list */
	struct proto_state proto;
	struct tls_conn *tls;  /* NULL: plain TCP */
	/* A request being proxied: on the client's connection and on the
	 * upstream's while they serve it (core/proxy.c); NULL otherwise. */
	struct proxy_xfer *px;
	/* A handler deferred its answer (core/app.c); NULL otherwise. */
	struct herd_response *app;
	struct peer_addr peer; /* filled only when the access log or a proxy is on */
	uint8_t up_index;      /* CONN_UPSTREAM: which upstream */
};

struct conn_list {
	struct conn *head, *tail;
	int64_t timeout_ms;
};

void conn_list_append(struct conn_list *l, struct conn *c);
void conn_list_remove(struct conn_list *l, struct conn *c);

/* Free connection structs, allocated in slabs and never returned to the
 * allocator while the worker runs (no malloc per connection). */
struct conn_pool {
	struct conn *free;
	void **slabs;
	int nslabs, cap_slabs;
	/* Freed output buffers of CONN_OUT_SPARE bytes, taken before malloc:
	 * io_uring copies every response (conn_keep_output), and jemalloc
	 * runs without thread caches (core/main.c), so a malloc+free pair per
	 * response took an arena lock twice (3.5 % of a keep-alive request). */
	char *spare_out[32];
	int nspare_out;
};

struct conn *conn_pool_get(struct conn_pool *p);
void conn_pool_put(struct conn_pool *p, struct conn *c);
void conn_pool_destroy(struct conn_pool *p);

/* Keeps in[0..len) as the connection's pending input (replacing what was
 * there).  -1 when out of memory. */
int conn_keep_input(struct conn *c, const char *in, uint32_t len);
/* Makes room for at least `room` more input bytes after in_len. */
int conn_reserve_input(struct conn *c, uint32_t room);
void conn_drop_input(struct conn *c);

/* Keeps data[0..len) as the output still to send. -1 when out of memory.
 * Output of up to CONN_OUT_SPARE bytes lives in a buffer of that size from
 * the pool's spares (out_len says which kind a buffer is). */
#define CONN_OUT_SPARE 8192u
int conn_keep_output(struct conn_pool *p, struct conn *c, const char *data, uint32_t len);
void conn_drop_output(struct conn_pool *p, struct conn *c);

#endif
