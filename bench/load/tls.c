#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "clock.h"
#include "worker.h"

/*
 * A broken server fails every connection the same way, thousands of times a
 * second: one line a second says why, with how many were not printed.  The
 * counts by kind are in the final report anyway.
 */
static _Atomic uint64_t complain_next;
static atomic_ulong complain_quiet;

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void complain(const char *fmt, ...)
{
	uint64_t now = now_ns();
	uint64_t next = atomic_load_explicit(&complain_next, memory_order_relaxed);
	if (now < next ||
	    !atomic_compare_exchange_strong(&complain_next, &next, now + NS_PER_SEC)) {
		atomic_fetch_add_explicit(&complain_quiet, 1, memory_order_relaxed);
		return;
	}
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	unsigned long quiet = atomic_exchange(&complain_quiet, 0);
	if (quiet)
		fprintf(stderr, "herd-load: TLS: %s (and %lu more TLS failures not shown)\n", msg,
			quiet);
	else
		fprintf(stderr, "herd-load: TLS: %s\n", msg);
}

/* The innermost reason OpenSSL queued, e.g. "certificate verify failed". */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown error";
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * TLS 1.3 tickets arrive after the handshake, while the response is read,
 * so the sessions worth keeping are the ones this callback is handed, not
 * the one SSL_get1_session returns when SSL_connect finishes.  Each is
 * kept for one connection, as a browser does; when the store is full the
 * oldest goes.
 */
static int keep_session(SSL *ssl, SSL_SESSION *sess)
{
	struct load_worker *w = SSL_get_app_data(ssl);
	if (!w || !SSL_SESSION_is_resumable(sess))
		return 0;
	if (w->tls_nsessions == LOAD_TLS_SESSIONS) {
		SSL_SESSION_free(w->tls_sessions[0]);
		memmove(w->tls_sessions, w->tls_sessions + 1,
			sizeof(w->tls_sessions[0]) * (LOAD_TLS_SESSIONS - 1));
		w->tls_nsessions--;
	}
	w->tls_sessions[w->tls_nsessions++] = sess;
	return 1; /* the reference is ours now */
}

/* The newest ticket not used yet, or NULL (a full handshake). */
static SSL_SESSION *take_session(struct load_worker *w)
{
	while (w->tls_nsessions > 0) {
		SSL_SESSION *s = w->tls_sessions[--w->tls_nsessions];
		if (SSL_SESSION_is_resumable(s))
			return s;
		SSL_SESSION_free(s);
	}
	return NULL;
}

static SSL_CTX *ctx_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, ssl_reason());
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *load_tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return ctx_fail(ctx, err, errlen, "cannot create the TLS context");
	/*
	 * A server that closes after its last response without close_notify
	 * (many do) is an ordinary EOF here: the HTTP framing already tells a
	 * complete response from a cut one.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* send() semantics: a full socket buffer takes part of a batch */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* thousands of connections that sit idle must not hold 2 x 17 KiB each */
	if (cfg->mode == MODE_IDLE || cfg->mode == MODE_STORM)
		SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* one recv() per socket edge, not one for each record header and body */
	SSL_CTX_set_read_ahead(ctx, 1);
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0)
		return ctx_fail(ctx, err, errlen, "cannot offer ALPN");

	if (cfg->insecure) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (cfg->cacert) {
			FILE *f = fopen(cfg->cacert, "r");
			if (!f) {
				snprintf(err, errlen, "cannot read --cacert %s: %s", cfg->cacert,
					 strerror(errno));
				SSL_CTX_free(ctx);
				return NULL;
			}
			fclose(f);
			if (SSL_CTX_load_verify_locations(ctx, cfg->cacert, NULL) != 1) {
				char what[300];
				snprintf(what, sizeof(what), "no certificate in --cacert %.200s",
					 cfg->cacert);
				return ctx_fail(ctx, err, errlen, what);
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			return ctx_fail(ctx, err, errlen, "cannot load the system's CA certificates");
		}
		/* set once on the context; every SSL_new inherits it */
		X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
		const char *host = cfg->url.host;
		int ok;
		if (is_ip_literal(host)) {
			ok = X509_VERIFY_PARAM_set1_ip_asc(vp, host);
		} else {
			X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok = X509_VERIFY_PARAM_set1_host(vp, host, 0);
		}
		if (ok != 1)
			return ctx_fail(ctx, err, errlen, "cannot set the host name to verify");
	}

	if (cfg->tls_resume) {
		/* no internal store: each thread keeps its own session, no shared lock */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
						    SSL_SESS_CACHE_NO_INTERNAL_STORE);
		SSL_CTX_sess_set_new_cb(ctx, keep_session);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

void load_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

static void handshake_failed(struct load_conn *c, int ssl_err, int saved, enum err_kind *kind)
{
	long v = SSL_get_verify_result(c->ssl);
	if ((SSL_get_verify_mode(c->ssl) & SSL_VERIFY_PEER) && v != X509_V_OK) {
		*kind = ERR_TLS_VERIFY;
		complain("certificate verification failed: %s",
			 X509_verify_cert_error_string(v));
	} else if (ssl_err == SSL_ERROR_SYSCALL && saved == ECONNRESET) {
		/* refused in all but name, like a reset during connect */
		*kind = ERR_CONNECT_RESET;
		complain("handshake: connection reset by the server");
	} else if (ssl_err == SSL_ERROR_SYSCALL) {
		*kind = ERR_TLS;
		complain("handshake: %s", saved ? strerror(saved)
						: "the server closed the connection");
	} else {
		*kind = ERR_TLS;
		complain("handshake failed: %s", ssl_reason());
	}
	ERR_clear_error();
}

int load_tls_handshake(struct load_conn *c, enum err_kind *kind)
{
	errno = 0;
	int rc = SSL_connect(c->ssl);
	if (rc == 1)
		return 1;
	int saved = errno;
	int e = SSL_get_error(c->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	handshake_failed(c, e, saved, kind);
	return -1;
}

int load_tls_start(struct load_worker *w, struct load_conn *c, enum err_kind *kind)
{
	SSL *ssl = SSL_new(w->tls);
	if (!ssl || SSL_set_fd(ssl, c->fd) != 1) {
		*kind = ERR_TLS;
		complain("cannot start a connection: %s", ssl_reason());
		ERR_clear_error();
		SSL_free(ssl);
		return -1;
	}
	SSL_set_app_data(ssl, w);
	const char *host = w->cfg->url.host;
	/* RFC 6066: SNI carries host names only, never an address */
	if (!is_ip_literal(host))
		SSL_set_tlsext_host_name(ssl, host);
	SSL_SESSION *sess = take_session(w);
	if (sess) {
		SSL_set_session(ssl, sess);
		SSL_SESSION_free(sess); /* the connection holds it now */
	}
	c->ssl = ssl;
	return load_tls_handshake(c, kind);
}

bool load_tls_resumed(const struct load_conn *c)
{
	return c->ssl && SSL_session_reused(c->ssl);
}

static ssize_t io_failed(struct load_conn *c, int rc, const char *op)
{
	int saved = errno;
	int e = SSL_get_error(c->ssl, rc);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		errno = saved ? saved : ECONNRESET;
		return -1;
	default:
		complain("%s: %s", op, ssl_reason());
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

ssize_t load_tls_recv(struct load_conn *c, void *buf, size_t len)
{
	errno = 0;
	int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	return n > 0 ? n : io_failed(c, n, "read");
}

ssize_t load_tls_send(struct load_conn *c, const void *buf, size_t len)
{
	errno = 0;
	int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	ssize_t r = io_failed(c, n, "write");
	if (r == 0) { /* close_notify while writing: the write failed */
		errno = EPIPE;
		r = -1;
	}
	return r;
}

void load_tls_end(struct load_conn *c, bool clean)
{
	if (!c->ssl)
		return;
	/*
	 * No close_notify on the wire: the server has usually closed already,
	 * and data to a closed socket would turn its FIN into a reset.  Marking
	 * the shutdown done keeps OpenSSL from flagging the session as
	 * not resumable, which it does to a connection freed mid-stream.
	 */
	if (clean)
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	SSL_free(c->ssl);
	c->ssl = NULL;
}

void load_tls_worker_end(struct load_worker *w)
{
	while (w->tls_nsessions > 0)
		SSL_SESSION_free(w->tls_sessions[--w->tls_nsessions]);
}
