/* TLS as a transport: one connection's OpenSSL state, and the filter between
 * wire bytes (what a mechanism reads and sends) and application bytes (what
 * a protocol reads and writes).
 *
 * OpenSSL never touches the socket: its BIO reads from the bytes a mechanism
 * already holds and writes ciphertext into a buffer the engine hands to the
 * mechanism.  That keeps TLS independent of how I/O is done (epoll's reads,
 * io_uring's completions) and lets one connection's work stay in one call.
 *
 * Kernel TLS: when the kernel has the `tls` upper-layer protocol and the
 * connection asked for it, OpenSSL hands the transmit record layer to the
 * kernel at the end of the handshake (through this BIO, see net/ktls.c).
 * From then on output leaves as plaintext, so file bodies can go by
 * sendfile(2); input is still decrypted here. */
#ifndef HERD_TLS_H
#define HERD_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct outbuf;
struct tls_ctx;
struct tls_conn;

enum tls_result {
	TLS_AGAIN,      /* all input taken; plaintext (maybe none) in plain */
	TLS_CLOSED,     /* the peer ended the session (close_notify) */
	TLS_FAILED,     /* a handshake or record error: close */
	TLS_PLAIN_HTTP, /* the first bytes were a plain HTTP request */
	TLS_NOMEM,
};

/* What the handshake that just finished was, reported once. */
enum tls_news {
	TLS_NEWS_NONE,
	TLS_NEWS_FULL,
	TLS_NEWS_RESUMED,
};

/* NULL: no memory.  The connection's SSL keeps ctx alive.  ktls: try to
 * hand the transmit side to the kernel after the handshake. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd, bool ktls);
void tls_conn_free(struct tls_conn *t);

/* Wire bytes in: the handshake advances, or records are decrypted into
 * plain (which grows as needed: one call's plaintext is never more than its
 * input and one buffered record).  What must be sent in answer (handshake
 * flights, tickets, alerts) is appended to wire. */
enum tls_result tls_conn_input(struct tls_conn *t, const char *p, size_t n, struct outbuf *plain,
			       struct outbuf *wire);
/* Application bytes out: encrypted and appended to wire (under kernel TLS
 * they are appended as they are).  -1: failed (no memory, or an error). */
int tls_conn_output(struct tls_conn *t, const char *p, size_t n, struct outbuf *wire);
/* close_notify into wire, best effort. */
void tls_conn_shutdown(struct tls_conn *t, struct outbuf *wire);

bool tls_conn_established(const struct tls_conn *t);
/* Output is plaintext the kernel encrypts: files may leave by sendfile. */
bool tls_conn_kernel_tx(const struct tls_conn *t);
enum tls_news tls_conn_news(struct tls_conn *t);
/* The latest failure, one line, for a rate-limited log. */
const char *tls_conn_error(const struct tls_conn *t);

/* Ciphertext that could not be handed to the mechanism now (its previous
 * output is still in flight) waits here, in order, until it can. */
int tls_conn_stash(struct tls_conn *t, struct outbuf *wire);
size_t tls_conn_stashed(const struct tls_conn *t);
/* Moves the stash into wire (empty); -1: no memory. */
int tls_conn_unstash(struct tls_conn *t, struct outbuf *wire);

/* Whether output is in the mechanism's hands now: records OpenSSL would
 * send on its own (kernel TLS) must then wait or fail, never overtake it. */
void tls_conn_busy(struct tls_conn *t, bool busy);
/* Mid-handshake, or a record only partly received. */
bool tls_conn_partial(const struct tls_conn *t);
/* The client sent close_notify: it expects one back. */
bool tls_conn_peer_closed(const struct tls_conn *t);

/* The answer to a plain HTTP request on a TLS port (as nginx gives). */
extern const char tls_plain_http_answer[];

/* Appends n bytes to o, growing it (realloc) when they do not fit: TLS
 * buffers are the worker's and their size is only bounded by the input. */
int tls_outbuf_append(struct outbuf *o, const void *p, size_t n);

#endif
