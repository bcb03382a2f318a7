/* Ticket keys rotated by one thread (the supervisor's role) while two others
 * (workers) make sessions on one tls_ctx and resume them on another built
 * apart, with the same keys.  Plain C (no Criterion) so it also runs under
 * ThreadSanitizer, which must find no race in net/tls_ticket.c; and every
 * resumption attempt must end in a completed handshake, resumed or full. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "net/tls_ctx.h"
#include "net/tls_ticket.h"
#include "tls_util.h"

#define ROTATIONS 200
#define WORKERS 2

#include "plain_check.h"

static struct tls_tickets *tk;
static struct tls_ctx *ctx_a, *ctx_b;
static atomic_bool done;
static atomic_long iterations;

struct worker {
	pthread_t t;
	int version;
	long handshakes, resumed, failed;
};

/* Paced by the workers (one rotation per finished iteration of either), so
 * a slow machine or a sanitizer still sees rotations land in the middle of
 * handshakes, and sessions that live through at most one of them. */
static void *rotator(void *arg)
{
	(void)arg;
	struct timespec pause = {0, 200 * 1000};
	long seen = 0;
	for (int i = 0; i < ROTATIONS; i++) {
		for (int waited = 0; atomic_load(&iterations) == seen && waited < 50000; waited++)
			nanosleep(&pause, NULL);
		seen = atomic_load(&iterations);
		if (tls_tickets_rotate(tk) != 0)
			fprintf(stderr, "rotate failed\n");
	}
	atomic_store(&done, true);
	return NULL;
}

static int handshake(SSL_CTX *cctx, struct tls_ctx *tc, SSL_SESSION *resume, SSL_SESSION **out,
		     int *reused)
{
	SSL *c = SSL_new(cctx), *s = tls_ctx_ssl(tc);
	int rc = -1;
	if (c && s && (!resume || SSL_set_session(c, resume) == 1) &&
	    SSL_set_tlsext_host_name(c, "race.test") == 1 && tls_util_handshake(c, s, NULL) == 0 &&
	    tls_util_exchange(c, s) == 0) {
		rc = 0;
		*reused = SSL_session_reused(c);
		if (out)
			*out = SSL_get1_session(c);
		SSL_shutdown(c); /* else OpenSSL marks the session not resumable */
	}
	SSL_free(c);
	SSL_free(s);
	ERR_clear_error();
	return rc;
}

static void *worker(void *arg)
{
	struct worker *w = arg;
	SSL_CTX *cctx = tls_util_client_ctx(w->version, w->version, "http/1.1");
	if (cctx == NULL) {
		w->failed++;
		return NULL;
	}
	while (!atomic_load(&done)) {
		SSL_SESSION *sess = NULL;
		int reused = 0;
		w->handshakes++;
		if (handshake(cctx, ctx_a, NULL, &sess, &reused) != 0 || sess == NULL) {
			w->failed++;
			continue;
		}
		w->handshakes++;
		if (handshake(cctx, ctx_b, sess, NULL, &reused) != 0)
			w->failed++;
		else
			w->resumed += reused;
		SSL_SESSION_free(sess);
		atomic_fetch_add(&iterations, 1);
	}
	SSL_CTX_free(cctx);
	return NULL;
}

int main(void)
{
	char dir[] = "/tmp/herd-tlsrace-XXXXXX", cert[256], key[256];
	if (mkdtemp(dir) == NULL ||
	    tls_util_make_pair(dir, "race", "ec", "DNS:race.test", 1, cert, key, sizeof cert) != 0)
		return 1;
	tk = mmap(NULL, tls_tickets_size(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		  -1, 0);
	CHECK(tk != MAP_FAILED && tls_tickets_init(tk) == 0, "shared keys");
	if (failures)
		return 1;
	struct tls_keypair kp = {cert, key};
	char err[256];
	ctx_a = tls_ctx_new(&kp, 1, tk, 0, err, sizeof err);
	ctx_b = tls_ctx_new(&kp, 1, tk, 0, err, sizeof err);
	CHECK(ctx_a && ctx_b, "contexts: %s", err);
	if (failures)
		return 1;

	struct worker w[WORKERS] = {{.version = TLS1_3_VERSION}, {.version = TLS1_2_VERSION}};
	pthread_t rot;
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&w[i].t, NULL, worker, &w[i]);
	pthread_create(&rot, NULL, rotator, NULL);
	pthread_join(rot, NULL);
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(w[i].t, NULL);
		printf("worker %d (TLS %s): %ld handshakes, %ld resumed, %ld failed\n", i,
		       w[i].version == TLS1_3_VERSION ? "1.3" : "1.2", w[i].handshakes,
		       w[i].resumed, w[i].failed);
		CHECK(w[i].failed == 0, "worker %d: %ld handshakes failed", i, w[i].failed);
		CHECK(w[i].resumed > 0, "worker %d: no session resumed", i);
	}
	tls_ctx_unref(ctx_a);
	tls_ctx_unref(ctx_b);
	munmap(tk, tls_tickets_size());
	unlink(cert);
	unlink(key);
	rmdir(dir);
	printf("%d checks, %d failures\n", checks, failures);
	return failures ? 1 : 0;
}
