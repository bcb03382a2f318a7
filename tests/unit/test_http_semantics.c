/* Tests for the semantic rules of net/http_parse.c: request-target forms
 * (RFC 9112 3.2), Host validity (RFC 9112 3.2, RFC 3986 3.2.2), Expect
 * (RFC 9110 10.1.1), and which conditional fields a request carries.
 * (Framing and syntax: test_http_parse.c.) */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

#include "unit_util.h"

/* Parses an exact heap copy, and checks that no prefix of the input is
 * mistaken for a complete head or reported as a different error.  The
 * slices of *req point into buf (the caller's), not the copy. */
static int parse_all(const char *buf, size_t len, struct http_request *req)
{
	struct http_request tmp;
	int r = 0;
	for (size_t k = 0; k <= len; k++) {
		char *copy = dup_exact(buf, k);
		r = http_parse_request(copy, k, &tmp);
		free(copy);
		if (k < len)
			cr_assert(r == HTTP_NEED_MORE || r < 0, "%s: prefix %zu gave %d", esc(buf, len),
				  k, r);
	}
	int again = http_parse_request(buf, len, req);
	cr_assert_eq(again, r, "%s: %d, then %d", esc(buf, len), r, again);
	return r;
}

static bool slice_is(struct http_slice s, const char *want)
{
	/* Never NULL, even when empty: callers may compare it. */
	cr_assert_not_null(s.p);
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* ---- request-target forms ------------------------------------------------ */

struct target_case {
	const char *line; /* the request line, without CRLF */
	const char *host; /* Host field value, NULL for none */
	int status;       /* 0: valid, then the rest applies */
	enum http_target_form form;
	const char *path, *query, *eff_host;
};

#define OK_T(l, h, f, p, q, eh) {l, h, 0, HTTP_TARGET_##f, p, q, eh}
#define BAD_T(l, h) {l, h, -400, 0, NULL, NULL, NULL}

static const struct target_case target_cases[] = {
	/* origin-form: the Host field names the host. */
	OK_T("GET / HTTP/1.1", "h", ORIGIN, "/", "", "h"),
	OK_T("GET /a/b?x=1&y HTTP/1.1", "h:80", ORIGIN, "/a/b", "?x=1&y", "h:80"),
	OK_T("GET /a#frag HTTP/1.1", "h", ORIGIN, "/a", "", "h"),
	OK_T("GET /a?q#f?g HTTP/1.1", "h", ORIGIN, "/a", "?q", "h"),
	OK_T("GET /a? HTTP/1.1", "h", ORIGIN, "/a", "?", "h"),
	OK_T("GET //x/y HTTP/1.1", "h", ORIGIN, "//x/y", "", "h"),
	OK_T("GET /x HTTP/1.0", NULL, ORIGIN, "/x", "", ""),
	/* absolute-form (RFC 9112 3.2.2): routed by its path, its authority
	 * wins over Host; scheme in any case, explicit ports. */
	OK_T("GET http://h/plaintext HTTP/1.1", "other", ABSOLUTE, "/plaintext", "", "h"),
	OK_T("GET https://h/p HTTP/1.1", "h", ABSOLUTE, "/p", "", "h"),
	OK_T("GET HTTP://H:8080/p?q HTTP/1.1", "h", ABSOLUTE, "/p", "?q", "H:8080"),
	OK_T("GET hTtPs://h:443/a/b HTTP/1.1", "h", ABSOLUTE, "/a/b", "", "h:443"),
	OK_T("GET http://h HTTP/1.1", "h", ABSOLUTE, "/", "", "h"),
	OK_T("GET http://h?x=1 HTTP/1.1", "h", ABSOLUTE, "/", "?x=1", "h"),
	OK_T("GET http://h#f HTTP/1.1", "h", ABSOLUTE, "/", "", "h"),
	OK_T("GET http://h/p?q#f HTTP/1.1", "h", ABSOLUTE, "/p", "?q", "h"),
	OK_T("GET http://h:/p HTTP/1.1", "h", ABSOLUTE, "/p", "", "h:"),
	OK_T("GET http://127.0.0.1:8080/json HTTP/1.1", "x", ABSOLUTE, "/json", "", "127.0.0.1:8080"),
	OK_T("GET http://[::1]:80/p HTTP/1.1", "x", ABSOLUTE, "/p", "", "[::1]:80"),
	OK_T("GET http://h/../x HTTP/1.1", "h", ABSOLUTE, "/../x", "", "h"),
	OK_T("HEAD http://h/p HTTP/1.0", NULL, ABSOLUTE, "/p", "", "h"),
	OK_T("OPTIONS http://h HTTP/1.1", "h", ABSOLUTE, "/", "", "h"),
	OK_T("POST http://h/p HTTP/1.1", "h", ABSOLUTE, "/p", "", "h"),
	/* asterisk-form: OPTIONS only (RFC 9112 3.2.4). */
	OK_T("OPTIONS * HTTP/1.1", "h", ASTERISK, "", "", "h"),
	/* authority-form: CONNECT only, and CONNECT nothing else (3.2.3). */
	OK_T("CONNECT h:443 HTTP/1.1", "h:443", AUTHORITY, "", "", "h:443"),
	OK_T("CONNECT [2001:db8::1]:8443 HTTP/1.1", "x", AUTHORITY, "", "", "[2001:db8::1]:8443"),
	OK_T("CONNECT 10.0.0.1:1 HTTP/1.0", NULL, AUTHORITY, "", "", "10.0.0.1:1"),
	/* An unknown method may use any form: it is 501 whatever its target. */
	OK_T("M-SEARCH * HTTP/1.1", "h", ASTERISK, "", "", "h"),
	OK_T("FOO h:1 HTTP/1.1", "h", AUTHORITY, "", "", "h:1"),
	OK_T("FOO http://h/x HTTP/1.1", "y", ABSOLUTE, "/x", "", "h"),
	OK_T("get /x HTTP/1.1", "h", ORIGIN, "/x", "", "h"),

	/* The asterisk for anything but OPTIONS. */
	BAD_T("GET * HTTP/1.1", "h"),
	BAD_T("HEAD * HTTP/1.1", "h"),
	BAD_T("POST * HTTP/1.1", "h"),
	BAD_T("TRACE * HTTP/1.1", "h"),
	BAD_T("OPTIONS ** HTTP/1.1", "h"),
	BAD_T("GET *x HTTP/1.1", "h"),
	/* The authority-form for anything but CONNECT... */
	BAD_T("GET h:443 HTTP/1.1", "h"),
	BAD_T("OPTIONS h:443 HTTP/1.1", "h"),
	/* ...and CONNECT with anything else, or a bad authority. */
	BAD_T("CONNECT / HTTP/1.1", "h"),
	BAD_T("CONNECT * HTTP/1.1", "h"),
	BAD_T("CONNECT http://h:443/ HTTP/1.1", "h"),
	BAD_T("CONNECT h HTTP/1.1", "h"),
	BAD_T("CONNECT h: HTTP/1.1", "h"),
	BAD_T("CONNECT :443 HTTP/1.1", "h"),
	BAD_T("CONNECT u@h:443 HTTP/1.1", "h"),
	BAD_T("CONNECT h:65536 HTTP/1.1", "h"),
	BAD_T("CONNECT [::1:443 HTTP/1.1", "h"),
	/* Neither form at all. */
	BAD_T("GET x HTTP/1.1", "h"),
	BAD_T("GET example.com/x HTTP/1.1", "h"),
	BAD_T("GET ?x HTTP/1.1", "h"),
	BAD_T("FOO bar HTTP/1.1", "h"),
	/* absolute-form with another scheme, or not "scheme://authority". */
	BAD_T("GET ftp://h/x HTTP/1.1", "h"),
	BAD_T("GET httpx://h/x HTTP/1.1", "h"),
	BAD_T("GET ws://h/x HTTP/1.1", "h"),
	BAD_T("GET http:/x HTTP/1.1", "h"),
	BAD_T("GET http:x HTTP/1.1", "h"),
	BAD_T("GET http: HTTP/1.1", "h"),
	BAD_T("GET http:// HTTP/1.1", "h"),
	BAD_T("GET http:///x HTTP/1.1", "h"),
	BAD_T("GET http://?x HTTP/1.1", "h"),
	/* ...or a bad authority: userinfo (RFC 9110 4.2.4), port, brackets. */
	BAD_T("GET http://u@h/x HTTP/1.1", "h"),
	BAD_T("GET http://u:p@h/x HTTP/1.1", "h"),
	BAD_T("GET http://@h/x HTTP/1.1", "h"),
	BAD_T("GET http://h:abc/x HTTP/1.1", "h"),
	BAD_T("GET http://h:80:80/x HTTP/1.1", "h"),
	BAD_T("GET http://h:99999/x HTTP/1.1", "h"),
	BAD_T("GET http://:80/x HTTP/1.1", "h"),
	BAD_T("GET http://[::1/x HTTP/1.1", "h"),
	BAD_T("GET http://[::1]x/ HTTP/1.1", "h"),
	BAD_T("GET http://[zz::1]/ HTTP/1.1", "h"),
	BAD_T("GET http://h,i/x HTTP/1.1", "h"),
	BAD_T("GET http://h\"/x HTTP/1.1", "h"),
	BAD_T("GET http://h%zz/x HTTP/1.1", "h"),
	/* The Host field is still required in 1.1 and still validated. */
	BAD_T("GET http://h/x HTTP/1.1", NULL),
	BAD_T("GET http://h/x HTTP/1.1", "a b"),
};

Test(http_semantics, target_forms)
{
	for (size_t i = 0; i < N(target_cases); i++) {
		const struct target_case *c = &target_cases[i];
		char buf[256];
		int n = snprintf(buf, sizeof(buf), "%s\r\n%s%s%s\r\n", c->line, c->host ? "Host: " : "",
				 c->host ? c->host : "", c->host ? "\r\n" : "");
		struct http_request req;
		int r = parse_all(buf, (size_t)n, &req);
		if (c->status) {
			cr_assert_eq(r, c->status, "%s (Host %s): %d, want %d", c->line, c->host, r,
				     c->status);
			continue;
		}
		cr_assert_eq(r, n, "%s (Host %s): %d", c->line, c->host, r);
		cr_assert_eq(req.form, c->form, "%s: form %d, want %d", c->line, req.form, c->form);
		cr_assert(slice_is(req.path, c->path), "%s: path '%.*s', want '%s'", c->line,
			  (int)req.path.len, req.path.p, c->path);
		cr_assert(slice_is(req.query, c->query), "%s: query '%.*s', want '%s'", c->line,
			  (int)req.query.len, req.query.p, c->query);
		cr_assert(slice_is(req.host, c->eff_host), "%s: host '%.*s', want '%s'", c->line,
			  (int)req.host.len, req.host.p, c->eff_host);
		/* The raw target is kept whole (for the access log). */
		const char *sp = strchr(c->line, ' ') + 1;
		cr_assert_eq(req.target.len, (size_t)(strchr(sp, ' ') - sp), "%s", c->line);
	}
}

/* Every scheme spelling of http and https, in every case mix. */
Test(http_semantics, scheme_case_insensitive)
{
	static const char *const schemes[] = {"http", "https"};
	for (size_t s = 0; s < N(schemes); s++) {
		size_t len = strlen(schemes[s]);
		for (unsigned mask = 0; mask < (1u << len); mask++) {
			char buf[128], scheme[8];
			for (size_t i = 0; i < len; i++)
				scheme[i] = (char)(mask >> i & 1 ? schemes[s][i] - 32 : schemes[s][i]);
			scheme[len] = 0;
			int n = snprintf(buf, sizeof(buf), "GET %s://h/p HTTP/1.1\r\nHost: h\r\n\r\n",
					 scheme);
			struct http_request req;
			cr_assert_eq(http_parse_request(buf, (size_t)n, &req), n, "%s", scheme);
			cr_assert_eq(req.form, HTTP_TARGET_ABSOLUTE, "%s", scheme);
			cr_assert(slice_is(req.path, "/p"), "%s", scheme);
		}
	}
}

/* ---- Host ------------------------------------------------------------------ */

static const char *const good_hosts[] = {
	"", "a", "example.com", "EXAMPLE.com:80", "a:", "h:0", "h:65535", "h:00080",
	"127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:80", "[::1]:", "[2001:db8::1]",
	"[::ffff:1.2.3.4]:1", "[v1.x]", "[V7.a:b]", "xn--bcher-kva.example", "a_b.c~d-e",
	"a%41b", "%7e", "a!$&'()*+;=b", "localhost.",
};

static const char *const bad_hosts[] = {
	/* spaces and separators */
	"a b", "a\tb", "a/b", "/", "a,b", "a, b", ",", "a?b", "a#b", "a\\b",
	"a<b", "a>b", "a|b", "a{b}", "a^b", "a`b", "a[b", "a]b",
	/* userinfo */
	"u@h", "u:p@h", "@h",
	/* quotes */
	"\"h\"", "\"", "h\"",
	/* ports */
	"h:abc", "h:8o", "h:-1", "h:+1", "h: 80", "h:80:80", "h:65536", "h:123456",
	"h:99999", ":80", ":",
	/* IP literals */
	"[::1", "[", "[]", "[::1]x", "[::1]:x", "::1", "[1.2.3.4]", "[::1%25eth0]",
	"[v.x]", "[vz.x]", "[v1.]", "[v1]", "[:::1]", "[1:2:3:4:5:6:7:8:9]",
	/* escapes and bytes */
	"h%", "h%4", "h%zz", "caf\xc3\xa9", "h\x80",
};

static int parse_host(const char *value, struct http_request *req)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", value);
	static char keep[256];
	memcpy(keep, buf, (size_t)n);
	int r = parse_all(keep, (size_t)n, req);
	return r == n ? 0 : r;
}

Test(http_semantics, host_valid)
{
	for (size_t i = 0; i < N(good_hosts); i++) {
		struct http_request req;
		cr_assert_eq(parse_host(good_hosts[i], &req), 0, "Host: %s", esc(good_hosts[i],
										 strlen(good_hosts[i])));
		cr_assert(slice_is(req.host, good_hosts[i]), "Host: %s", good_hosts[i]);
	}
}

Test(http_semantics, host_invalid)
{
	for (size_t i = 0; i < N(bad_hosts); i++) {
		struct http_request req;
		const char *h = bad_hosts[i];
		cr_assert_eq(parse_host(h, &req), -400, "Host: %s", esc(h, strlen(h)));
		/* The same value is no better as an absolute-form authority (the
		 * empty one is refused there too: an http URI has a host). */
		if (strpbrk(h, "/?#\t ") == NULL) {
			char buf[256];
			int n = snprintf(buf, sizeof(buf), "GET http://%s/x HTTP/1.1\r\nHost: h\r\n\r\n",
					 h);
			cr_assert_eq(parse_all(buf, (size_t)n, &req), -400, "http://%s/x", esc(h, strlen(h)));
		}
	}
}

/* Validity is checked in HTTP/1.0 too, where Host is optional, and a second
 * Host line is refused even when both are valid and equal. */
Test(http_semantics, host_siblings)
{
	struct http_request req;
	cr_assert_eq(parse_all(L("GET / HTTP/1.0\r\nHost: a b\r\n\r\n"), &req), -400);
	cr_assert_eq(parse_all(L("GET / HTTP/1.0\r\nHost: a\r\n\r\n"), &req), 27);
	cr_assert(slice_is(req.host, "a"));
	cr_assert_eq(parse_all(L("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), &req), -400);
	cr_assert_eq(parse_all(L("GET / HTTP/1.1\r\nHOST: a\r\nhost: b\r\n\r\n"), &req), -400);
	cr_assert_eq(parse_all(L("GET / HTTP/1.1\r\n\r\n"), &req), -400);
	/* OWS around the value is not part of it. */
	cr_assert_eq(parse_all(L("GET / HTTP/1.1\r\nHost: \t a:1 \t\r\n\r\n"), &req), 33);
	cr_assert(slice_is(req.host, "a:1"));
	/* The bad byte is reported when its line ends, not at the 8 KiB limit. */
	cr_assert_eq(parse_all(L("GET / HTTP/1.1\r\nHost: a/b\r\n"), &req), -400);
}

/* ---- Expect ------------------------------------------------------------------ */

struct expect_case {
	int minor;
	const char *fields; /* Expect lines */
	bool cont, unknown;
};

static const struct expect_case expect_cases[] = {
	{1, "Expect: 100-continue\r\n", true, false},
	{1, "Expect: 100-Continue\r\n", true, false},
	{1, "expect:100-CONTINUE \r\n", true, false},
	/* RFC 9110 10.1.1: ignored in HTTP/1.0, and no 1xx to a 1.0 client. */
	{0, "Expect: 100-continue\r\n", false, false},
	{0, "Expect: foo\r\n", false, true},
	{1, "Expect: foo\r\n", false, true},
	{1, "Expect: 102-processing\r\n", false, true},
	{1, "Expect: 100-continue, foo\r\n", true, true},
	{1, "Expect: foo, 100-continue\r\n", true, true},
	{1, "Expect: 100-continue\r\nExpect: bar\r\n", true, true},
	{1, "Expect: 100-continue=1\r\n", false, true},
	{1, "Expect: 100-continue;a=b\r\n", false, true},
	{1, "Expect: 100-continuex\r\n", false, true},
	{1, "Expect: \"100-continue\"\r\n", false, true},
	{1, "Expect: 100-continue, 100-continue\r\n", true, false},
	/* Empty list elements are not expectations (RFC 9110 5.6.1). */
	{1, "Expect:\r\n", false, false},
	{1, "Expect: , ,\r\n", false, false},
	{1, "Expect: ,100-continue,\r\n", true, false},
	{1, "X-Expect: foo\r\nExpects: foo\r\n", false, false},
};

Test(http_semantics, expect)
{
	for (size_t i = 0; i < N(expect_cases); i++) {
		const struct expect_case *c = &expect_cases[i];
		char buf[256];
		int n = snprintf(buf, sizeof(buf),
				 "POST / HTTP/1.%d\r\nHost: h\r\n%sContent-Length: 1\r\n\r\n", c->minor,
				 c->fields);
		struct http_request req;
		cr_assert_eq(parse_all(buf, (size_t)n, &req), n, "%s", esc(c->fields, strlen(c->fields)));
		cr_assert_eq(req.expect_continue, c->cont, "1.%d %s: continue", c->minor,
			     esc(c->fields, strlen(c->fields)));
		cr_assert_eq(req.expect_unknown, c->unknown, "1.%d %s: unknown", c->minor,
			     esc(c->fields, strlen(c->fields)));
	}
}

/* ---- conditional fields --------------------------------------------------------- */

Test(http_semantics, conditional_fields)
{
	static const struct {
		const char *fields;
		unsigned bits;
	} t[] = {
		{"", 0},
		{"If-Match: \"a\"\r\n", HTTP_COND_IF_MATCH},
		{"if-none-match: *\r\n", HTTP_COND_IF_NONE_MATCH},
		{"IF-MODIFIED-SINCE: x\r\n", HTTP_COND_IF_MODIFIED_SINCE},
		{"If-Unmodified-Since: x\r\n", HTTP_COND_IF_UNMODIFIED_SINCE},
		{"If-Range: \"a\"\r\n", HTTP_COND_IF_RANGE},
		{"If-Match: a\r\nIf-None-Match: b\r\nIf-Modified-Since: c\r\n"
		 "If-Unmodified-Since: d\r\nIf-Range: e\r\n",
		 HTTP_COND_IF_MATCH | HTTP_COND_IF_NONE_MATCH | HTTP_COND_IF_MODIFIED_SINCE |
			 HTTP_COND_IF_UNMODIFIED_SINCE | HTTP_COND_IF_RANGE},
		/* Lookalikes of every length class. */
		{"If-Matches: a\r\nIf-Rangex: a\r\nIf-None-Matc: a\r\nX-Modified-Since: a\r\n"
		 "If-Unmodified-Sinc: a\r\nTransfer-Encodin: x\r\n",
		 0},
	};
	for (size_t i = 0; i < N(t); i++) {
		char buf[512];
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", t[i].fields);
		struct http_request req;
		memset(&req, 0xA5, sizeof(req));
		cr_assert_eq(http_parse_request(buf, (size_t)n, &req), n, "case %zu", i);
		cr_assert_eq(req.conditionals, t[i].bits, "case %zu: bits %#x, want %#x", i,
			     req.conditionals, t[i].bits);
	}
}
