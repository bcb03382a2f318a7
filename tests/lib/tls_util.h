/* TLS test helpers: self-signed certificates made on the spot (with
 * OpenSSL's API, so any validity window can be had, an expired one too), and
 * TLS handshakes driven in memory between a client SSL and a server SSL
 * (a BIO pair, no sockets).  Used by the unit tests of net/tls_ctx.c and,
 * for certificates, by the HTTPS integration tests. */
#ifndef HERD_TESTS_TLS_UTIL_H
#define HERD_TESTS_TLS_UTIL_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Writes DIR/NAME.crt and DIR/NAME.key (PEM) and their paths to cert_out and
 * key_out (len bytes each).  keytype: "ec" (P-256), "rsa" (2048 bits), or,
 * for tests of refusals, "rsa1024", "ed25519".  sans: an openssl
 * subjectAltName value ("DNS:a.test,DNS:*.w.test"), NULL or "" for none; the
 * subject CN is NAME.  days > 0: valid from a minute ago for that many days;
 * days < 0: expired |days| days ago.  0 ok, -1 fail (a line on stderr). */
int tls_util_make_pair(const char *dir, const char *name, const char *keytype, const char *sans,
		       int days, char *cert_out, char *key_out, size_t len);
/* The same with the window given as seconds from now, e.g. not yet valid:
 * not_before = 3600, not_after = 86400. */
int tls_util_make_pair_at(const char *dir, const char *name, const char *keytype,
			  const char *sans, long not_before, long not_after, char *cert_out,
			  char *key_out, size_t len);

/* A client context that verifies nothing, limited to [min, max] protocol
 * versions (0: OpenSSL's bound), offering the ALPN names in alpn ("h2,http/1.1";
 * NULL: no ALPN).  Below TLS 1.2 it lowers its own security level, so the
 * refusal a test sees is the server's.  NULL on failure. */
SSL_CTX *tls_util_client_ctx(int min, int max, const char *alpn);

/* Connects client and server by a BIO pair and runs both handshakes to the
 * end.  0 when both finished, -1 when either failed; *server_err (may be
 * NULL) gets the server's first OpenSSL error code, 0 if it had none. */
int tls_util_handshake(SSL *client, SSL *server, unsigned long *server_err);
/* After a handshake: the server sends a few bytes and the client reads
 * them, so a TLS 1.3 client has processed its session tickets.  0 ok.
 * To resume the client's session later, SSL_shutdown the client before
 * SSL_free: OpenSSL marks the session of an SSL freed without close_notify
 * not resumable. */
int tls_util_exchange(SSL *client, SSL *server);
/* The subject CN of the certificate the client received, "" if none. */
void tls_util_peer_cn(SSL *client, char *buf, size_t len);

#endif
