/* The heads herd writes as an intermediary (RFC 9110 7.6, RFC 9112): the
 * request it forwards upstream and the response head it passes back.  The
 * upstream's response head is parsed in net/http_upstream_resp.c.
 *
 * Both directions drop the same hop-by-hop fields and re-create framing
 * from what herd itself will send, never from the peer's fields: a length
 * or coding copied across is how a proxy ends up disagreeing with one side
 * about where a message ends. */
#include "net/http_upstream.h"

#include <stdio.h>
#include <string.h>

#include "net/http_response.h"
#include "net/http_upstream_int.h"

/* ---- output ----------------------------------------------------------- */

/* Appends that stop at the end and remember it, so the builders read as a
 * sequence and check once. */
struct wr {
	char *p, *end;
	bool full;
};

static void put(struct wr *w, const char *s, size_t n)
{
	if (w->full || (size_t)(w->end - w->p) < n) {
		w->full = true;
		return;
	}
	memcpy(w->p, s, n);
	w->p += n;
}

static void puts_(struct wr *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_slice(struct wr *w, struct http_slice s)
{
	put(w, s.p, s.len);
}

static void put_u64(struct wr *w, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);
	put(w, tmp, (size_t)n);
}

static void put_field(struct wr *w, const char *name, struct http_slice value)
{
	puts_(w, name);
	put(w, ": ", 2);
	put_slice(w, value);
	put(w, "\r\n", 2);
}

static void put_header(struct wr *w, const struct http_header *h)
{
	put_slice(w, h->name);
	put(w, ": ", 2);
	put_slice(w, h->value);
	put(w, "\r\n", 2);
}

static int finish(struct wr *w, char *out)
{
	put(w, "\r\n", 2);
	return w->full ? -1 : (int)(w->p - out);
}

/* ---- which fields go across --------------------------------------------- */

/* Fields that describe one connection, not the message (RFC 9110 7.6.1),
 * and the framing fields herd re-creates.  Proxy-* covers
 * Proxy-Authorization and Proxy-Authenticate, meant for a proxy: herd. */
static bool hop_by_hop(struct http_slice n)
{
	const char *s = n.p;
	size_t l = n.len;
	return HTTP_IEQ(s, l, "connection") || HTTP_IEQ(s, l, "keep-alive") ||
	       (l >= 6 && http_ieq(s, "proxy-", 6)) || HTTP_IEQ(s, l, "te") ||
	       HTTP_IEQ(s, l, "trailer") || HTTP_IEQ(s, l, "transfer-encoding") ||
	       HTTP_IEQ(s, l, "upgrade") || HTTP_IEQ(s, l, "content-length");
}

/* Marks in drop[] the fields that a Connection field names (RFC 9110
 * 7.6.1): the sender declared them hop-by-hop too.  Bounded by the head's
 * size: at most HTTP_MAX_HEADERS compares per listed name. */
static void connection_named(const struct http_header *h, uint32_t n, bool *drop)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!HTTP_IEQ(h[i].name.p, h[i].name.len, "connection"))
			continue;
		const char *p = h[i].value.p, *end = p + h[i].value.len, *es;
		size_t en;
		while (http_list_next(&p, end, &es, &en))
			for (uint32_t j = 0; en && j < n; j++)
				if (h[j].name.len == en && http_ieq(h[j].name.p, es, en))
					drop[j] = true;
	}
}

/* Starts a joined field's line, or separates its next element. */
static void put_list_sep(struct wr *w, const char *name, bool any)
{
	if (any) {
		put(w, ", ", 2);
	} else {
		puts_(w, name);
		put(w, ": ", 2);
	}
}

/* Every field called name, values joined with ", " (RFC 9110 5.3 makes
 * that the same field), then `add`: one line however many the peer sent. */
static void put_joined(struct wr *w, const char *name, const struct http_header *h, uint32_t n,
		       const bool *drop, const char *add)
{
	size_t nl = strlen(name);
	bool any = false;
	for (uint32_t i = 0; i < n; i++) {
		if (drop[i] || h[i].name.len != nl || !http_ieq(h[i].name.p, name, nl) ||
		    !h[i].value.len)
			continue;
		put_list_sep(w, name, any);
		put_slice(w, h[i].value);
		any = true;
	}
	if (add && *add) {
		put_list_sep(w, name, any);
		puts_(w, add);
		any = true;
	}
	if (any)
		put(w, "\r\n", 2);
}

static bool named(struct http_slice n, const char *lit)
{
	size_t l = strlen(lit);
	return n.len == l && http_ieq(n.p, lit, l);
}

/* ---- request ------------------------------------------------------------ */

bool http_request_is_websocket(const struct http_request *req)
{
	if (req->method != HTTP_M_GET || req->version_minor != 1)
		return false;
	bool upgrade = false, websocket = false;
	for (uint32_t i = 0; i < req->nheaders; i++) {
		const struct http_header *h = &req->headers[i];
		if (named(h->name, "upgrade"))
			websocket |= up_list_has(h->value.p, h->value.len, "websocket");
		else if (named(h->name, "connection"))
			upgrade |= up_list_has(h->value.p, h->value.len, "upgrade");
	}
	return upgrade && websocket;
}

/* The target upstream: origin-form whatever form the client used, with the
 * route's prefix stripped. */
static void put_target(struct wr *w, const struct upstream_request *u)
{
	const struct http_request *req = u->req;
	if (req->form == HTTP_TARGET_ASTERISK || req->form == HTTP_TARGET_AUTHORITY) {
		put_slice(w, req->target);
		return;
	}
	uint32_t strip = u->strip < req->path.len ? u->strip : req->path.len;
	struct http_slice rest = {req->path.p + strip, req->path.len - strip};
	if (!rest.len || rest.p[0] != '/')
		put(w, "/", 1);
	put_slice(w, rest);
	put_slice(w, req->query);
}

int upstream_request_head(char *out, size_t cap, const struct upstream_request *u)
{
	const struct http_request *req = u->req;
	const struct http_header *h = req->headers;
	uint32_t n = req->nheaders;
	struct wr w = {out, out + cap, false};
	bool drop[HTTP_MAX_HEADERS] = {0};
	bool sent_cl = false;

	put_slice(&w, req->method_name);
	put(&w, " ", 1);
	put_target(&w, u);
	puts_(&w, " HTTP/1.1\r\n");

	/* req->host is the absolute-form authority when there is one, which
	 * wins over the Host field (RFC 9112 3.2.2). */
	puts_(&w, "Host: ");
	if (req->host.len)
		put_slice(&w, req->host);
	else
		puts_(&w, u->default_host ? u->default_host : "");
	put(&w, "\r\n", 2);

	connection_named(h, n, drop);
	for (uint32_t i = 0; i < n; i++) {
		struct http_slice nm = h[i].name;
		sent_cl |= named(nm, "content-length");
		if (drop[i] || hop_by_hop(nm) || named(nm, "host") || named(nm, "expect") ||
		    named(nm, "x-forwarded-for") || named(nm, "x-forwarded-proto") ||
		    named(nm, "x-forwarded-host") || named(nm, "via"))
			continue;
		put_header(&w, &h[i]);
	}

	if (req->body == HTTP_BODY_LENGTH) {
		puts_(&w, "Content-Length: ");
		put_u64(&w, req->content_length);
		put(&w, "\r\n", 2);
	} else if (req->body == HTTP_BODY_CHUNKED) {
		puts_(&w, "Transfer-Encoding: chunked\r\n");
	} else if (sent_cl) {
		/* A POST with "Content-Length: 0" says its body is empty; some
		 * applications answer 411 without it. */
		puts_(&w, "Content-Length: 0\r\n");
	}

	put_joined(&w, "X-Forwarded-For", h, n, drop, u->client_ip);
	puts_(&w, u->https ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
	if (req->host.len)
		put_field(&w, "X-Forwarded-Host", req->host);
	put_joined(&w, "Via", h, n, drop, "1.1 herd");

	if (http_request_is_websocket(req)) {
		const struct http_header *up = http_find_header(req, "Upgrade");
		puts_(&w, "Connection: upgrade\r\n");
		put_field(&w, "Upgrade", up->value);
	}
	return finish(&w, out);
}

/* ---- response ----------------------------------------------------------- */

static const struct http_header *find(const struct upstream_response *r, const char *name)
{
	for (uint32_t i = 0; i < r->nheaders; i++)
		if (named(r->headers[i].name, name))
			return &r->headers[i];
	return NULL;
}

int upstream_response_head(char *out, size_t cap, const struct upstream_response *r,
			   unsigned flags)
{
	const struct http_header *h = r->headers;
	uint32_t n = r->nheaders;
	struct wr w = {out, out + cap, false};
	bool drop[HTTP_MAX_HEADERS] = {0};
	bool interim = r->status < 200 && r->status != 101;
	bool switching = r->status == 101;

	puts_(&w, "HTTP/1.1 ");
	put_u64(&w, (uint64_t)r->status);
	put(&w, " ", 1);
	if (r->reason.len) {
		put_slice(&w, r->reason);
	} else {
		/* Clients that show the phrase get the standard one; for a
		 * status without one, empty stays empty rather than made up. */
		const char *std = http_reason(r->status);
		if (strcmp(std, "Unknown") != 0)
			puts_(&w, std);
	}
	put(&w, "\r\n", 2);

	connection_named(h, n, drop);
	for (uint32_t i = 0; i < n; i++) {
		struct http_slice nm = h[i].name;
		/* A 101's Upgrade names the protocol the client is switched to:
		 * the one hop-by-hop field that must reach it. */
		bool keep_upgrade = switching && named(nm, "upgrade");
		if (!keep_upgrade && (drop[i] || hop_by_hop(nm)))
			continue;
		if (!interim && named(nm, "via"))
			continue; /* joined below, with herd's */
		put_header(&w, &h[i]);
	}
	if (interim)
		return finish(&w, out);

	switch (r->body) {
	case UP_BODY_LENGTH:
		puts_(&w, "Content-Length: ");
		put_u64(&w, r->content_length);
		put(&w, "\r\n", 2);
		break;
	case UP_BODY_CHUNKED:
		if (!(flags & UPR_DECHUNK))
			puts_(&w, "Transfer-Encoding: chunked\r\n");
		break;
	case UP_BODY_NONE:
		/* To a HEAD or in a 304 the length is the one a GET would have
		 * had (RFC 9110 8.6); with any other status here it is the
		 * upstream's "Content-Length: 0", which a keep-alive client
		 * needs to know the body is empty.  204 and 1xx have none. */
		if (r->status != 204 && !switching && find(r, "content-length")) {
			puts_(&w, "Content-Length: ");
			put_u64(&w, r->content_length);
			put(&w, "\r\n", 2);
		}
		break;
	case UP_BODY_CLOSE:
		break;
	}
	put_joined(&w, "Via", h, n, drop, "1.1 herd");
	if (switching)
		puts_(&w, "Connection: upgrade\r\n");
	else if (flags & UPR_CLOSE)
		puts_(&w, "Connection: close\r\n");
	else if (flags & UPR_KEEPALIVE)
		puts_(&w, "Connection: keep-alive\r\n");
	return finish(&w, out);
}
