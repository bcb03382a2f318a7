/* libFuzzer target: a TLS connection's input (net/tls.c) fed in pieces whose
 * sizes the input chooses, as a server sees a hostile client's records:
 * handshake messages, records cut anywhere, garbage, plain HTTP on the TLS
 * port.  The server's certificate is made once, in memory of a temp dir. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/outbuf.h"
#include "net/tls.h"
#include "net/tls_ctx.h"
#include "tls_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tls_ctx *server_ctx(void)
{
	static struct tls_ctx *ctx;
	if (ctx)
		return ctx;
	char dir[] = "/tmp/herd-fuzz-tls-XXXXXX", cert[256], key[256], err[256];
	if (!mkdtemp(dir) ||
	    tls_util_make_pair(dir, "srv", "ec", "DNS:localhost", 2, cert, key, sizeof(cert)) != 0)
		abort();
	struct tls_keypair kp = {cert, key};
	ctx = tls_ctx_new(&kp, 1, NULL, 0, err, sizeof(err));
	if (!ctx)
		abort();
	return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* fd -1: nothing here ever reaches a socket (no kernel TLS asked). */
	struct tls_conn *t = tls_conn_new(server_ctx(), -1, false);
	if (!t)
		abort();
	struct outbuf plain = {0}, wire = {0};
	size_t piece = (size_t)(data[0] % 64) + 1;
	const char *in = (const char *)data + 1;
	size_t left = size - 1;
	while (left) {
		size_t n = left < piece ? left : piece;
		plain.len = wire.len = 0;
		enum tls_result r = tls_conn_input(t, in, n, &plain, &wire);
		in += n;
		left -= n;
		if (r != TLS_AGAIN)
			break;
		if (plain.len && tls_conn_output(t, plain.p, plain.len, &wire) != 0)
			break;
	}
	tls_conn_shutdown(t, &wire);
	tls_conn_free(t);
	free(plain.p);
	free(wire.p);
	return 0;
}
