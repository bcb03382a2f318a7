/* The Range request header (RFC 9110 14.2), reduced to what a static file
 * server needs: one byte range or none.
 *
 * Multipart/byteranges responses cost a boundary format and a second code
 * path for little use (browsers and download tools ask for one range), and
 * RFC 9110 lets a server ignore Range entirely, so anything but a single
 * range is answered with the whole representation. */
#ifndef HERD_HTTP_RANGE_H
#define HERD_HTTP_RANGE_H

#include <stddef.h>
#include <stdint.h>

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
