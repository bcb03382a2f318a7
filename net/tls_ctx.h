/* STUB (replaced by the tlsctx branch). */
#ifndef HERD_TLS_CTX_H
#define HERD_TLS_CTX_H
#include <stddef.h>
#include <openssl/ssl.h>
struct tls_keypair { const char *cert, *key; };
struct tls_tickets;
struct tls_ctx;
#define TLS_CTX_KTLS 1u
struct tls_ctx *tls_ctx_new(const struct tls_keypair *pairs, int n, struct tls_tickets *tk,
                            unsigned flags, char *err, size_t errlen);
void tls_ctx_ref(struct tls_ctx *);
void tls_ctx_unref(struct tls_ctx *);
SSL *tls_ctx_ssl(struct tls_ctx *);
#endif
