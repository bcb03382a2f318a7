/* Ticket keys in shared memory, read without locks.
 *
 * Why this shape.  Readers are worker threads in several processes, at every
 * full or resumed handshake; the writer is the supervisor, every few hours.
 * A lock in shared memory would put a cross-process mutex on the handshake
 * path and let a process that dies holding it stall every other one, so the
 * readers take no lock at all:
 *
 *  - The keys live in a ring of TICKET_SLOTS slots.  Generation n (1, 2, ...)
 *    is in slot n % TICKET_SLOTS; `cur` is the current generation.  Readers
 *    use generation cur (encrypt, decrypt) and cur - 1 (decrypt only).
 *  - The writer fills slot (cur + 1) % TICKET_SLOTS, which last held
 *    generation cur + 1 - TICKET_SLOTS: it stopped being current three
 *    rotations ago and stopped being "previous" two rotations ago, so in
 *    practice no reader is still looking at it (that reader would have had
 *    to sleep across two rotations, i.e. hours).
 *  - "In practice" is not enough for correctness, so each slot is also a
 *    seqlock: its `gen` says which generation the bytes hold, 0 while they
 *    are being rewritten.  The writer stores gen = 0, a release fence, the
 *    key words, then gen = n (release), then cur = n (release).  A reader
 *    loads gen (acquire), copies the words, an acquire fence, and loads gen
 *    again: if both are the generation it wanted, the copy is whole (had it
 *    read any word of a rewrite, the fences would make it see gen = 0 or a
 *    newer generation on the second load).  A torn copy is thrown away.
 *  - Every shared byte is an atomic (key bytes as _Atomic uint64_t words,
 *    relaxed), so there is no data race in the C11 sense and
 *    ThreadSanitizer has nothing to report; the cost is ten relaxed loads
 *    per key, nothing next to one AES block.
 *  - Cross-process atomics need lock-free 64-bit atomics (no hidden lock in
 *    one process's memory): asserted below. */
#include "net/tls_ticket.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
	       "ticket keys are shared between processes: 64-bit atomics must be lock-free");

#define TICKET_SLOTS 4
#define NAME_LEN 16
#define AES_LEN 32
#define HMAC_LEN 32
#define KEY_BYTES (NAME_LEN + AES_LEN + HMAC_LEN)
#define KEY_WORDS (KEY_BYTES / 8)

_Static_assert(KEY_BYTES % 8 == 0, "a key is whole 64-bit words");

struct ticket_slot {
	_Atomic uint64_t gen; /* generation held, 0 = being written / never */
	_Atomic uint64_t w[KEY_WORDS];
};

struct tls_tickets {
	_Atomic uint64_t cur;
	struct ticket_slot slot[TICKET_SLOTS];
};

struct ticket_key {
	unsigned char name[NAME_LEN];
	unsigned char aes[AES_LEN];
	unsigned char hmac[HMAC_LEN];
};

_Static_assert(sizeof(struct ticket_key) == KEY_BYTES, "no padding in a key");

size_t tls_tickets_size(void)
{
	return sizeof(struct tls_tickets);
}

/* Single writer; see the top of the file for the order of the stores. */
static int publish(struct tls_tickets *t, uint64_t gen)
{
	uint64_t w[KEY_WORDS];
	if (RAND_bytes((unsigned char *)w, sizeof w) != 1)
		return -1;
	struct ticket_slot *s = &t->slot[gen % TICKET_SLOTS];
	atomic_store_explicit(&s->gen, 0, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (int i = 0; i < KEY_WORDS; i++)
		atomic_store_explicit(&s->w[i], w[i], memory_order_relaxed);
	atomic_store_explicit(&s->gen, gen, memory_order_release);
	atomic_store_explicit(&t->cur, gen, memory_order_release);
	OPENSSL_cleanse(w, sizeof w);
	return 0;
}

int tls_tickets_init(struct tls_tickets *t)
{
	atomic_store_explicit(&t->cur, 0, memory_order_relaxed);
	for (int i = 0; i < TICKET_SLOTS; i++) {
		atomic_store_explicit(&t->slot[i].gen, 0, memory_order_relaxed);
		for (int j = 0; j < KEY_WORDS; j++)
			atomic_store_explicit(&t->slot[i].w[j], 0, memory_order_relaxed);
	}
	return publish(t, 1);
}

int tls_tickets_rotate(struct tls_tickets *t)
{
	uint64_t cur = atomic_load_explicit(&t->cur, memory_order_relaxed);
	return publish(t, cur + 1);
}

/* A whole copy of generation gen, or -1 (gone, being rewritten, torn). */
static int read_key(struct tls_tickets *t, uint64_t gen, struct ticket_key *k)
{
	if (gen == 0)
		return -1;
	struct ticket_slot *s = &t->slot[gen % TICKET_SLOTS];
	if (atomic_load_explicit(&s->gen, memory_order_acquire) != gen)
		return -1;
	uint64_t w[KEY_WORDS];
	for (int i = 0; i < KEY_WORDS; i++)
		w[i] = atomic_load_explicit(&s->w[i], memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&s->gen, memory_order_relaxed) != gen) {
		OPENSSL_cleanse(w, sizeof w);
		return -1;
	}
	memcpy(k, w, sizeof *k);
	OPENSSL_cleanse(w, sizeof w);
	return 0;
}

/* Found through the SSL_CTX, not a global: tests (and a reload) may have
 * several sets of keys in one process. */
static int ex_index = -1;
static CRYPTO_ONCE ex_once = CRYPTO_ONCE_STATIC_INIT;

static void ex_index_init(void)
{
	ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static int set_keys(const struct ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *cctx,
		    EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac,
						  sizeof k->hmac),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	int ok = enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv)
		     : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv);
	return ok == 1 ? 0 : -1;
}

/* OpenSSL's contract: encrypt → 1 (or 0: no ticket, <0: error); decrypt →
 * 1 valid, 2 valid but renew, 0 unknown key (full handshake), <0 error. */
static int ticket_cb(SSL *ssl, unsigned char *key_name, unsigned char *iv,
		     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tls_tickets *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	struct ticket_key k;
	int ret = -1;

	if (t == NULL)
		return -1;
	if (enc) {
		/* A rotation between loading cur and copying its slot makes the
		 * copy fail the seqlock check; the next try sees the new one. */
		for (int tries = 0; tries < 4; tries++) {
			uint64_t cur = atomic_load_explicit(&t->cur, memory_order_acquire);
			if (read_key(t, cur, &k) == 0) {
				ret = 0;
				break;
			}
		}
		if (ret != 0)
			return 0; /* no ticket this time; the handshake goes on */
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 || set_keys(&k, iv, cctx, hctx, 1) != 0)
			ret = -1;
		else {
			memcpy(key_name, k.name, NAME_LEN);
			ret = 1;
		}
	} else {
		uint64_t cur = atomic_load_explicit(&t->cur, memory_order_acquire);
		ret = 0;
		for (uint64_t back = 0; back < 2 && back < cur; back++) {
			if (read_key(t, cur - back, &k) != 0 || memcmp(k.name, key_name, NAME_LEN) != 0)
				continue;
			/* A TLS 1.3 client uses a ticket once (RFC 8446 C.4) and
			 * OpenSSL sends a fresh one after a resumption only when
			 * told to renew: without it every other handshake of a
			 * returning client would be a full one. */
			ret = set_keys(&k, iv, cctx, hctx, 0) != 0	? -1
			      : back == 0 && SSL_version(ssl) < TLS1_3_VERSION ? 1
									 : 2;
			break;
		}
	}
	OPENSSL_cleanse(&k, sizeof k);
	return ret;
}

int tls_tickets_install(SSL_CTX *ctx, struct tls_tickets *t)
{
	if (!CRYPTO_THREAD_run_once(&ex_once, ex_index_init) || ex_index < 0)
		return -1;
	if (SSL_CTX_set_ex_data(ctx, ex_index, t) != 1)
		return -1;
	if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1)
		return -1;
	return 0;
}
