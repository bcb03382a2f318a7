/* The protocol boundary: a protocol turns input bytes into output bytes and
 * connection flags.  It never touches sockets, so any event-loop backend can
 * drive it and tests can drive it with plain buffers. */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http_parse.h"
#include "net/outbuf.h"

struct http_clock;

/* What a protocol may ask of the connection (struct proto_state.flags). */
enum {
	PROTO_CLOSE = 1u << 0,    /* close once the output is sent */
	PROTO_LINGER = 1u << 1,   /* error: send, shut down writing, drain input, close */
	PROTO_OUT_FULL = 1u << 2, /* stopped early: the output buffer is full */
	PROTO_FILE = 1u << 3,     /* stopped: st->file's bytes follow the output */
	PROTO_PROXY = 1u << 4,    /* stopped: env->proxy names a request for an upstream */
	PROTO_APP = 1u << 5,      /* stopped: env->deferred waits on the application */
	PROTO_BODY = 1u << 6,     /* stopped: st->app_out's bytes follow the output */
};

struct file_entry;
struct file_cache;
struct access_log;
struct peer_addr;
struct upstream_table;
struct app_table;
struct app_worker;
struct herd_response;
struct app_collect;
struct app_body;

/* A request the protocol hands to a reverse-proxy route (PROTO_PROXY): its
 * head for the upstream is in env->up_head, its body's framing in the
 * protocol state (body_kind, body_left, chunked), its bytes follow the
 * head in the input. */
enum {
	PROXY_HEAD = 1u << 0,      /* a HEAD request: the response has no body */
	PROXY_CLOSE = 1u << 1,     /* the client's connection closes after */
	PROXY_KEEPALIVE = 1u << 2, /* an HTTP/1.0 client that keeps the connection */
	PROXY_HTTP10 = 1u << 3,    /* an HTTP/1.0 client: no chunked, no 1xx */
	PROXY_UPGRADE = 1u << 4,   /* a WebSocket request: a tunnel after 101 */
	PROXY_RETRY = 1u << 5,     /* idempotent and bodiless: may be sent twice */
};
struct proto_proxy {
	int route;
	uint8_t flags;   /* PROXY_* */
	char *log_line;  /* access_log_prepare()'s, or NULL */
};

/* Per-connection protocol state, kept small: it lives as long as the
 * connection, idle or not. */
struct proto_state {
	uint8_t flags;
	uint8_t body_kind; /* enum http_body_kind of a body being skipped */
	/* An answer decided from the head but held back until the chunked
	 * body ended within --max-body: one response per request, even when
	 * the body turns out too large (then only the 413). */
	uint8_t deferred_kind, deferred_flags;
	/* The access log line held for a deferred answer (access_log_hold). */
	uint32_t log_ticket;
	uint64_t body_left;
	struct http_chunked chunked;
	/* A file body to send after the output (PROTO_FILE): the backend
	 * sends [file_off, file_off + file_left) and drops the reference. */
	struct file_entry *file;
	uint64_t file_off, file_left;
	/* Application routes (net/http_app.h): a request body being read
	 * for a handler, a response body being sent after its head. */
	struct app_collect *app_in;
	struct app_body *app_out;
};

/* What one feed counted; the engine adds it to the worker's counters, so a
 * protocol needs nothing of core/. */
struct proto_tally {
	uint32_t requests; /* answered (echo: reads echoed) */
	uint32_t errors;   /* answered with a protocol error */
};

/* A message (HTTP: a request body) is part-way through. */
static inline bool proto_in_message(const struct proto_state *st)
{
	return st->body_kind != HTTP_BODY_NONE;
}

struct proto_env {
	struct outbuf *out;
	const struct http_clock *clock;
	struct proto_tally tally;
	bool draining; /* server is shutting down: answer with Connection: close */
	uint64_t max_body; /* request body limit (413 above it); 0: unlimited */
	struct file_cache *files; /* --root, or NULL */
	struct access_log *log;   /* --access-log, or NULL */
	const struct peer_addr *peer;
	/* --redirect-https on a plain connection: the TLS port every request
	 * is redirected to; 0: none. */
	uint16_t https_port;
	/* Reverse proxy: the routes (NULL: none), where the upstream head is
	 * written, and what a PROTO_PROXY stop says. */
	const struct upstream_table *routes;
	struct outbuf *up_head;
	bool https; /* the client's connection is TLS (X-Forwarded-Proto) */
	struct proto_proxy proxy;
	/* Application routes (libherd): the table (NULL: none, every path is
	 * 404), the worker's side of them, and what a PROTO_APP stop says. */
	const struct app_table *app;
	struct app_worker *aw;
	struct herd_response *deferred;
	int fd; /* the connection's socket: a handler may ask for its peer */
};

/* Consumes a prefix of in[0..len) and appends the answers to env->out.
 * Returns the bytes consumed; the caller keeps the rest for the next call
 * (an incomplete request, or input left when PROTO_OUT_FULL was set). */
typedef size_t (*proto_feed_fn)(struct proto_state *st, const char *in, size_t len,
				struct proto_env *env);

/* A protocol, as the engine sees it: one table entry per protocol, one file
 * per protocol in net/.  Core code asks these fields, never "is this HTTP?". */
struct proto {
	const char *name;
	proto_feed_fn feed;
	/* What a connection whose request stopped arriving half-way gets before
	 * it is closed (HTTP: 408), written into env->out; NULL: nothing.
	 * in[0..len) is the input kept for it (a partial head, or a piece of a
	 * body), for the access log. */
	void (*timeout_answer)(struct proto_state *st, const char *in, size_t len,
			       struct proto_env *env);
	/* A draining server keeps a connection that finished an answer open,
	 * as idle, for the request the client may already be sending (HTTP:
	 * the answer promised keep-alive); false: close it at once. */
	bool drain_waits_for_next;
	/* The client speaks first: the listener defers the accept until data
	 * arrived, and the first read is tried at once. */
	bool client_first;
};

extern const struct proto proto_http;
extern const struct proto proto_echo;

size_t http_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env);
size_t echo_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env);

#endif
