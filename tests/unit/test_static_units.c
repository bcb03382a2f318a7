/* Tests for net/http_path.c: request-target to file name, with every
 * traversal trick we know of (the other static-file helpers: test_http_range.c,
 * test_http_date.c, test_http_mime.c).
 *
 * Inputs are handed over as heap copies of exactly their length, without a
 * NUL, so ASan catches any read past the end. */
#include <criterion/criterion.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_path.h"

#include "unit_util.h"

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
