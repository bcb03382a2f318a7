/* The HTTPS redirect (see net/http_redirect.h). */
#include "net/http_redirect.h"

#include <stdio.h>
#include <string.h>

/* The host without its port; an IPv6 literal keeps its brackets. */
static struct http_slice host_name(struct http_slice h)
{
	size_t end = h.len;
	if (h.len && h.p[0] == '[') {
		const char *rb = memchr(h.p, ']', h.len);
		end = rb ? (size_t)(rb - h.p) + 1 : h.len;
	} else {
		const char *colon = memchr(h.p, ':', h.len);
		if (colon)
			end = (size_t)(colon - h.p);
	}
	return (struct http_slice){.p = h.p, .len = end};
}

bool http_redirect_https(struct outbuf *out, const struct http_clock *clk,
			 const struct http_request *req, uint16_t https_port, unsigned flags)
{
	struct http_slice host = host_name(req->host);
	if (!host.len)
		return false;
	char port[8] = "";
	if (https_port != 443)
		snprintf(port, sizeof(port), ":%u", (unsigned)https_port);
	char loc[HTTP_MAX_HEADER_BYTES + 64];
	int n = snprintf(loc, sizeof(loc), "Location: https://%.*s%s%.*s%.*s\r\n", (int)host.len,
			 host.p, port, (int)req->path.len, req->path.p, (int)req->query.len,
			 req->query.p);
	if (n < 0 || (size_t)n >= sizeof(loc))
		return false;
	static const char body[] = "301 Moved Permanently\n";
	http_response_head(out, clk, 301, "text/plain", sizeof(body) - 1, loc, (size_t)n, flags);
	if (!(flags & HTTP_RESP_HEAD))
		outbuf_put(out, body, sizeof(body) - 1);
	return true;
}
