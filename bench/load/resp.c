#include "resp.h"

#include <string.h>
#include <strings.h>

enum {
	S_HEAD,        /* waiting for the complete header block */
	S_BODY,        /* Content-Length bytes */
	S_BODY_EOF,    /* no framing: body ends when the server closes */
	S_CHUNK_SIZE,
	S_CHUNK_DATA,
	S_CHUNK_CRLF,  /* CRLF after a chunk's data */
	S_TRAILER,
};

void resp_init(struct resp *r)
{
	memset(r, 0, sizeof(*r));
}

bool resp_idle(const struct resp *r)
{
	return r->state == S_HEAD && r->scanned == 0;
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* Is tok one of the comma-separated, case-insensitive tokens in [v, end)? */
static bool has_token(const char *v, const char *end, const char *tok, bool last_only)
{
	size_t tl = strlen(tok);
	bool found = false;
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *s = v;
		while (v < end && *v != ',')
			v++;
		const char *e = v;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s)
			continue;
		found = (size_t)(e - s) == tl && strncasecmp(s, tok, tl) == 0;
		if (found && !last_only)
			return true;
	}
	return found;
}

/* Status line "HTTP/1.x NNN[ reason]".  Returns the minor version or -1. */
static int parse_status_line(struct resp *r, const char *p, const char *end)
{
	if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
	    p[8] != ' ')
		return -1;
	const char *d = p + 9;
	for (int i = 0; i < 3; i++)
		if (d[i] < '0' || d[i] > '9')
			return -1;
	if (end - p > 12 && d[3] != ' ')
		return -1;
	int code = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
	if (code < 100 || code > 599)
		return -1;
	r->status = (uint16_t)code;
	return p[7] - '0';
}

static int parse_length(const char *v, const char *end, uint64_t *out)
{
	if (v == end || end - v > 18)
		return -1;
	uint64_t n = 0;
	for (; v < end; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return 0;
}

/* Parses the header block [p, end) (end points at the final CRLF CRLF). */
static int parse_head(struct resp *r, const char *p, const char *end)
{
	const char *eol = memchr(p, '\n', (size_t)(end + 2 - p));
	if (!eol || eol == p || eol[-1] != '\r')
		return RESP_ERROR;
	int minor = parse_status_line(r, p, eol - 1);
	if (minor < 0)
		return RESP_ERROR;
	bool keep_alive = false, have_len = false;
	uint64_t len = 0;
	r->close = false;
	r->chunked = false;

	for (p = eol + 1; p < end + 2; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end + 2 - p));
		if (!eol || eol == p || eol[-1] != '\r')
			return RESP_ERROR;
		const char *lend = eol - 1;
		if (lend == p)
			break; /* the blank line */
		const char *colon = memchr(p, ':', (size_t)(lend - p));
		if (!colon || colon == p)
			return RESP_ERROR;
		for (const char *c = p; c < colon; c++)
			if (!is_tchar((unsigned char)*c))
				return RESP_ERROR; /* also rejects obsolete line folding */
		const char *v = colon + 1;
		while (v < lend && (*v == ' ' || *v == '\t'))
			v++;
		const char *ve = lend;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		size_t nl = (size_t)(colon - p);
		if (nl == 14 && strncasecmp(p, "content-length", 14) == 0) {
			uint64_t n;
			if (parse_length(v, ve, &n) || (have_len && n != len))
				return RESP_ERROR;
			have_len = true;
			len = n;
		} else if (nl == 17 && strncasecmp(p, "transfer-encoding", 17) == 0) {
			r->chunked = has_token(v, ve, "chunked", true);
			if (!r->chunked)
				r->close = true; /* unknown coding: only the close delimits it */
		} else if (nl == 10 && strncasecmp(p, "connection", 10) == 0) {
			if (has_token(v, ve, "close", false))
				r->close = true;
			if (has_token(v, ve, "keep-alive", false))
				keep_alive = true;
		}
	}
	if (minor == 0 && !keep_alive)
		r->close = true;

	r->body = 0;
	if (r->status < 200 || r->status == 204 || r->status == 304)
		return RESP_DONE; /* no body by definition (HEAD is never sent) */
	if (r->chunked) {
		r->state = S_CHUNK_SIZE;
	} else if (have_len) {
		if (len == 0)
			return RESP_DONE;
		r->left = len;
		r->state = S_BODY;
	} else {
		r->close = true;
		r->state = S_BODY_EOF;
	}
	return RESP_MORE;
}

/* One CRLF-terminated line at buf, or NULL when incomplete/too long. */
static const char *line_end(const char *buf, size_t len, int *err)
{
	const char *eol = memchr(buf, '\n', len < RESP_MAX_LINE ? len : RESP_MAX_LINE);
	*err = 0;
	if (!eol) {
		if (len >= RESP_MAX_LINE)
			*err = 1;
		return NULL;
	}
	if (eol == buf || eol[-1] != '\r')
		*err = 1;
	return eol - 1;
}

static int parse_chunk_size(struct resp *r, const char *p, const char *end)
{
	uint64_t n = 0;
	int digits = 0;
	for (; p < end; p++, digits++) {
		int c = (unsigned char)*p, v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = (c | 0x20) - 'a' + 10;
		else
			break;
		if (digits == 15)
			return -1;
		n = n * 16 + (uint64_t)v;
	}
	if (digits == 0 || (p < end && *p != ';' && *p != ' ' && *p != '\t'))
		return -1;
	r->left = n;
	return 0;
}

/* Counts off the body (or chunk) bytes buffered after pos, up to r->left; returns the new pos. */
static size_t count_body(struct resp *r, size_t len, size_t pos)
{
	size_t avail = len - pos;
	size_t take = r->left < avail ? (size_t)r->left : avail;
	r->left -= take;
	r->body += take;
	return pos + take;
}

int resp_parse(struct resp *r, const char *buf, size_t len, size_t *used)
{
	size_t pos = 0;
	int rc, lerr;
	const char *le;
	for (;;) {
		switch (r->state) {
		case S_HEAD: {
			/* resume the search where the last call stopped */
			size_t avail = len - pos;
			size_t from = r->scanned >= 3 ? r->scanned - 3 : 0;
			const char *hend = from < avail ? memmem(buf + pos + from, avail - from,
								  "\r\n\r\n", 4) : NULL;
			if (!hend) {
				r->scanned = (uint32_t)avail;
				*used = pos;
				return avail >= RESP_MAX_HEADER ? RESP_ERROR : RESP_MORE;
			}
			if ((size_t)(hend - (buf + pos)) + 4 > RESP_MAX_HEADER)
				return RESP_ERROR;
			rc = parse_head(r, buf + pos, hend);
			pos = (size_t)(hend + 4 - buf);
			r->scanned = 0;
			if (rc == RESP_ERROR)
				return RESP_ERROR;
			if (rc == RESP_DONE) {
				if (r->status >= 100 && r->status < 200) {
					if (r->status == 101)
						return RESP_ERROR; /* we never ask to upgrade */
					continue; /* interim response: the real one follows */
				}
				*used = pos;
				return RESP_DONE;
			}
			break;
		}
		case S_BODY:
			pos = count_body(r, len, pos);
			*used = pos;
			if (r->left)
				return RESP_MORE;
			r->state = S_HEAD;
			return RESP_DONE;
		case S_BODY_EOF:
			r->body += len - pos;
			*used = len;
			return RESP_MORE;
		case S_CHUNK_SIZE:
			le = line_end(buf + pos, len - pos, &lerr);
			if (lerr || (le && parse_chunk_size(r, buf + pos, le)))
				return RESP_ERROR;
			if (!le) {
				*used = pos;
				return RESP_MORE;
			}
			pos = (size_t)(le + 2 - buf);
			r->state = r->left ? S_CHUNK_DATA : S_TRAILER;
			break;
		case S_CHUNK_DATA:
			pos = count_body(r, len, pos);
			if (r->left) {
				*used = pos;
				return RESP_MORE;
			}
			r->state = S_CHUNK_CRLF;
			break;
		case S_CHUNK_CRLF:
		case S_TRAILER:
			le = line_end(buf + pos, len - pos, &lerr);
			if (lerr)
				return RESP_ERROR;
			if (!le) {
				*used = pos;
				return RESP_MORE;
			}
			if (r->state == S_CHUNK_CRLF) {
				if (le != buf + pos)
					return RESP_ERROR; /* data longer than its size */
				r->state = S_CHUNK_SIZE;
				pos += 2;
				break;
			}
			bool blank = le == buf + pos;
			pos = (size_t)(le + 2 - buf);
			if (blank) {
				r->state = S_HEAD;
				*used = pos;
				return RESP_DONE;
			}
			break; /* a trailer field, ignored */
		default:
			return RESP_ERROR;
		}
	}
}

int resp_eof(struct resp *r)
{
	if (r->state == S_BODY_EOF) {
		r->state = S_HEAD;
		return RESP_DONE;
	}
	return resp_idle(r) ? RESP_MORE : RESP_ERROR;
}
