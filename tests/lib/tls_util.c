/* See tls_util.h. */
#include "tls_util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

static EVP_PKEY *gen_key(const char *keytype)
{
	if (!strcmp(keytype, "ec"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!strcmp(keytype, "rsa"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!strcmp(keytype, "rsa1024"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (!strcmp(keytype, "ed25519"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return NULL;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	return (fclose(f) == 0 && ok == 1) ? 0 : -1;
}

int tls_util_make_pair_at(const char *dir, const char *name, const char *keytype,
			  const char *sans, long not_before, long not_after, char *cert_out,
			  char *key_out, size_t len)
{
	EVP_PKEY *k = gen_key(keytype);
	X509 *x = X509_new();
	int rc = -1;
	unsigned char serial[8];

	if (k == NULL || x == NULL || RAND_bytes(serial, sizeof serial) != 1)
		goto out;
	serial[0] &= 0x7f; /* positive */
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	int ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	X509_NAME *subj = X509_get_subject_name(x);
	ok = ok && X509_set_version(x, X509_VERSION_3) == 1 &&
	     X509_gmtime_adj(X509_getm_notBefore(x), not_before) != NULL &&
	     X509_gmtime_adj(X509_getm_notAfter(x), not_after) != NULL &&
	     X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name,
					-1, -1, 0) == 1 &&
	     X509_set_issuer_name(x, subj) == 1 && X509_set_pubkey(x, k) == 1;
	if (ok && sans != NULL && sans[0] != '\0') {
		X509V3_CTX v3;
		X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
		X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, sans);
		ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
		X509_EXTENSION_free(ext);
	}
	/* Ed25519 signs without a separate digest. */
	const EVP_MD *md = strcmp(keytype, "ed25519") ? EVP_sha256() : NULL;
	if (!ok || X509_sign(x, k, md) <= 0)
		goto out;
	if (snprintf(cert_out, len, "%s/%s.crt", dir, name) >= (int)len ||
	    snprintf(key_out, len, "%s/%s.key", dir, name) >= (int)len)
		goto out;
	if (write_pem(cert_out, x, NULL) != 0 || write_pem(key_out, NULL, k) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0) {
		fprintf(stderr, "tls_util: cannot make %s/%s (%s): ", dir, name, keytype);
		ERR_print_errors_fp(stderr);
		fputc('\n', stderr);
	}
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

int tls_util_make_pair(const char *dir, const char *name, const char *keytype, const char *sans,
		       int days, char *cert_out, char *key_out, size_t len)
{
	long day = 86400;
	long nb = days > 0 ? -60 : 2 * days * day - day;
	long na = days * day;
	return tls_util_make_pair_at(dir, name, keytype, sans, nb, na, cert_out, key_out, len);
}

SSL_CTX *tls_util_client_ctx(int min, int max, const char *alpn)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (c == NULL)
		return NULL;
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	if ((min && SSL_CTX_set_min_proto_version(c, min) != 1) ||
	    (max && SSL_CTX_set_max_proto_version(c, max) != 1))
		goto fail;
	/* TLS 1.0/1.1 need SHA-1 and MD5, which security level 1+ forbids: the
	 * client would refuse itself before the server had a say. */
	if (max && max < TLS1_2_VERSION &&
	    SSL_CTX_set_cipher_list(c, "DEFAULT:@SECLEVEL=0") != 1)
		goto fail;
	if (alpn != NULL) {
		unsigned char wire[256];
		size_t n = 0;
		for (const char *p = alpn; *p;) {
			size_t l = strcspn(p, ",");
			if (l == 0 || l > 255 || n + 1 + l > sizeof wire)
				goto fail;
			wire[n++] = (unsigned char)l;
			memcpy(wire + n, p, l);
			n += l;
			p += l + (p[l] == ',');
		}
		if (SSL_CTX_set_alpn_protos(c, wire, (unsigned int)n) != 0)
			goto fail;
	}
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

/* 1 done, 0 wants more, -1 failed. */
static int step(SSL *ssl, unsigned long *err)
{
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return 1;
	int e = SSL_get_error(ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (err != NULL && *err == 0)
		*err = ERR_peek_error();
	ERR_clear_error();
	return -1;
}

int tls_util_handshake(SSL *client, SSL *server, unsigned long *server_err)
{
	BIO *cb, *sb;
	if (server_err != NULL)
		*server_err = 0;
	if (BIO_new_bio_pair(&cb, 0, &sb, 0) != 1)
		return -1;
	SSL_set_bio(client, cb, cb);
	SSL_set_bio(server, sb, sb);
	SSL_set_connect_state(client);
	SSL_set_accept_state(server);
	int c = 0, s = 0, after_fail = 0;
	for (int i = 0; i < 64; i++) {
		if (c == 0)
			c = step(client, NULL);
		if (s == 0)
			s = step(server, server_err);
		if (c != 0 && s != 0)
			break;
		/* A couple more turns after a failure let the other side read
		 * the alert and fail too, as it would over a socket. */
		if ((c < 0 || s < 0) && ++after_fail > 2)
			break;
	}
	return c == 1 && s == 1 ? 0 : -1;
}

int tls_util_exchange(SSL *client, SSL *server)
{
	char buf[8];
	if (SSL_write(server, "ok", 2) != 2)
		return -1;
	int n = SSL_read(client, buf, sizeof buf);
	return n == 2 && !memcmp(buf, "ok", 2) ? 0 : -1;
}

void tls_util_peer_cn(SSL *client, char *buf, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(client);
	buf[0] = '\0';
	if (x == NULL || X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf,
						   (int)len) < 0)
		buf[0] = '\0';
}
