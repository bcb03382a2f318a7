/* Kernel TLS (the `tls` upper-layer protocol, CONFIG_TLS): whether this
 * kernel has it, and the two things herd asks of it once OpenSSL finished a
 * handshake in user space: take the transmit keys, and send a non-data
 * record (a ticket, an alert) with its own type. */
#ifndef HERD_KTLS_H
#define HERD_KTLS_H

#include <stdbool.h>
#include <stddef.h>

/* Tries the tls ULP on a loopback connection of its own; when it fails,
 * why in why (e.g. "TCP_ULP tls: No such file or directory"). */
bool ktls_available(char *why, size_t len);
/* crypto_info: the kernel's tls12_crypto_info_* as OpenSSL filled it.
 * 0, or -1 (the connection stays in user space). */
int ktls_start_tx(int fd, const void *crypto_info);
/* One record of the given content type, all of it or -1. */
int ktls_send_record(int fd, unsigned char type, const void *p, size_t n);

#endif
