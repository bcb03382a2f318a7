/* HTTP/1.1 request head parser (RFC 9112); the chunked-body skipper is in
 * net/http_chunked.c.
 *
 * The head parser keeps no state between calls: the caller re-invokes it on
 * the grown buffer.  Every byte is classified exactly when it is scanned, so
 * a prefix of a valid head can only ever yield HTTP_NEED_MORE, while a byte
 * that proves the head invalid is reported at once instead of waiting for the
 * size limit.  Scanning is clamped to HTTP_MAX_HEADER_BYTES, which bounds the
 * cost of each re-scan and turns "not finished within the limit" into 431. */
#include "net/http_parse.h"

#include <string.h>

#include "net/http_lex.h"
#include "net/http_path.h"

#define ERR(status) (-(status))
#define MAX_TARGET (HTTP_MAX_HEADER_BYTES / 2)
#define MAX_LEADING_EMPTY_LINES 8
#define CL_MAX (UINT64_C(1) << 62)

/* Facts gathered from the framing-relevant fields while scanning. */
struct sem {
	unsigned hosts;
	struct http_slice host;
	bool expect_continue, expect_unknown;
	bool conn_close, conn_keep_alive;
	bool cl_seen;
	uint64_t cl;
	bool te_seen, te_last_chunked, te_chunked_not_last, te_other;
};

static int parse_content_length(struct sem *s, const char *v, size_t n)
{
	return http_content_length(v, n, CL_MAX, &s->cl_seen, &s->cl) < 0 ? ERR(400) : 0;
}

static void parse_transfer_encoding(struct sem *s, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *es;
	size_t en;
	s->te_seen = true;
	while (http_list_next(&p, end, &es, &en)) {
		if (en == 0)
			continue; /* RFC 9110 5.6.1: empty elements are ignored */
		if (s->te_last_chunked)
			s->te_chunked_not_last = true;
		s->te_last_chunked = HTTP_IEQ(es, en, "chunked");
		if (!s->te_last_chunked)
			s->te_other = true;
	}
}

static void parse_connection(struct sem *s, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *es;
	size_t en;
	while (http_list_next(&p, end, &es, &en)) {
		if (HTTP_IEQ(es, en, "close"))
			s->conn_close = true;
		else if (HTTP_IEQ(es, en, "keep-alive"))
			s->conn_keep_alive = true;
	}
}

/* RFC 9110 10.1.1: "100-continue" is the only expectation there is, with
 * no parameters; any other member cannot be met. */
static void parse_expect(struct sem *s, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *es;
	size_t en;
	while (http_list_next(&p, end, &es, &en)) {
		if (HTTP_IEQ(es, en, "100-continue"))
			s->expect_continue = true;
		else if (en)
			s->expect_unknown = true;
	}
}

/* Dispatch on name length first: most fields need no string compare. */
static int inspect_field(struct sem *s, struct http_request *req, const struct http_header *h)
{
	const char *n = h->name.p, *v = h->value.p;
	size_t nl = h->name.len, vl = h->value.len;
	switch (nl) {
	case 4:
		if (HTTP_IEQ(n, nl, "host")) {
			/* RFC 9112 3.2: one Host, and a valid one. */
			if (++s->hosts > 1 || (vl && !http_authority_valid(v, vl, false)))
				return ERR(400);
			s->host = h->value;
		}
		break;
	case 6:
		if (HTTP_IEQ(n, nl, "expect"))
			parse_expect(s, v, vl);
		break;
	case 8:
		if (HTTP_IEQ(n, nl, "if-match"))
			req->conditionals |= HTTP_COND_IF_MATCH;
		else if (HTTP_IEQ(n, nl, "if-range"))
			req->conditionals |= HTTP_COND_IF_RANGE;
		break;
	case 10:
		if (HTTP_IEQ(n, nl, "connection"))
			parse_connection(s, v, vl);
		break;
	case 13:
		if (HTTP_IEQ(n, nl, "if-none-match"))
			req->conditionals |= HTTP_COND_IF_NONE_MATCH;
		break;
	case 14:
		if (HTTP_IEQ(n, nl, "content-length"))
			return parse_content_length(s, v, vl);
		break;
	case 17:
		if (HTTP_IEQ(n, nl, "transfer-encoding"))
			parse_transfer_encoding(s, v, vl);
		else if (HTTP_IEQ(n, nl, "if-modified-since"))
			req->conditionals |= HTTP_COND_IF_MODIFIED_SINCE;
		break;
	case 19:
		if (HTTP_IEQ(n, nl, "if-unmodified-since"))
			req->conditionals |= HTTP_COND_IF_UNMODIFIED_SINCE;
		break;
	}
	return 0;
}

static int finish(const struct sem *s, struct http_request *req)
{
	bool v11 = req->version_minor == 1;
	if (v11 && s->hosts == 0)
		return ERR(400);
	if (s->hosts && (req->form == HTTP_TARGET_ORIGIN || req->form == HTTP_TARGET_ASTERISK))
		req->host = s->host;
	req->expect_continue = v11 && s->expect_continue;
	req->expect_unknown = s->expect_unknown;
	req->keep_alive = !s->conn_close && (v11 || s->conn_keep_alive);
	req->body = HTTP_BODY_NONE;
	req->content_length = 0;
	if (s->te_seen) {
		/* TE with CL, or in 1.0 where it was not defined, is how requests
		 * get smuggled past intermediaries (RFC 9112 6.1). */
		if (!v11 || s->cl_seen || s->te_chunked_not_last)
			return ERR(400);
		if (s->te_other)
			return ERR(501);
		if (!s->te_last_chunked)
			return ERR(400); /* only empty elements */
		req->body = HTTP_BODY_CHUNKED;
	} else if (s->cl_seen && s->cl > 0) {
		req->body = HTTP_BODY_LENGTH;
		req->content_length = s->cl;
	}
	return 0;
}

static enum http_method method_of(const char *m, size_t n)
{
	/* Indexed by enum http_method; GET, the common case, is tried first. */
	static const char names[HTTP_M_OTHER][8] = {
		"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
	};
	for (int i = 0; n < 8 && i < HTTP_M_OTHER; i++)
		if (names[i][n] == '\0' && memcmp(names[i], m, n) == 0)
			return (enum http_method)i;
	return HTTP_M_OTHER;
}

/* Splits an origin-form path off its query and fragment. */
static void split_path(struct http_request *req, const char *p, const char *end)
{
	const char *q = p;
	while (q < end && *q != '?' && *q != '#')
		q++;
	const char *f = q;
	while (f < end && *f != '#')
		f++;
	req->path = (struct http_slice){p, (uint32_t)(q - p)};
	req->query = (struct http_slice){q, (uint32_t)(f - q)};
}

/* "http://" or "https://" authority path-abempty [ "?" query ]: true when
 * it is one, with path, query and host set. */
static bool absolute_form(struct http_request *req, const char *t, size_t n)
{
	size_t skip = n > 7 && http_ieq(t, "http://", 7) ? 7 : n > 8 && http_ieq(t, "https://", 8) ? 8 : 0;
	if (!skip)
		return false;
	const char *a = t + skip, *end = t + n, *e = a;
	while (e < end && *e != '/' && *e != '?' && *e != '#')
		e++;
	if (!http_authority_valid(a, (size_t)(e - a), false))
		return false;
	req->host = (struct http_slice){a, (uint32_t)(e - a)};
	split_path(req, e, end);
	if (req->path.len == 0)
		req->path = (struct http_slice){"/", 1}; /* RFC 9110 4.2.3 */
	return true;
}

/* Which of the four forms the target is, and whether its method may use
 * it (see http_parse.h). */
static int classify_target(struct http_request *req)
{
	const char *t = req->target.p;
	size_t n = req->target.len;
	enum http_method m = req->method;

	req->path = req->query = req->host = (struct http_slice){t, 0};
	if (m != HTTP_M_CONNECT) {
		if (t[0] == '/') {
			req->form = HTTP_TARGET_ORIGIN;
			split_path(req, t, t + n);
			return 1;
		}
		if (n == 1 && t[0] == '*') {
			req->form = HTTP_TARGET_ASTERISK;
			return m == HTTP_M_OPTIONS || m == HTTP_M_OTHER ? 1 : ERR(400);
		}
		if (absolute_form(req, t, n)) {
			req->form = HTTP_TARGET_ABSOLUTE;
			return 1;
		}
		if (m != HTTP_M_OTHER)
			return ERR(400);
	}
	if (!http_authority_valid(t, n, true))
		return ERR(400);
	req->form = HTTP_TARGET_AUTHORITY;
	req->host = req->target;
	return 1;
}

/* At a CR or LF ending a line: advances past the terminator.  Returns 1 when
 * done, 0 when the LF after a CR is not in the buffer yet, -400 for bare CR. */
static int eol(const char **pp, const char *end)
{
	int r = http_eol(pp, end);
	return r < 0 ? ERR(400) : r;
}

/* Parses the request line, leaving *pp after its terminator. */
static int request_line(const char **pp, const char *end, struct http_request *req)
{
	const char *p = *pp, *start;
	int r;

	start = p;
	while (p < end && (http_cls[(unsigned char)*p] & HTTP_C_TCHAR))
		p++;
	if (p == end)
		return 0;
	if (*p != ' ' || p == start)
		return ERR(400);
	req->method_name.p = start;
	req->method_name.len = (uint32_t)(p - start);
	p++;

	start = p;
	while (p < end && (http_cls[(unsigned char)*p] & HTTP_C_TARGET))
		p++;
	if (p - start > MAX_TARGET)
		return ERR(414);
	if (p == end)
		return 0;
	if (*p != ' ' || p == start)
		return ERR(400);
	req->target.p = start;
	req->target.len = (uint32_t)(p - start);
	p++;

	/* "HTTP/" DIGIT "." DIGIT, checked as far as the bytes reach. */
	static const char pat[] = "HTTP/0.0";
	size_t avail = (size_t)(end - p);
	for (size_t i = 0; i < 8 && i < avail; i++) {
		unsigned char c = (unsigned char)p[i];
		bool ok = pat[i] == '0' ? (unsigned)(c - '0') <= 9 : c == (unsigned char)pat[i];
		if (!ok)
			return ERR(400);
	}
	if (avail <= 8)
		return 0;
	if (p[8] != '\r' && p[8] != '\n')
		return ERR(400);
	char major = p[5], minor = p[7];
	p += 8;
	if ((r = eol(&p, end)) <= 0)
		return r;
	if (major != '1' || (minor != '0' && minor != '1'))
		return ERR(505);
	req->method = method_of(req->method_name.p, req->method_name.len);
	req->version_minor = (uint8_t)(minor - '0');
	if ((r = classify_target(req)) < 0)
		return r;
	*pp = p;
	return 1;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	const char *p = buf;
	const char *end = buf + (len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES);
	struct sem s = {0};
	int r;

	req->nheaders = 0;
	req->conditionals = 0;

	/* RFC 9112 2.2: tolerate a few empty lines left over from a previous
	 * request's body, but not an endless stream of them. */
	for (int n = 0; p < end && (*p == '\r' || *p == '\n'); n++) {
		if (n == MAX_LEADING_EMPTY_LINES)
			return ERR(400);
		if ((r = eol(&p, end)) <= 0)
			goto short_or_err;
	}

	if ((r = request_line(&p, end, req)) <= 0)
		goto short_or_err;

	for (;;) {
		if (p == end)
			goto need_more;
		if (*p == '\r' || *p == '\n') {
			if ((r = eol(&p, end)) <= 0)
				goto short_or_err;
			break;
		}

		const char *f[4];
		if ((r = http_field_line(&p, end, f)) <= 0) {
			if (r == 0)
				goto need_more;
			return ERR(400);
		}
		if (req->nheaders == HTTP_MAX_HEADERS)
			return ERR(431);
		struct http_header *h = &req->headers[req->nheaders++];
		h->name = (struct http_slice){f[0], (uint32_t)(f[1] - f[0])};
		h->value = (struct http_slice){f[2], (uint32_t)(f[3] - f[2])};
		if ((r = inspect_field(&s, req, h)) < 0)
			return r;
	}

	if ((r = finish(&s, req)) < 0)
		return r;
	req->header_bytes = (uint32_t)(p - buf);
	return (int)req->header_bytes;

short_or_err:
	if (r < 0)
		return r;
need_more:
	/* The scan was clamped at the limit, so a head that did not end within
	 * it is too large whether or not more bytes were actually present. */
	return len >= HTTP_MAX_HEADER_BYTES ? ERR(431) : HTTP_NEED_MORE;
}

const struct http_header *http_find_header(const struct http_request *req, const char *name)
{
	size_t n = strlen(name);
	for (uint32_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (h->name.len == n && http_ieq(h->name.p, name, n))
			return h;
	}
	return NULL;
}
