/* Building HTTP/1.1 responses into an outbuf. */
#ifndef HERD_HTTP_RESPONSE_H
#define HERD_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "net/outbuf.h"

/* Room a caller must have in the outbuf before any built-in response. */
#define HTTP_RESPONSE_MAX 512

enum http_canned { HTTP_CANNED_PLAINTEXT, HTTP_CANNED_JSON, HTTP_CANNED_COUNT };

/* Per-worker: the Date line and the hot responses, rebuilt once a second
 * rather than formatted per response. */
struct http_clock {
	int64_t sec;
	uint8_t date_len;
	char date[48]; /* "Date: Tue, 24 Nov 2026 05:28:30 GMT\r\n" */
	uint16_t canned_len[HTTP_CANNED_COUNT];
	char canned[HTTP_CANNED_COUNT][192]; /* keep-alive GET responses */
};

/* Rebuilds when `now_sec` (CLOCK_REALTIME seconds) moved on; cheap otherwise. */
void http_clock_tick(struct http_clock *c, int64_t now_sec);

enum {
	HTTP_RESP_HEAD = 1u << 0,       /* headers only */
	HTTP_RESP_CLOSE = 1u << 1,      /* Connection: close */
	HTTP_RESP_KEEPALIVE = 1u << 2,  /* Connection: keep-alive (HTTP/1.0 clients) */
	HTTP_RESP_ALLOW_GET = 1u << 3,  /* Allow: GET, HEAD (405) */
	HTTP_RESP_NO_LENGTH = 1u << 4,  /* no Content-Length (304) */
};

void http_response(struct outbuf *out, const struct http_clock *clk, int status,
		   const char *ctype, const char *body, size_t body_len, unsigned flags);

/* The status line and headers only, announcing content_length body bytes
 * (none when HTTP_RESP_NO_LENGTH), with `extra` (complete "Name: value\r\n"
 * lines) before the blank line.  Needs HTTP_RESPONSE_MAX + extra_len room. */
void http_response_head(struct outbuf *out, const struct http_clock *clk, int status,
			const char *ctype, uint64_t content_length, const char *extra,
			size_t extra_len, unsigned flags);

/* The built-in endpoint `which` (200); the prebuilt bytes when flags == 0. */
void http_response_builtin(struct outbuf *out, const struct http_clock *clk,
			   enum http_canned which, unsigned flags);

/* An error answer (text body naming the status) with Connection: close. */
void http_response_error(struct outbuf *out, const struct http_clock *clk, int status);

const char *http_reason(int status);

#endif
