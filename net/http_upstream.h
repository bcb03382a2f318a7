/* HTTP/1.1 between herd and an upstream (RFC 9110 7.6, RFC 9112 as an
 * intermediary): the request head herd sends upstream, the response head it
 * reads back, and the head it passes on to the client.  Pure functions over
 * buffers, like net/http_parse.h: nothing allocates or keeps state, so every
 * function is testable at every split point. */
#ifndef HERD_HTTP_UPSTREAM_H
#define HERD_HTTP_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/http_parse.h"

/* Room the builders may need beyond the head they start from (added
 * fields, ": " and CRLF where the peer sent ":" and LF): out of
 * header_bytes + UPSTREAM_HEAD_EXTRA bytes always holds the response head
 * for the client, and the request head unless the client's Host is longer
 * than UPSTREAM_HEAD_EXTRA / 2 (it is sent twice: Host, X-Forwarded-Host;
 * then the builder returns -1). */
#define UPSTREAM_HEAD_EXTRA 1024
/* Largest upstream response head herd reads; more is 502. */
#define UPSTREAM_MAX_HEAD 16384

/* What herd adds to a request it forwards. */
struct upstream_request {
	const struct http_request *req; /* the client's head, parsed */
	/* Bytes at the start of req->path not sent upstream (a stripped route
	 * prefix); the path sent is what remains, "/" when nothing does. */
	uint32_t strip;
	const char *client_ip; /* X-Forwarded-For; "" when unknown */
	bool https;            /* X-Forwarded-Proto: https, else http */
	/* Host when the client sent none (HTTP/1.0): the upstream's. */
	const char *default_host;
};

/* Whether the client asks to switch to WebSocket (RFC 6455 4.1): GET,
 * HTTP/1.1, Upgrade naming "websocket", Connection naming "upgrade". */
bool http_request_is_websocket(const struct http_request *req);

/* Writes the head herd sends upstream into out[0..cap): the request line
 * (method as received, the path after strip plus the query, HTTP/1.1);
 * every field of the client's except the hop-by-hop ones (Connection and
 * the fields it names, Keep-Alive, Proxy-Connection, Proxy-*, TE, Trailer,
 * Transfer-Encoding, Upgrade), Content-Length (re-added from the framing),
 * Expect (herd answers 100-continue itself) and the X-Forwarded-Proto /
 * X-Forwarded-Host the client sent; then:
 *   Host                kept as the client sent it (default_host if none)
 *   Content-Length: N   / Transfer-Encoding: chunked, as the body was framed
 *   X-Forwarded-For     the client's value + ", " + client_ip (or client_ip)
 *   X-Forwarded-Proto   http | https
 *   X-Forwarded-Host    the client's Host
 *   Via                 the client's value + ", 1.1 herd" (or "1.1 herd")
 *   Connection: upgrade + Upgrade: <client's value>  for a WebSocket request
 * (Connection is otherwise not sent: HTTP/1.1 keeps the connection.)
 * Returns the bytes written, or -1 when cap is too small. */
int upstream_request_head(char *out, size_t cap, const struct upstream_request *u);

enum upstream_body {
	UP_BODY_NONE,    /* HEAD, 1xx, 204, 304, or Content-Length: 0 */
	UP_BODY_LENGTH,  /* content_length bytes */
	UP_BODY_CHUNKED, /* chunked (final coding) */
	UP_BODY_CLOSE,   /* until the upstream closes (RFC 9112 6.3 item 8) */
};

struct upstream_response {
	int status;               /* 100..599 */
	uint8_t version_minor;    /* HTTP/1.<minor> */
	struct http_slice reason;
	bool keep_alive;          /* the upstream keeps the connection after this */
	bool upgrade;             /* 101 with an Upgrade field */
	enum upstream_body body;
	/* valid for UP_BODY_LENGTH; for UP_BODY_NONE the upstream's value when
	 * it sent one (a HEAD's or 304's: the length a GET would have had),
	 * else 0 */
	uint64_t content_length;
	uint32_t header_bytes;
	uint32_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
};

/* Parses one response head from buf[0..len).  head_request: the request was
 * HEAD (no body whatever the head says).  Returns the bytes of the head,
 * 0 (HTTP_NEED_MORE) when incomplete and still under UPSTREAM_MAX_HEAD, or
 * -1 for anything herd must not pass on (502): not "HTTP/1.x NNN", a status
 * outside 100..599, a bad field line, more than HTTP_MAX_HEADERS fields or
 * UPSTREAM_MAX_HEAD bytes, Content-Length invalid or conflicting, both
 * Content-Length and Transfer-Encoding (RFC 9112 6.3 item 3 allows it, but a
 * proxy must not forward it: refused), a bare CR.  Transfer-Encoding whose
 * final coding is not chunked → UP_BODY_CLOSE (RFC 9112 6.3 item 4).
 * 1xx, 204, 304 and HEAD → UP_BODY_NONE.  keep_alive follows the version
 * and Connection (close / keep-alive); a close-delimited body clears it. */
int http_parse_response(const char *buf, size_t len, bool head_request,
			struct upstream_response *r);

/* How herd frames what it passes on (flags of upstream_response_head). */
enum {
	UPR_CLOSE = 1u << 0,     /* Connection: close to the client */
	UPR_KEEPALIVE = 1u << 1, /* Connection: keep-alive (an HTTP/1.0 client) */
	/* The client is HTTP/1.0 and the body is chunked: herd decodes it, so
	 * no Transfer-Encoding goes out (the body is then close-delimited, and
	 * UPR_CLOSE must be set too). */
	UPR_DECHUNK = 1u << 2,
};

/* Writes the head for the client into out[0..cap): "HTTP/1.1 <status>
 * <reason>", the upstream's fields except the hop-by-hop ones (as above;
 * for a 101 Upgrade is kept and "Connection: upgrade" sent), its framing
 * (Content-Length, or Transfer-Encoding: chunked unless UPR_DECHUNK), Via
 * (upstream's + ", 1.1 herd"), and Connection per flags.  A 1xx other than
 * 101 is written with its fields only (it is interim).  Returns the bytes
 * written, or -1 when cap is too small. */
int upstream_response_head(char *out, size_t cap, const struct upstream_response *r,
			   unsigned flags);

/* Decodes a chunked body incrementally for an HTTP/1.0 client: data bytes of
 * in[0..len) go to out (at most len bytes are written; out may not overlap
 * in), framing and trailers are dropped.  Returns the input bytes consumed
 * (*out_len: the data bytes written), sets *done after the last chunk and
 * the trailer section; -1 on a malformed body.  The state is the skipper's
 * (http_chunked_init). */
ssize_t http_chunked_decode(struct http_chunked *c, const char *in, size_t len, char *out,
			    size_t *out_len, bool *done);

#endif
