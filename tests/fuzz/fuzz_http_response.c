/* libFuzzer target: what herd reads from an upstream (net/http_upstream.h):
 * the response head parser, the head passed on to the client, and the
 * chunked decoder, checked against their contracts, not just for crashes.
 * The first byte picks the request method (HEAD or not) and the flags. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"
#include "net/http_upstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes in[0..len) in two pieces split at `at`; the result must not
 * depend on where the split falls. */
static ssize_t decode_split(const char *in, size_t len, size_t at, char *out, size_t *out_len,
			    bool *done)
{
	struct http_chunked c;
	http_chunked_init(&c);
	size_t n1 = 0, n2 = 0;
	ssize_t a = http_chunked_decode(&c, in, at, out, &n1, done);
	if (a < 0)
		return -1;
	if ((size_t)a > at || n1 > (size_t)a)
		abort();
	if (*done) {
		*out_len = n1;
		return a;
	}
	if ((size_t)a != at)
		abort(); /* everything is consumed until the end */
	ssize_t b = http_chunked_decode(&c, in + at, len - at, out + n1, &n2, done);
	if (b < 0)
		return -1;
	if ((size_t)b > len - at || n2 > (size_t)b)
		abort();
	*out_len = n1 + n2;
	return a + b;
}

static void check_chunked(const char *in, size_t len, size_t at)
{
	char *one = malloc(len ? len : 1), *two = malloc(len ? len : 1);
	if (!one || !two)
		abort();
	size_t n1 = 0, n2 = 0;
	bool d1 = false, d2 = false;
	ssize_t a = decode_split(in, len, len, one, &n1, &d1);
	ssize_t b = decode_split(in, len, at, two, &n2, &d2);
	if (a != b || (a >= 0 && (d1 != d2 || n1 != n2 || memcmp(one, two, n1) != 0)))
		abort();
	/* The skipper is the same machine: it must agree on the framing. */
	struct http_chunked c;
	bool ds = false;
	http_chunked_init(&c);
	ssize_t s = http_chunked_skip(&c, in, len, UINT64_MAX, &ds);
	if ((s < 0) != (a < 0) || (a >= 0 && (s != a || ds != d1 || c.total < n1)))
		abort();
	free(one);
	free(two);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool head_req = data[0] & 1;
	unsigned flags = (data[0] >> 1) & 7;
	const char *buf = (const char *)data + 1;
	size_t len = size - 1;

	struct upstream_response r;
	int n = http_parse_response(buf, len, head_req, &r);
	if (n < -1 || n > (int)len)
		abort();
	if (n <= 0) {
		if (n == 0 && len >= UPSTREAM_MAX_HEAD)
			abort();
		/* Still a chunked body by itself: the decoder alone. */
		check_chunked(buf, len, len / 2);
		return 0;
	}
	if ((uint32_t)n != r.header_bytes || r.status < 100 || r.status > 599 ||
	    r.nheaders > HTTP_MAX_HEADERS || r.version_minor > 1)
		abort();
	if (r.body == UP_BODY_CLOSE && r.keep_alive)
		abort();
	struct upstream_response again;
	if (http_parse_response(buf, (size_t)n - 1, head_req, &again) != 0)
		abort();

	/* What goes to the client: within the room the header promises (a
	 * field grows by at most 3 bytes: ": " for ":", CRLF for LF; then a
	 * status phrase and a few lines), and a too-small buffer is refused,
	 * not overrun. */
	size_t cap = (size_t)n + UPSTREAM_HEAD_EXTRA;
	char *out = malloc(cap);
	if (!out)
		abort();
	int w = upstream_response_head(out, cap, &r, flags);
	if (w <= 0 || (size_t)w > (size_t)n + 3 * r.nheaders + 160)
		abort();
	if (memcmp(out, "HTTP/1.1 ", 9) != 0 || memcmp(out + w - 4, "\r\n\r\n", 4) != 0)
		abort();
	/* And what herd passes on parses as a response itself, when its
	 * added lines (framing, Via, Connection) leave it within the field
	 * count the parser takes. */
	struct upstream_response back;
	int b = http_parse_response(out, (size_t)w, head_req, &back);
	if (r.nheaders + 3 <= HTTP_MAX_HEADERS ? b != w || back.status != r.status : b == 0)
		abort();
	if (upstream_response_head(out, (size_t)w - 1, &r, flags) != -1)
		abort();
	free(out);

	if (r.body == UP_BODY_CHUNKED)
		check_chunked(buf + n, len - (size_t)n, r.header_bytes % (len - (size_t)n + 1));
	return 0;
}
