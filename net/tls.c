/* TLS as a transport (see net/tls.h): OpenSSL over a BIO of herd's own. */
#include "net/tls.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/ktls.h"
#include "net/outbuf.h"
#include "net/tls_ctx.h"

/* OpenSSL's internal BIO controls for kernel TLS (include/internal/ktls.h in
 * OpenSSL 3.0): its socket BIO answers them; so does ours, which is how the
 * record layer reaches the kernel without OpenSSL owning the socket. */
#define HERD_BIO_SET_KTLS 72
#define HERD_BIO_SET_KTLS_CTRL_MSG 74
#define HERD_BIO_CLEAR_KTLS_CTRL_MSG 75

/* A record's plaintext: SSL_read returns at most this much per call. */
#define RECORD_MAX 16384

struct tls_conn {
	SSL *ssl; /* holds its own reference of the tls_ctx (tls_ctx_ssl) */
	int fd;
	/* The BIO's source and sink, set for the length of one call. */
	const char *in;
	size_t in_left;
	struct outbuf *wire;
	bool want_ktls, kernel_tx, established, first_seen, nomem;
	bool busy; /* output is in the mechanism's hands: nothing may go around it */
	unsigned char ctrl_type; /* kernel TLS: the next write is a record of this type */
	uint8_t news;
	char *stash;
	size_t stash_len, stash_cap;
	char err[160];
};

const char tls_plain_http_answer[] =
	"HTTP/1.1 400 Bad Request\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Length: 48\r\n"
	"Connection: close\r\n"
	"\r\n"
	"The plain HTTP request was sent to HTTPS port.\r\n";

int tls_outbuf_append(struct outbuf *o, const void *p, size_t n)
{
	if (o->cap - o->len < n) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap - o->len < n)
			cap *= 2;
		char *q = realloc(o->p, cap);
		if (!q)
			return -1;
		o->p = q;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

/* Sends what wire holds now, straight to the socket: before the kernel takes
 * over the record layer nothing may be left queued behind it. */
static int flush_now(struct tls_conn *t)
{
	struct outbuf *o = t->wire;
	size_t off = 0;
	while (o && off < o->len) {
		ssize_t k = send(t->fd, o->p + off, o->len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	if (!o)
		return 0;
	memmove(o->p, o->p + off, o->len - off);
	o->len -= off;
	return o->len ? -1 : 0;
}

static int wire_read(BIO *b, char *buf, int len)
{
	struct tls_conn *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (!t->in_left || len <= 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	size_t n = t->in_left < (size_t)len ? t->in_left : (size_t)len;
	memcpy(buf, t->in, n);
	t->in += n;
	t->in_left -= n;
	return (int)n;
}

static int wire_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *t = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (len <= 0)
		return 0;
	if (t->ctrl_type) {
		/* Under kernel TLS a handshake message or an alert is a record
		 * the kernel must frame with its own type, sent now: so never
		 * while other output is on its way (it would overtake it), and
		 * no KeyUpdate after the handshake: OpenSSL would move to new
		 * keys the kernel never gets, and every later record would be
		 * garbage to the client. */
		unsigned char type = t->ctrl_type;
		t->ctrl_type = 0;
		if (t->busy || t->stash_len) {
			snprintf(t->err, sizeof(t->err), "kernel TLS: a record while output is pending");
			return -1;
		}
		if (type == SSL3_RT_HANDSHAKE && t->established) {
			snprintf(t->err, sizeof(t->err), "kernel TLS: a key update (not supported)");
			return -1;
		}
		if (flush_now(t) < 0 || ktls_send_record(t->fd, type, buf, (size_t)len) < 0)
			return -1;
		return len;
	}
	if (!t->wire || tls_outbuf_append(t->wire, buf, (size_t)len) < 0) {
		t->nomem = t->wire != NULL;
		return -1;
	}
	return len;
}

static int start_kernel_tx(struct tls_conn *t, void *crypto_info)
{
	/* A flight the socket does not take at once keeps the record layer
	 * here: declining is always safe, OpenSSL then encrypts itself. */
	if (!t->want_ktls || t->busy || t->stash_len || flush_now(t) < 0 ||
	    ktls_start_tx(t->fd, crypto_info) < 0)
		return 0;
	t->kernel_tx = true;
	return 1;
}

static long wire_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_conn *t = BIO_get_data(b);
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_GET_KTLS_SEND:
		return t && t->kernel_tx;
	case HERD_BIO_SET_KTLS:
		/* Only the transmit side: input keeps coming through the
		 * mechanism's buffers, which already hold the next records. */
		return t && num ? start_kernel_tx(t, ptr) : 0;
	case HERD_BIO_SET_KTLS_CTRL_MSG:
		t->ctrl_type = (unsigned char)num;
		return 1;
	case HERD_BIO_CLEAR_KTLS_CTRL_MSG:
		t->ctrl_type = 0;
		return 1;
	default:
		return 0;
	}
}

static int wire_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *wire_method;
static pthread_once_t wire_once = PTHREAD_ONCE_INIT;

static void wire_method_init(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "herd wire");
	if (m && BIO_meth_set_read(m, wire_read) && BIO_meth_set_write(m, wire_write) &&
	    BIO_meth_set_ctrl(m, wire_ctrl) && BIO_meth_set_create(m, wire_create))
		wire_method = m;
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, int fd, bool ktls)
{
	pthread_once(&wire_once, wire_method_init);
	if (!wire_method)
		return NULL;
	struct tls_conn *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	BIO *b = NULL;
	t->fd = fd;
	t->want_ktls = ktls;
	t->ssl = tls_ctx_ssl(ctx);
	if (!t->ssl || !(b = BIO_new(wire_method))) {
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_data(b, t);
	SSL_set_bio(t->ssl, b, b);
	if (ktls)
		SSL_set_options(t->ssl, SSL_OP_ENABLE_KTLS);
	SSL_set_accept_state(t->ssl);
	return t;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	free(t->stash);
	free(t);
}

/* A request line's start, where a ClientHello's record type (22) belongs. */
static bool looks_like_http(const char *p, size_t n)
{
	for (size_t i = 0; i < n && i < 8; i++) {
		if (p[i] == ' ')
			return i > 0;
		if (p[i] < 'A' || p[i] > 'Z')
			return false;
	}
	return n > 0;
}

static void note_error(struct tls_conn *t, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	if (e) {
		char s[128];
		ERR_error_string_n(e, s, sizeof(s));
		snprintf(t->err, sizeof(t->err), "%s: %s", what, s);
	} else {
		snprintf(t->err, sizeof(t->err), "%s", what);
	}
	ERR_clear_error();
}

static enum tls_result classify(struct tls_conn *t, int rc)
{
	switch (SSL_get_error(t->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		return TLS_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_CLOSED;
	default:
		if (t->nomem) {
			ERR_clear_error();
			return TLS_NOMEM;
		}
		note_error(t, t->established ? "record" : "handshake");
		return TLS_FAILED;
	}
}

static enum tls_result read_records(struct tls_conn *t, struct outbuf *plain)
{
	for (;;) {
		if (plain->cap - plain->len < RECORD_MAX) {
			size_t want = plain->len + RECORD_MAX;
			size_t cap = plain->cap ? plain->cap : RECORD_MAX;
			while (cap < want)
				cap *= 2;
			char *q = realloc(plain->p, cap);
			if (!q)
				return TLS_NOMEM;
			plain->p = q;
			plain->cap = cap;
		}
		size_t room = plain->cap - plain->len;
		int k = SSL_read(t->ssl, plain->p + plain->len, room > INT_MAX ? INT_MAX : (int)room);
		if (k <= 0)
			return classify(t, k);
		plain->len += (size_t)k;
	}
}

enum tls_result tls_conn_input(struct tls_conn *t, const char *p, size_t n, struct outbuf *plain,
			       struct outbuf *wire)
{
	if (!t->first_seen && n) {
		t->first_seen = true;
		if ((unsigned char)p[0] != 22 && looks_like_http(p, n))
			return TLS_PLAIN_HTTP;
	}
	/* A stale error from another connection of this thread would be
	 * taken for this one's. */
	ERR_clear_error();
	t->in = p;
	t->in_left = n;
	t->wire = wire;
	enum tls_result r;
	int rc = t->established ? 1 : SSL_do_handshake(t->ssl);
	if (rc == 1 && !t->established) {
		t->established = true;
		t->news = SSL_session_reused(t->ssl) ? TLS_NEWS_RESUMED : TLS_NEWS_FULL;
	}
	r = rc == 1 ? read_records(t, plain) : classify(t, rc);
	t->in = NULL;
	t->in_left = 0;
	t->wire = NULL;
	return r;
}

int tls_conn_output(struct tls_conn *t, const char *p, size_t n, struct outbuf *wire)
{
	if (t->kernel_tx)
		return tls_outbuf_append(wire, p, n);
	ERR_clear_error();
	t->wire = wire;
	int rc = 0;
	while (n) {
		int k = SSL_write(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
		if (k <= 0) {
			note_error(t, "write");
			rc = -1;
			break;
		}
		p += k;
		n -= (size_t)k;
	}
	t->wire = NULL;
	return rc;
}

void tls_conn_shutdown(struct tls_conn *t, struct outbuf *wire)
{
	if (!t->established)
		return;
	ERR_clear_error();
	t->wire = wire;
	(void)SSL_shutdown(t->ssl);
	t->wire = NULL;
	ERR_clear_error();
}

bool tls_conn_established(const struct tls_conn *t)
{
	return t->established;
}

bool tls_conn_kernel_tx(const struct tls_conn *t)
{
	return t->kernel_tx;
}

enum tls_news tls_conn_news(struct tls_conn *t)
{
	enum tls_news n = t->news;
	t->news = TLS_NEWS_NONE;
	return n;
}

const char *tls_conn_error(const struct tls_conn *t)
{
	return t->err[0] ? t->err : "connection failed";
}

int tls_conn_stash(struct tls_conn *t, struct outbuf *wire)
{
	struct outbuf s = {.p = t->stash, .len = t->stash_len, .cap = t->stash_cap};
	int r = tls_outbuf_append(&s, wire->p, wire->len);
	t->stash = s.p;
	t->stash_len = s.len;
	t->stash_cap = s.cap;
	wire->len = 0;
	return r;
}

size_t tls_conn_stashed(const struct tls_conn *t)
{
	return t->stash_len;
}

int tls_conn_unstash(struct tls_conn *t, struct outbuf *wire)
{
	if (tls_outbuf_append(wire, t->stash, t->stash_len) < 0)
		return -1;
	free(t->stash);
	t->stash = NULL;
	t->stash_len = t->stash_cap = 0;
	return 0;
}

void tls_conn_busy(struct tls_conn *t, bool busy)
{
	t->busy = busy;
}

bool tls_conn_partial(const struct tls_conn *t)
{
	return !t->established || SSL_has_pending(t->ssl);
}

bool tls_conn_peer_closed(const struct tls_conn *t)
{
	return (SSL_get_shutdown(t->ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}
