/*
 * https:// for herd-load: one SSL_CTX for the run (verification, ALPN,
 * session handling) and, per connection, the handshake and the record layer
 * on its non-blocking socket.  conn.c keeps the state machine; this file
 * keeps every OpenSSL call, so the plain path does not see them.
 */
#ifndef HERD_LOAD_TLS_H
#define HERD_LOAD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/types.h>

#include "config.h"
#include "stats.h"

struct load_worker;
struct load_conn;

/* NULL with a one-line reason in err (e.g. an unreadable --cacert). */
SSL_CTX *load_tls_ctx_new(const struct config *cfg, char *err, size_t errlen);
void load_tls_ctx_free(SSL_CTX *ctx);

/*
 * The handshake on c's connected socket: load_tls_start once, then
 * load_tls_handshake on every event until it is done.  Both return 1 when
 * done, 0 while waiting for the socket, -1 when it failed: *kind is then
 * the error to count, and the reason went to stderr (at most a line a second).
 */
int load_tls_start(struct load_worker *w, struct load_conn *c, enum err_kind *kind);
int load_tls_handshake(struct load_conn *c, enum err_kind *kind);
bool load_tls_resumed(const struct load_conn *c);

/*
 * recv()/send() for a connection with c->ssl: > 0 bytes, 0 the server's
 * close (read only), -1 with errno EAGAIN (wait for any socket event),
 * EPROTO (a TLS failure: bad record, alert; reported) or the socket's own.
 */
ssize_t load_tls_recv(struct load_conn *c, void *buf, size_t len);
ssize_t load_tls_send(struct load_conn *c, const void *buf, size_t len);

/* Frees c->ssl.  clean: the connection ended in order, so the session it
 * resumed or got stays usable for --tls-resume. */
void load_tls_end(struct load_conn *c, bool clean);
void load_tls_worker_end(struct load_worker *w);

#endif
