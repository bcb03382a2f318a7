/*
 * Incremental HTTP/1.x response parser working in place on the caller's
 * buffer.  The header block must be contiguous, so on RESP_MORE the caller
 * keeps buf[used..len) and presents it again followed by new data; body and
 * chunk payload bytes are counted off without being stored.
 */
#ifndef HERD_LOAD_RESP_H
#define HERD_LOAD_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESP_MAX_HEADER 16384   /* larger header blocks are a protocol error */
#define RESP_MAX_LINE 4096      /* chunk-size and trailer lines */

enum resp_result { RESP_ERROR = -1, RESP_MORE = 0, RESP_DONE = 1 };

struct resp {
	uint8_t state;
	bool close;       /* server will close after this response */
	bool chunked;
	uint16_t status;
	uint32_t scanned; /* header bytes already searched for the blank line */
	uint64_t left;    /* body or chunk bytes still to come */
	uint64_t body;    /* body bytes of the current response */
};

void resp_init(struct resp *r);

/*
 * Parses at most one response from buf.  *used is set to the bytes consumed:
 * on RESP_DONE the response's remaining bytes (what follows belongs to the
 * next response; status/close describe the finished one until the next
 * call), on RESP_MORE what was consumed so far.
 */
int resp_parse(struct resp *r, const char *buf, size_t len, size_t *used);

/* The peer closed: completes a read-until-close body, else tells whether a
 * response was cut short (RESP_ERROR) or none had started (RESP_MORE). */
int resp_eof(struct resp *r);

/* True when nothing of a response has been seen since the last one ended. */
bool resp_idle(const struct resp *r);

#endif
