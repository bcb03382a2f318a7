/* Skipping a chunked request body (RFC 9112 §7.1) and its trailer section,
 * incrementally: any split of the input gives the same result.  Declared in
 * net/http_parse.h beside the head parser it follows.  The proxy's decoder
 * (http_chunked_decode, net/http_upstream.h) is the same machine copying the
 * data out, so the two cannot disagree on what a chunked body is. */
#include "net/http_parse.h"
#include "net/http_upstream.h"

#include <string.h>

/* Errors are negated HTTP statuses, as the head parser returns them. */
#define ERR(status) (-(status))

enum {
	CK_SIZE0,    /* expecting the first hex digit of a chunk-size */
	CK_SIZE,     /* in chunk-size digits */
	CK_SIZE_WS,  /* BWS after chunk-size: only ';' may follow */
	CK_EXT,      /* in chunk-ext, content ignored */
	CK_DATA,
	CK_DATA_END, /* chunk-data consumed, expecting its line end */
	CK_TRL0,     /* at the start of a trailer line or the final empty line */
	CK_TRL,      /* in a trailer line, content ignored */
	CK_DONE,
	CK_ERR,
	/* Or'ed into a line state: a CR was seen, so only LF may follow.  One
	 * rule for every line end keeps bare CR out of all of them. */
	CK_CR = 0x80,
};

#define CK_MAX_LINE 4096
#define CK_MAX_TRAILERS 64

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
}

static int hexval(unsigned char c)
{
	if ((unsigned)(c - '0') <= 9)
		return c - '0';
	c |= 0x20;
	if ((unsigned)(c - 'a') <= 5)
		return c - 'a' + 10;
	return -1;
}

/* The machine behind both entry points: data bytes go to out when it is
 * not NULL (*out_len counts them), and are only skipped otherwise. */
static ssize_t chunked_run(struct http_chunked *c, const char *buf, size_t len,
			   uint64_t max_body, bool *done, char *out, size_t *out_len)
{
	size_t i = 0;
	int status = 400, h;

	*done = false;
	if (c->state == CK_ERR)
		return ERR(c->line_bytes); /* the status is parked there */
	for (; i < len && c->state != CK_DONE; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (c->state == CK_DATA) {
			/* The only bulk path: data is skipped without looking at it. */
			size_t n = len - i;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (out) {
				memcpy(out + *out_len, buf + i, n);
				*out_len += n;
			}
			c->remaining -= n;
			i += n - 1;
			if (c->remaining == 0)
				c->state = CK_DATA_END;
			continue;
		}
		if (c->state & CK_CR) {
			if (ch != '\n')
				goto fail;
			c->state &= (uint8_t)~CK_CR;
		} else if (ch == '\r') {
			c->state |= CK_CR;
			continue;
		}

		switch (c->state) {
		case CK_SIZE0:
			if ((h = hexval(ch)) < 0)
				goto fail;
			c->remaining = (uint64_t)h;
			c->line_bytes = 0;
			c->state = CK_SIZE;
			break;
		case CK_SIZE:
			if ((h = hexval(ch)) >= 0) {
				if (c->remaining >> 60)
					goto fail; /* would overflow 64 bits */
				c->remaining = c->remaining << 4 | (uint64_t)h;
			} else if (ch == ';') {
				c->state = CK_EXT;
			} else if (ch == ' ' || ch == '\t') {
				c->state = CK_SIZE_WS;
			} else if (ch == '\n') {
				goto size_line_done;
			} else {
				goto fail;
			}
			break;
		case CK_SIZE_WS:
			if (ch == ';')
				c->state = CK_EXT;
			else if (ch != ' ' && ch != '\t')
				goto fail;
			break;
		case CK_EXT:
			if (ch == '\n')
				goto size_line_done;
			break;
		size_line_done:
			if (c->remaining > max_body - c->total) {
				status = 413;
				goto fail;
			}
			c->total += c->remaining;
			c->state = c->remaining ? CK_DATA : CK_TRL0;
			continue;
		case CK_DATA_END:
			if (ch != '\n')
				goto fail;
			c->state = CK_SIZE0;
			continue;
		case CK_TRL0:
			if (ch == '\n') {
				c->state = CK_DONE;
				continue;
			}
			if (++c->ext_or_trailer_guard > CK_MAX_TRAILERS)
				goto fail;
			c->line_bytes = 0;
			c->state = CK_TRL;
			break;
		case CK_TRL:
			if (ch == '\n') {
				c->state = CK_TRL0;
				continue;
			}
			break;
		}
		/* Still inside a size or trailer line. */
		if (++c->line_bytes > CK_MAX_LINE)
			goto fail;
	}
	*done = c->state == CK_DONE;
	return (ssize_t)i;

fail:
	c->state = CK_ERR;
	c->line_bytes = (uint16_t)status;
	return ERR(status);
}

ssize_t http_chunked_skip(struct http_chunked *c, const char *buf, size_t len,
			  uint64_t max_body, bool *done)
{
	return chunked_run(c, buf, len, max_body, done, NULL, NULL);
}

ssize_t http_chunked_decode(struct http_chunked *c, const char *in, size_t len, char *out,
			    size_t *out_len, bool *done)
{
	/* No size limit: the client asked for this body whatever its length;
	 * only the framing can be wrong. */
	*out_len = 0;
	ssize_t n = chunked_run(c, in, len, UINT64_MAX, done, out, out_len);
	return n < 0 ? -1 : n;
}
