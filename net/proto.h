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
struct worker_counters;

/* What a protocol may ask of the connection (struct proto_state.flags). */
enum {
	PROTO_CLOSE = 1u << 0,    /* close once the output is sent */
	PROTO_LINGER = 1u << 1,   /* error: send, shut down writing, drain input, close */
	PROTO_OUT_FULL = 1u << 2, /* stopped early: the output buffer is full */
	PROTO_FILE = 1u << 3,     /* stopped: st->file's bytes follow the output */
};

struct file_entry;
struct file_cache;
struct access_log;
struct peer_addr;

/* Per-connection protocol state, kept small: it lives as long as the
 * connection, idle or not. */
struct proto_state {
	uint8_t flags;
	uint8_t body_kind; /* enum http_body_kind of a body being skipped */
	/* An answer decided from the head but held back until the chunked
	 * body ended within --max-body: one response per request, even when
	 * the body turns out too large (then only the 413). */
	uint8_t deferred_kind, deferred_flags;
	uint64_t body_left;
	struct http_chunked chunked;
	/* A file body to send after the output (PROTO_FILE): the backend
	 * sends [file_off, file_off + file_left) and drops the reference. */
	struct file_entry *file;
	uint64_t file_off, file_left;
};

struct proto_env {
	struct outbuf *out;
	const struct http_clock *clock;
	struct worker_counters *ctr;
	bool draining; /* server is shutting down: answer with Connection: close */
	uint64_t max_body; /* request body limit (413 above it); 0: unlimited */
	struct file_cache *files; /* --root, or NULL */
	struct access_log *log;   /* --access-log, or NULL */
	const struct peer_addr *peer;
};

/* Consumes a prefix of in[0..len) and appends the answers to env->out.
 * Returns the bytes consumed; the caller keeps the rest for the next call
 * (an incomplete request, or input left when PROTO_OUT_FULL was set). */
typedef size_t (*proto_feed_fn)(struct proto_state *st, const char *in, size_t len,
				struct proto_env *env);

size_t http_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env);
size_t echo_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env);

/* Builds the answer to a request-head timeout (408) into env->out. */
void http_timeout_response(struct proto_env *env);

#endif
