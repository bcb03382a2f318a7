/* What net/http_upstream.c (the heads herd writes) and
 * net/http_upstream_resp.c (the response head it reads) share beyond the
 * lexical pieces of net/http_lex.h. */
#ifndef HERD_HTTP_UPSTREAM_INT_H
#define HERD_HTTP_UPSTREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "net/http_lex.h"

/* Whether the list v[0..n) has the element lit (lowercase), in any case. */
static inline bool up_list_has(const char *v, size_t n, const char *lit)
{
	const char *p = v, *end = v + n, *es;
	size_t en, ln = strlen(lit);
	while (http_list_next(&p, end, &es, &en))
		if (en == ln && http_ieq(es, lit, en))
			return true;
	return false;
}

#endif
