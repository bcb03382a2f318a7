/* --redirect-https: a plain-HTTP request answered with a 301 to the same
 * resource over HTTPS, as a server that only wants TLS traffic does. */
#ifndef HERD_HTTP_REDIRECT_H
#define HERD_HTTP_REDIRECT_H

#include <stdbool.h>
#include <stdint.h>

#include "net/http_parse.h"
#include "net/http_response.h"

/* Output room a redirect may need: the Location line holds the host and
 * the target, both bounded by the head's limit. */
#define HTTP_REDIRECT_ROOM (HTTP_RESPONSE_MAX + HTTP_MAX_HEADER_BYTES + 64)

/* Writes `301` with Location: https://HOST[:port]TARGET (the port only when
 * it is not 443).  false: the request names no host to send it to. */
bool http_redirect_https(struct outbuf *out, const struct http_clock *clk,
			 const struct http_request *req, uint16_t https_port, unsigned flags);

#endif
