/* HTTPS certificates and protocol settings: one OpenSSL server context per
 * certificate/key pair, the pair chosen by SNI, built once (at start, and
 * again on a certificate reload) and shared read-only by every worker.
 *
 * Settings, the same on every pair: TLS 1.2 and 1.3 only; TLS 1.2 ciphers
 * ECDHE with AEAD only (Mozilla "intermediate" without DHE), TLS 1.3 suites
 * OpenSSL's default; groups X25519, P-256, P-384; no renegotiation, no
 * compression; ALPN http/1.1 (a client that offers ALPN without it is
 * refused, RFC 7301); no server session cache, stateless tickets (one per
 * handshake) under the shared keys of net/tls_ticket.h.
 *
 * A struct tls_ctx is immutable once built and refcounted, so a reload can
 * swap in a new one while connections made with the old one finish. */
#ifndef HERD_TLS_CTX_H
#define HERD_TLS_CTX_H

#include <stddef.h>

#include <openssl/ssl.h>

struct tls_keypair {
	const char *cert; /* PEM; the leaf first, then any chain certificates */
	const char *key;  /* PEM private key */
};

struct tls_tickets; /* net/tls_ticket.h */
struct tls_ctx;

/* Let OpenSSL hand the record layer to the kernel after the handshake
 * (SSL_OP_ENABLE_KTLS) where the kernel has the tls ULP. */
#define TLS_CTX_KTLS 1u

/* n >= 1 pairs; the first is the default (no SNI, or no name matches).
 * NULL on failure, with one line in err: "FILE: reason" (unreadable, not
 * PEM, bad chain, key does not match the certificate, expired or not yet
 * valid, unsupported key type: RSA under 2048 bits, a curve other than
 * P-256/P-384/P-521, anything else).  tk NULL: tickets under OpenSSL's own
 * per-context key (not shared between contexts or processes). */
struct tls_ctx *tls_ctx_new(const struct tls_keypair *pairs, int n, struct tls_tickets *tk,
			    unsigned flags, char *err, size_t errlen);
void tls_ctx_ref(struct tls_ctx *tc);
/* The last reference frees the SSL_CTXs and the SNI table. */
void tls_ctx_unref(struct tls_ctx *tc);

/* A server SSL for one connection, on the default pair; SNI switches it to
 * the matching pair during the handshake.  The SSL holds its own reference
 * of tc until SSL_free, so tc may be unreferenced (a reload) meanwhile.
 * NULL: out of memory. */
SSL *tls_ctx_ssl(struct tls_ctx *tc);

/* For logs and tests: the number of pairs, and the names pair i answers
 * for (its SAN DNS entries lowercased, or its subject CN when it has none);
 * returns how many, *names pointing at them (valid while tc is). */
int tls_ctx_pairs(const struct tls_ctx *tc);
size_t tls_ctx_names(const struct tls_ctx *tc, int i, const char *const **names);

#endif
