/* HTTP/1.1 request parsing (RFC 9112) as pure functions over a byte buffer.
 *
 * Nothing here allocates, blocks or keeps hidden state: the caller owns the
 * buffer and calls again with more bytes when told HTTP_NEED_MORE.  That makes
 * every function testable at every split point of its input. */
#ifndef HERD_HTTP_PARSE_H
#define HERD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Largest request line + header section we accept; more is 431. */
#define HTTP_MAX_HEADER_BYTES 8192
/* Header fields kept for the application; more fields is 431. */
#define HTTP_MAX_HEADERS 64

enum http_method {
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_PATCH,
	HTTP_M_TRACE,
	HTTP_M_CONNECT,
	HTTP_M_OTHER, /* a syntactically valid token we do not know */
};

enum http_body_kind {
	HTTP_BODY_NONE,
	HTTP_BODY_LENGTH,  /* Content-Length: content_length bytes follow */
	HTTP_BODY_CHUNKED, /* Transfer-Encoding: chunked (final coding) */
};

struct http_slice {
	const char *p;
	uint32_t len;
};

/* The four shapes of request-target (RFC 9112 3.2). */
enum http_target_form {
	HTTP_TARGET_ORIGIN,    /* "/path?query" */
	HTTP_TARGET_ABSOLUTE,  /* "http://host:port/path?query" (also https) */
	HTTP_TARGET_AUTHORITY, /* "host:port": CONNECT */
	HTTP_TARGET_ASTERISK,  /* "*": OPTIONS */
};

/* Which conditional request fields (RFC 9110 13.1) a request carries, so a
 * request without any costs no lookup. */
enum {
	HTTP_COND_IF_MATCH = 1u << 0,
	HTTP_COND_IF_NONE_MATCH = 1u << 1,
	HTTP_COND_IF_MODIFIED_SINCE = 1u << 2,
	HTTP_COND_IF_UNMODIFIED_SINCE = 1u << 3,
	HTTP_COND_IF_RANGE = 1u << 4,
};

struct http_header {
	struct http_slice name;  /* as received (case preserved) */
	struct http_slice value; /* leading/trailing OWS stripped */
};

struct http_request {
	enum http_method method;
	struct http_slice method_name; /* the token as received */
	struct http_slice target;      /* request-target, raw (not decoded) */
	enum http_target_form form;
	/* The resource the target names, in origin-form: the absolute path up
	 * to the first '?' or '#' ("/" for an absolute-form target without a
	 * path: a static string, not in the buffer), and the query with its
	 * '?' (empty when none).  The fragment, which no client should send,
	 * is dropped.  Both empty for the authority and asterisk forms. */
	struct http_slice path, query;
	/* The authority of an absolute- or authority-form target, which wins
	 * over the Host field (RFC 9112 3.2.2); otherwise the Host field's
	 * value; empty when neither is there (HTTP/1.0).  Always validated:
	 * uri-host [ ":" port ]. */
	struct http_slice host;
	uint8_t version_minor;         /* HTTP/1.<minor>: 0 or 1 */
	bool keep_alive;       /* after version + Connection: close / keep-alive */
	/* Expect: 100-continue in an HTTP/1.1 request.  HTTP/1.0 clients
	 * never get a 1xx (RFC 9110 10.1.1, 15.2), so theirs is ignored. */
	bool expect_continue;
	bool expect_unknown;   /* an expectation other than 100-continue: 417 */
	uint8_t conditionals;  /* HTTP_COND_* bits */
	enum http_body_kind body;
	uint64_t content_length; /* valid when body == HTTP_BODY_LENGTH */
	uint32_t header_bytes;   /* request line + fields + final CRLF */
	uint32_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
};

/* Return values of http_parse_request(). Positive values are byte counts. */
#define HTTP_NEED_MORE 0
/* Negative values are -(HTTP status to answer with):
 *   -400 malformed request line / header field / framing (CL+TE, bad or
 *        conflicting Content-Length, TE not ending in chunked, bare LF in the
 *        wrong place, control characters, missing, repeated or invalid Host,
 *        a request-target of the wrong form for its method (see below), ...)
 *   -431 header section larger than HTTP_MAX_HEADER_BYTES or more than
 *        HTTP_MAX_HEADERS fields
 *   -501 Transfer-Encoding other than chunked
 *   -505 HTTP version other than 1.0 / 1.1
 *   -414 request-target longer than HTTP_MAX_HEADER_BYTES/2 */

/* Parse one request head from buf[0..len).  Returns the number of bytes the
 * head occupies (== req->header_bytes), HTTP_NEED_MORE when the head is not
 * complete yet (and len is still under the limit), or a negative status.
 * Slices in *req point into buf and live as long as buf does.
 * Tolerates (RFC 9112 2.2) empty lines before the request line and LF
 * without CR as a line terminator.
 *
 * Request-target forms (RFC 9112 3.2), else 400:
 *   - origin-form "/..." for every method but CONNECT;
 *   - absolute-form "http://authority/path?query", scheme "http" or "https"
 *     in any case, for every method but CONNECT.  The authority must be a
 *     valid host with an optional port, without userinfo (RFC 9110 4.2.4);
 *   - authority-form "host:port" for CONNECT, which accepts nothing else;
 *   - asterisk-form "*" for OPTIONS.
 * An unknown method may use any of them: its answer is 501 whatever the
 * target, as the server cannot know what the method allows.  Bytes of
 * paths and queries are only checked to be VCHAR: the path's own rules are
 * the router's (see http_path.h).
 *
 * Host (RFC 9112 3.2): empty (for a target without authority), or what
 * http_authority_valid() accepts; else 400, in HTTP/1.0 too. */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* Case-insensitive lookup of a header field; NULL when absent. */
const struct http_header *http_find_header(const struct http_request *req, const char *name);

/* Incremental decoder that skips a chunked body (and its trailer section).
 * Zero-initialise (or http_chunked_init) before the first call. */
struct http_chunked {
	uint8_t state;
	uint8_t ext_or_trailer_guard; /* internal */
	uint16_t line_bytes;          /* bytes in current size/trailer line */
	uint64_t remaining;           /* bytes left in the current chunk */
	uint64_t total;               /* body bytes seen so far */
};

void http_chunked_init(struct http_chunked *c);

/* Consumes bytes of buf[0..len) that belong to the chunked body.
 * Returns the number of bytes consumed (0..len) and sets *done once the
 * terminating last-chunk and trailer section were consumed (bytes after that
 * are the next request and are not consumed).  Returns -400 on a malformed
 * body (bad hex, size overflow, missing CRLF after data, chunk-size line or
 * trailer line longer than 4 KiB) and -413 when the decoded body exceeds
 * max_body. */
ssize_t http_chunked_skip(struct http_chunked *c, const char *buf, size_t len,
			  uint64_t max_body, bool *done);

#endif
