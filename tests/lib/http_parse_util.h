/* Helpers of the request-parser unit tests (test_http_parse.c,
 * test_http_limits.c).  Header-only, like unit_util.h. */
#ifndef HERD_TESTS_HTTP_PARSE_UTIL_H
#define HERD_TESTS_HTTP_PARSE_UTIL_H

#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "net/http_parse.h"

/* Parses a heap copy of exactly len bytes so ASan flags any read past the
 * end.  Only the return value is meaningful: slices point into the copy. */
static inline int parse_exact(const char *buf, size_t len, struct http_request *req)
{
	char *copy = malloc(len ? len : 1);
	cr_assert_not_null(copy);
	memcpy(copy, buf, len);
	int r = http_parse_request(copy, len, req);
	free(copy);
	return r;
}

/* Every prefix shorter than the head must be NEED_MORE; every longer one
 * (up to len) must give the same head length. */
static inline void check_splits(const char *what, const char *buf, size_t len, int head)
{
	struct http_request req;
	cr_assert_gt(head, 0, "%s: expected a complete head", what);
	for (size_t k = 0; k <= len; k++) {
		int r = parse_exact(buf, k, &req);
		if (k < (size_t)head)
			cr_assert_eq(r, HTTP_NEED_MORE, "%s: prefix of %zu bytes gave %d", what, k, r);
		else
			cr_assert_eq(r, head, "%s: prefix of %zu bytes gave %d, want %d", what, k, r, head);
	}
}

#endif
