/* The engine: one connection's life, written once for every mechanism.
 *
 *   mechanism ──bytes──▶ transport ──▶ protocol (feed) ──▶ w->out ──▶ transport ──▶ mechanism
 *
 * read or receive bytes, feed the protocol, hand its output to the mechanism
 * or send a file body, backpressure, keep-alive, linger, drain, timers and
 * failure.  A mechanism reports what happened on the socket through the
 * entry points below and does what the engine asks through struct mech. */
#ifndef HERD_ENGINE_H
#define HERD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counters.h"

struct worker;
struct conn;

/* A connection the race accepted; its slot of --max-conns is already held.
 * tls: the listener it came from speaks TLS. */
void engine_open(struct worker *w, int fd, bool tls);

/* Mechanism → engine. */
/* Bytes arrived (p is the mechanism's buffer, valid for this call). */
void engine_input(struct worker *w, struct conn *c, const char *p, uint32_t n);
/* The peer sent FIN. */
void engine_input_end(struct worker *w, struct conn *c);
/* Reading failed (a reset): close. */
void engine_input_error(struct worker *w, struct conn *c);
/* n more bytes of c->out are in the socket.  true: some is left (the send
 * timeout restarts); false: all of it went out (engine_output_done next). */
bool engine_output_sent(struct worker *w, struct conn *c, size_t n);
/* What was handed over is out, or the socket can take more. */
void engine_output_done(struct worker *w, struct conn *c);
/* The mechanism cannot go on with the connection: count and close. */
void engine_fail(struct worker *w, struct conn *c, enum herd_err_kind kind);
/* The mechanism holds no more reference: the struct goes back to the pool. */
void engine_release(struct worker *w, struct conn *c);

/* Worker → engine. */
void engine_close(struct worker *w, struct conn *c);
/* A connection's deadline passed (header, keep-alive, send, linger). */
void engine_expire(struct worker *w, struct conn *c);
/* Drain: close idle connections, let the rest finish with Connection: close. */
void engine_begin_drain(struct worker *w);
/* Closes every connection (the worker is exiting). */
void engine_close_all(struct worker *w);

#endif
