/* The request parser at its limits: every byte value in every position,
 * the header-size and target-size limits split at every point, and random
 * garbage (no crash, no read past the end, a clean answer). */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

#include "http_parse_util.h"
#include "unit_util.h"

/* Every byte value in every position, against the RFC 9110/9112 sets. */
static bool is_tchar(int b)
{
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
	       (b && strchr("!#$%&'*+-.^_`|~", b));
}

Test(http_parse, byte_classes)
{
	for (int b = 0; b < 256; b++) {
		char buf[96];
		struct http_request req;
		int n, r;

		n = snprintf(buf, sizeof(buf), "G%cT / HTTP/1.1\r\nHost: a\r\n\r\n", 'E');
		buf[1] = (char)b;
		r = parse_exact(buf, (size_t)n, &req);
		cr_assert_eq(r, is_tchar(b) ? n : -400, "method byte 0x%02x: %d", b, r);

		n = snprintf(buf, sizeof(buf), "GET /a%cb HTTP/1.1\r\nHost: a\r\n\r\n", 'x');
		buf[6] = (char)b;
		r = parse_exact(buf, (size_t)n, &req);
		cr_assert_eq(r, (b >= 0x21 && b <= 0x7e) ? n : -400, "target byte 0x%02x: %d", b, r);

		n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX%cY: v\r\n\r\n", 'x');
		buf[26] = (char)b;
		r = parse_exact(buf, (size_t)n, &req);
		/* ':' just ends the name early: field "X" with value "Y: v". */
		cr_assert_eq(r, is_tchar(b) || b == ':' ? n : -400, "name byte 0x%02x: %d", b, r);

		if (b == '\r' || b == '\n')
			continue; /* line terminators, tested elsewhere */
		n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\nX: a%cb\r\n\r\n", 'x');
		buf[29] = (char)b;
		bool ok = b == '\t' || (b >= 0x20 && b != 0x7f);
		r = parse_exact(buf, (size_t)n, &req);
		cr_assert_eq(r, ok ? n : -400, "value byte 0x%02x: %d", b, r);
	}
}

/* ---- size limits ------------------------------------------------------- */

/* A head of exactly `total` bytes, padded in one field value. */
static struct sbuf head_of_size(size_t total, bool complete)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ";
	struct sbuf b = {0};
	sb_puts(&b, pre);
	sb_rep(&b, 'p', total - (sizeof(pre) - 1) - 4);
	if (complete)
		sb_puts(&b, "\r\n\r\n");
	cr_assert(!complete || b.len == total);
	return b;
}

Test(http_parse, header_bytes_limit)
{
	struct http_request req;
	struct sbuf b = head_of_size(HTTP_MAX_HEADER_BYTES, true);
	cr_assert_eq(http_parse_request(b.p, b.len, &req), HTTP_MAX_HEADER_BYTES);
	check_splits("exactly at limit", b.p, b.len, HTTP_MAX_HEADER_BYTES);
	free(b.p);

	b = head_of_size(HTTP_MAX_HEADER_BYTES + 1, true);
	cr_assert_eq(parse_exact(b.p, b.len, &req), -431, "one byte over the limit");
	cr_assert_eq(parse_exact(b.p, HTTP_MAX_HEADER_BYTES - 1, &req), HTTP_NEED_MORE);
	cr_assert_eq(parse_exact(b.p, HTTP_MAX_HEADER_BYTES, &req), -431);
	free(b.p);

	/* The final CR at the limit, its LF beyond it. */
	b = head_of_size(HTTP_MAX_HEADER_BYTES + 1, true);
	cr_assert_eq(b.p[HTTP_MAX_HEADER_BYTES - 1], '\r');
	cr_assert_eq(parse_exact(b.p, b.len, &req), -431);
	free(b.p);

	/* 9000-byte field: incomplete and over the limit, then complete. */
	b = head_of_size(9000, false);
	cr_assert_eq(parse_exact(b.p, b.len, &req), -431, "incomplete over limit");
	sb_puts(&b, "\r\n\r\n");
	cr_assert_eq(parse_exact(b.p, b.len, &req), -431, "complete over limit");
	free(b.p);

	/* Many short lines add up to over the limit without any long line. */
	b = (struct sbuf){0};
	sb_puts(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 60; i++) {
		sb_puts(&b, "X-Long: ");
		sb_rep(&b, 'v', 150);
		sb_puts(&b, "\r\n");
	}
	sb_puts(&b, "\r\n");
	cr_assert_gt(b.len, HTTP_MAX_HEADER_BYTES);
	cr_assert_eq(parse_exact(b.p, b.len, &req), -431);
	free(b.p);
}

Test(http_parse, target_limit)
{
	struct http_request req;
	for (size_t tlen = HTTP_MAX_HEADER_BYTES / 2; tlen <= HTTP_MAX_HEADER_BYTES / 2 + 1; tlen++) {
		struct sbuf b = {0};
		sb_puts(&b, "GET /");
		sb_rep(&b, 'a', tlen - 1);
		sb_puts(&b, " HTTP/1.1\r\nHost: a\r\n\r\n");
		int r = parse_exact(b.p, b.len, &req);
		if (tlen == HTTP_MAX_HEADER_BYTES / 2)
			cr_assert_eq(r, (int)b.len, "target at limit: %d", r);
		else
			cr_assert_eq(r, -414, "target over limit: %d", r);
		free(b.p);
	}
	/* Rejected as soon as the target is too long, before the line ends. */
	struct sbuf b = {0};
	sb_puts(&b, "GET /");
	sb_rep(&b, 'a', 4200);
	cr_assert_eq(parse_exact(b.p, b.len, &req), -414);
	free(b.p);
}

/* ---- garbage ----------------------------------------------------------- */

static uint64_t garbage_state = 0x9E3779B97F4A7C15u;

static uint64_t rng(void)
{
	uint64_t x = garbage_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return garbage_state = x;
}

static void check_garbage(const unsigned char *in, size_t len)
{
	struct http_request req;
	int r = parse_exact((const char *)in, len, &req);
	cr_assert(r <= (int)len, "count %d beyond input %zu", r, len);
	cr_assert(r >= 0 || r == -400 || r == -414 || r == -431 || r == -501 || r == -505,
		  "unexpected status %d", r);
	if (r > 0) {
		cr_assert_eq(req.header_bytes, (uint32_t)r);
		cr_assert_leq(req.nheaders, HTTP_MAX_HEADERS);
		cr_assert_eq(parse_exact((const char *)in, (size_t)r - 1, &req), HTTP_NEED_MORE);
	}
}

Test(http_parse, random_garbage)
{
	static const char alphabet[] = "GETPOSHD /:.-1Hh\r\n\r\n\t,;=xXaCc0";
	static const char seed[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
				   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
	unsigned char buf[600];
	int positives = 0;
	for (int i = 0; i < 3000; i++) {
		size_t len = (size_t)(rng() % 400);
		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rng();
		check_garbage(buf, len);

		/* Skewed towards HTTP syntax to get past the request line. */
		memcpy(buf, "GET / HTTP/1.1\r\n", 16);
		for (size_t j = 16; j < len + 16; j++)
			buf[j] = (unsigned char)alphabet[rng() % (sizeof(alphabet) - 1)];
		check_garbage(buf, len + 16);

		/* Valid head with a few mutated bytes. */
		size_t slen = sizeof(seed) - 1;
		memcpy(buf, seed, slen);
		for (int m = (int)(rng() % 3) + 1; m > 0; m--)
			buf[rng() % slen] = (unsigned char)rng();
		check_garbage(buf, slen);

		struct http_request req;
		if (parse_exact((const char *)buf, slen, &req) > 0)
			positives++;
	}
	/* The mutation path must really reach complete heads sometimes. */
	cr_assert_gt(positives, 0);
}
