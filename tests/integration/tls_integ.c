/* Helpers of the HTTPS integration suites (see tls_integ.h). */
#include "tls_integ.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls_util.h"

char t_dir[64], t_root[96];
char crt_def[160], key_def[160], crt_a[160], key_a[160], crt_w[160], key_w[160];
unsigned char *big;

static void write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	cr_assert(f, "create %s", path);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	cr_assert_eq(fclose(f), 0);
}

void tls_tree(void)
{
	strcpy(t_dir, "/tmp/herd-tls-XXXXXX");
	cr_assert(mkdtemp(t_dir), "mkdtemp");
	cr_assert_eq(tls_util_make_pair(t_dir, "default", "ec", "DNS:localhost,IP:127.0.0.1", 2,
					crt_def, key_def, sizeof(crt_def)), 0);
	cr_assert_eq(tls_util_make_pair(t_dir, "a", "ec", "DNS:a.test", 2, crt_a, key_a,
					sizeof(crt_a)), 0);
	cr_assert_eq(tls_util_make_pair(t_dir, "w", "rsa", "DNS:*.w.test", 2, crt_w, key_w,
					sizeof(crt_w)), 0);
	snprintf(t_root, sizeof(t_root), "%s/root", t_dir);
	cr_assert_eq(mkdir(t_root, 0755), 0);
	big = malloc(BIG_LEN);
	cr_assert(big);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < BIG_LEN; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		big[i] = (unsigned char)(x >> 24);
	}
	char p[160];
	snprintf(p, sizeof(p), "%s/big.bin", t_root);
	write_file(p, big, BIG_LEN);
	snprintf(p, sizeof(p), "%s/small.txt", t_root);
	write_file(p, SMALL_TXT, strlen(SMALL_TXT));
}

void tls_fini(void)
{
	harness_fini();
	if (t_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", t_dir);
		t_dir[0] = 0;
	}
}

bool tls_procs(void)
{
	const char *e = getenv("HERD_EXTRA_ARGS");
	return e && strstr(e, "--procs");
}

long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

SSL *tls_dial(int port, const char *sni, const char *alpn, SSL_SESSION *sess)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT);
	if (alpn) {
		unsigned char wire[64];
		size_t n = strlen(alpn);
		wire[0] = (unsigned char)n;
		memcpy(wire + 1, alpn, n);
		SSL_CTX_set_alpn_protos(ctx, wire, (unsigned)n + 1);
	}
	int fd = h_connect(port);
	SSL *ssl = fd >= 0 ? SSL_new(ctx) : NULL;
	SSL_CTX_free(ctx); /* the SSL keeps a reference */
	if (!ssl) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	SSL_set_fd(ssl, fd);
	if (sni)
		SSL_set_tlsext_host_name(ssl, sni);
	if (sess)
		SSL_set_session(ssl, sess);
	if (SSL_connect(ssl) != 1) {
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	return ssl;
}

void tls_hangup(SSL *ssl)
{
	if (!ssl)
		return;
	int fd = SSL_get_fd(ssl);
	SSL_shutdown(ssl);
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
}

int tls_request(SSL *ssl, const char *req, char **out, size_t *body_len)
{
	*out = NULL;
	size_t n = strlen(req);
	if (SSL_write(ssl, req, (int)n) != (int)n)
		return -1;
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	size_t want = (size_t)-1;
	while (len < want) {
		if (cap - len < 16384) {
			cap *= 2;
			char *q = realloc(buf, cap + 1);
			if (!q)
				break;
			buf = q;
		}
		int r = SSL_read(ssl, buf + len, (int)(cap - len));
		if (r <= 0)
			break;
		len += (size_t)r;
		buf[len] = 0;
		char *end = want == (size_t)-1 ? strstr(buf, "\r\n\r\n") : NULL;
		if (end) {
			size_t head = (size_t)(end + 4 - buf);
			const char *cl = strcasestr(buf, "\r\ncontent-length:");
			size_t blen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
			if (!strncmp(req, "HEAD ", 5))
				blen = 0;
			want = head + blen;
			if (body_len)
				*body_len = blen;
		}
	}
	ERR_clear_error();
	buf[len] = 0;
	*out = buf;
	if (len < want || len < 12 || strncmp(buf, "HTTP/1.1 ", 9))
		return -1;
	return atoi(buf + 9);
}

void tls_peer_cn_of(int port, const char *sni, char *cn, size_t len)
{
	cn[0] = 0;
	SSL *ssl = tls_dial(port, sni, NULL, NULL);
	if (!ssl)
		return;
	tls_util_peer_cn(ssl, cn, len);
	tls_hangup(ssl);
}

bool tls_get_plain(int port)
{
	SSL *ssl = tls_dial(port, NULL, NULL, NULL);
	if (!ssl)
		return false;
	char *out;
	int st = tls_request(ssl, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &out, NULL);
	bool ok = st == 200 && strstr(out, "\r\n\r\nHello, World!");
	free(out);
	tls_hangup(ssl);
	return ok;
}

void mbio_init(struct mbio_client *m, const char *sni)
{
	m->ctx = SSL_CTX_new(TLS_client_method());
	cr_assert(m->ctx);
	SSL_CTX_set_verify(m->ctx, SSL_VERIFY_NONE, NULL);
	m->ssl = SSL_new(m->ctx);
	m->in = BIO_new(BIO_s_mem());
	m->out = BIO_new(BIO_s_mem());
	cr_assert(m->ssl && m->in && m->out);
	SSL_set_bio(m->ssl, m->in, m->out);
	if (sni)
		SSL_set_tlsext_host_name(m->ssl, sni);
	SSL_set_connect_state(m->ssl);
}

unsigned char *mbio_step(struct mbio_client *m, size_t *n)
{
	SSL_do_handshake(m->ssl);
	ERR_clear_error();
	size_t have = (size_t)BIO_pending(m->out);
	unsigned char *p = malloc(have + 1);
	*n = have ? (size_t)BIO_read(m->out, p, (int)have) : 0;
	return p;
}

void mbio_feed(struct mbio_client *m, const void *p, size_t n)
{
	BIO_write(m->in, p, (int)n);
}

void mbio_free(struct mbio_client *m)
{
	SSL_free(m->ssl); /* frees the BIOs */
	SSL_CTX_free(m->ctx);
	*m = (struct mbio_client){0};
}

int run_cmd(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = h_run_shv(out, 20, fmt, ap);
	va_end(ap);
	return rc;
}

static bool labels_match(const char *line, const char *end, const char *const *want)
{
	for (; want && *want; want++) {
		const char *f = strstr(line, *want);
		if (!f || f > end)
			return false;
	}
	return true;
}

static long long scan(const char *text, const char *name, const char *const *want, bool count)
{
	long long acc = 0;
	size_t nl = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, nl) || (p[nl] != '{' && p[nl] != ' '))
			continue;
		const char *sp = strchr(p, '}');
		const char *eol = strchr(p, '\n');
		if (!sp || (eol && sp > eol))
			sp = p + nl;
		if (!labels_match(p, sp, want))
			continue;
		long long v = strtoll(sp + 1, NULL, 10);
		acc += count ? (v > 0) : v;
	}
	return acc;
}

long long msum(const char *text, const char *name, const char *const *want)
{
	return text ? scan(text, name, want, false) : -1;
}

int mpositive(const char *text, const char *name, const char *const *want)
{
	return text ? (int)scan(text, name, want, true) : -1;
}
