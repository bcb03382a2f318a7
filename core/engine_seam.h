/* Between the engine (core/engine.c) and its TLS half (core/engine_tls.c):
 * the steps of a connection's life the TLS half reuses, and what it adds.
 * Not for mechanisms: they speak core/engine.h. */
#ifndef HERD_ENGINE_SEAM_H
#define HERD_ENGINE_SEAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/conn.h"
#include "net/outbuf.h"

struct worker;
struct tls_conn;

/* Input queued behind pending output before reading stops: as much as one
 * protocol round can answer (the worker's output buffer is 64 KiB); the
 * rest waits in the socket, where it costs the server nothing. */
#define PAUSE_INPUT (64 * 1024)

/* core/engine.c */
void engine_set_timer(struct worker *w, struct conn *c, enum conn_timer t);
/* w->out to the mechanism.  1: all in the socket; 0: later; -1: closed. */
int engine_transport_out(struct worker *w, struct conn *c);
/* w->wire (ciphertext) to the mechanism instead of w->out; the same. */
int engine_send_wire(struct worker *w, struct conn *c, bool more);
/* What to wait for once no output is in progress and all input was fed. */
void engine_settle(struct worker *w, struct conn *c);
/* Application bytes for the protocol. */
void engine_receive(struct worker *w, struct conn *c, const char *p, uint32_t n);
/* Feeds the input kept in c->in to the protocol (after a proxied answer). */
void engine_serve(struct worker *w, struct conn *c);
/* o straight to the socket, best effort, unless output is in flight. */
void engine_send_last(struct worker *w, struct conn *c, struct outbuf *o);
/* w->out (encrypted under TLS) the same way: a last answer before a close. */
void engine_send_answer_last(struct worker *w, struct conn *c);
/* An answer's body is out: the next request, or the wait for one. */
void engine_next(struct worker *w, struct conn *c);
/* Waits for the socket to take more: output stuck, a body's next piece,
 * or a protocol that yielded; progress restarts the send timeout. */
void engine_wait_writable(struct worker *w, struct conn *c, bool progress);

/* core/engine_file.c */
/* Sends the pending file body (PROTO_FILE), a bounded step at a time. */
void engine_send_file(struct worker *w, struct conn *c);
/* Drops the connection's file reference, if any. */
void engine_drop_file(struct worker *w, struct conn *c);

/* core/engine_tls.c */
/* The TLS state of a connection from a TLS listener; NULL: no memory. */
struct tls_conn *engine_tls_open(struct worker *w, int fd);
/* Wire bytes in: handshake, decrypt, then the protocol. */
void engine_tls_input(struct worker *w, struct conn *c, const char *p, uint32_t n);
/* What the TLS layer wrote by itself goes out, in order.  false: closed. */
bool engine_tls_hand_over(struct worker *w, struct conn *c);
/* Counts an unfinished handshake, says goodbye when it may, frees. */
void engine_tls_close(struct worker *w, struct conn *c);

#endif
