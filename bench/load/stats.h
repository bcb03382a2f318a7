/* Counters a worker keeps and the report sums over workers. */
#ifndef HERD_LOAD_STATS_H
#define HERD_LOAD_STATS_H

#include <stdint.h>

enum err_kind {
	ERR_CONNECT_REFUSED,
	ERR_CONNECT_RESET,
	ERR_CONNECT_TIMEOUT,
	ERR_CONNECT_OTHER,   /* EADDRNOTAVAIL, EMFILE, unreachable, ... */
	ERR_READ,
	ERR_WRITE,
	ERR_TIMEOUT,         /* no (complete) response within --timeout */
	ERR_PROTOCOL,        /* malformed response or echo mismatch */
	ERR_CLOSED,          /* server closed with requests outstanding */
	ERR_TLS_VERIFY,      /* the server's certificate did not verify */
	ERR_TLS,             /* any other TLS failure: handshake, bad record, alert */
	ERR_KINDS
};

extern const char *const err_kind_name[ERR_KINDS];

#define STATUS_MAX 600

struct stats {
	uint64_t requests;      /* completed responses */
	uint64_t bytes_read;
	uint64_t bytes_written;
	uint64_t errors[ERR_KINDS];
	uint64_t status[STATUS_MAX];
	/* --storm / --idle */
	uint64_t answered;      /* connections that got their response */
	uint64_t held;          /* --idle: connections that reached the hold */
	uint64_t closed_by_server;
	/* https:// */
	uint64_t tls_handshakes; /* completed */
	uint64_t tls_resumed;    /* of those, abbreviated (SSL_session_reused) */
	/* connections established and ended (open = the difference), counted
	 * during warm-up too: the open count is a level, not a rate */
	uint64_t connected;
	uint64_t disconnected;
	uint64_t opened;         /* connections established after the warm-up */
};

void stats_add(struct stats *dst, const struct stats *src);
uint64_t stats_errors(const struct stats *s);

#endif
