/* Helpers shared by the HTTPS integration suites (test_tls_integration.c,
 * test_tls_hostile_integration.c): certificates in a temp dir, an OpenSSL
 * client over a real socket (blocking, every wait bounded), a client driven
 * through memory BIOs (to send its handshake bytes however a test likes),
 * external commands (curl, openssl, python3) with their output, metrics. */
#ifndef HERD_TESTS_TLS_INTEG_H
#define HERD_TESTS_TLS_INTEG_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* The temp dir: DIR/default.{crt,key} (CN default, SAN localhost and
 * 127.0.0.1), DIR/a.* (CN a, SAN a.test), DIR/w.* (CN w, SAN *.w.test),
 * DIR/root/ (--root) with big.bin (BIG_LEN random bytes) and small.txt. */
#define BIG_LEN (3u * 1024 * 1024 + 777)
#define SMALL_TXT "small file over TLS\n"
extern char t_dir[64], t_root[96];
extern char crt_def[160], key_def[160], crt_a[160], key_a[160], crt_w[160], key_w[160];
extern unsigned char *big; /* the contents of big.bin */
void tls_tree(void);
/* Removes the tree (the suites' .fini calls it, then harness_fini). */
void tls_fini(void);

/* True when $HERD_EXTRA_ARGS asks for handler processes. */
bool tls_procs(void);

/* A TLS client over a fresh blocking socket to 127.0.0.1:port, every read and
 * write bounded by a 5 s socket timeout.  sni: NULL for none; alpn: e.g.
 * "http/1.1" or NULL; sess: a session to offer, or NULL.  Returns the SSL
 * after a finished handshake (its fd is SSL_get_fd), NULL on a failure. */
SSL *tls_dial(int port, const char *sni, const char *alpn, SSL_SESSION *sess);
void tls_hangup(SSL *ssl); /* close_notify, close, free */
/* Sends req and reads one response (Content-Length framed) into out
 * (malloc'd, NUL-terminated, head and body).  Returns the status, -1 on a
 * failure; *body_len gets the body length (may be NULL). */
int tls_request(SSL *ssl, const char *req, char **out, size_t *body_len);
/* The subject CN the server at port presents for sni ("" if none / on a
 * failed handshake). */
void tls_peer_cn_of(int port, const char *sni, char *cn, size_t len);
/* One GET /plaintext on a fresh TLS connection; true when answered 200. */
bool tls_get_plain(int port);

/* A client whose handshake bytes go where the test wants: the ClientHello
 * (and later flights) come out of mb_out, server bytes go in by mb_in. */
struct mbio_client {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out; /* in: bytes from the server; out: bytes to send */
};
void mbio_init(struct mbio_client *m, const char *sni);
/* Runs the handshake as far as it goes; returns what OpenSSL has to send
 * (malloc'd, *n bytes). */
unsigned char *mbio_step(struct mbio_client *m, size_t *n);
void mbio_feed(struct mbio_client *m, const void *p, size_t n);
void mbio_free(struct mbio_client *m);

/* Runs `sh -c cmd` (stdin /dev/null, stderr into the output), killed after
 * 20 s; returns its exit status (-1 if killed); *out malloc'd text. */
int run_cmd(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sum of the series of name whose labels contain every string of want, 0 if
 * none (unlike h_metric_sel). */
long long msum(const char *text, const char *name, const char *const *want);
#define MSUM(text, name, ...) msum((text), (name), (const char *const[]){__VA_ARGS__ __VA_OPT__(,) NULL})
/* Number of series of name with those labels and a value > 0. */
int mpositive(const char *text, const char *name, const char *const *want);
#define MPOS(text, name, ...) mpositive((text), (name), (const char *const[]){__VA_ARGS__ __VA_OPT__(,) NULL})

/* Microseconds on CLOCK_MONOTONIC. */
long long now_us(void);

#endif
