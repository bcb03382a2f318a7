/* The route table of application routes (see net/http_app.h): which
 * route a request reaches, or why none does. */
#include <stdlib.h>
#include <string.h>

#include "net/http_app.h"

int app_table_add(struct app_table *t, const char *method, const char *path, bool prefix,
		  bool files, herd_handler fn, void *user)
{
	if (method && strcmp(method, "*") == 0)
		method = NULL;
	if (t->n == APP_MAX_ROUTES || !path || path[0] != '/' || (!fn && !files) ||
	    (method && !app_token_ok(method)))
		return -1;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return -1;
	for (int i = 0; i < t->n; i++) {
		const struct app_route *r = &t->routes[i];
		if (r->prefix == prefix && strcmp(r->path, path) == 0 &&
		    ((!r->method && !method) || (r->method && method && strcmp(r->method, method) == 0)))
			return -1;
	}
	struct app_route *r = &t->routes[t->n];
	*r = (struct app_route){.prefix = prefix, .files = files, .fn = fn, .user = user};
	r->path = strdup(path);
	r->method = method ? strdup(method) : NULL;
	if (!r->path || (method && !r->method)) {
		free(r->path);
		free(r->method);
		return -1;
	}
	r->plen = (uint32_t)strlen(path);
	r->mlen = method ? (uint32_t)strlen(method) : 0;
	t->n++;
	return 0;
}

static bool method_takes(const struct app_route *r, const struct http_request *req)
{
	if (!r->method)
		return true;
	const struct http_slice *m = &req->method_name;
	if (r->mlen == m->len && memcmp(r->method, m->p, m->len) == 0)
		return true;
	/* A GET route answers HEAD (RFC 9110 9.3.2): herd drops the body. */
	return req->method == HTTP_M_HEAD && r->mlen == 3 && memcmp(r->method, "GET", 3) == 0;
}

static void allow_add(struct app_match *m, const char *name, size_t len)
{
	/* Already listed?  The list is short: a linear look. */
	const char *p = m->allow + 7;
	const char *end = m->allow + m->allow_len;
	while (p < end) {
		const char *q = memchr(p, ',', (size_t)(end - p));
		size_t l = (size_t)((q ? q : end) - p);
		if (l == len && memcmp(p, name, len) == 0)
			return;
		p = q ? q + 2 : end;
	}
	if (m->allow_len + len + 6 > sizeof(m->allow))
		return;
	if (m->allow_len > 7) {
		memcpy(m->allow + m->allow_len, ", ", 2);
		m->allow_len += 2;
	}
	memcpy(m->allow + m->allow_len, name, len);
	m->allow_len += (uint32_t)len;
}

/* Of the routes whose path matches, the most specific one that takes the
 * method: exact over prefix, longer prefix over shorter, a named method
 * over "*".  None takes it: 405 naming what they take, or 404 when no path
 * matched (501 for a method herd does not know either way). */
void app_table_match(const struct app_table *t, const struct http_request *req,
		     struct app_match *m)
{
	const struct http_slice *path = &req->path;
	uint64_t best = 0; /* (specificity << 1 | named) + 1 of the route chosen */
	bool any_path = false;
	m->route = -1;
	memcpy(m->allow, "Allow: ", 7);
	m->allow_len = 7;
	for (int i = 0; i < t->n; i++) {
		const struct app_route *r = &t->routes[i];
		if ((r->prefix ? r->plen > path->len : r->plen != path->len) ||
		    memcmp(r->path, path->p, r->plen) != 0)
			continue;
		any_path = true;
		if (method_takes(r, req)) {
			uint64_t spec = r->prefix ? r->plen : (uint64_t)UINT32_MAX + 1;
			uint64_t score = ((spec << 1) | (r->method != NULL)) + 1;
			if (score > best) {
				best = score;
				m->route = i;
				if (!r->prefix && r->method)
					return; /* nothing is more specific (no duplicates) */
			}
		} else if (r->method) {
			allow_add(m, r->method, r->mlen);
			if (r->mlen == 3 && memcmp(r->method, "GET", 3) == 0)
				allow_add(m, "HEAD", 4);
		}
	}
	if (m->route >= 0)
		return;
	if (req->method == HTTP_M_OTHER || !any_path) {
		m->status = req->method == HTTP_M_OTHER ? 501 : 404;
		m->allow_len = 0;
		return;
	}
	m->status = 405;
	memcpy(m->allow + m->allow_len, "\r\n", 2);
	m->allow_len += 2;
}

