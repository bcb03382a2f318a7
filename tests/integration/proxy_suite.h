/* What the two files of the proxy suite (test_proxy_integration.c,
 * test_proxy_conn_integration.c) share: the servers of a test and small
 * assertions on what the upstream's /echo saw. */
#ifndef HERD_PROXY_SUITE_H
#define HERD_PROXY_SUITE_H

#include "proxy_integ.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define MIB (1024u * 1024u)

/* Each file of the suite has its own (tests run one per process). */
static struct herd srv __attribute__((unused));
static struct px_up A __attribute__((unused)), B __attribute__((unused));

/* "PREFIX=URL[,URL2]" in a static buffer of the caller's. */
static inline const char *route(char *buf, size_t cap, const char *prefix, const struct px_up *u1,
			 const struct px_up *u2)
{
	snprintf(buf, cap, "%s=%s%s%s", prefix, u1->url, u2 ? "," : "", u2 ? u2->url : "");
	return buf;
}
#define ROUTE(prefix, ...) route((char[400]){0}, 400, (prefix), __VA_ARGS__)

/* The value the upstream's /echo reports for field `name` (lowercase), in
 * a static buffer; NULL when it did not receive one. */
static inline const char *echo_field(const char *body, const char *name)
{
	static char v[1024];
	char want[128];
	snprintf(want, sizeof(want), "\nh %s: ", name);
	const char *p = strstr(body, want);
	if (!p)
		return NULL;
	p += strlen(want);
	size_t n = strcspn(p, "\n");
	snprintf(v, sizeof(v), "%.*s", (int)(n < sizeof(v) - 1 ? n : sizeof(v) - 1), p);
	return v;
}

static inline int echo_count(const char *body, const char *name)
{
	char want[128];
	snprintf(want, sizeof(want), "\nh %s: ", name);
	int n = 0;
	for (const char *p = body; (p = strstr(p, want)); p++)
		n++;
	return n;
}

/* GET path on c (keep-alive), asserting a complete response; r is the
 * caller's to free. */
static inline void get_ok(struct h_conn *c, const char *path, struct px_resp *r)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	int rc = px_send_read(c, req, r, 15000);
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
}

static inline void assert_upstream(const struct px_resp *r, const char *name, const char *what)
{
	const char *u = px_header(r, "X-Upstream");
	cr_assert(u && !strcmp(u, name), "%s: answered by upstream %s, want %s", what,
		  u ? u : "(none: not proxied)", name);
}

/* r's body is n bytes of the upstreams' pattern. */
static inline void assert_pat_body(const struct px_resp *r, size_t n)
{
	cr_assert_eq(r->body_len, n, "body %zu bytes, want %zu", r->body_len, n);
	long d = px_pat_diff(r->body, n, 0);
	cr_assert_eq(d, -1, "body differs at %ld", d);
}

#endif
