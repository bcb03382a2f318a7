/* Request-target normalization for static files.
 *
 * Segments are walked right to left.  Going that way, ".." is a count of
 * segments still to drop, so the survivors and the final length are known
 * without a stack or scratch buffer: the first pass validates everything and
 * measures, the second writes each surviving segment at its final place,
 * filling out from the end.  A ".." count left over at the left end is
 * exactly a ".." that climbed above the root in left-to-right order. */
#include "net/http_path.h"

#include <arpa/inet.h>
#include <string.h>

#define ERR(status) (-(status))

enum seg_kind { SEG_EMPTY, SEG_DOT, SEG_DOTDOT, SEG_NAME };

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7F;
}

/* Validates one raw segment s[0..n) (no raw '/') and classifies its decoded
 * form.  0 or ERR(400). */
static int seg_scan(const char *s, size_t n, size_t *declen, enum seg_kind *kind)
{
	size_t d = 0, dots = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (n - i < 3)
				return ERR(400);
			int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return ERR(400);
			c = (unsigned char)(hi << 4 | lo);
			if (c == '/' || c == 0)
				return ERR(400);
			i += 2;
		}
		if (is_ctl(c))
			return ERR(400);
		dots += c == '.';
		d++;
	}
	*declen = d;
	if (d == 0)
		*kind = SEG_EMPTY;
	else if (dots == d && d <= 2)
		*kind = d == 1 ? SEG_DOT : SEG_DOTDOT;
	else
		*kind = SEG_NAME;
	return 0;
}

/* Decodes a segment already accepted by seg_scan. */
static void seg_decode(const char *s, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			*out++ = (char)(hexval((unsigned char)s[i + 1]) << 4 |
					hexval((unsigned char)s[i + 2]));
			i += 2;
		} else {
			*out++ = s[i];
		}
	}
}

/* The segment ending at index pos (exclusive) of a path that starts with
 * '/': it begins after the nearest '/' to its left, which always exists.
 * Returns that begin; the next segment to the left ends at begin - 1. */
static size_t seg_begin(const char *p, size_t pos)
{
	while (p[pos - 1] != '/')
		pos--;
	return pos;
}

int http_path_normalize(const char *target, size_t len, char *out, size_t outcap, size_t *outlen,
			bool *trailing_slash)
{
	if (outcap > 0)
		out[0] = '\0';

	size_t end = 0;
	while (end < len && target[end] != '?' && target[end] != '#')
		end++;
	if (end == 0 || target[0] != '/')
		return ERR(400);

	/* Pass 1: validate every segment, dropped ones too, and measure. */
	size_t total = 0, skip = 0;
	bool dir = false;
	for (size_t pos = end; pos > 0;) {
		size_t b = seg_begin(target, pos), dl;
		enum seg_kind k;
		if (seg_scan(target + b, pos - b, &dl, &k) < 0)
			return ERR(400);
		if (pos == end)
			dir = k != SEG_NAME;
		if (k == SEG_DOTDOT)
			skip++;
		else if (k == SEG_NAME && skip > 0)
			skip--;
		else if (k == SEG_NAME)
			total += dl + (total > 0); /* plus the '/' joining it */
		pos = b - 1;
	}
	if (skip > 0)
		return ERR(400);
	if (outcap == 0 || total > outcap - 1)
		return ERR(414);

	/* Pass 2: same walk, writing survivors from the right end of out. */
	size_t w = total;
	out[w] = '\0';
	for (size_t pos = end; pos > 0;) {
		size_t b = seg_begin(target, pos), dl;
		enum seg_kind k;
		(void)seg_scan(target + b, pos - b, &dl, &k);
		if (k == SEG_DOTDOT) {
			skip++;
		} else if (k == SEG_NAME && skip > 0) {
			skip--;
		} else if (k == SEG_NAME) {
			if (w < total)
				out[--w] = '/';
			w -= dl;
			seg_decode(target + b, pos - b, out + w);
		}
		pos = b - 1;
	}
	*outlen = total;
	*trailing_slash = dir;
	return 0;
}

bool http_path_has_dotfile(const char *path)
{
	for (size_t i = 0; path[i]; i++)
		if (path[i] == '.' && (i == 0 || path[i - 1] == '/'))
			return true;
	return false;
}

/* ---- authority (RFC 3986 3.2) ---------------------------------------- */

/* RFC 3986 reg-name bytes, but ',' (see http_path.h).  A table: every
 * request's Host passes here (a strchr per byte was 2 % of a pipelined
 * request). */
#define RN(c) [c] = true
static const bool regname[256] = {
	RN('-'), RN('.'), RN('_'), RN('~'), RN('!'), RN('$'), RN('&'), RN('\''),
	RN('('), RN(')'), RN('*'), RN('+'), RN(';'), RN('='),
	RN('0'), RN('1'), RN('2'), RN('3'), RN('4'), RN('5'), RN('6'), RN('7'), RN('8'), RN('9'),
	RN('a'), RN('b'), RN('c'), RN('d'), RN('e'), RN('f'), RN('g'), RN('h'), RN('i'),
	RN('j'), RN('k'), RN('l'), RN('m'), RN('n'), RN('o'), RN('p'), RN('q'), RN('r'),
	RN('s'), RN('t'), RN('u'), RN('v'), RN('w'), RN('x'), RN('y'), RN('z'),
	RN('A'), RN('B'), RN('C'), RN('D'), RN('E'), RN('F'), RN('G'), RN('H'), RN('I'),
	RN('J'), RN('K'), RN('L'), RN('M'), RN('N'), RN('O'), RN('P'), RN('Q'), RN('R'),
	RN('S'), RN('T'), RN('U'), RN('V'), RN('W'), RN('X'), RN('Y'), RN('Z'),
};
#undef RN

static bool is_regname(unsigned char c)
{
	return regname[c];
}

/* The inside of "[...]": IPv6address / IPvFuture (RFC 3986 3.2.2). */
static bool valid_ip_literal(const char *s, size_t n)
{
	if (n && (s[0] == 'v' || s[0] == 'V')) {
		size_t i = 1;
		while (i < n && hexval((unsigned char)s[i]) >= 0)
			i++;
		if (i == 1 || i + 1 >= n || s[i] != '.')
			return false;
		for (i++; i < n; i++)
			if (!is_regname((unsigned char)s[i]) && s[i] != ':')
				return false;
		return true;
	}
	char text[INET6_ADDRSTRLEN];
	struct in6_addr a;
	if (n >= sizeof(text))
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	return inet_pton(AF_INET6, text, &a) == 1; /* no zone id: not in URIs */
}

bool http_authority_valid(const char *s, size_t n, bool need_port)
{
	const char *p = s, *end = s + n;
	if (p < end && *p == '[') {
		const char *close = memchr(p, ']', n);
		if (!close || !valid_ip_literal(p + 1, (size_t)(close - p - 1)))
			return false;
		p = close + 1;
	} else {
		for (; p < end && *p != ':'; p++) {
			if (*p == '%') {
				if (end - p < 3 || hexval((unsigned char)p[1]) < 0 ||
				    hexval((unsigned char)p[2]) < 0)
					return false;
				p += 2;
			} else if (!is_regname((unsigned char)*p)) {
				return false;
			}
		}
		if (p == s)
			return false;
	}
	if (p == end)
		return !need_port;
	if (*p++ != ':' || (need_port && p == end) || end - p > 5)
		return false;
	unsigned port = 0;
	for (; p < end; p++) {
		unsigned d = (unsigned)((unsigned char)*p - '0');
		if (d > 9)
			return false;
		port = port * 10 + d;
	}
	return port <= 65535;
}
