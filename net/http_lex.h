/* The lexical pieces of HTTP/1.1 heads (RFC 9110 5.5, 5.6; RFC 9112 2.2, 5)
 * shared by the request parser (net/http_parse.c) and the upstream response
 * parser (net/http_upstream_resp.c): byte classes, case-insensitive
 * compares, comma lists, line ends and one field line.  Inline: they sit in
 * the parsers' inner loops. */
#ifndef HERD_HTTP_LEX_H
#define HERD_HTTP_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum {
	HTTP_C_TCHAR = 1,  /* token character (RFC 9110 5.6.2) */
	HTTP_C_TARGET = 2, /* request-target byte: VCHAR */
	HTTP_C_VALUE = 4,  /* field-value byte: VCHAR, SP, HTAB, obs-text */
};
extern const uint8_t http_cls[256];

static inline unsigned char http_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline bool http_ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
			return false;
	return true;
}

/* s[0..n) equals the lowercase literal, in any case. */
#define HTTP_IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && http_ieq((s), lit, (n)))

static inline bool http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Iterates the elements of a comma-separated list (RFC 9110 5.6.1), each
 * trimmed of OWS; empty elements are returned too so callers can decide.
 * *pp starts at the value and is NULL once the list is exhausted. */
static inline bool http_list_next(const char **pp, const char *end, const char **es,
				  size_t *en)
{
	const char *p = *pp;
	if (!p)
		return false;
	const char *c = memchr(p, ',', (size_t)(end - p));
	const char *e = c ? c : end;
	*pp = c ? c + 1 : NULL;
	while (p < e && http_is_ows(*p))
		p++;
	while (e > p && http_is_ows(e[-1]))
		e--;
	*es = p;
	*en = (size_t)(e - p);
	return true;
}

/* A Content-Length value (RFC 9112 6.3, RFC 9110 8.6): a list of identical
 * decimal values may be collapsed into one, up to max.  Merged into *seen /
 * *cl with any earlier field.  0, or -1 for an empty element, a non-digit,
 * a value over max, or values that differ (the body's end is unknowable). */
static inline int http_content_length(const char *v, size_t n, uint64_t max, bool *seen,
				      uint64_t *cl)
{
	const char *p = v, *end = v + n, *es;
	size_t en;
	while (http_list_next(&p, end, &es, &en)) {
		if (en == 0)
			return -1;
		uint64_t x = 0;
		for (size_t i = 0; i < en; i++) {
			unsigned d = (unsigned)((unsigned char)es[i] - '0');
			if (d > 9 || x > (max - d) / 10)
				return -1;
			x = x * 10 + d;
		}
		if (*seen && *cl != x)
			return -1;
		*seen = true;
		*cl = x;
	}
	return 0;
}

/* At a CR or LF ending a line: advances past the terminator (a lone LF is
 * tolerated, RFC 9112 2.2).  1 when done, 0 when the LF after a CR is not in
 * the buffer yet, -1 for a bare CR. */
static inline int http_eol(const char **pp, const char *end)
{
	const char *p = *pp;
	if (*p == '\n') {
		*pp = p + 1;
		return 1;
	}
	if (p + 1 >= end)
		return 0;
	if (p[1] != '\n')
		return -1;
	*pp = p + 2;
	return 1;
}

/* One field line at *pp (not at the head's final empty line): its name
 * and its value trimmed of OWS (f[0..2) and f[2..4)), *pp past its line
 * end.  1 done, 0 more bytes are needed,
 * -1 malformed: obs-fold, whitespace before ':', an empty name, a byte no
 * field value may hold, a bare CR. */
static inline int http_field_line(const char **pp, const char *end, const char *f[4])
{
	const char *p = *pp, *name = p;
	while (p < end && (http_cls[(unsigned char)*p] & HTTP_C_TCHAR))
		p++;
	if (p == end)
		return 0;
	if (*p != ':' || p == name)
		return -1;
	const char *name_end = p++;
	while (p < end && http_is_ows(*p))
		p++;
	const char *val = p;
	while (end - p >= 4 &&
	       (http_cls[(unsigned char)p[0]] & http_cls[(unsigned char)p[1]] &
		http_cls[(unsigned char)p[2]] & http_cls[(unsigned char)p[3]] & HTTP_C_VALUE))
		p += 4;
	while (p < end && (http_cls[(unsigned char)*p] & HTTP_C_VALUE))
		p++;
	if (p == end)
		return 0;
	if (*p != '\r' && *p != '\n')
		return -1;
	const char *val_end = p;
	while (val_end > val && http_is_ows(val_end[-1]))
		val_end--;
	int r = http_eol(&p, end);
	if (r <= 0)
		return r;
	f[0] = name;
	f[1] = name_end;
	f[2] = val;
	f[3] = val_end;
	*pp = p;
	return 1;
}

#endif
