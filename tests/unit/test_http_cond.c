/* Tests for the conditional requests of net/http_range.c (RFC 9110 13):
 * entity-tag lists, the precondition order of 13.2.2, If-Range.  Requests
 * come from the real parser, so field names and lines are what a client
 * sends. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_date.h"
#include "net/http_parse.h"
#include "net/http_range.h"

#include "unit_util.h"

#define ETAG "\"abc-1\""
#define MTIME INT64_C(1700000000)
#define AT "Tue, 14 Nov 2023 22:13:20 GMT"
#define BEFORE "Tue, 14 Nov 2023 22:13:19 GMT"
#define AFTER "Tue, 14 Nov 2023 22:13:21 GMT"

static const struct http_validators file_v = {ETAG, sizeof(ETAG) - 1, true, MTIME};
/* A built-in endpoint: no ETag, no Last-Modified. */
static const struct http_validators none_v = {NULL, 0, false, 0};

static char reqbuf[2048];

/* The request GET / with these extra field lines, parsed. */
static struct http_request request_with(const char *fields)
{
	struct http_request req;
	int n = snprintf(reqbuf, sizeof(reqbuf), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", fields);
	cr_assert_eq(http_parse_request(reqbuf, (size_t)n, &req), n, "%s", esc(fields, strlen(fields)));
	return req;
}

Test(http_cond, dates_are_what_they_say)
{
	int64_t t;
	cr_assert_eq(http_date_parse(L(AT), &t), 0);
	cr_assert_eq(t, MTIME);
	cr_assert_eq(http_date_parse(L(BEFORE), &t), 0);
	cr_assert_eq(t, MTIME - 1);
	cr_assert_eq(http_date_parse(L(AFTER), &t), 0);
	cr_assert_eq(t, MTIME + 1);
}

/* ---- entity-tag lists ------------------------------------------------------ */

struct etag_case {
	const char *list, *etag;
	bool strong, weak; /* the answer under each comparison */
};

static const struct etag_case etag_cases[] = {
	{"\"a\"", "\"a\"", true, true},
	{"W/\"a\"", "\"a\"", false, true},
	{"w/\"a\"", "\"a\"", false, false}, /* "W/" is case-sensitive */
	{"\"b\"", "\"a\"", false, false},
	{" \"b\" , \"a\" ", "\"a\"", true, true},
	{",,\"a\",", "\"a\"", true, true},
	{"\"b\",\t W/\"a\"", "\"a\"", false, true},
	{"W/\"a\", \"a\"", "\"a\"", true, true},
	{"\"a,b\"", "\"a,b\"", true, true}, /* a comma inside the quotes */
	{"\"a,b\"", "\"a\"", false, false},
	{"\"\"", "\"\"", true, true},
	{"\"\x80\xff\"", "\"\x80\xff\"", true, true}, /* obs-text */
	{"*", "\"a\"", true, true},
	{" * ", "\"a\"", true, true},
	{"*", "", true, true}, /* "*": any current representation */
	/* Not entity-tags: nothing matches, whatever follows. */
	{"a", "a", false, false},
	{"\"a", "\"a", false, false},
	{"\"a b\"", "\"a b\"", false, false},
	{"\"b\" \"a\"", "\"a\"", false, false},
	{"*, \"a\"", "\"a\"", false, false},
	{"\"b\", *", "\"a\"", false, false},
	{"x, \"a\"", "\"a\"", false, false},
	{"W/a", "a", false, false},
	{"", "\"a\"", false, false},
	{"\"a\"", "", false, false}, /* no ETag: only "*" */
};

Test(http_cond, etag_lists)
{
	for (size_t i = 0; i < N(etag_cases); i++) {
		const struct etag_case *c = &etag_cases[i];
		size_t ll = strlen(c->list), el = strlen(c->etag);
		char *list = dup_exact(c->list, ll);
		char *etag = dup_exact(c->etag, el);
		bool s = http_etag_list_match(list, ll, etag, el, false);
		bool w = http_etag_list_match(list, ll, etag, el, true);
		cr_assert_eq(s, c->strong, "strong %s vs %s", esc(c->list, ll), c->etag);
		cr_assert_eq(w, c->weak, "weak %s vs %s", esc(c->list, ll), c->etag);
		free(list);
		free(etag);
	}
}

/* ---- the order of RFC 9110 13.2.2 ------------------------------------------ */

struct precond_case {
	const char *fields;
	enum http_precondition get, other; /* for GET/HEAD, for other methods */
};

#define PASS HTTP_PRECOND_PASS
#define NM HTTP_PRECOND_NOT_MODIFIED
#define FAIL HTTP_PRECOND_FAILED

static const struct precond_case file_cases[] = {
	{"", PASS, PASS},
	/* 1. If-Match, strong. */
	{"If-Match: " ETAG "\r\n", PASS, PASS},
	{"If-Match: \"x\"\r\n", FAIL, FAIL},
	{"If-Match: *\r\n", PASS, PASS},
	{"If-Match: \"x\", " ETAG "\r\n", PASS, PASS},
	{"If-Match: W/" ETAG "\r\n", FAIL, FAIL},
	{"If-Match: \"x\"\r\nIf-Match: " ETAG "\r\n", PASS, PASS}, /* lines form one list */
	{"If-Match: abc-1\r\n", FAIL, FAIL},
	{"If-Match:\r\n", FAIL, FAIL},
	/* 2. If-Unmodified-Since, only without If-Match. */
	{"If-Unmodified-Since: " AT "\r\n", PASS, PASS},
	{"If-Unmodified-Since: " AFTER "\r\n", PASS, PASS},
	{"If-Unmodified-Since: " BEFORE "\r\n", FAIL, FAIL},
	{"If-Unmodified-Since: yesterday\r\n", PASS, PASS},
	{"If-Unmodified-Since: " BEFORE "\r\nIf-Unmodified-Since: " BEFORE "\r\n", PASS, PASS},
	{"If-Match: " ETAG "\r\nIf-Unmodified-Since: " BEFORE "\r\n", PASS, PASS},
	{"If-Match: \"x\"\r\nIf-Unmodified-Since: " AFTER "\r\n", FAIL, FAIL},
	/* 3. If-None-Match, weak: 304 for GET/HEAD, 412 otherwise. */
	{"If-None-Match: " ETAG "\r\n", NM, FAIL},
	{"If-None-Match: W/" ETAG "\r\n", NM, FAIL},
	{"If-None-Match: *\r\n", NM, FAIL},
	{"If-None-Match: \"x\"\r\n", PASS, PASS},
	{"If-None-Match: \"x\", W/" ETAG "\r\n", NM, FAIL},
	{"If-None-Match: \"x\"\r\nIf-None-Match: " ETAG "\r\n", NM, FAIL},
	{"If-None-Match: abc-1\r\n", PASS, PASS},
	/* 4. If-Modified-Since: GET/HEAD only, only without If-None-Match. */
	{"If-Modified-Since: " AT "\r\n", NM, PASS},
	{"If-Modified-Since: " AFTER "\r\n", NM, PASS},
	{"If-Modified-Since: " BEFORE "\r\n", PASS, PASS},
	{"If-Modified-Since: not a date\r\n", PASS, PASS},
	{"If-Modified-Since: " AT "\r\nIf-Modified-Since: " AT "\r\n", PASS, PASS},
	{"If-Modified-Since: " AT ", " AT "\r\n", PASS, PASS},
	{"If-None-Match: \"x\"\r\nIf-Modified-Since: " AT "\r\n", PASS, PASS},
	{"If-None-Match: " ETAG "\r\nIf-Modified-Since: " BEFORE "\r\n", NM, FAIL},
	/* The order between the steps: a 412 wins over a 304. */
	{"If-Match: \"x\"\r\nIf-None-Match: " ETAG "\r\n", FAIL, FAIL},
	{"If-None-Match: " ETAG "\r\nIf-Match: \"x\"\r\n", FAIL, FAIL},
	{"If-Unmodified-Since: " BEFORE "\r\nIf-None-Match: " ETAG "\r\n", FAIL, FAIL},
	{"If-Unmodified-Since: " BEFORE "\r\nIf-Modified-Since: " AT "\r\n", FAIL, FAIL},
	{"If-Match: " ETAG "\r\nIf-None-Match: " ETAG "\r\n", NM, FAIL},
	{"If-Match: *\r\nIf-None-Match: *\r\n", NM, FAIL},
	{"If-Match: " ETAG "\r\nIf-Modified-Since: " AT "\r\n", NM, PASS},
	{"If-Unmodified-Since: " AFTER "\r\nIf-Modified-Since: " AT "\r\n", NM, PASS},
	/* If-Range is no precondition: it only decides about the Range. */
	{"If-Range: \"x\"\r\n", PASS, PASS},
};

/* A resource without validators (the built-in endpoints). */
static const struct precond_case none_cases[] = {
	{"If-Match: *\r\n", PASS, PASS},
	{"If-Match: " ETAG "\r\n", FAIL, FAIL},
	{"If-None-Match: *\r\n", NM, FAIL},
	{"If-None-Match: " ETAG "\r\n", PASS, PASS},
	/* No modification date: the date conditions are ignored. */
	{"If-Unmodified-Since: " BEFORE "\r\n", PASS, PASS},
	{"If-Modified-Since: " AFTER "\r\n", PASS, PASS},
};

static void run_cases(const struct precond_case *cases, size_t n, const struct http_validators *v,
		      const char *what)
{
	for (size_t i = 0; i < n; i++) {
		const struct precond_case *c = &cases[i];
		struct http_request req = request_with(c->fields);
		enum http_precondition g = http_preconditions(&req, true, v);
		enum http_precondition o = http_preconditions(&req, false, v);
		cr_assert_eq(g, c->get, "%s GET %s: %d, want %d", what, esc(c->fields, strlen(c->fields)),
			     g, c->get);
		cr_assert_eq(o, c->other, "%s other %s: %d, want %d", what,
			     esc(c->fields, strlen(c->fields)), o, c->other);
	}
}

Test(http_cond, preconditions_file)
{
	run_cases(file_cases, N(file_cases), &file_v, "file");
}

Test(http_cond, preconditions_without_validators)
{
	run_cases(none_cases, N(none_cases), &none_v, "built-in");
}

/* Every subset of the four preconditions, each true or false, against the
 * order written out independently of the code under test. */
Test(http_cond, order_exhaustive)
{
	static const char *const fields[4][2] = {
		/* [false, true] */
		{"If-Match: \"x\"\r\n", "If-Match: " ETAG "\r\n"},
		{"If-Unmodified-Since: " BEFORE "\r\n", "If-Unmodified-Since: " AT "\r\n"},
		{"If-None-Match: " ETAG "\r\n", "If-None-Match: \"x\"\r\n"},
		{"If-Modified-Since: " AT "\r\n", "If-Modified-Since: " BEFORE "\r\n"},
	};
	for (unsigned present = 0; present < 16; present++) {
		for (unsigned truth = 0; truth < 16; truth++) {
			if (truth & ~present)
				continue;
			char buf[512] = "";
			for (int k = 0; k < 4; k++)
				if (present >> k & 1)
					strcat(buf, fields[k][truth >> k & 1]);
			bool im = present & 1, ius = present & 2, inm = present & 4, ims = present & 8;
			for (int gh = 0; gh < 2; gh++) {
				enum http_precondition want = PASS;
				if (im && !(truth & 1))
					want = FAIL;
				else if (!im && ius && !(truth & 2))
					want = FAIL;
				else if (inm && !(truth & 4))
					want = gh ? NM : FAIL;
				else if (!inm && ims && gh && !(truth & 8))
					want = NM;
				struct http_request req = request_with(buf);
				enum http_precondition got = http_preconditions(&req, gh, &file_v);
				cr_assert_eq(got, want, "%s%s: %d, want %d", gh ? "GET " : "PUT ",
					     esc(buf, strlen(buf)), got, want);
			}
		}
	}
}

/* ---- If-Range -------------------------------------------------------------------- */

Test(http_cond, if_range)
{
	static const struct {
		const char *fields;
		bool file, none;
	} t[] = {
		{"", true, true},
		{"If-Range: " ETAG "\r\n", true, false},
		{"If-Range: \"x\"\r\n", false, false},
		{"If-Range: W/" ETAG "\r\n", false, false}, /* strong comparison */
		{"If-Range: " AT "\r\n", true, false},
		{"If-Range: " BEFORE "\r\n", false, false},
		{"If-Range: " AFTER "\r\n", false, false},
		{"If-Range: " ETAG ", \"x\"\r\n", false, false}, /* not a list */
		{"If-Range: " ETAG "\r\nIf-Range: " ETAG "\r\n", false, false},
		{"If-Range: soon\r\n", false, false},
		{"If-Range:\r\n", false, false},
	};
	for (size_t i = 0; i < N(t); i++) {
		struct http_request req = request_with(t[i].fields);
		cr_assert_eq(http_if_range(&req, &file_v), t[i].file, "file %s",
			     esc(t[i].fields, strlen(t[i].fields)));
		cr_assert_eq(http_if_range(&req, &none_v), t[i].none, "none %s",
			     esc(t[i].fields, strlen(t[i].fields)));
	}
	/* A date whose day name starts with W is still a date. */
	const struct http_validators wed = {ETAG, sizeof(ETAG) - 1, true, INT64_C(1700006400)};
	struct http_request req = request_with("If-Range: Wed, 15 Nov 2023 00:00:00 GMT\r\n");
	cr_assert(http_if_range(&req, &wed));
}
