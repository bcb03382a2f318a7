/* Preconditions and Range header parsing: a single byte range, anything
 * else ignored. */
#include "net/http_range.h"

#include <stdbool.h>
#include <string.h>

#include "net/http_date.h"

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

/* ---- preconditions ------------------------------------------------------ */

static bool name_is(const struct http_slice *n, const char *want)
{
	size_t i = 0;
	for (; i < n->len && want[i]; i++)
		if (lower(n->p[i]) != want[i])
			return false;
	return i == n->len && !want[i];
}

bool http_etag_list_match(const char *list, size_t len, const char *etag, size_t etag_len,
			  bool weak)
{
	const char *p = list, *end = list + len;
	while (p < end && is_ows(*p))
		p++;
	while (end > p && is_ows(end[-1]))
		end--;
	if (end - p == 1 && *p == '*')
		return true;
	while (p < end) {
		if (*p == ',' || is_ows(*p)) {
			p++; /* empty list elements are allowed (RFC 9110 5.6.1) */
			continue;
		}
		bool tag_weak = end - p >= 2 && p[0] == 'W' && p[1] == '/';
		if (tag_weak)
			p += 2;
		if (p == end || *p != '"')
			return false;
		const char *tag = p++;
		for (; p < end && *p != '"'; p++) {
			unsigned char c = (unsigned char)*p; /* etagc */
			if (c < 0x21 || c == 0x7F)
				return false;
		}
		if (p++ == end)
			return false;
		if ((weak || !tag_weak) && etag_len && (size_t)(p - tag) == etag_len &&
		    memcmp(tag, etag, etag_len) == 0)
			return true;
		while (p < end && is_ows(*p))
			p++;
		if (p < end && *p != ',')
			return false;
	}
	return false;
}

/* Any line of field `name` matches (its lines form one list). */
static bool field_matches(const struct http_request *req, const char *name,
			  const struct http_validators *v, bool weak)
{
	for (uint32_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (name_is(&h->name, name) &&
		    http_etag_list_match(h->value.p, h->value.len, v->etag, v->etag_len, weak))
			return true;
	}
	return false;
}

/* The only line of field `name`, or NULL when there are several (a list of
 * dates, or a value to compare that two lines would make ambiguous). */
static const struct http_header *only_line(const struct http_request *req, const char *name)
{
	const struct http_header *found = NULL;
	for (uint32_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (name_is(&h->name, name)) {
			if (found)
				return NULL;
			found = h;
		}
	}
	return found;
}

/* The date in the one line of `name`, when the resource has a date. */
static bool date_field(const struct http_request *req, const char *name,
		       const struct http_validators *v, int64_t *t)
{
	const struct http_header *h = v->has_mtime ? only_line(req, name) : NULL;
	return h && http_date_parse(h->value.p, h->value.len, t) == 0;
}

enum http_precondition http_preconditions(const struct http_request *req, bool get_or_head,
					  const struct http_validators *v)
{
	unsigned c = req->conditionals;
	int64_t t;
	if (c & HTTP_COND_IF_MATCH) {
		if (!field_matches(req, "if-match", v, false))
			return HTTP_PRECOND_FAILED;
	} else if ((c & HTTP_COND_IF_UNMODIFIED_SINCE) &&
		   date_field(req, "if-unmodified-since", v, &t) && v->mtime > t) {
		return HTTP_PRECOND_FAILED;
	}
	if (c & HTTP_COND_IF_NONE_MATCH) {
		if (field_matches(req, "if-none-match", v, true))
			return get_or_head ? HTTP_PRECOND_NOT_MODIFIED : HTTP_PRECOND_FAILED;
	} else if ((c & HTTP_COND_IF_MODIFIED_SINCE) && get_or_head &&
		   date_field(req, "if-modified-since", v, &t) && v->mtime <= t) {
		return HTTP_PRECOND_NOT_MODIFIED;
	}
	return HTTP_PRECOND_PASS;
}

bool http_if_range(const struct http_request *req, const struct http_validators *v)
{
	if (!(req->conditionals & HTTP_COND_IF_RANGE))
		return true;
	const struct http_header *h = only_line(req, "if-range");
	if (!h)
		return false;
	const char *s = h->value.p;
	size_t n = h->value.len;
	if ((n && s[0] == '"') || (n >= 2 && s[0] == 'W' && s[1] == '/'))
		return v->etag_len && n == v->etag_len && memcmp(s, v->etag, n) == 0;
	int64_t t;
	return v->has_mtime && http_date_parse(s, n, &t) == 0 && t == v->mtime;
}
