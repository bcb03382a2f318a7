/* Conditional requests (RFC 9110 13) and the Range request header (14.2),
 * reduced to what a static file server needs: one byte range or none.
 *
 * Multipart/byteranges responses cost a boundary format and a second code
 * path for little use (browsers and download tools ask for one range), and
 * several ranges are the amplification vector of CVE-2011-3192 (many
 * overlapping ranges of one big file).  RFC 9110 14.2 lets a server ignore
 * Range entirely, so anything but a single range is answered with the whole
 * representation: never more bytes than the file has. */
#ifndef HERD_HTTP_RANGE_H
#define HERD_HTTP_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http_parse.h"

/* What a conditional request is evaluated against. */
struct http_validators {
	const char *etag; /* a strong entity-tag, quotes included */
	size_t etag_len;  /* 0: the resource has no ETag */
	bool has_mtime;   /* false: no Last-Modified is sent, dates are ignored */
	int64_t mtime;    /* unix seconds, when has_mtime */
};

enum http_precondition {
	HTTP_PRECOND_PASS,         /* go on (Range next) */
	HTTP_PRECOND_NOT_MODIFIED, /* 304 */
	HTTP_PRECOND_FAILED,       /* 412 */
};

/* Evaluates the preconditions of req (its HTTP_COND_* fields) against a
 * representation that exists, in the order of RFC 9110 13.2.2:
 *   1. If-Match (strong comparison, a list, or "*"): false -> 412;
 *   2. without If-Match, If-Unmodified-Since: modified after it -> 412;
 *   3. If-None-Match (weak comparison): false -> 304 for GET/HEAD, else 412;
 *   4. without If-None-Match, for GET/HEAD only, If-Modified-Since: not
 *      modified after it -> 304.
 * A date that does not parse, or comes in more than one field line, is
 * ignored (13.1.3, 13.1.4); an entity-tag list that does not parse matches
 * nothing, so it can fail an If-Match but never earns a 304.  The caller
 * only asks when the answer would otherwise be 2xx (13.2.1). */
enum http_precondition http_preconditions(const struct http_request *req, bool get_or_head,
					  const struct http_validators *v);

/* True when `list` (the value of one If-Match or If-None-Match line) names
 * `etag`: "*", or one of its comma-separated entity-tags.  weak: W/"x" matches "x" (weak comparison, 13.1.2 for
 * If-None-Match); otherwise a weak tag never matches (strong comparison,
 * If-Match, If-Range).  A syntax error ends the list with no match. */
bool http_etag_list_match(const char *list, size_t len, const char *etag, size_t etag_len,
			  bool weak);

/* If-Range (13.1.5): true when a Range applies.  No If-Range: true.  An
 * entity-tag: strong comparison with the ETag.  An HTTP-date: equal to the
 * modification time.  Anything else, or two If-Range lines: false, and
 * the whole representation is sent. */
bool http_if_range(const struct http_request *req, const struct http_validators *v);

enum http_range_result {
	HTTP_RANGE_NONE,	  /* no Range header (value == NULL): 200 */
	HTTP_RANGE_OK,		  /* 206 with bytes *first..*last, both inclusive */
	HTTP_RANGE_UNSATISFIABLE, /* 416; its Content-Range gives only the size */
	HTTP_RANGE_IGNORE,	  /* invalid, unknown unit or several ranges: 200 */
};

/* Parses the Range field value value[0..len) against a representation of
 * size bytes.
 *
 * Accepted: "bytes=a-b", "bytes=a-" and "bytes=-n", the unit in any case,
 * OWS around the value, after '=' and around commas; empty list elements are
 * skipped ("bytes=0-1," is one range).  No whitespace inside a range.
 *
 * Decisions, in order:
 *   - not that syntax (no '=', a sign, a space inside a range, "bytes=-",
 *     a > b, a number beyond 2^64 - 1) or another unit: IGNORE, because
 *     RFC 9110 14.2 says an invalid or unknown Range is ignored;
 *   - more than one range, even if each is fine: IGNORE (see above);
 *   - a >= size, "-0", or any range of an empty file: UNSATISFIABLE;
 *   - b >= size is cut to size - 1; a suffix longer than the file is the
 *     whole file (RFC 9110 14.1.2).
 * Only OK writes *first and *last; 0 <= *first <= *last < size. */
enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
					uint64_t *first, uint64_t *last);

#endif
