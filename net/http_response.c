#include "net/http_response.h"

#include <stdio.h>
#include <string.h>

#include "net/http_date.h"

#define LIT(s) s, sizeof(s) - 1

static const char plaintext_body[] = "Hello, World!";
static const char json_body[] = "{\"message\":\"Hello, World!\"}";

/* Every status of RFC 9110 15 (and 6585's 428, 429, 431), not only the ones
 * herd sends today, so a new answer never goes out as "Unknown". */
const char *http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 305: return "Use Proxy";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 402: return "Payment Required";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static size_t put_u64(char *dst, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		dst[i] = tmp[n - 1 - i];
	return n;
}

void http_response_head(struct outbuf *out, const struct http_clock *clk, int status,
			const char *ctype, uint64_t content_length, const char *extra,
			size_t extra_len, unsigned flags)
{
	char *p = out->p + out->len;
	char *start = p;
	const char *reason = http_reason(status);
	size_t rlen = strlen(reason);

	memcpy(p, "HTTP/1.1 ", 9);
	p += 9;
	p += put_u64(p, (uint64_t)status);
	*p++ = ' ';
	memcpy(p, reason, rlen);
	p += rlen;
	memcpy(p, LIT("\r\nServer: herd\r\n"));
	p += sizeof("\r\nServer: herd\r\n") - 1;
	memcpy(p, clk->date, clk->date_len);
	p += clk->date_len;
	if (ctype) {
		size_t clen = strlen(ctype);
		memcpy(p, LIT("Content-Type: "));
		p += sizeof("Content-Type: ") - 1;
		memcpy(p, ctype, clen);
		p += clen;
		*p++ = '\r';
		*p++ = '\n';
	}
	if (!(flags & HTTP_RESP_NO_LENGTH)) {
		memcpy(p, LIT("Content-Length: "));
		p += sizeof("Content-Length: ") - 1;
		p += put_u64(p, content_length);
		*p++ = '\r';
		*p++ = '\n';
	}
	if (flags & HTTP_RESP_CLOSE) {
		memcpy(p, LIT("Connection: close\r\n"));
		p += sizeof("Connection: close\r\n") - 1;
	} else if (flags & HTTP_RESP_KEEPALIVE) {
		memcpy(p, LIT("Connection: keep-alive\r\n"));
		p += sizeof("Connection: keep-alive\r\n") - 1;
	}
	if (flags & HTTP_RESP_ALLOW_GET) {
		memcpy(p, LIT("Allow: GET, HEAD\r\n"));
		p += sizeof("Allow: GET, HEAD\r\n") - 1;
	}
	if (extra_len) {
		memcpy(p, extra, extra_len);
		p += extra_len;
	}
	*p++ = '\r';
	*p++ = '\n';
	out->len += (size_t)(p - start);
	out->last_status = status;
	out->last_length = flags & (HTTP_RESP_HEAD | HTTP_RESP_NO_LENGTH) ? 0 : content_length;
}

void http_response(struct outbuf *out, const struct http_clock *clk, int status,
		   const char *ctype, const char *body, size_t body_len, unsigned flags)
{
	http_response_head(out, clk, status, ctype, body_len, NULL, 0, flags);
	if (!(flags & HTTP_RESP_HEAD) && body_len)
		outbuf_put(out, body, body_len);
}

static const struct {
	const char *ctype, *body;
	size_t len;
} builtin[HTTP_CANNED_COUNT] = {
	[HTTP_CANNED_PLAINTEXT] = {"text/plain", plaintext_body, sizeof(plaintext_body) - 1},
	[HTTP_CANNED_JSON] = {"application/json", json_body, sizeof(json_body) - 1},
};

void http_response_builtin(struct outbuf *out, const struct http_clock *clk,
			   enum http_canned which, unsigned flags)
{
	if (flags == 0) {
		outbuf_put(out, clk->canned[which], clk->canned_len[which]);
		out->last_status = 200;
		out->last_length = builtin[which].len;
	} else
		http_response(out, clk, 200, builtin[which].ctype, builtin[which].body,
			      builtin[which].len, flags);
}

void http_response_error(struct outbuf *out, const struct http_clock *clk, int status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	http_response(out, clk, status, "text/plain", body, (size_t)n, HTTP_RESP_CLOSE);
}

static void build_canned(struct http_clock *c, enum http_canned which)
{
	struct outbuf o = {.p = c->canned[which], .cap = sizeof(c->canned[which])};
	http_response(&o, c, 200, builtin[which].ctype, builtin[which].body, builtin[which].len, 0);
	c->canned_len[which] = (uint16_t)o.len;
}

void http_clock_tick(struct http_clock *c, int64_t now_sec)
{
	if (c->sec == now_sec && c->date_len)
		return;
	c->sec = now_sec;
	/* Arithmetic, not gmtime_r: see http_date.h. */
	char d[HTTP_DATE_LEN + 1];
	if (http_date_format(now_sec, d)) {
		memcpy(c->date, "Date: ", 6);
		memcpy(c->date + 6, d, HTTP_DATE_LEN);
		memcpy(c->date + 6 + HTTP_DATE_LEN, "\r\n", 2);
		c->date_len = 6 + HTTP_DATE_LEN + 2;
	} else {
		c->date_len = 0; /* a clock past 9999: no Date rather than a wrong one */
	}
	for (int w = 0; w < HTTP_CANNED_COUNT; w++)
		build_canned(c, (enum http_canned)w);
}
