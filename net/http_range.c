/* Range header parsing: a single byte range, anything else ignored. */
#include "net/http_range.h"

#include <stdbool.h>

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* 1*DIGIT at *p (before end) into *v.  false on no digit or overflow. */
static bool parse_u64(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t n = 0;
	if (s == end || *s < '0' || *s > '9')
		return false;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*p = s;
	*v = n;
	return true;
}

/* One range-spec with its OWS already trimmed. */
enum spec { SPEC_BAD, SPEC_INT, SPEC_OPEN, SPEC_SUFFIX };

static enum spec parse_spec(const char *p, const char *end, uint64_t *a, uint64_t *b)
{
	if (p < end && *p == '-') {
		p++;
		if (!parse_u64(&p, end, b) || p != end)
			return SPEC_BAD;
		return SPEC_SUFFIX;
	}
	if (!parse_u64(&p, end, a) || p == end || *p != '-')
		return SPEC_BAD;
	p++;
	if (p == end)
		return SPEC_OPEN;
	if (!parse_u64(&p, end, b) || p != end || *a > *b)
		return SPEC_BAD;
	return SPEC_INT;
}

enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
					uint64_t *first, uint64_t *last)
{
	if (!value)
		return HTTP_RANGE_NONE;
	const char *p = value, *end = value + len;
	while (p < end && is_ows(*p))
		p++;
	while (end > p && is_ows(end[-1]))
		end--;

	static const char unit[] = "bytes=";
	for (size_t i = 0; i < sizeof(unit) - 1; i++, p++)
		if (p == end || lower(*p) != unit[i])
			return HTTP_RANGE_IGNORE;

	/* Find the one non-empty list element. */
	const char *es = NULL, *ee = NULL;
	for (bool more = true; more;) {
		const char *c = p;
		while (c < end && *c != ',')
			c++;
		more = c < end;
		const char *s = p, *e = c;
		while (s < e && is_ows(*s))
			s++;
		while (e > s && is_ows(e[-1]))
			e--;
		if (s < e) {
			if (es)
				return HTTP_RANGE_IGNORE;
			es = s;
			ee = e;
		}
		p = more ? c + 1 : end;
	}
	if (!es)
		return HTTP_RANGE_IGNORE;

	uint64_t a = 0, b = 0;
	switch (parse_spec(es, ee, &a, &b)) {
	case SPEC_BAD:
		return HTTP_RANGE_IGNORE;
	case SPEC_SUFFIX:
		if (b == 0 || size == 0)
			return HTTP_RANGE_UNSATISFIABLE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return HTTP_RANGE_OK;
	case SPEC_OPEN:
		b = UINT64_MAX;
		/* fall through */
	case SPEC_INT:
		if (a >= size)
			return HTTP_RANGE_UNSATISFIABLE;
		*first = a;
		*last = b >= size ? size - 1 : b;
		return HTTP_RANGE_OK;
	}
	return HTTP_RANGE_IGNORE;
}
