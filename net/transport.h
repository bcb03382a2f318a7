/* A transport: the byte filter between a mechanism (which moves wire bytes)
 * and a protocol (which reads and writes application bytes).  Plain TCP
 * passes bytes through; TLS (net/tls.c, per connection: c->tls) decrypts on
 * the way in, encrypts on the way out, and decides whether a file body may
 * leave by sendfile (the kernel sends it: plain TCP, kernel TLS) or must
 * pass through the transport's hands.
 *
 * The engine has exactly one place where bytes enter from a mechanism and
 * one where they leave to it (core/engine.c: engine_input, transport_out),
 * so a transport sits in once, for every mechanism. */
#ifndef HERD_TRANSPORT_H
#define HERD_TRANSPORT_H

#include <stdbool.h>

struct transport {
	const char *name;
	/* File bodies may go by sendfile(2); false: they are read into the
	 * output buffer and leave through the transport like any output. */
	bool sendfile;
};

/* Plain TCP: bytes as they are, files by sendfile. */
extern const struct transport transport_tcp;
/* Plain TCP with file bodies copied through the output path (--sendfile
 * off): what a transport that must see every byte does with files. */
extern const struct transport transport_tcp_copy;

#endif
