/* libFuzzer target: the request parser and the chunked decoder over
 * arbitrary bytes, checked against their contracts, not just for crashes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t off = 0;
	/* Walk it as a pipelined stream, skipping bodies like the server. */
	for (int n = 0; n < 64 && off < size; n++) {
		struct http_request req;
		int r = http_parse_request(buf + off, size - off, &req);
		if (r <= 0)
			break;
		if ((size_t)r > size - off || (uint32_t)r != req.header_bytes)
			abort();
		/* One byte short of a complete head is never complete. */
		struct http_request again;
		int shorter = http_parse_request(buf + off, (size_t)r - 1, &again);
		if (shorter > 0)
			abort();
		if (req.nheaders > HTTP_MAX_HEADERS || req.version_minor > 1)
			abort();
		off += (size_t)r;
		if (req.body == HTTP_BODY_LENGTH) {
			if (req.content_length > size - off)
				break;
			off += req.content_length;
		} else if (req.body == HTTP_BODY_CHUNKED) {
			struct http_chunked ch;
			bool done = false;
			http_chunked_init(&ch);
			ssize_t k = http_chunked_skip(&ch, buf + off, size - off, 1 << 20, &done);
			if (k < 0)
				break;
			if ((size_t)k > size - off)
				abort();
			off += (size_t)k;
			if (!done)
				break;
		}
	}
	return 0;
}
