/* Helpers shared by net/http_upstream.c (the heads herd writes) and
 * net/http_upstream_resp.c (the response head it reads): case-insensitive
 * compares and comma-list walking (RFC 9110 5.6.1).  net/http_parse.c has
 * its own private copies; these are kept here rather than exported from it
 * so the request parser stays untouched by the proxy. */
#ifndef HERD_HTTP_UPSTREAM_INT_H
#define HERD_HTTP_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static inline unsigned char up_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline bool up_ieq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (up_lower((unsigned char)a[i]) != up_lower((unsigned char)b[i]))
			return false;
	return true;
}

/* s[0..n) equals the lowercase literal, in any case. */
#define UP_IEQ(s, n, lit) ((n) == sizeof(lit) - 1 && up_ieq((s), lit, (n)))

static inline bool up_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Next element of a comma-separated list, trimmed of OWS; empty elements
 * are returned too so callers can decide.  *pp starts at the value and is
 * NULL once the list is exhausted. */
static inline bool up_list_next(const char **pp, const char *end, const char **es, size_t *en)
{
	const char *p = *pp;
	if (!p)
		return false;
	const char *c = memchr(p, ',', (size_t)(end - p));
	const char *e = c ? c : end;
	*pp = c ? c + 1 : NULL;
	while (p < e && up_is_ows(*p))
		p++;
	while (e > p && up_is_ows(e[-1]))
		e--;
	*es = p;
	*en = (size_t)(e - p);
	return true;
}

/* Whether the list v[0..n) has the element lit (lowercase), in any case. */
static inline bool up_list_has(const char *v, size_t n, const char *lit)
{
	const char *p = v, *end = v + n, *es;
	size_t en, ln = strlen(lit);
	while (up_list_next(&p, end, &es, &en))
		if (en == ln && up_ieq(es, lit, en))
			return true;
	return false;
}

#endif
