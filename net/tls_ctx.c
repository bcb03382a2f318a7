/* STUB (replaced by the tlsctx branch). */
#include "net/tls_ctx.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
struct tls_ctx { _Atomic int refs; SSL_CTX *ctx; };
struct tls_ctx *tls_ctx_new(const struct tls_keypair *pairs, int n, struct tls_tickets *tk,
                            unsigned flags, char *err, size_t errlen)
{
	(void)n; (void)tk; (void)flags;
	struct tls_ctx *c = calloc(1, sizeof(*c));
	c->refs = 1;
	c->ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(c->ctx, pairs[0].cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(c->ctx, pairs[0].key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "%s: bad", pairs[0].cert);
		SSL_CTX_free(c->ctx); free(c); return NULL;
	}
	return c;
}
void tls_ctx_ref(struct tls_ctx *c) { c->refs++; }
void tls_ctx_unref(struct tls_ctx *c) { if (--c->refs == 0) { SSL_CTX_free(c->ctx); free(c); } }
SSL *tls_ctx_ssl(struct tls_ctx *c) { return SSL_new(c->ctx); }
