/* Unit tests of the HTTPS certificate layer (net/tls_ctx.c, net/tls_ticket.c),
 * with real handshakes between an OpenSSL client and herd's server SSL in
 * memory (tests/lib/tls_util.c):
 *
 *   load        EC and RSA pairs load; unreadable, not PEM, mismatched,
 *               expired, not yet valid and unsupported pairs are refused
 *               with one line naming the file and the reason
 *   sni         exact names, case, one-label wildcards, CN without SAN, and
 *               the default pair for everything else
 *   proto       TLS 1.1 refused by the server, 1.2 (ECDHE AEAD) and 1.3 spoken
 *   alpn        http/1.1 chosen, h2-only refused, no ALPN fine
 *   tickets     a session from one context resumes on another built apart
 *               with the same shared keys, after one rotation too, not after
 *               two; without shared keys it does not
 *   refs        an SSL outlives the caller's reference of its context */
#include <criterion/criterion.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/err.h>

#include "net/tls_ctx.h"
#include "net/tls_ticket.h"
#include "tls_util.h"

static char dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p);
}

static void setup(void)
{
	strcpy(dir, "/tmp/herd-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(tls_ctx, .init = setup, .fini = teardown, .timeout = 60);

struct pair {
	char cert[256], key[256];
};

static struct pair mk(const char *name, const char *type, const char *sans, int days)
{
	struct pair p;
	cr_assert_eq(tls_util_make_pair(dir, name, type, sans, days, p.cert, p.key, sizeof p.cert),
		     0, "making %s", name);
	return p;
}

static struct tls_ctx *load(const struct pair *p, int n, struct tls_tickets *tk, char *err,
			    size_t errlen)
{
	struct tls_keypair kp[8];
	for (int i = 0; i < n; i++)
		kp[i] = (struct tls_keypair){p[i].cert, p[i].key};
	return tls_ctx_new(kp, n, tk, 0, err, errlen);
}

struct conn {
	SSL *c, *s;
	unsigned long serr;
	int rc;
};

/* One handshake of a fresh client (cctx, sni, session to resume) with tc. */
static struct conn hs(struct tls_ctx *tc, SSL_CTX *cctx, const char *sni, SSL_SESSION *sess)
{
	struct conn k = {SSL_new(cctx), tls_ctx_ssl(tc), 0, -1};
	cr_assert(k.c && k.s);
	if (sni)
		cr_assert_eq(SSL_set_tlsext_host_name(k.c, sni), 1);
	if (sess)
		cr_assert_eq(SSL_set_session(k.c, sess), 1);
	k.rc = tls_util_handshake(k.c, k.s, &k.serr);
	return k;
}

/* Closed with close_notify: an SSL freed without it marks its session not
 * resumable (OpenSSL's "bad session" rule). */
static void conn_free(struct conn *k)
{
	if (k->rc == 0)
		SSL_shutdown(k->c);
	ERR_clear_error();
	SSL_free(k->c);
	SSL_free(k->s);
}

static void expect_refused(const struct pair *p, const char *file, const char *reason)
{
	char err[512] = "";
	struct tls_ctx *tc = load(p, 1, NULL, err, sizeof err);
	cr_assert_null(tc, "loaded although %s", reason);
	cr_expect(strncmp(err, file, strlen(file)) == 0 && err[strlen(file)] == ':',
		  "error names %s: %s", file, err);
	cr_expect(strstr(err, reason) != NULL, "error says '%s': %s", reason, err);
	cr_expect(strchr(err, '\n') == NULL, "one line: %s", err);
	cr_expect_eq(ERR_peek_error(), 0ul, "no OpenSSL error left queued");
}

Test(tls_ctx, loads_ec_and_rsa)
{
	struct pair p[2] = {mk("ec", "ec", "DNS:ec.test", 30), mk("rsa", "rsa", "DNS:rsa.test", 30)};
	char err[512] = "";
	struct tls_ctx *tc = load(p, 2, NULL, err, sizeof err);
	cr_assert_not_null(tc, "%s", err);
	cr_expect_eq(tls_ctx_pairs(tc), 2);
	const char *const *names;
	cr_assert_eq(tls_ctx_names(tc, 1, &names), 1u);
	cr_expect_str_eq(names[0], "rsa.test");

	/* Both keys really sign a handshake: TLS 1.2 picks the suite by key. */
	SSL_CTX *c12 = tls_util_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	const char *sni[2] = {"ec.test", "rsa.test"}, *kx[2] = {"ECDHE-ECDSA-", "ECDHE-RSA-"};
	for (int i = 0; i < 2; i++) {
		struct conn k = hs(tc, c12, sni[i], NULL);
		cr_expect_eq(k.rc, 0, "handshake with %s", sni[i]);
		cr_expect(strncmp(SSL_get_cipher_name(k.c), kx[i], strlen(kx[i])) == 0, "%s",
			  SSL_get_cipher_name(k.c));
		conn_free(&k);
	}
	SSL_CTX_free(c12);
	tls_ctx_unref(tc);
}

Test(tls_ctx, refuses_bad_pairs)
{
	struct pair good = mk("good", "ec", "DNS:good.test", 30);
	struct pair other = mk("other", "ec", "DNS:other.test", 30);

	struct pair p = good;
	snprintf(p.cert, sizeof p.cert, "%s/missing.crt", dir);
	expect_refused(&p, p.cert, "No such file or directory");
	p = good;
	snprintf(p.key, sizeof p.key, "%s/missing.key", dir);
	expect_refused(&p, p.key, "No such file or directory");
	p = good;
	snprintf(p.cert, sizeof p.cert, "%s", dir);
	expect_refused(&p, p.cert, "Is a directory");

	p = good;
	snprintf(p.cert, sizeof p.cert, "%s/garbage.crt", dir);
	FILE *f = fopen(p.cert, "w");
	fputs("this is not a certificate\n", f);
	fclose(f);
	expect_refused(&p, p.cert, "no PEM certificate");
	f = fopen(p.cert, "w");
	fputs("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	expect_refused(&p, p.cert, "bad PEM certificate");
	p = good;
	snprintf(p.key, sizeof p.key, "%s", good.cert);
	expect_refused(&p, p.key, "no PEM private key");

	p = good;
	strcpy(p.key, other.key);
	expect_refused(&p, p.key, "does not match the certificate");

	p = mk("old", "ec", "DNS:old.test", -2);
	expect_refused(&p, p.cert, "certificate expired (notAfter ");
	char c[256], k[256];
	cr_assert_eq(tls_util_make_pair_at(dir, "future", "ec", "DNS:f.test", 3600, 86400, c, k,
					   sizeof c), 0);
	strcpy(p.cert, c);
	strcpy(p.key, k);
	expect_refused(&p, p.cert, "certificate not yet valid (notBefore ");

	p = mk("weak", "rsa1024", "DNS:weak.test", 30);
	expect_refused(&p, p.cert, "unsupported key type (RSA 1024 bits");
	p = mk("edw", "ed25519", "DNS:ed.test", 30);
	expect_refused(&p, p.cert, "unsupported key type (ED25519");

	/* A bad second pair fails the whole set, naming its own file. */
	struct pair two[2] = {good, mk("old2", "ec", NULL, -1)};
	char err[512];
	cr_expect_null(load(two, 2, NULL, err, sizeof err));
	cr_expect(strstr(err, two[1].cert) == err, "%s", err);
}

Test(tls_ctx, chain_in_order_is_checked)
{
	/* Two unrelated self-signed certificates in one file: the second did not
	 * issue the first. */
	struct pair a = mk("leaf", "ec", "DNS:leaf.test", 30), b = mk("stray", "ec", NULL, 30);
	char both[300];
	snprintf(both, sizeof both, "%s/both.crt", dir);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s'", a.cert, b.cert, both);
	cr_assert_eq(system(cmd), 0);
	strcpy(a.cert, both);
	expect_refused(&a, a.cert, "bad certificate chain (certificate 2 did not issue certificate 1)");
}

Test(tls_ctx, sni_picks_the_pair)
{
	struct pair p[4] = {
		mk("def", "ec", "DNS:def.test", 30),
		mk("a", "rsa", "DNS:a.test,DNS:alias.test", 30),
		mk("w", "ec", "DNS:*.w.test,IP:127.0.0.1", 30),
		mk("cn.test", "ec", NULL, 30), /* no SAN: the CN answers */
	};
	char err[512];
	struct tls_ctx *tc = load(p, 4, NULL, err, sizeof err);
	cr_assert_not_null(tc, "%s", err);
	const char *const *names;
	cr_expect_eq(tls_ctx_names(tc, 2, &names), 1u, "IP entries are not names");
	cr_expect_eq(tls_ctx_names(tc, 3, &names), 1u);
	cr_expect_str_eq(names[0], "cn.test");

	static const struct {
		const char *sni, *cn;
	} cases[] = {
		{"a.test", "a"},          {"A.Test", "a"},        {"alias.test", "a"},
		{"a.test.", "a"},         {"x.w.test", "w"},      {"X.W.TEST", "w"},
		{"cn.test", "cn.test"},   {"unknown.test", "def"}, {"w.test", "def"},
		{"a.b.w.test", "def"},    {"*.w.test", "w"},      {".w.test", "def"},
		{"xw.test", "def"},       {NULL, "def"},
	};
	SSL_CTX *cctx = tls_util_client_ctx(0, 0, NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conn k = hs(tc, cctx, cases[i].sni, NULL);
		char cn[64];
		tls_util_peer_cn(k.c, cn, sizeof cn);
		cr_expect_eq(k.rc, 0, "handshake for %s", cases[i].sni);
		cr_expect_str_eq(cn, cases[i].cn, "SNI %s", cases[i].sni ? cases[i].sni : "(none)");
		conn_free(&k);
	}
	SSL_CTX_free(cctx);
	tls_ctx_unref(tc);
}

Test(tls_ctx, protocol_versions)
{
	struct pair p = mk("v", "ec", "DNS:v.test", 30);
	char err[512];
	struct tls_ctx *tc = load(&p, 1, NULL, err, sizeof err);
	cr_assert_not_null(tc, "%s", err);

	SSL_CTX *c11 = tls_util_client_ctx(TLS1_1_VERSION, TLS1_1_VERSION, NULL);
	struct conn k = hs(tc, c11, "v.test", NULL);
	cr_expect_neq(k.rc, 0, "TLS 1.1 refused");
	cr_expect_eq(ERR_GET_REASON(k.serr), SSL_R_UNSUPPORTED_PROTOCOL, "server: %s",
		     ERR_reason_error_string(k.serr));
	conn_free(&k);
	SSL_CTX_free(c11);

	int v[2] = {TLS1_2_VERSION, TLS1_3_VERSION};
	for (int i = 0; i < 2; i++) {
		SSL_CTX *c = tls_util_client_ctx(v[i], v[i], NULL);
		k = hs(tc, c, "v.test", NULL);
		cr_expect_eq(k.rc, 0, "version %x", v[i]);
		cr_expect_eq(SSL_version(k.s), v[i]);
		cr_expect_eq(tls_util_exchange(k.c, k.s), 0);
		conn_free(&k);
		SSL_CTX_free(c);
	}

	/* A TLS 1.2 client that only knows CBC or RSA key exchange is refused. */
	SSL_CTX *cbc = tls_util_client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	cr_assert_eq(SSL_CTX_set_cipher_list(cbc, "ECDHE-ECDSA-AES128-SHA256:AES128-GCM-SHA256"), 1);
	k = hs(tc, cbc, "v.test", NULL);
	cr_expect_neq(k.rc, 0, "non-AEAD or non-ECDHE suite refused");
	conn_free(&k);
	SSL_CTX_free(cbc);
	tls_ctx_unref(tc);
}

Test(tls_ctx, alpn)
{
	struct pair p = mk("alpn", "ec", "DNS:alpn.test", 30);
	char err[512];
	struct tls_ctx *tc = load(&p, 1, NULL, err, sizeof err);
	cr_assert_not_null(tc, "%s", err);

	const char *offers[] = {"http/1.1", "h2,http/1.1", NULL};
	for (int i = 0; i < 3; i++) {
		SSL_CTX *c = tls_util_client_ctx(0, 0, offers[i]);
		struct conn k = hs(tc, c, "alpn.test", NULL);
		cr_expect_eq(k.rc, 0, "offer %s", offers[i] ? offers[i] : "(none)");
		const unsigned char *sel;
		unsigned int len;
		SSL_get0_alpn_selected(k.c, &sel, &len);
		if (offers[i])
			cr_expect(len == 8 && !memcmp(sel, "http/1.1", 8), "selected %.*s", (int)len,
				  (const char *)sel);
		else
			cr_expect_eq(len, 0u);
		conn_free(&k);
		SSL_CTX_free(c);
	}

	for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
		SSL_CTX *h2 = tls_util_client_ctx(v, v, "h2");
		struct conn k = hs(tc, h2, "alpn.test", NULL);
		cr_expect_neq(k.rc, 0, "h2-only refused");
		cr_expect_eq(ERR_GET_REASON(k.serr), SSL_R_NO_APPLICATION_PROTOCOL, "server: %s",
			     ERR_reason_error_string(k.serr));
		conn_free(&k);
		SSL_CTX_free(h2);
	}
	tls_ctx_unref(tc);
}

/* A full handshake on a, then the session it left in the client. */
static SSL_SESSION *session_from(struct tls_ctx *a, SSL_CTX *cctx, const char *sni)
{
	struct conn k = hs(a, cctx, sni, NULL);
	cr_assert_eq(k.rc, 0);
	cr_assert_eq(tls_util_exchange(k.c, k.s), 0);
	cr_assert_eq(SSL_session_reused(k.c), 0);
	SSL_SESSION *s = SSL_get1_session(k.c);
	cr_assert(s && SSL_SESSION_is_resumable(s), "the server issued a ticket");
	conn_free(&k);
	return s;
}

static int resumes(struct tls_ctx *b, SSL_CTX *cctx, const char *sni, SSL_SESSION *s)
{
	struct conn k = hs(b, cctx, sni, s);
	cr_assert_eq(k.rc, 0, "a failed resumption still completes a full handshake");
	int r = SSL_session_reused(k.c);
	cr_expect_eq(r, SSL_session_reused(k.s));
	conn_free(&k);
	return r;
}

static void tickets_for(int version, const char *sni)
{
	struct tls_tickets *tk = mmap(NULL, tls_tickets_size(), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(tk, MAP_FAILED);
	cr_assert_eq(tls_tickets_init(tk), 0);
	struct pair p[2] = {mk("t", "ec", "DNS:t.test", 30), mk("u", "rsa", "DNS:u.test", 30)};
	char err[512];
	/* Two contexts built apart, as two handler processes would. */
	struct tls_ctx *a = load(p, 2, tk, err, sizeof err), *b = load(p, 2, tk, err, sizeof err);
	struct tls_ctx *lone = load(p, 2, NULL, err, sizeof err);
	cr_assert(a && b && lone, "%s", err);
	SSL_CTX *cctx = tls_util_client_ctx(version, version, "http/1.1");

	SSL_SESSION *s = session_from(a, cctx, sni);
	cr_expect(resumes(b, cctx, sni, s), "resumes on another context with the same keys");
	cr_expect(!resumes(lone, cctx, sni, s), "not where the keys are not shared");

	cr_assert_eq(tls_tickets_rotate(tk), 0);
	cr_expect(resumes(b, cctx, sni, s), "resumes under the previous key");
	SSL_SESSION *fresh = session_from(b, cctx, sni);
	cr_assert_eq(tls_tickets_rotate(tk), 0);
	cr_expect(!resumes(b, cctx, sni, s), "two rotations later the old key is gone");
	cr_expect(resumes(a, cctx, sni, fresh), "a ticket of the last key still resumes");

	SSL_SESSION_free(s);
	SSL_SESSION_free(fresh);
	SSL_CTX_free(cctx);
	tls_ctx_unref(a);
	tls_ctx_unref(b);
	tls_ctx_unref(lone);
	munmap(tk, tls_tickets_size());
}

Test(tls_ctx, tickets_tls13)
{
	tickets_for(TLS1_3_VERSION, "t.test");
}

Test(tls_ctx, tickets_tls12)
{
	tickets_for(TLS1_2_VERSION, "t.test");
}

Test(tls_ctx, tickets_after_sni_switch)
{
	tickets_for(TLS1_3_VERSION, "u.test");
}

Test(tls_ctx, tickets_tls12_after_sni_switch)
{
	tickets_for(TLS1_2_VERSION, "u.test");
}

Test(tls_ctx, ssl_outlives_the_callers_reference)
{
	struct pair p[2] = {mk("r0", "ec", "DNS:r0.test", 30), mk("r1", "ec", "DNS:r1.test", 30)};
	char err[512];
	struct tls_ctx *tc = load(p, 2, NULL, err, sizeof err);
	cr_assert_not_null(tc, "%s", err);
	SSL *s = tls_ctx_ssl(tc);
	cr_assert_not_null(s);
	tls_ctx_unref(tc); /* a reload dropped it; the connection goes on */

	SSL_CTX *cctx = tls_util_client_ctx(0, 0, NULL);
	SSL *c = SSL_new(cctx);
	SSL_set_tlsext_host_name(c, "r1.test");
	cr_expect_eq(tls_util_handshake(c, s, NULL), 0);
	char cn[32];
	tls_util_peer_cn(c, cn, sizeof cn);
	cr_expect_str_eq(cn, "r1", "the SNI table is still there");
	cr_expect_eq(tls_util_exchange(c, s), 0);
	SSL_free(c);
	SSL_free(s); /* the last reference: ASan sees the rest freed */
	SSL_CTX_free(cctx);
}

Test(tls_ctx, settings_on_every_connection)
{
	struct pair p[2] = {mk("s0", "ec", "DNS:s0.test", 30), mk("s1", "rsa", "DNS:s1.test", 30)};
	struct tls_keypair kp[2] = {{p[0].cert, p[0].key}, {p[1].cert, p[1].key}};
	char err[512];
	for (unsigned flags = 0; flags <= TLS_CTX_KTLS; flags++) {
		struct tls_ctx *tc = tls_ctx_new(kp, 2, NULL, flags, err, sizeof err);
		cr_assert_not_null(tc, "%s", err);
		SSL_CTX *cctx = tls_util_client_ctx(0, 0, NULL);
		/* On the pair SNI switched to, not only the default one. */
		struct conn k = hs(tc, cctx, "s1.test", NULL);
		cr_assert_eq(k.rc, 0);
		uint64_t o = SSL_get_options(k.s);
		cr_expect(o & SSL_OP_NO_RENEGOTIATION);
		cr_expect(o & SSL_OP_NO_COMPRESSION);
		cr_expect_eq(!!(o & SSL_OP_ENABLE_KTLS), flags == TLS_CTX_KTLS);
		cr_expect(!(o & SSL_OP_NO_TICKET), "stateless tickets");
		cr_expect(SSL_get_mode(k.s) & SSL_MODE_RELEASE_BUFFERS);
		cr_expect(SSL_get_mode(k.s) & SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_CTX *sctx = SSL_get_SSL_CTX(k.s);
		cr_expect_eq(SSL_CTX_get_session_cache_mode(sctx), (long)SSL_SESS_CACHE_OFF);
		cr_expect_eq(SSL_CTX_get_num_tickets(sctx), 1u);
		cr_expect_eq(SSL_get_min_proto_version(k.s), TLS1_2_VERSION);
		cr_expect_eq(SSL_get_negotiated_group(k.s), NID_X25519);
		conn_free(&k);
		SSL_CTX_free(cctx);

		/* Key exchange only on X25519, P-256, P-384. */
		cctx = tls_util_client_ctx(0, 0, NULL);
		cr_assert_eq(SSL_CTX_set1_groups_list(cctx, "P-521:ffdhe2048"), 1);
		k = hs(tc, cctx, "s0.test", NULL);
		cr_expect_neq(k.rc, 0, "P-521 and FFDHE refused");
		conn_free(&k);
		SSL_CTX_set1_groups_list(cctx, "P-384");
		k = hs(tc, cctx, "s0.test", NULL);
		cr_expect_eq(k.rc, 0, "P-384 accepted");
		conn_free(&k);
		SSL_CTX_free(cctx);
		tls_ctx_unref(tc);
	}
}
