/* Certificates, keys and server settings for HTTPS; see tls_ctx.h. */
#include "net/tls_ctx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "net/tls_ticket.h"

/* Mozilla "intermediate" for TLS 1.2 minus the DHE suites: finite-field DH
 * costs several times an ECDHE handshake and every client that speaks TLS 1.2
 * with AEAD also speaks ECDHE. */
#define TLS12_CIPHERS                                                           \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"            \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"            \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS_GROUPS "X25519:P-256:P-384"
#define HOST_MAX 253

struct tls_pair {
	SSL_CTX *ctx;
	char **names; /* lowercased; "*.example.com" for a wildcard */
	size_t nnames;
};

struct tls_ctx {
	atomic_uint refs;
	int n;
	struct tls_pair pair[];
};

__attribute__((format(printf, 4, 5))) static void set_err(char *err, size_t errlen,
							   const char *file, const char *fmt, ...)
{
	if (errlen == 0)
		return;
	int off = snprintf(err, errlen, "%s: ", file);
	if (off < 0 || (size_t)off >= errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err + off, errlen - (size_t)off, fmt, ap);
	va_end(ap);
	/* One line, whatever a file name or an OpenSSL string holds. */
	for (char *p = err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* The oldest queued OpenSSL reason, then the queue cleared, so a failure
 * here leaves nothing behind for the next SSL call of this thread. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return r ? r : "unknown OpenSSL error";
}

static BIO *open_pem(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		set_err(err, errlen, path, "%s", strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0) {
		set_err(err, errlen, path, "%s", strerror(errno));
		fclose(f);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(err, errlen, path, "%s",
			S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		fclose(f);
		return NULL;
	}
	BIO *b = BIO_new_fp(f, BIO_CLOSE);
	if (b == NULL) {
		fclose(f);
		set_err(err, errlen, path, "out of memory");
	}
	return b;
}

static void fmt_time(const ASN1_TIME *t, char *buf, size_t len)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "unreadable date");
}

/* which: "certificate" or "chain certificate N". */
static int check_dates(const char *path, const char *which, X509 *x, char *err, size_t errlen)
{
	char when[64];
	const ASN1_TIME *na = X509_get0_notAfter(x), *nb = X509_get0_notBefore(x);
	/* X509_cmp_current_time: 0 means an unreadable date, itself a reason. */
	if (X509_cmp_current_time(na) <= 0) {
		fmt_time(na, when, sizeof when);
		set_err(err, errlen, path, "%s expired (notAfter %s)", which, when);
		return -1;
	}
	if (X509_cmp_current_time(nb) >= 0) {
		fmt_time(nb, when, sizeof when);
		set_err(err, errlen, path, "%s not yet valid (notBefore %s)", which, when);
		return -1;
	}
	return 0;
}

static int is_end_of_pem(void)
{
	unsigned long e = ERR_peek_last_error();
	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static void bad_pem(const char *path, const char *what, char *err, size_t errlen)
{
	if (is_end_of_pem())
		set_err(err, errlen, path, "no PEM %s in the file", what);
	else
		set_err(err, errlen, path, "bad PEM %s (%s)", what, ossl_reason());
	ERR_clear_error();
}

/* The leaf, then its chain in order, each certifying the one before (as TLS
 * 1.2 requires of what is sent). */
static int load_certs(const char *path, X509 **leaf, STACK_OF(X509) **chain, char *err,
		      size_t errlen)
{
	BIO *b = open_pem(path, err, errlen);
	if (b == NULL)
		return -1;
	ERR_clear_error();
	*chain = NULL;
	*leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (*leaf == NULL) {
		bad_pem(path, "certificate", err, errlen);
		goto fail;
	}
	if (check_dates(path, "certificate", *leaf, err, errlen) != 0)
		goto fail;
	*chain = sk_X509_new_null();
	if (*chain == NULL) {
		set_err(err, errlen, path, "out of memory");
		goto fail;
	}
	X509 *prev = *leaf;
	for (int i = 1;; i++) {
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		if (x == NULL) {
			if (is_end_of_pem()) {
				ERR_clear_error();
				break;
			}
			set_err(err, errlen, path, "bad certificate chain (PEM certificate %d: %s)",
				i + 1, ossl_reason());
			goto fail;
		}
		if (!sk_X509_push(*chain, x)) {
			X509_free(x);
			set_err(err, errlen, path, "out of memory");
			goto fail;
		}
		char which[48];
		snprintf(which, sizeof which, "chain certificate %d", i + 1);
		if (check_dates(path, which, x, err, errlen) != 0)
			goto fail;
		if (X509_check_issued(x, prev) != X509_V_OK) {
			set_err(err, errlen, path,
				"bad certificate chain (certificate %d did not issue certificate %d)",
				i + 1, i);
			goto fail;
		}
		prev = x;
	}
	BIO_free(b);
	return 0;
fail:
	BIO_free(b);
	X509_free(*leaf);
	*leaf = NULL;
	sk_X509_pop_free(*chain, X509_free);
	*chain = NULL;
	ERR_clear_error();
	return -1;
}

/* Rewinds b after looking. */
static bool has_key_block(BIO *b)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	bool found = false;
	while (!found && PEM_read_bio(b, &name, &header, &data, &len) == 1) {
		size_t n = strlen(name);
		found = n >= 11 && !strcmp(name + n - 11, "PRIVATE KEY");
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
	}
	ERR_clear_error();
	return BIO_reset(b) == 0 && found;
}

static EVP_PKEY *load_key(const char *path, char *err, size_t errlen)
{
	BIO *b = open_pem(path, err, errlen);
	if (b == NULL)
		return NULL;
	ERR_clear_error();
	/* OpenSSL 3's decoders say "unsupported" for a file with no key at all
	 * (a certificate given as the key): look for a key block first. */
	if (!has_key_block(b)) {
		set_err(err, errlen, path, "no PEM private key in the file");
		BIO_free(b);
		ERR_clear_error();
		return NULL;
	}
	/* No passphrase callback: an encrypted key must not block on a tty. */
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	if (k == NULL)
		bad_pem(path, "private key", err, errlen);
	BIO_free(b);
	ERR_clear_error();
	return k;
}

/* What every client that matters can verify: RSA 2048+ and ECDSA on the
 * NIST curves TLS 1.3 signs with. */
static int check_key_type(const char *path, EVP_PKEY *k, char *err, size_t errlen)
{
	if (!k) {
		/* Parsed, but OpenSSL has no decoder for its key algorithm. */
		set_err(err, errlen, path, "unsupported key type (unreadable public key)");
		ERR_clear_error();
		return -1;
	}
	int id = EVP_PKEY_get_base_id(k);
	if (id == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(k);
		if (bits >= 2048)
			return 0;
		set_err(err, errlen, path, "unsupported key type (RSA %d bits; 2048 or more needed)",
			bits);
		return -1;
	}
	if (id == EVP_PKEY_EC) {
		char group[64];
		size_t len = 0;
		if (EVP_PKEY_get_group_name(k, group, sizeof group, &len) != 1)
			snprintf(group, sizeof group, "unnamed curve");
		ERR_clear_error();
		if (!strcmp(group, "prime256v1") || !strcmp(group, "secp384r1") ||
		    !strcmp(group, "secp521r1"))
			return 0;
		set_err(err, errlen, path,
			"unsupported key type (EC on %s; P-256, P-384 or P-521 needed)", group);
		return -1;
	}
	const char *name = OBJ_nid2sn(id);
	set_err(err, errlen, path, "unsupported key type (%s; RSA or ECDSA needed)",
		name && id != NID_undef ? name : "unknown");
	return -1;
}

static char *lower_dup(const unsigned char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : (char)s[i];
	d[len] = '\0';
	return d;
}

static int add_name(struct tls_pair *p, const unsigned char *s, int len)
{
	/* A name with a NUL inside would match a shorter one: ignored. */
	if (len <= 0 || memchr(s, '\0', (size_t)len) != NULL)
		return 0;
	char **nn = realloc(p->names, (p->nnames + 1) * sizeof *nn);
	if (nn == NULL)
		return -1;
	p->names = nn;
	if ((nn[p->nnames] = lower_dup(s, (size_t)len)) == NULL)
		return -1;
	p->nnames++;
	return 0;
}

/* SAN DNS entries; the subject CN only when there are none (RFC 6125 6.4.4). */
static int collect_names(struct tls_pair *p, X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int rc = 0;
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type == GEN_DNS)
			rc = add_name(p, ASN1_STRING_get0_data(g->d.dNSName),
				      ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (rc != 0 || p->nnames > 0)
		return rc;
	const X509_NAME *subj = X509_get_subject_name(x);
	int at = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (at >= 0) {
		const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, at));
		rc = add_name(p, ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn));
	}
	ERR_clear_error();
	return rc;
}

/* Exact names first over every pair, then wildcards: a certificate for
 * a.example.com wins over another's *.example.com whatever their order.
 * A wildcard covers one whole left-most label (RFC 6125 6.4.3) and needs two
 * labels after it, so "*.com" never matches. */
static int find_pair(const struct tls_ctx *tc, const char *host)
{
	for (int i = 0; i < tc->n; i++)
		for (size_t j = 0; j < tc->pair[i].nnames; j++)
			if (!strcmp(tc->pair[i].names[j], host))
				return i;
	const char *dot = strchr(host, '.');
	if (dot == NULL || dot == host || strchr(dot + 1, '.') == NULL)
		return -1;
	for (int i = 0; i < tc->n; i++)
		for (size_t j = 0; j < tc->pair[i].nnames; j++) {
			const char *w = tc->pair[i].names[j];
			if (w[0] == '*' && w[1] == '.' && !strcmp(w + 2, dot + 1))
				return i;
		}
	return -1;
}

static int servername_cb(SSL *ssl, int *alert, void *arg)
{
	(void)alert;
	const struct tls_ctx *tc = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	size_t len = strlen(sni);
	if (len > 0 && sni[len - 1] == '.')
		len--; /* RFC 6066 forbids it, some clients send it anyway */
	if (len == 0 || len > HOST_MAX)
		return SSL_TLSEXT_ERR_OK;
	char host[HOST_MAX + 1];
	for (size_t i = 0; i < len; i++)
		host[i] = (sni[i] >= 'A' && sni[i] <= 'Z') ? (char)(sni[i] - 'A' + 'a') : sni[i];
	host[len] = '\0';
	int i = find_pair(tc, host);
	/* No match is not an error: the default certificate answers, as nginx's
	 * default_server does, and the client decides. */
	if (i > 0 && SSL_get_SSL_CTX(ssl) != tc->pair[i].ctx &&
	    SSL_set_SSL_CTX(ssl, tc->pair[i].ctx) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* Only HTTP/1.1 is spoken: a client that offers ALPN must offer it, else
 * no_application_protocol (RFC 7301 3.2) rather than a silent mismatch. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const char h11[] = "http/1.1";
	for (unsigned int i = 0; i < inlen;) {
		unsigned int l = in[i];
		if (l == 0 || l > inlen - i - 1)
			break; /* malformed list */
		if (l == sizeof h11 - 1 && !memcmp(in + i + 1, h11, l)) {
			*out = in + i + 1;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + l;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static SSL_CTX *new_ssl_ctx(struct tls_ctx *tc, struct tls_tickets *tk, unsigned flags)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		return NULL;
	uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
#ifdef SSL_OP_NO_CLIENT_RENEGOTIATION
	opts |= SSL_OP_NO_CLIENT_RENEGOTIATION;
#endif
	if (flags & TLS_CTX_KTLS)
		opts |= SSL_OP_ENABLE_KTLS;
	SSL_CTX_set_options(ctx, opts);
	/* RELEASE_BUFFERS: an idle keep-alive connection holds no 2 x 16 KiB
	 * record buffers.  MOVING_WRITE_BUFFER: a retried SSL_write may come
	 * from another place in the output buffer after it was compacted. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Stateless tickets only: a server-side cache would be per process and
	 * miss whenever a client comes back to another worker process. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	static const unsigned char sid_ctx[] = "herd";
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
	    SSL_CTX_set_num_tickets(ctx, 1) != 1 ||
	    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1) != 1 ||
	    (tk != NULL && tls_tickets_install(ctx, tk) != 0))
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
	/* On every pair, not only the default: after a HelloRetryRequest the
	 * second ClientHello is looked at on the context already switched to. */
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, tc);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int load_pair(struct tls_ctx *tc, struct tls_pair *p, const struct tls_keypair *kp,
		     struct tls_tickets *tk, unsigned flags, char *err, size_t errlen)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	int rc = -1;

	if (load_certs(kp->cert, &leaf, &chain, err, errlen) != 0)
		return -1;
	if (check_key_type(kp->cert, X509_get0_pubkey(leaf), err, errlen) != 0)
		goto out;
	if ((key = load_key(kp->key, err, errlen)) == NULL)
		goto out;
	if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key) != 1) {
		set_err(err, errlen, kp->key, "private key does not match the certificate %s",
			kp->cert);
		goto out;
	}
	if ((p->ctx = new_ssl_ctx(tc, tk, flags)) == NULL) {
		set_err(err, errlen, kp->cert, "cannot set up a TLS context (%s)", ossl_reason());
		goto out;
	}
	/* OpenSSL's own checks (security level: e.g. a SHA-1 signature) last. */
	if (SSL_CTX_use_certificate(p->ctx, leaf) != 1 ||
	    SSL_CTX_set1_chain(p->ctx, chain) != 1) {
		set_err(err, errlen, kp->cert, "certificate rejected (%s)", ossl_reason());
		goto out;
	}
	if (SSL_CTX_use_PrivateKey(p->ctx, key) != 1 || SSL_CTX_check_private_key(p->ctx) != 1) {
		set_err(err, errlen, kp->key, "private key rejected (%s)", ossl_reason());
		goto out;
	}
	if (collect_names(p, leaf) != 0) {
		set_err(err, errlen, kp->cert, "out of memory");
		goto out;
	}
	rc = 0;
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return rc;
}

static void free_ctx(struct tls_ctx *tc)
{
	for (int i = 0; i < tc->n; i++) {
		SSL_CTX_free(tc->pair[i].ctx);
		for (size_t j = 0; j < tc->pair[i].nnames; j++)
			free(tc->pair[i].names[j]);
		free(tc->pair[i].names);
	}
	free(tc);
}

/* The SSL's reference of its tls_ctx, dropped by SSL_free: the SNI callback
 * reads the table through it for as long as the SSL lives. */
static int ssl_ex = -1;
static CRYPTO_ONCE ssl_ex_once = CRYPTO_ONCE_STATIC_INIT;

static void ssl_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr != NULL)
		tls_ctx_unref(ptr);
}

static void ssl_ex_init(void)
{
	ssl_ex = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_ex_free);
}

struct tls_ctx *tls_ctx_new(const struct tls_keypair *pairs, int n, struct tls_tickets *tk,
			    unsigned flags, char *err, size_t errlen)
{
	if (errlen > 0)
		err[0] = '\0';
	if (n < 1 || pairs == NULL) {
		set_err(err, errlen, "tls", "no certificate given");
		return NULL;
	}
	if (!CRYPTO_THREAD_run_once(&ssl_ex_once, ssl_ex_init) || ssl_ex < 0) {
		set_err(err, errlen, "tls", "cannot initialise OpenSSL");
		return NULL;
	}
	struct tls_ctx *tc = calloc(1, sizeof *tc + (size_t)n * sizeof tc->pair[0]);
	if (tc == NULL) {
		set_err(err, errlen, "tls", "out of memory");
		return NULL;
	}
	atomic_init(&tc->refs, 1);
	for (tc->n = 0; tc->n < n; tc->n++) {
		/* Counted before loading so free_ctx frees a half-built pair. */
		if (load_pair(tc, &tc->pair[tc->n], &pairs[tc->n], tk, flags, err, errlen) != 0) {
			tc->n++;
			free_ctx(tc);
			return NULL;
		}
	}
	return tc;
}

void tls_ctx_ref(struct tls_ctx *tc)
{
	atomic_fetch_add_explicit(&tc->refs, 1, memory_order_relaxed);
}

void tls_ctx_unref(struct tls_ctx *tc)
{
	if (tc != NULL && atomic_fetch_sub_explicit(&tc->refs, 1, memory_order_acq_rel) == 1)
		free_ctx(tc);
}

SSL *tls_ctx_ssl(struct tls_ctx *tc)
{
	SSL *ssl = SSL_new(tc->pair[0].ctx);
	if (ssl == NULL) {
		ERR_clear_error();
		return NULL;
	}
	tls_ctx_ref(tc);
	if (SSL_set_ex_data(ssl, ssl_ex, tc) != 1) {
		SSL_free(ssl);
		tls_ctx_unref(tc);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

int tls_ctx_pairs(const struct tls_ctx *tc)
{
	return tc->n;
}

size_t tls_ctx_names(const struct tls_ctx *tc, int i, const char *const **names)
{
	*names = (const char *const *)tc->pair[i].names;
	return tc->pair[i].nnames;
}
