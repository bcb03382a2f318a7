/* herd-load HTTP response parser: split input, chunking, pipelining, errors. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "resp.h"

#define MAXR 16

struct outcome {
	int n;                 /* responses completed, -1 on a protocol error */
	int status[MAXR];
	bool close[MAXR];
	uint64_t body[MAXR];
};

/*
 * Feeds `data` in pieces cut at `cuts`, keeping unconsumed bytes in front of
 * the next piece exactly as the client does with its carry buffer.
 */
static struct outcome feed(const char *data, size_t len, const size_t *cuts, int ncuts, bool eof)
{
	struct outcome o = { 0 };
	struct resp r;
	resp_init(&r);
	char buf[65536];
	size_t have = 0, pos = 0;
	for (int piece = 0; piece <= ncuts; piece++) {
		size_t end = piece < ncuts ? cuts[piece] : len;
		memcpy(buf + have, data + pos, end - pos);
		have += end - pos;
		pos = end;
		size_t off = 0;
		while (off < have) {
			size_t used = 0;
			int rc = resp_parse(&r, buf + off, have - off, &used);
			if (rc == RESP_ERROR) {
				o.n = -1;
				return o;
			}
			off += used;
			if (rc == RESP_MORE)
				break;
			o.status[o.n] = r.status;
			o.close[o.n] = r.close;
			o.body[o.n] = r.body;
			o.n++;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (eof) {
		int rc = resp_eof(&r);
		if (rc == RESP_ERROR)
			o.n = -1;
		else if (rc == RESP_DONE) {
			o.status[o.n] = r.status;
			o.body[o.n] = r.body;
			o.close[o.n] = true;
			o.n++;
		}
	}
	return o;
}

static struct outcome whole(const char *s, bool eof)
{
	return feed(s, strlen(s), NULL, 0, eof);
}

/* The same result however the input is split in two, and byte by byte. */
static void every_split(const char *s, int want_n, int status, uint64_t body)
{
	size_t len = strlen(s);
	for (size_t cut = 0; cut <= len; cut++) {
		struct outcome o = feed(s, len, &cut, 1, false);
		cr_assert_eq(o.n, want_n, "split at %zu: %d responses", cut, o.n);
		cr_assert_eq(o.status[0], status, "split at %zu", cut);
		cr_assert_eq(o.body[want_n - 1], body, "split at %zu", cut);
	}
	size_t cuts[4096];
	for (size_t i = 0; i < len && i < 4096; i++)
		cuts[i] = i + 1;
	struct outcome o = feed(s, len, cuts, (int)(len < 4096 ? len : 4096), false);
	cr_assert_eq(o.n, want_n, "byte by byte");
}

static const char hello[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
static const char chunked[] =
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	"5\r\nHello\r\n7;ext=1\r\n, World\r\n0\r\nX-Trailer: a\r\n\r\n";

Test(load_resp, content_length)
{
	struct outcome o = whole(hello, false);
	cr_assert_eq(o.n, 1);
	cr_expect_eq(o.status[0], 200);
	cr_expect_eq(o.body[0], 13);
	cr_expect(!o.close[0]);
}

Test(load_resp, content_length_every_split)
{
	every_split(hello, 1, 200, 13);
}

Test(load_resp, chunked_every_split)
{
	every_split(chunked, 1, 200, 12);
}

Test(load_resp, chunked_hex_sizes)
{
	struct outcome o = whole("HTTP/1.1 201 Created\r\ntransfer-encoding: gzip, chunked\r\n\r\n"
				 "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n", false);
	cr_assert_eq(o.n, 1);
	cr_expect_eq(o.status[0], 201);
	cr_expect_eq(o.body[0], 20);
}

Test(load_resp, pipelined_in_one_buffer)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s%s%s%s", hello, chunked,
		 "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n",
		 "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnope");
	/* "nope" is one byte longer than the body: it starts a next response */
	struct outcome o = whole(buf, false);
	cr_assert_eq(o.n, 4);
	cr_expect_eq(o.status[0], 200);
	cr_expect_eq(o.status[1], 200);
	cr_expect_eq(o.body[1], 12);
	cr_expect_eq(o.status[2], 204);
	cr_expect_eq(o.body[2], 0);
	cr_expect_eq(o.status[3], 404);
	cr_expect(o.close[3]);
	every_split(buf, 4, 200, 3);
}

Test(load_resp, connection_semantics)
{
	struct outcome o = whole("HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\n"
				 "Content-Length: 0\r\n\r\n", false);
	cr_assert_eq(o.n, 1);
	cr_expect(o.close[0]);
	o = whole("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false);
	cr_expect(o.n == 1 && o.close[0], "HTTP/1.0 closes by default");
	o = whole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false);
	cr_expect(o.n == 1 && !o.close[0]);
}

Test(load_resp, body_until_close)
{
	struct outcome o = whole("HTTP/1.1 200 OK\r\n\r\nsome body", false);
	cr_expect_eq(o.n, 0, "no framing: not done before EOF");
	o = whole("HTTP/1.1 200 OK\r\n\r\nsome body", true);
	cr_assert_eq(o.n, 1);
	cr_expect_eq(o.body[0], 9);
}

Test(load_resp, truncated_is_error_at_eof)
{
	cr_expect_eq(whole("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello", true).n, -1);
	cr_expect_eq(whole("HTTP/1.1 200 OK\r\nContent-Le", true).n, -1);
	cr_expect_eq(whole("", true).n, 0, "EOF between responses is not an error");
}

Test(load_resp, interim_100_continue)
{
	struct outcome o = whole("HTTP/1.1 100 Continue\r\n\r\n"
				 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false);
	cr_assert_eq(o.n, 1);
	cr_expect_eq(o.status[0], 200);
}

Test(load_resp, malformed_status_line)
{
	const char *bad[] = {
		"HTTP/1.1 2OO OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n",
		"HTTP/1.1  200 OK\r\n\r\n",
		"FOO\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"HTTP/1.1 600 High\r\n\r\n",
		"HTTP/1.1 101 Switching\r\n\r\n",
		"\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(whole(bad[i], false).n, -1, "accepted: %s", bad[i]);
}

Test(load_resp, malformed_headers_and_framing)
{
	const char *bad[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\n folded: value\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(whole(bad[i], false).n, -1, "accepted: %s", bad[i]);
	/* equal duplicate lengths are tolerated */
	cr_expect_eq(whole("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
			   false).n, 1);
}

Test(load_resp, header_block_limit)
{
	static char big[RESP_MAX_HEADER + 64];
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', RESP_MAX_HEADER);
	big[sizeof(big) - 1] = '\0';
	cr_expect_eq(whole(big, false).n, -1);
}
