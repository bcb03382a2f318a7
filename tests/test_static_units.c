/* Tests for the static-file helpers: net/http_path.c (request-target to file
 * name, with every traversal trick we know of), net/http_range.c,
 * net/http_date.c (checked against glibc's gmtime_r over random instants)
 * and net/mime.c.
 *
 * Inputs are handed over as heap copies of exactly their length, without a
 * NUL, so ASan catches any read past the end. */
#include <criterion/criterion.h>

#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/http_date.h"
#include "net/http_path.h"
#include "net/http_range.h"
#include "net/mime.h"

/* Literal with its exact length, so embedded NULs count. */
#define L(s) s, sizeof(s) - 1
#define N(a) (sizeof(a) / sizeof((a)[0]))

static char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);
	cr_assert_not_null(p);
	memcpy(p, s, n);
	return p;
}

/* Printable rendering of s[0..n) for failure messages. */
static const char *esc(const char *s, size_t n)
{
	static _Thread_local char buf[4][256];
	static _Thread_local int k;
	char *b = buf[k++ & 3], *p = b;
	for (size_t i = 0; i < n && p < b + sizeof(buf[0]) - 8; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7F || c == '\\')
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	if (p >= b + sizeof(buf[0]) - 8)
		p += sprintf(p, "...");
	*p = '\0';
	return b;
}

static uint64_t rng_state;

static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- paths */

/* Calls http_path_normalize on an exact heap copy into an exact heap buffer
 * and checks what must hold whatever the result. */
static int norm(const char *in, size_t len, char *out, size_t outcap, size_t *outlen, bool *slash)
{
	char *src = dup_exact(in, len);
	char *dst = malloc(outcap ? outcap : 1);
	cr_assert_not_null(dst);
	memset(dst, 'X', outcap);
	size_t ol = SIZE_MAX;
	bool sl = (bool)(rnd() & 1);
	bool sl0 = sl;
	int r = http_path_normalize(src, len, dst, outcap, &ol, &sl);
	if (r == 0) {
		cr_assert_lt(ol, outcap);
		cr_assert_eq(dst[ol], '\0', "%s: output not terminated", esc(in, len));
		cr_assert_eq(strlen(dst), ol, "%s: NUL inside output", esc(in, len));
		cr_assert_neq(dst[0], '/', "%s: leading slash", esc(in, len));
		if (ol)
			cr_assert_neq(dst[ol - 1], '/', "%s: trailing slash kept", esc(in, len));
		cr_assert_null(strstr(dst, "//"), "%s: empty segment", esc(in, len));
		for (size_t i = 0; i < ol; i++) {
			unsigned char c = (unsigned char)dst[i];
			cr_assert(c >= 0x20 && c != 0x7F, "%s: control byte out", esc(in, len));
		}
		/* No "." or ".." segment survives. */
		for (const char *s = dst; *s;) {
			size_t n = strcspn(s, "/");
			cr_assert(!(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.'),
				  "%s: dot segment in output %s", esc(in, len), dst);
			s += n + (s[n] == '/');
		}
		if (ol == 0)
			cr_assert(sl, "%s: the root is a directory", esc(in, len));
	} else {
		cr_assert(r == -400 || r == -414, "%s: unexpected %d", esc(in, len), r);
		if (outcap)
			cr_assert_eq(dst[0], '\0', "%s: output not cleared on error", esc(in, len));
		cr_assert_eq(ol, SIZE_MAX, "%s: outlen written on error", esc(in, len));
		cr_assert_eq(sl, sl0, "%s: trailing_slash written on error", esc(in, len));
	}
	if (out && r == 0)
		memcpy(out, dst, ol + 1);
	if (outlen)
		*outlen = ol;
	if (slash)
		*slash = sl;
	free(dst);
	free(src);
	return r;
}

struct path_case {
	const char *in;
	size_t len;
	int rc;
	const char *out;
	bool slash;
};

#define OK(s, o, sl) {L(s), 0, o, sl}
#define BAD(s, r) {L(s), r, NULL, false}

static const struct path_case path_cases[] = {
	/* Plain and root. */
	OK("/", "", true),
	OK("/index.html", "index.html", false),
	OK("/a/b/c.txt", "a/b/c.txt", false),
	OK("/a/b%20c/../d?x=1", "a/d", false),
	/* Traversal, raw and encoded: always refused, never clamped. */
	BAD("/..", -400),
	BAD("/../", -400),
	BAD("/../etc/passwd", -400),
	BAD("/a/../../b", -400),
	BAD("/a/b/../../..", -400),
	BAD("/a/b/../../../", -400),
	BAD("/%2e%2e/x", -400),
	BAD("/%2E%2E", -400),
	BAD("/%2e./x", -400),
	BAD("/.%2E/x", -400),
	BAD("/.%2e/", -400),
	BAD("/%2E%2e%2fetc", -400),
	BAD("/a/%2e%2e%2f%2e%2e/b", -400),
	BAD("/..%2f", -400),
	BAD("/..%2F..%2Fetc/passwd", -400),
	/* Encoded slashes, anywhere. */
	BAD("/%2F", -400),
	BAD("/a%2fb", -400),
	BAD("/a%2Fb/../c", -400),
	/* Dot segments that stay inside the root. */
	OK("/a/../b", "b", false),
	OK("/a/.%2e/b", "b", false),
	OK("/a/%2e%2E", "", true),
	OK("/a/b/%2e%2e/c", "a/c", false),
	OK("/a/./b/./", "a/b", true),
	OK("/./a", "a", false),
	OK("/.", "", true),
	OK("/./", "", true),
	OK("/%2e", "", true),
	OK("/%2e/", "", true),
	OK("/a/.", "a", true),
	OK("/a/..", "", true),
	OK("/a/b/..", "a", true),
	OK("/a/b/../", "a", true),
	OK("/a/b/../../", "", true),
	/* Names that merely contain dots. */
	OK("/a/...", "a/...", false),
	OK("/a/..../b", "a/..../b", false),
	OK("/a/..b", "a/..b", false),
	OK("/a/b..", "a/b..", false),
	OK("/a/.b", "a/.b", false),
	OK("/.git/config", ".git/config", false),
	OK("/%2e%2e%2e", "...", false),
	/* Slashes collapse, before ".." is applied (as the kernel reads it). */
	OK("//etc/passwd", "etc/passwd", false),
	OK("/a//b", "a/b", false),
	OK("/a///b//", "a/b", true),
	OK("////", "", true),
	OK("/a//../b", "b", false),
	OK("/a/b//../../c", "c", false),
	BAD("//..", -400),
	BAD("/a//..//..", -400),
	/* Backslash is an ordinary byte on Linux. */
	OK("/a\\..\\b", "a\\..\\b", false),
	OK("/a%5c..%5Cb", "a\\..\\b", false),
	OK("/..\\", "..\\", false),
	OK("/%2e%2e%5c%2e%2e", "..\\..", false),
	/* Percent-decoding. */
	OK("/%41%62%63", "Abc", false),
	OK("/a%20b", "a b", false),
	OK("/caf%C3%A9", "caf\xc3\xa9", false),
	OK("/caf%c3%a9/", "caf\xc3\xa9", true),
	OK("/%25", "%", false),
	OK("/%2525", "%25", false), /* decoded once only */
	OK("/a+b", "a+b", false),
	OK("/\xff\xfe", "\xff\xfe", false),
	OK("/a b", "a b", false),
	BAD("/%00", -400),
	BAD("/a%00b", -400),
	BAD("/a%zz", -400),
	BAD("/a%2", -400),
	BAD("/a%", -400),
	BAD("/%", -400),
	BAD("/a%%30", -400),
	BAD("/a%g0", -400),
	BAD("/a%0g", -400),
	BAD("/a%-1", -400),
	BAD("/a% 2", -400),
	/* Bad escapes are refused even in segments that ".." drops. */
	BAD("/%zz/..", -400),
	BAD("/x/%zz/../..", -400),
	BAD("/x/../%zz", -400),
	BAD("/%2f/..", -400),
	/* Control bytes, raw and decoded. */
	BAD("/\x01", -400),
	BAD("/a\x1f", -400),
	BAD("/a\x7f", -400),
	BAD("/a\tb", -400),
	BAD("/a\r\nb", -400),
	BAD("/a\0b", -400),
	BAD("/%01", -400),
	BAD("/%0a", -400),
	BAD("/%0D%0A", -400),
	BAD("/%1F", -400),
	BAD("/%7f", -400),
	BAD("/%7F/..", -400),
	OK("/%7e", "~", false),
	OK("/%20", " ", false),
	/* Query and fragment: cut at the first '?' or '#', never examined. */
	OK("/a?b", "a", false),
	OK("/a/?b", "a", true),
	OK("/a?", "a", false),
	OK("/?x=../../etc", "", true),
	OK("/a?%zz%00\x01", "a", false),
	OK("/a?b/../../../x", "a", false),
	OK("/a#frag", "a", false),
	OK("/a#f?q", "a", false),
	OK("/a?q#f", "a", false),
	OK("/a/..?x", "", true),
	OK("/a%3fb", "a?b", false), /* an encoded '?' is part of the name */
	OK("/a%23b", "a#b", false),
	/* Not origin-form. */
	BAD("", -400),
	BAD("a/b", -400),
	BAD("?x", -400),
	BAD("#x", -400),
	BAD("*", -400),
	BAD("%2fa", -400),
	BAD("http://example.com/a", -400),
	BAD("\\a", -400),
	BAD(".", -400),
	BAD("../a", -400),
};

Test(path, table)
{
	for (size_t i = 0; i < N(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		char out[256];
		size_t ol;
		bool sl;
		int r = norm(c->in, c->len, out, sizeof(out), &ol, &sl);
		cr_expect_eq(r, c->rc, "%s: got %d, want %d", esc(c->in, c->len), r, c->rc);
		if (r != 0 || c->rc != 0)
			continue;
		cr_expect(ol == strlen(c->out) && memcmp(out, c->out, ol + 1) == 0,
			  "%s: got \"%s\", want \"%s\"", esc(c->in, c->len), esc(out, ol),
			  esc(c->out, strlen(c->out)));
		cr_expect_eq(sl, c->slash, "%s: trailing_slash %d, want %d", esc(c->in, c->len), sl,
			     c->slash);
	}
}

/* The length is the caller's, not strlen: bytes past it are never looked at. */
Test(path, length_bounds_input)
{
	char out[64];
	size_t ol;
	bool sl;
	cr_assert_eq(norm("/abc/../../x", 4, out, sizeof(out), &ol, &sl), 0);
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(norm("/a%2fb", 3, out, sizeof(out), &ol, &sl), -400); /* "/a%" */
	cr_assert_eq(norm("/a/b", 0, out, sizeof(out), &ol, &sl), -400);
	cr_assert_eq(norm("/a/b", 1, out, sizeof(out), &ol, &sl), 0);
	cr_assert_str_eq(out, "");
	cr_assert(sl);
}

Test(path, output_capacity)
{
	char out[8];
	size_t ol;
	bool sl;
	cr_assert_eq(norm(L("/abc"), out, 4, &ol, &sl), 0, "exact fit");
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(ol, 3);
	cr_assert_eq(norm(L("/abc"), out, 3, &ol, &sl), -414);
	cr_assert_eq(norm(L("/abc"), out, 1, &ol, &sl), -414);
	cr_assert_eq(norm(L("/abc"), out, 0, &ol, &sl), -414);
	cr_assert_eq(norm(L("/"), out, 1, &ol, &sl), 0);
	cr_assert_eq(norm(L("/"), out, 0, &ol, &sl), -414);
	cr_assert_eq(norm(L("/a/b/c"), out, 6, &ol, &sl), 0);
	cr_assert_str_eq(out, "a/b/c");
	cr_assert_eq(norm(L("/a/b/c"), out, 5, &ol, &sl), -414);
	/* Decoded length counts, not raw length. */
	cr_assert_eq(norm(L("/%41%42%43"), out, 4, &ol, &sl), 0);
	cr_assert_str_eq(out, "ABC");
	/* Joining slashes count; collapsed ones do not. */
	cr_assert_eq(norm(L("//a//b//"), out, 4, &ol, &sl), 0);
	cr_assert_str_eq(out, "a/b");
	/* A 400 wins over a 414. */
	cr_assert_eq(norm(L("/abcdefgh/%zz"), out, 2, &ol, &sl), -400);
	cr_assert_eq(norm(L("/abcdefgh/../.."), out, 2, &ol, &sl), -400);
}

static char *repeat(const char *unit, size_t times, const char *prefix, const char *suffix,
		    size_t *len)
{
	size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + ul * times + sl + 1);
	cr_assert_not_null(s);
	memcpy(s, prefix, pl);
	for (size_t i = 0; i < times; i++)
		memcpy(s + pl + i * ul, unit, ul);
	memcpy(s + pl + ul * times, suffix, sl + 1);
	*len = pl + ul * times + sl;
	return s;
}

Test(path, long_paths)
{
	size_t len, ol;
	bool sl;
	static char out[300000];

	/* Only the final length counts: a long segment that ".." removes fits. */
	char *s = repeat("a", 5000, "/", "/../b", &len);
	cr_assert_eq(norm(s, len, out, 2, &ol, &sl), 0);
	cr_assert_str_eq(out, "b");
	free(s);

	/* 100k segments deep, exact fit and one byte short. */
	s = repeat("/ab", 100000, "", "", &len);
	cr_assert_eq(norm(s, len, out, len, &ol, &sl), 0);
	cr_assert_eq(ol, len - 1);
	cr_assert_eq(memcmp(out, s + 1, len), 0);
	cr_assert_eq(norm(s, len, out, len - 1, &ol, &sl), -414);
	free(s);

	/* 100k segments and as many "..": the root, and one more is too many. */
	char *down = repeat("/d", 100000, "", "", &len);
	size_t dlen = len;
	char *up = repeat("/..", 100000, "", "", &len);
	char *both = malloc(dlen + len + 4);
	memcpy(both, down, dlen);
	memcpy(both + dlen, up, len);
	cr_assert_eq(norm(both, dlen + len, out, sizeof(out), &ol, &sl), 0);
	cr_assert_str_eq(out, "");
	cr_assert(sl);
	memcpy(both + dlen + len, "/..", 3);
	cr_assert_eq(norm(both, dlen + len + 3, out, sizeof(out), &ol, &sl), -400);
	free(both);
	free(up);
	free(down);

	/* A long run of slashes and of "." is nothing. */
	s = repeat("/./", 50000, "", "x", &len);
	cr_assert_eq(norm(s, len, out, 2, &ol, &sl), 0);
	cr_assert_str_eq(out, "x");
	free(s);

	/* A 64 KiB name: 414 for a PATH_MAX buffer, fine in a large one. */
	s = repeat("n", 65536, "/", "", &len);
	cr_assert_eq(norm(s, len, out, PATH_MAX, &ol, &sl), -414);
	cr_assert_eq(norm(s, len, out, sizeof(out), &ol, &sl), 0);
	cr_assert_eq(ol, 65536);
	free(s);
}

/* Straightforward reference: decode everything first (safe because an
 * encoded '/' is refused), then split and use a stack. */
static int ref_normalize(const char *in, size_t len, char *out, size_t outcap, bool *slash)
{
	size_t end = 0;
	while (end < len && in[end] != '?' && in[end] != '#')
		end++;
	if (end == 0 || in[0] != '/')
		return -400;
	char dec[256];
	size_t dn = 0;
	for (size_t i = 0; i < end; i++) {
		unsigned c = (unsigned char)in[i];
		if (c == '%') {
			unsigned v;
			if (i + 2 >= end || !isxdigit((unsigned char)in[i + 1]) ||
			    !isxdigit((unsigned char)in[i + 2]))
				return -400;
			char hex[3] = {in[i + 1], in[i + 2], 0};
			sscanf(hex, "%x", &v);
			if (v == '/' || v == 0)
				return -400;
			c = v;
			i += 2;
		}
		if (c < 0x20 || c == 0x7F)
			return -400;
		dec[dn++] = (char)c;
	}
	const char *segs[256];
	size_t lens[256], ns = 0;
	const char *last = NULL;
	size_t lastn = 0;
	for (size_t i = 1; i <= dn;) {
		size_t j = i;
		while (j < dn && dec[j] != '/')
			j++;
		last = dec + i;
		lastn = j - i;
		if (lastn == 0 || (lastn == 1 && last[0] == '.'))
			;
		else if (lastn == 2 && last[0] == '.' && last[1] == '.') {
			if (ns == 0)
				return -400;
			ns--;
		} else {
			segs[ns] = last;
			lens[ns++] = lastn;
		}
		i = j + 1;
	}
	size_t total = 0;
	for (size_t k = 0; k < ns; k++)
		total += lens[k] + (k > 0);
	if (outcap == 0 || total > outcap - 1)
		return -414;
	char *p = out;
	for (size_t k = 0; k < ns; k++) {
		if (k)
			*p++ = '/';
		memcpy(p, segs[k], lens[k]);
		p += lens[k];
	}
	*p = '\0';
	*slash = lastn == 0 || (lastn == 1 && last[0] == '.') ||
		 (lastn == 2 && last[0] == '.' && last[1] == '.');
	return 0;
}

Test(path, differential_random)
{
	static const char alphabet[] = "/////....%%%%22eEfFaab05c?#\x01\x7f";
	rng_state = 42;
	int ok = 0;
	for (int iter = 0; iter < 200000; iter++) {
		char in[40];
		size_t len = 1 + rnd() % (sizeof(in) - 1);
		for (size_t i = 0; i < len; i++)
			in[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
		if (rnd() % 8)
			in[0] = '/';
		static const size_t caps[] = {0, 1, 3, 8, 64};
		size_t cap = caps[rnd() % N(caps)];
		char got[64], want[64];
		size_t ol;
		bool gs = false, ws = false;
		int r = norm(in, len, got, cap, &ol, &gs);
		int w = ref_normalize(in, len, want, cap, &ws);
		cr_assert_eq(r, w, "%s (cap %zu): got %d, reference %d", esc(in, len), cap, r, w);
		if (r == 0) {
			ok++;
			cr_assert_str_eq(got, want, "%s", esc(in, len));
			cr_assert_eq(gs, ws, "%s: trailing_slash", esc(in, len));
		}
	}
	/* The alphabet must reach the interesting cases, not just errors. */
	cr_assert_gt(ok, 10000, "only %d successes", ok);
}

Test(path, has_dotfile)
{
	static const struct {
		const char *p;
		bool want;
	} cases[] = {
		{"", false},
		{"a", false},
		{"a/b/c.txt", false},
		{"a./b", false},
		{"a/b.", false},
		{"a/b..c", false},
		{"well.known/x", false},
		{"a\\.b", false},
		{".git", true},
		{".git/config", true},
		{"a/.env", true},
		{"a/b/.htpasswd", true},
		{"a/.well-known/acme", true},
		{"a/..b", true},
		{"a/...", true},
		{".", true},
		{"/.x", true},
		{"/a/b", false},
	};
	for (size_t i = 0; i < N(cases); i++)
		cr_expect_eq(http_path_has_dotfile(cases[i].p), cases[i].want, "\"%s\"",
			     cases[i].p);
}

/* What normalize lets through is what has_dotfile must then judge. */
Test(path, dotfile_after_normalize)
{
	char out[64];
	size_t ol;
	bool sl;
	cr_assert_eq(norm(L("/%2egit/config"), out, sizeof(out), &ol, &sl), 0);
	cr_assert(http_path_has_dotfile(out));
	cr_assert_eq(norm(L("/a/%2Eenv"), out, sizeof(out), &ol, &sl), 0);
	cr_assert(http_path_has_dotfile(out));
	cr_assert_eq(norm(L("/x/../.ssh/id_rsa"), out, sizeof(out), &ol, &sl), 0);
	cr_assert(http_path_has_dotfile(out));
	cr_assert_eq(norm(L("/a/./b/../c"), out, sizeof(out), &ol, &sl), 0);
	cr_assert(!http_path_has_dotfile(out), "dot segments are gone after normalizing");
}

/* ---------------------------------------------------------------- ranges */

static const char *range_name(enum http_range_result r)
{
	switch (r) {
	case HTTP_RANGE_NONE:
		return "NONE";
	case HTTP_RANGE_OK:
		return "OK";
	case HTTP_RANGE_UNSATISFIABLE:
		return "UNSATISFIABLE";
	case HTTP_RANGE_IGNORE:
		return "IGNORE";
	}
	return "?";
}

#define SENTINEL UINT64_C(0xDEADBEEFDEADBEEF)

static enum http_range_result range(const char *v, size_t len, uint64_t size, uint64_t *f,
				    uint64_t *l)
{
	*f = *l = SENTINEL;
	char *copy = dup_exact(v, len);
	enum http_range_result r = http_range_parse(copy, len, size, f, l);
	free(copy);
	if (r == HTTP_RANGE_OK) {
		cr_assert(*f <= *l && *l < size, "%s: bad range %" PRIu64 "-%" PRIu64 " of %" PRIu64,
			  esc(v, len), *f, *l, size);
	} else {
		cr_assert(*f == SENTINEL && *l == SENTINEL, "%s: outputs written on %s",
			  esc(v, len), range_name(r));
	}
	return r;
}

struct range_case {
	const char *v;
	size_t len;
	uint64_t size;
	enum http_range_result want;
	uint64_t first, last;
};

#define R_OK(s, size, a, b) {L(s), size, HTTP_RANGE_OK, a, b}
#define R_416(s, size) {L(s), size, HTTP_RANGE_UNSATISFIABLE, 0, 0}
#define R_IGN(s, size) {L(s), size, HTTP_RANGE_IGNORE, 0, 0}

static const struct range_case range_cases[] = {
	/* a-b */
	R_OK("bytes=0-0", 10, 0, 0),
	R_OK("bytes=0-9", 10, 0, 9),
	R_OK("bytes=2-5", 10, 2, 5),
	R_OK("bytes=9-9", 10, 9, 9),
	R_OK("bytes=0-10", 10, 0, 9),
	R_OK("bytes=3-100", 10, 3, 9),
	R_OK("bytes=0-18446744073709551615", 10, 0, 9),
	R_OK("bytes=007-0009", 10, 7, 9),
	R_416("bytes=10-10", 10),
	R_416("bytes=10-20", 10),
	R_416("bytes=18446744073709551615-18446744073709551615", 10),
	R_IGN("bytes=5-2", 10),
	R_IGN("bytes=5-2", 3), /* invalid beats unsatisfiable */
	R_IGN("bytes=1-0", 0),
	/* a- */
	R_OK("bytes=0-", 10, 0, 9),
	R_OK("bytes=5-", 10, 5, 9),
	R_OK("bytes=9-", 10, 9, 9),
	R_416("bytes=10-", 10),
	R_416("bytes=11-", 10),
	R_416("bytes=18446744073709551615-", UINT64_MAX),
	R_OK("bytes=18446744073709551614-", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1),
	/* -n */
	R_OK("bytes=-1", 10, 9, 9),
	R_OK("bytes=-3", 10, 7, 9),
	R_OK("bytes=-10", 10, 0, 9),
	R_OK("bytes=-11", 10, 0, 9),
	R_OK("bytes=-18446744073709551615", 10, 0, 9),
	R_OK("bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1),
	R_OK("bytes=-1", 1, 0, 0),
	R_416("bytes=-0", 10),
	R_416("bytes=-000", 10),
	R_416("bytes=-0", 0),
	/* Empty file: every valid range is unsatisfiable. */
	R_416("bytes=0-0", 0),
	R_416("bytes=0-", 0),
	R_416("bytes=-5", 0),
	R_416("bytes=0-100", 0),
	R_IGN("bytes=0-1,2-3", 0),
	R_IGN("bytes=x", 0),
	/* Several ranges: the whole file, even when each would be fine. */
	R_IGN("bytes=0-1,5-6", 10),
	R_IGN("bytes=0-1, 5-6", 10),
	R_IGN("bytes=0-0,0-0", 10),
	R_IGN("bytes=-1,-2", 10),
	R_IGN("bytes=0-1,x", 10),
	R_IGN("bytes=20-30,40-50", 10),
	/* Empty list elements are skipped. */
	R_OK("bytes=0-1,", 10, 0, 1),
	R_OK("bytes=,0-1", 10, 0, 1),
	R_OK("bytes=, ,0-1 , ,", 10, 0, 1),
	R_IGN("bytes=,", 10),
	R_IGN("bytes= , ", 10),
	/* OWS around the value, after '=', around commas. */
	R_OK(" bytes=0-1", 10, 0, 1),
	R_OK("bytes=0-1 ", 10, 0, 1),
	R_OK("\t bytes=0-1 \t", 10, 0, 1),
	R_OK("bytes= 0-1", 10, 0, 1),
	R_OK("bytes=\t-2", 10, 8, 9),
	R_IGN("bytes =0-1", 10),
	R_IGN("bytes= 0 -1", 10),
	R_IGN("bytes=0 -1", 10),
	R_IGN("bytes=0- 1", 10),
	R_IGN("bytes=- 1", 10),
	R_IGN("bytes=0-1\r", 10),
	R_IGN("bytes=0-1\n", 10),
	/* Unit: case-insensitive "bytes", nothing else. */
	R_OK("Bytes=0-1", 10, 0, 1),
	R_OK("BYTES=0-1", 10, 0, 1),
	R_OK("bYtEs=0-1", 10, 0, 1),
	R_IGN("items=0-1", 10),
	R_IGN("byte=0-1", 10),
	R_IGN("bytesx=0-1", 10),
	R_IGN("xbytes=0-1", 10),
	R_IGN("bytes:0-1", 10),
	R_IGN("bytes", 10),
	R_IGN("=0-1", 10),
	R_IGN("0-1", 10),
	R_IGN("", 10),
	R_IGN("   ", 10),
	/* Malformed range-spec. */
	R_IGN("bytes=", 10),
	R_IGN("bytes=-", 10),
	R_IGN("bytes=--1", 10),
	R_IGN("bytes=1--2", 10),
	R_IGN("bytes=+1-2", 10),
	R_IGN("bytes=1-+2", 10),
	R_IGN("bytes=-+2", 10),
	R_IGN("bytes=a-b", 10),
	R_IGN("bytes=1", 10),
	R_IGN("bytes=1-2-3", 10),
	R_IGN("bytes=0x10-20", 10),
	R_IGN("bytes=1e2-", 10),
	R_IGN("bytes=1.5-2", 10),
	R_IGN("bytes=0-1;", 10),
	R_IGN("bytes==0-1", 10),
	R_IGN("bytes=0-1\0", 10),
	R_IGN("bytes=\0" "0-1", 10),
	/* Numbers beyond 2^64 - 1. */
	R_IGN("bytes=18446744073709551616-", 10),
	R_IGN("bytes=0-18446744073709551616", 10),
	R_IGN("bytes=-18446744073709551616", 10),
	R_IGN("bytes=99999999999999999999999-", 10),
	R_IGN("bytes=0-99999999999999999999999999999999999999", 10),
};

Test(range, table)
{
	for (size_t i = 0; i < N(range_cases); i++) {
		const struct range_case *c = &range_cases[i];
		uint64_t f, l;
		enum http_range_result r = range(c->v, c->len, c->size, &f, &l);
		cr_expect_eq(r, c->want, "\"%s\" size %" PRIu64 ": got %s, want %s",
			     esc(c->v, c->len), c->size, range_name(r), range_name(c->want));
		if (r == HTTP_RANGE_OK && c->want == HTTP_RANGE_OK)
			cr_expect(f == c->first && l == c->last,
				  "\"%s\" size %" PRIu64 ": got %" PRIu64 "-%" PRIu64
				  ", want %" PRIu64 "-%" PRIu64,
				  esc(c->v, c->len), c->size, f, l, c->first, c->last);
	}
}

Test(range, none_without_header)
{
	uint64_t f = SENTINEL, l = SENTINEL;
	cr_assert_eq(http_range_parse(NULL, 0, 10, &f, &l), HTTP_RANGE_NONE);
	cr_assert(f == SENTINEL && l == SENTINEL);
}

Test(range, length_bounds_input)
{
	uint64_t f, l;
	cr_assert_eq(range("bytes=0-12345", 9, 100, &f, &l), HTTP_RANGE_OK);
	cr_assert(f == 0 && l == 1);
	cr_assert_eq(range("bytes=0-1,2-3", 9, 100, &f, &l), HTTP_RANGE_OK);
	cr_assert_eq(range("bytes=0-1", 5, 100, &f, &l), HTTP_RANGE_IGNORE);
}

/* Every a-b, a- and -n over small sizes against the rules written out. */
Test(range, exhaustive_small)
{
	char v[64];
	uint64_t f, l;
	for (uint64_t size = 0; size < 12; size++) {
		for (uint64_t a = 0; a < 16; a++) {
			for (uint64_t b = 0; b < 16; b++) {
				int n = snprintf(v, sizeof(v), "bytes=%" PRIu64 "-%" PRIu64, a, b);
				enum http_range_result r = range(v, (size_t)n, size, &f, &l);
				if (a > b)
					cr_assert_eq(r, HTTP_RANGE_IGNORE, "%s/%" PRIu64, v, size);
				else if (a >= size)
					cr_assert_eq(r, HTTP_RANGE_UNSATISFIABLE, "%s/%" PRIu64, v,
						     size);
				else
					cr_assert(r == HTTP_RANGE_OK && f == a &&
							  l == (b < size ? b : size - 1),
						  "%s/%" PRIu64, v, size);
			}
			int n = snprintf(v, sizeof(v), "bytes=%" PRIu64 "-", a);
			enum http_range_result r = range(v, (size_t)n, size, &f, &l);
			if (a >= size)
				cr_assert_eq(r, HTTP_RANGE_UNSATISFIABLE, "%s/%" PRIu64, v, size);
			else
				cr_assert(r == HTTP_RANGE_OK && f == a && l == size - 1,
					  "%s/%" PRIu64, v, size);
			n = snprintf(v, sizeof(v), "bytes=-%" PRIu64, a);
			r = range(v, (size_t)n, size, &f, &l);
			if (a == 0 || size == 0)
				cr_assert_eq(r, HTTP_RANGE_UNSATISFIABLE, "%s/%" PRIu64, v, size);
			else
				cr_assert(r == HTTP_RANGE_OK && f == (a >= size ? 0 : size - a) &&
						  l == size - 1,
					  "%s/%" PRIu64, v, size);
		}
	}
}

/* ---------------------------------------------------------------- dates */

#define RFC_EXAMPLE INT64_C(784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */
#define DATE_MIN INT64_C(-62167219200) /* 0000-01-01T00:00:00Z */
#define DATE_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const wdays_long[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
					 "Thursday", "Friday", "Saturday"};
static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int parse(const char *s, size_t len, int64_t *t)
{
	char *copy = dup_exact(s, len);
	int64_t v = INT64_MIN + 7;
	int r = http_date_parse(copy, len, &v);
	free(copy);
	if (r != 0)
		cr_assert_eq(v, INT64_MIN + 7, "\"%s\": output written on failure", esc(s, len));
	else
		*t = v;
	cr_assert(r == 0 || r == -1);
	return r;
}

static int parse_str(const char *s, int64_t *t)
{
	return parse(s, strlen(s), t);
}

static void gm(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	cr_assert_not_null(gmtime_r(&tt, tm));
}

Test(date, format_known)
{
	static const struct {
		int64_t t;
		const char *s;
	} cases[] = {
		{RFC_EXAMPLE, "Sun, 06 Nov 1994 08:49:37 GMT"},
		{0, "Thu, 01 Jan 1970 00:00:00 GMT"},
		{-1, "Wed, 31 Dec 1969 23:59:59 GMT"},
		{951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
		{4107542400, "Mon, 01 Mar 2100 00:00:00 GMT"},
		{1709164800, "Thu, 29 Feb 2024 00:00:00 GMT"},
		{2147483647, "Tue, 19 Jan 2038 03:14:07 GMT"},
		{2147483648, "Tue, 19 Jan 2038 03:14:08 GMT"},
		{4294967296, "Sun, 07 Feb 2106 06:28:16 GMT"},
		{DATE_MAX, "Fri, 31 Dec 9999 23:59:59 GMT"},
		{DATE_MIN, "Sat, 01 Jan 0000 00:00:00 GMT"},
		{-2208988800, "Mon, 01 Jan 1900 00:00:00 GMT"},
		{-11644473600, "Mon, 01 Jan 1601 00:00:00 GMT"},
	};
	for (size_t i = 0; i < N(cases); i++) {
		char out[HTTP_DATE_LEN + 1];
		memset(out, 'X', sizeof(out));
		size_t n = http_date_format(cases[i].t, out);
		cr_expect_eq(n, HTTP_DATE_LEN, "%" PRId64, cases[i].t);
		cr_expect_str_eq(out, cases[i].s, "%" PRId64, cases[i].t);
	}
}

Test(date, format_out_of_range)
{
	static const int64_t bad[] = {DATE_MAX + 1, DATE_MIN - 1, INT64_MAX, INT64_MIN,
				      INT64_MIN + 1, INT64_C(1) << 62};
	for (size_t i = 0; i < N(bad); i++) {
		char out[HTTP_DATE_LEN + 1];
		memset(out, 'X', sizeof(out));
		cr_expect_eq(http_date_format(bad[i], out), 0, "%" PRId64, bad[i]);
		cr_expect_eq(out[0], '\0', "%" PRId64, bad[i]);
	}
}

/* Random instants over the whole range and over 1970..2100, compared with
 * glibc, and parsed back in all three forms. */
Test(date, random_against_gmtime)
{
	rng_state = 1994;
	for (int i = 0; i < 200000; i++) {
		int64_t t;
		if (i & 1)
			t = DATE_MIN + (int64_t)(rnd() % (uint64_t)(DATE_MAX - DATE_MIN + 1));
		else
			t = (int64_t)(rnd() % UINT64_C(4102444800)); /* 1970..2099 */
		struct tm tm;
		gm(t, &tm);
		char want[64], out[HTTP_DATE_LEN + 1];
		snprintf(want, sizeof(want), "%s, %02d %s %04d %02d:%02d:%02d GMT",
			 wdays[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		cr_assert_eq(http_date_format(t, out), HTTP_DATE_LEN, "%" PRId64, t);
		cr_assert_str_eq(out, want, "%" PRId64, t);

		int64_t back = 0;
		cr_assert_eq(parse(out, HTTP_DATE_LEN, &back), 0, "%s", out);
		cr_assert_eq(back, t, "%s", out);

		char asc[64];
		snprintf(asc, sizeof(asc), "%s %s %2d %02d:%02d:%02d %04d", wdays[tm.tm_wday],
			 months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 tm.tm_year + 1900);
		cr_assert_eq(parse_str(asc, &back), 0, "%s", asc);
		cr_assert_eq(back, t, "%s", asc);

		int year = tm.tm_year + 1900;
		if (year >= 1970 && year <= 2069) {
			char r850[64];
			snprintf(r850, sizeof(r850), "%s, %02d-%s-%02d %02d:%02d:%02d GMT",
				 wdays_long[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], year % 100,
				 tm.tm_hour, tm.tm_min, tm.tm_sec);
			cr_assert_eq(parse_str(r850, &back), 0, "%s", r850);
			cr_assert_eq(back, t, "%s", r850);
		}
	}
}

/* Every day from 1969 to 2101, so each month length and leap rule is hit. */
Test(date, every_day)
{
	for (int64_t t = -86400 * 366; t < INT64_C(4133980800); t += 86400) {
		struct tm tm;
		gm(t + 86399, &tm);
		char want[64], out[HTTP_DATE_LEN + 1];
		snprintf(want, sizeof(want), "%s, %02d %s %04d 23:59:59 GMT", wdays[tm.tm_wday],
			 tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
		http_date_format(t + 86399, out);
		cr_assert_str_eq(out, want);
		int64_t back;
		cr_assert_eq(parse(want, HTTP_DATE_LEN, &back), 0, "%s", want);
		cr_assert_eq(back, t + 86399);
	}
}

Test(date, parse_rfc_examples)
{
	int64_t t = 0;
	cr_assert_eq(parse_str("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
	cr_assert_eq(t, RFC_EXAMPLE);
	t = 0;
	cr_assert_eq(parse_str("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
	cr_assert_eq(t, RFC_EXAMPLE);
	t = 0;
	cr_assert_eq(parse_str("Sun Nov  6 08:49:37 1994", &t), 0);
	cr_assert_eq(t, RFC_EXAMPLE);
}

Test(date, parse_valid_edges)
{
	static const struct {
		const char *s;
		int64_t t;
	} cases[] = {
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
		{"Wed, 31 Dec 1969 23:59:59 GMT", -1},
		{"Sat, 01 Jan 0000 00:00:00 GMT", DATE_MIN},
		{"Fri, 31 Dec 9999 23:59:59 GMT", DATE_MAX},
		{"Thu, 29 Feb 2024 12:00:00 GMT", 1709208000},
		{"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
		{"Wed, 31 Dec 2008 23:59:60 GMT", 1230768000}, /* leap second */
		{"Sat, 30 Jun 2012 23:59:60 GMT", 1341100800},
		/* The weekday is not checked against the date. */
		{"Mon, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE},
		{"Monday, 06-Nov-94 08:49:37 GMT", RFC_EXAMPLE},
		{"Mon Nov  6 08:49:37 1994", RFC_EXAMPLE},
		/* RFC 850 two-digit years: 70-99 -> 19xx, 00-69 -> 20xx. */
		{"Thursday, 01-Jan-70 00:00:00 GMT", 0},
		{"Friday, 31-Dec-99 23:59:59 GMT", 946684799},
		{"Saturday, 01-Jan-00 00:00:00 GMT", 946684800},
		{"Tuesday, 29-Feb-00 00:00:00 GMT", 951782400},
		{"Wednesday, 31-Dec-69 23:59:59 GMT", 3155759999},
		{"Wednesday, 09-Nov-94 08:49:37 GMT", RFC_EXAMPLE + 3 * 86400},
		/* asctime: day as " 6", "06" or "16". */
		{"Sun Nov 06 08:49:37 1994", RFC_EXAMPLE},
		{"Wed Nov 16 08:49:37 1994", RFC_EXAMPLE + 10 * 86400},
		{"Thu Jan  1 00:00:00 1970", 0},
		{"Fri Dec 31 23:59:59 9999", DATE_MAX},
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t t = 0;
		cr_expect_eq(parse_str(cases[i].s, &t), 0, "\"%s\"", cases[i].s);
		cr_expect_eq(t, cases[i].t, "\"%s\": got %" PRId64 ", want %" PRId64, cases[i].s,
			     t, cases[i].t);
	}
}

Test(date, parse_invalid)
{
	static const struct {
		const char *s;
		size_t len;
	} cases[] = {
		/* Days that do not exist. */
		{L("Fri, 30 Feb 2024 00:00:00 GMT")},
		{L("Wed, 29 Feb 2023 00:00:00 GMT")},
		{L("Mon, 29 Feb 2100 00:00:00 GMT")},
		{L("Sun, 31 Apr 2024 00:00:00 GMT")},
		{L("Sun, 31 Jun 2024 00:00:00 GMT")},
		{L("Sun, 31 Sep 2024 00:00:00 GMT")},
		{L("Sun, 31 Nov 2024 00:00:00 GMT")},
		{L("Sun, 00 Jan 2024 00:00:00 GMT")},
		{L("Sun, 32 Jan 2024 00:00:00 GMT")},
		{L("Sun, 99 Dec 2024 00:00:00 GMT")},
		{L("Thursday, 30-Feb-24 00:00:00 GMT")},
		{L("Wednesday, 29-Feb-23 00:00:00 GMT")},
		{L("Sun Feb 30 00:00:00 2024")},
		{L("Sun Feb  0 00:00:00 2024")},
		/* Times that do not exist. */
		{L("Sun, 06 Nov 1994 24:00:00 GMT")},
		{L("Sun, 06 Nov 1994 08:60:00 GMT")},
		{L("Sun, 06 Nov 1994 08:49:61 GMT")},
		{L("Sun, 06 Nov 1994 99:99:99 GMT")},
		{L("Sunday, 06-Nov-94 24:00:00 GMT")},
		{L("Sun Nov  6 24:00:00 1994")},
		{L("Sun Nov  6 08:49:61 1994")},
		/* Garbage and near misses. */
		{L("")},
		{L("x")},
		{L("Sun")},
		{L("Sun,")},
		{L("Sunday,")},
		{L("0")},
		{L("784111777")},
		{L("1994-11-06T08:49:37Z")},
		{L("Sun, 06 Nov 1994 08:49:37 +0000")},
		{L("Sun, 06 Nov 1994 08:49:37 UTC")},
		{L("Sun, 06 Nov 1994 08:49:37 gmt")},
		{L("sun, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 nov 1994 08:49:37 GMT")},
		{L("SUN, 06 NOV 1994 08:49:37 GMT")},
		{L("Xyz, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Foo 1994 08:49:37 GMT")},
		{L("Sun, 6 Nov 1994 08:49:37 GMT")},
		{L("Sun,  6 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Nov 94 08:49:37 GMT")},
		{L("Sun, 06 Nov +994 08:49:37 GMT")},
		{L("Sun, -6 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Nov 1994 8:49:37 GMT")},
		{L("Sun, 06 Nov 1994 08:49:37  GMT")},
		{L("Sun, 06 Nov 1994 08-49-37 GMT")},
		{L("Sun, 06 Nov 1994 08:49:3x GMT")},
		{L("Sun, 06-Nov-1994 08:49:37 GMT")},
		{L("Sun,06 Nov 1994 08:49:37 GMT ")},
		{L("Sun\0 06 Nov 1994 08:49:37 GMT")},
		{L("Sunday, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06-Nov-94 08:49:37 GMT")},
		{L("Sunday, 06-Nov-1994 08:49:37 GMT")},
		{L("Sunday, 6-Nov-94 08:49:37 GMT")},
		{L("Sunday,06-Nov-94 08:49:37 GMT")},
		{L("Sundae, 06-Nov-94 08:49:37 GMT")},
		{L("sunday, 06-Nov-94 08:49:37 GMT")},
		{L("Sunday, 06-Nov-94 08:49:37 UTC")},
		{L("Sunday, 06/Nov/94 08:49:37 GMT")},
		{L("Sun Nov 6 08:49:37 1994")},
		{L("Sun Nov  6 08:49:37 94")},
		{L("Sun Nov  x 08:49:37 1994")},
		{L("Sun Nov x6 08:49:37 1994")},
		{L("Sun  Nov 6 08:49:37 1994")},
		{L("Sun Nov  6 08:49:37 1994 GMT")},
		{L("Sun Nov  6 08:49:37 +994")},
		{L("Sun Foo  6 08:49:37 1994")},
		/* Trailing and leading junk. */
		{L("Sun, 06 Nov 1994 08:49:37 GMT ")},
		{L(" Sun, 06 Nov 1994 08:49:37 GMT")},
		{L("Sun, 06 Nov 1994 08:49:37 GMTx")},
		{L("Sun, 06 Nov 1994 08:49:37 GMT\0")},
		{L("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT")},
		{L("Sunday, 06-Nov-94 08:49:37 GMT ")},
		{L("Sunday, 06-Nov-94 08:49:37 GMTx")},
		{L("Sun Nov  6 08:49:37 1994 ")},
		{L("Sun Nov  6 08:49:37 19945")},
		{L("\tSun Nov  6 08:49:37 1994")},
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t t;
		cr_expect_eq(parse(cases[i].s, cases[i].len, &t), -1, "\"%s\" was accepted",
			     esc(cases[i].s, cases[i].len));
	}
}

/* No proper prefix of a valid date is a date. */
Test(date, parse_prefixes)
{
	static const char *const valid[] = {
		"Sun, 06 Nov 1994 08:49:37 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT",
		"Wednesday, 09-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994",
	};
	for (size_t i = 0; i < N(valid); i++) {
		size_t n = strlen(valid[i]);
		int64_t t;
		cr_assert_eq(parse(valid[i], n, &t), 0, "%s", valid[i]);
		for (size_t k = 0; k < n; k++)
			cr_expect_eq(parse(valid[i], k, &t), -1, "prefix %zu of \"%s\"", k,
				     valid[i]);
	}
}

/* Random bytes over the date alphabet: never a crash, and whatever is
 * accepted formats back to a well-formed date. */
Test(date, parse_random_noise)
{
	static const char alpha[] = "SunMoTeWdhFrSatJaFbMpyJlgOcNvDGT ,-:0123456789";
	rng_state = 7;
	char base[3][40] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
			    "Sun Nov  6 08:49:37 1994"};
	for (int iter = 0; iter < 100000; iter++) {
		char s[40];
		size_t n = strlen(base[iter % 3]);
		memcpy(s, base[iter % 3], n);
		for (int k = 1 + (int)(rnd() % 3); k > 0; k--)
			s[rnd() % n] = alpha[rnd() % (sizeof(alpha) - 1)];
		int64_t t;
		if (parse(s, n, &t) == 0) {
			char out[HTTP_DATE_LEN + 1];
			cr_assert_eq(http_date_format(t, out), HTTP_DATE_LEN, "%s", s);
			int64_t back;
			cr_assert_eq(parse(out, HTTP_DATE_LEN, &back), 0);
			cr_assert_eq(back, t);
		}
	}
}

/* ---------------------------------------------------------------- mime */

static const char *mime(const char *p, size_t len)
{
	char *copy = dup_exact(p, len);
	const char *r = mime_type_for(copy, len);
	free(copy);
	cr_assert_not_null(r);
	return r;
}

Test(mime, table)
{
	static const char octet[] = "application/octet-stream";
	static const struct {
		const char *p;
		size_t len;
		const char *type;
	} cases[] = {
		{L("index.html"), "text/html; charset=utf-8"},
		{L("a/b/page.htm"), "text/html; charset=utf-8"},
		{L("style.css"), "text/css; charset=utf-8"},
		{L("app.js"), "text/javascript; charset=utf-8"},
		{L("mod.mjs"), "text/javascript; charset=utf-8"},
		{L("data.json"), "application/json"},
		{L("logo.svg"), "image/svg+xml"},
		{L("a.png"), "image/png"},
		{L("a.jpg"), "image/jpeg"},
		{L("a.jpeg"), "image/jpeg"},
		{L("a.gif"), "image/gif"},
		{L("a.webp"), "image/webp"},
		{L("favicon.ico"), "image/x-icon"},
		{L("robots.txt"), "text/plain; charset=utf-8"},
		{L("m.wasm"), "application/wasm"},
		{L("doc.pdf"), "application/pdf"},
		{L("f.woff2"), "font/woff2"},
		{L("v.mp4"), "video/mp4"},
		/* Case-insensitive. */
		{L("INDEX.HTML"), "text/html; charset=utf-8"},
		{L("x.Htm"), "text/html; charset=utf-8"},
		{L("A.PnG"), "image/png"},
		{L("P.JPEG"), "image/jpeg"},
		{L("F.WOFF2"), "font/woff2"},
		{L("M.MJS"), "text/javascript; charset=utf-8"},
		/* Only the last extension counts. */
		{L("a.tar.gz"), octet},
		{L("a.html.gz"), octet},
		{L("a.gz.html"), "text/html; charset=utf-8"},
		{L("x..txt"), "text/plain; charset=utf-8"},
		/* Defaults. */
		{L(""), octet},
		{L("README"), octet},
		{L("a/b/Makefile"), octet},
		{L("a."), octet},
		{L("a/b."), octet},
		{L("."), octet},
		{L(".."), octet},
		{L("a.woff"), octet},
		{L("a.woff22"), octet},
		{L("a.jsx"), octet},
		{L("a.j"), octet},
		{L("a.json5"), octet},
		{L("a.htmlx"), octet},
		{L("a.xhtml"), octet},
		{L("a.averylongextension"), octet},
		{L("a.HTML "), octet},
		{L("a.h\xd4ml"), octet},
		{L("a.js\0"), octet},
		{L("a.j\0"), octet},
		/* Dotfiles: the leading dot is not an extension. */
		{L(".bashrc"), octet},
		{L("a/.bashrc"), octet},
		{L(".html"), octet},
		{L("a/.txt"), octet},
		{L(".bashrc.txt"), "text/plain; charset=utf-8"},
		{L("a/.x.css"), "text/css; charset=utf-8"},
		/* A dot in a directory name is not an extension. */
		{L("site.html/README"), octet},
		{L("a.png/"), octet},
		{L("a.png/b"), octet},
		{L("/abs/x.css"), "text/css; charset=utf-8"},
		{L("/.bashrc"), octet},
	};
	for (size_t i = 0; i < N(cases); i++) {
		const char *got = mime(cases[i].p, cases[i].len);
		cr_expect_str_eq(got, cases[i].type, "\"%s\": got %s", esc(cases[i].p, cases[i].len),
				 got);
	}
}

Test(mime, length_bounds_input)
{
	cr_assert_str_eq(mime("index.html.gz", 10), "text/html; charset=utf-8");
	cr_assert_str_eq(mime("a.png", 4), "application/octet-stream"); /* "a.pn" */
	cr_assert_str_eq(mime("a.css", 0), "application/octet-stream");
}
