/* The upstream's response head (RFC 9112 4, 5, 6.3), parsed as strictly as
 * a client's request head (net/http_parse.c): herd re-frames what it passes
 * on, so any doubt about where this response ends is a 502, never a guess.
 *
 * Like the request parser it keeps no state between calls and classifies
 * every byte when it is scanned: a prefix of a valid head can only give
 * HTTP_NEED_MORE, and scanning stops at UPSTREAM_MAX_HEAD. */
#include "net/http_upstream.h"

#include "net/http_upstream_int.h"

/* Same bound as a request's Content-Length: far above any real body, and
 * sums of it cannot overflow. */
#define CL_MAX (UINT64_C(1) << 62)

/* Facts gathered from the framing-relevant fields while scanning. */
struct rsem {
	bool cl_seen;
	uint64_t cl;
	bool te_seen, te_last_chunked;
	unsigned te_chunked;
	bool conn_close, conn_keep_alive;
	bool upgrade_seen;
};

static int content_length(struct rsem *s, const char *v, size_t n)
{
	return http_content_length(v, n, CL_MAX, &s->cl_seen, &s->cl);
}

static void transfer_encoding(struct rsem *s, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *es;
	size_t en;
	s->te_seen = true;
	while (http_list_next(&p, end, &es, &en)) {
		if (en == 0)
			continue; /* RFC 9110 5.6.1: empty elements are ignored */
		s->te_last_chunked = HTTP_IEQ(es, en, "chunked");
		s->te_chunked += s->te_last_chunked;
	}
}

static int inspect_field(struct rsem *s, const struct http_header *h)
{
	const char *n = h->name.p, *v = h->value.p;
	size_t nl = h->name.len, vl = h->value.len;
	if (HTTP_IEQ(n, nl, "content-length"))
		return content_length(s, v, vl);
	if (HTTP_IEQ(n, nl, "transfer-encoding")) {
		transfer_encoding(s, v, vl);
	} else if (HTTP_IEQ(n, nl, "connection")) {
		s->conn_close |= up_list_has(v, vl, "close");
		s->conn_keep_alive |= up_list_has(v, vl, "keep-alive");
	} else if (HTTP_IEQ(n, nl, "upgrade")) {
		s->upgrade_seen = true;
	}
	return 0;
}

/* RFC 9112 6.3, in its order, for what herd must pass on. */
static int framing(const struct rsem *s, bool head_request, struct upstream_response *r)
{
	int st = r->status;
	/* Refused whatever the status: a proxy must not forward both
	 * (RFC 9112 6.1), and one that sends both is confused. */
	if (s->cl_seen && s->te_seen)
		return -1;
	/* Chunked applied twice is forbidden (RFC 9112 6.1); decoding it
	 * once would hand the client framing as data. */
	if (s->te_chunked > 1)
		return -1;
	r->content_length = s->cl_seen ? s->cl : 0;
	if (head_request || st < 200 || st == 204 || st == 304)
		r->body = UP_BODY_NONE;
	else if (s->te_seen)
		r->body = s->te_last_chunked ? UP_BODY_CHUNKED : UP_BODY_CLOSE;
	else if (s->cl_seen)
		r->body = s->cl ? UP_BODY_LENGTH : UP_BODY_NONE;
	else
		r->body = UP_BODY_CLOSE;
	bool v11 = r->version_minor == 1;
	r->keep_alive = !s->conn_close && (v11 || s->conn_keep_alive) && r->body != UP_BODY_CLOSE;
	r->upgrade = st == 101 && s->upgrade_seen;
	return 0;
}

/* "HTTP/1." ("0" / "1") SP 3DIGIT [ SP reason ] EOL, the reason possibly
 * empty with or without its SP (RFC 9112 4 allows the SP-less form to be
 * tolerated, and some servers send it). */
static int status_line(const char **pp, const char *end, struct upstream_response *r)
{
	static const char pat[] = "HTTP/1.x 000";
	const char *p = *pp;
	size_t avail = (size_t)(end - p);
	for (size_t i = 0; i < 12 && i < avail; i++) {
		unsigned char c = (unsigned char)p[i], want = (unsigned char)pat[i];
		bool ok = want == 'x'   ? c == '0' || c == '1'
			  : want == '0' ? (unsigned)(c - '0') <= 9
					: c == want;
		if (!ok)
			return -1;
	}
	if (avail <= 12)
		return 0;
	r->version_minor = (uint8_t)(p[7] - '0');
	r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (r->status < 100 || r->status > 599)
		return -1;
	p += 12;
	if (*p == ' ')
		p++;
	else if (*p != '\r' && *p != '\n')
		return -1;
	const char *reason = p;
	while (p < end && (http_cls[(unsigned char)*p] & HTTP_C_VALUE))
		p++;
	if (p == end)
		return 0;
	if (*p != '\r' && *p != '\n')
		return -1;
	r->reason = (struct http_slice){reason, (uint32_t)(p - reason)};
	int e = http_eol(&p, end);
	if (e <= 0)
		return e;
	*pp = p;
	return 1;
}

int http_parse_response(const char *buf, size_t len, bool head_request,
			struct upstream_response *r)
{
	const char *p = buf;
	const char *end = buf + (len < UPSTREAM_MAX_HEAD ? len : UPSTREAM_MAX_HEAD);
	struct rsem s = {0};
	int e;

	r->nheaders = 0;
	if ((e = status_line(&p, end, r)) <= 0)
		goto short_or_err;

	for (;;) {
		if (p == end)
			goto need_more;
		if (*p == '\r' || *p == '\n') {
			if ((e = http_eol(&p, end)) <= 0)
				goto short_or_err;
			break;
		}
		const char *f[4];
		if ((e = http_field_line(&p, end, f)) <= 0)
			goto short_or_err;
		if (r->nheaders == HTTP_MAX_HEADERS)
			return -1;
		struct http_header *h = &r->headers[r->nheaders++];
		h->name = (struct http_slice){f[0], (uint32_t)(f[1] - f[0])};
		h->value = (struct http_slice){f[2], (uint32_t)(f[3] - f[2])};
		if (inspect_field(&s, h) < 0)
			return -1;
	}
	if (framing(&s, head_request, r) < 0)
		return -1;
	r->header_bytes = (uint32_t)(p - buf);
	return (int)r->header_bytes;

short_or_err:
	if (e < 0)
		return -1;
need_more:
	/* The scan was clamped at the limit: a head not finished within it is
	 * too large whether or not more bytes were there. */
	return len >= UPSTREAM_MAX_HEAD ? -1 : HTTP_NEED_MORE;
}
