/* Session-ticket keys shared by every worker thread and every handler
 * process, so a client that resumes may land on any of them.
 *
 * The caller makes tls_tickets_size() bytes of MAP_SHARED memory before
 * fork, calls tls_tickets_init once, and from then on one thread of one
 * process (the supervisor) calls tls_tickets_rotate on a schedule while
 * workers everywhere encrypt and decrypt tickets through the callback that
 * tls_tickets_install puts on their SSL_CTXs.  No locks: see tls_ticket.c
 * for why the readers never see a half-written key.
 *
 * A key is a 16-byte name, a 32-byte AES-256-CBC key and a 32-byte
 * HMAC-SHA256 key, as in SSL_CTX_set_tlsext_ticket_key_evp_cb(3).  Tickets
 * are made with the current key; a ticket under the previous key is still
 * accepted (and replaced by a new one); older ones mean a full handshake. */
#ifndef HERD_TLS_TICKET_H
#define HERD_TLS_TICKET_H

#include <stddef.h>

#include <openssl/ssl.h>

/* Fixed size, no pointers: it is valid at the same bytes in every process. */
struct tls_tickets;

size_t tls_tickets_size(void);
/* The first key, from RAND_bytes.  0 ok, -1 no randomness. */
int tls_tickets_init(struct tls_tickets *t);
/* A new current key; the one before stays for decryption.  Single writer:
 * only one thread (of one process) may rotate.  0 ok, -1 no randomness (the
 * keys are left as they were). */
int tls_tickets_rotate(struct tls_tickets *t);
/* Makes ctx issue and accept tickets under t's keys.  Every SSL_CTX that SNI
 * may switch to needs it.  0 ok, -1 fail. */
int tls_tickets_install(SSL_CTX *ctx, struct tls_tickets *t);

#endif
