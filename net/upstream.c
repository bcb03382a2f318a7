/* --proxy / --proxy-strip values into routes and upstream addresses (see
 * net/upstream.h).  Only numeric addresses and Unix sockets: a name would
 * need DNS, which a worker must never wait for, and which would be resolved
 * once here anyway and then go stale silently. */
#include "net/upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

/* "8080" -> 8080; 0 and anything not 1..65535 refused. */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static const char *parse_unix(struct upstream_addr *a, const char *path)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->sa;
	size_t len = strlen(path);
	if (path[0] != '/')
		return "a Unix socket path must be absolute";
	if (len >= sizeof(sun->sun_path))
		return "Unix socket path too long";
	if (len + 6 >= sizeof(a->name))
		return "Unix socket path too long";
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, len + 1);
	a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	snprintf(a->name, sizeof(a->name), "unix:%s", path);
	/* Applications behind a socket mostly route by Host; they cannot
	 * expect anything better than this. */
	snprintf(a->host, sizeof(a->host), "localhost");
	return NULL;
}

/* http://HOST[:PORT][/]: the part after "http://". */
static const char *parse_http(struct upstream_addr *a, const char *rest)
{
	const char *end = rest + strcspn(rest, "/?#");
	if (*end == '?' || *end == '#')
		return "a query or fragment has no meaning in an upstream URL";
	if (*end == '/' && end[1])
		return "an upstream URL takes no path (use --proxy-strip to remove a prefix)";
	if (memchr(rest, '@', (size_t)(end - rest)))
		return "user information is not supported in an upstream URL";
	if (end == rest)
		return "no host";

	char host[64];
	const char *hend, *port_at;
	uint16_t port = 80;
	bool v6 = rest[0] == '[';
	if (v6) {
		hend = memchr(rest, ']', (size_t)(end - rest));
		if (!hend)
			return "no ']' after an IPv6 address";
		port_at = hend + 1;
		rest++;
	} else {
		hend = memchr(rest, ':', (size_t)(end - rest));
		if (!hend)
			hend = end;
		port_at = hend;
	}
	if ((size_t)(hend - rest) >= sizeof(host) || hend == rest)
		return "bad host";
	memcpy(host, rest, (size_t)(hend - rest));
	host[hend - rest] = 0;
	if (port_at < end) {
		if (*port_at != ':' || parse_port(port_at + 1, (size_t)(end - port_at - 1), &port) < 0)
			return "bad port: want 1..65535";
	}

	char shown[INET6_ADDRSTRLEN];
	if (v6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return "bad IPv6 address";
		a->len = sizeof(*s6);
		inet_ntop(AF_INET6, &s6->sin6_addr, shown, sizeof(shown));
		snprintf(a->name, sizeof(a->name), "[%s]:%u", shown, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (strcmp(host, "localhost") == 0)
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return "not a numeric address: names would need DNS (use an IP address, "
			       "[IPv6], localhost or unix:/path)";
		a->len = sizeof(*s4);
		inet_ntop(AF_INET, &s4->sin_addr, shown, sizeof(shown));
		snprintf(a->name, sizeof(a->name), "%s:%u", shown, port);
	}
	/* Host as the user wrote it ("localhost:3000"): what a name-based
	 * application expects; the port only when not the default. */
	if (port == 80)
		snprintf(a->host, sizeof(a->host), "%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
	else
		snprintf(a->host, sizeof(a->host), "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
			 port);
	return NULL;
}

static const char *parse_url(struct upstream_addr *a, const char *url)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(url, "http://", 7) == 0)
		return parse_http(a, url + 7);
	if (strncmp(url, "unix:", 5) == 0)
		return parse_unix(a, url + 5);
	if (strncmp(url, "https://", 8) == 0)
		return "https upstreams are not supported (herd speaks plain HTTP to upstreams)";
	return "want http://HOST:PORT or unix:/path";
}

static const char *check_prefix(const char *p, size_t len, const struct upstream_table *t)
{
	if (len == 0 || p[0] != '/')
		return "the prefix must start with '/'";
	if (len >= sizeof(t->routes[0].prefix))
		return "the prefix is longer than 127 bytes";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f || p[i] == '?' || p[i] == '#')
			return "the prefix holds a space, control character, '?' or '#'";
	for (int i = 0; i < t->nroutes; i++)
		if (t->routes[i].prefix_len == len && memcmp(t->routes[i].prefix, p, len) == 0)
			return "the prefix is already routed";
	return NULL;
}

/* One URL of a value into t->addrs[i]; NULL, or why not (url names it). */
static const char *add_url(struct upstream_table *t, int first, int i, const char *p,
			   size_t len, char *url, size_t urlcap)
{
	url[0] = 0;
	if (len == 0)
		return "an empty URL";
	if (len >= urlcap)
		return "a URL too long";
	memcpy(url, p, len);
	url[len] = 0;
	if (i == HERD_MAX_UPSTREAMS)
		return "too many upstreams (at most 32 in all)";
	const char *why = parse_url(&t->addrs[i], url);
	if (why)
		return why;
	for (int k = first; k < i; k++)
		if (strcmp(t->addrs[k].name, t->addrs[i].name) == 0)
			return "listed twice in the route";
	return NULL;
}

/* The same URL in two routes makes two entries (a route's upstreams are
 * one contiguous range); the metrics and the health checks treat entries
 * that share a name as one upstream. */
int upstream_table_add(struct upstream_table *t, const char *spec, bool strip, char *err,
		       size_t errlen)
{
	const char *flag = strip ? "--proxy-strip" : "--proxy";
	const char *eq = strchr(spec, '=');
	const char *why = NULL;
	char url[256] = "";
	int first = t->naddrs, n = 0;

	if (!eq)
		why = "want PREFIX=URL[,URL...]";
	else if (!(why = check_prefix(spec, (size_t)(eq - spec), t)) &&
		 t->nroutes == HERD_MAX_ROUTES)
		why = "too many routes (at most 16)";
	for (const char *p = eq ? eq + 1 : NULL; p && !why; n++) {
		size_t len = strcspn(p, ",");
		why = add_url(t, first, first + n, p, len, url, sizeof(url));
		p = p[len] ? p + len + 1 : NULL;
	}
	if (why) {
		/* Nothing of a refused value stays in the table. */
		memset(&t->addrs[first], 0, sizeof(t->addrs[0]) * (size_t)(HERD_MAX_UPSTREAMS - first));
		snprintf(err, errlen, "bad %s '%s': %s%s%s", flag, spec, url, *url ? ": " : "", why);
		return -1;
	}
	struct upstream_route *r = &t->routes[t->nroutes++];
	memset(r, 0, sizeof(*r));
	memcpy(r->prefix, spec, (size_t)(eq - spec));
	r->prefix_len = (uint32_t)(eq - spec);
	r->strip = strip;
	r->first = first;
	r->n = n;
	t->naddrs = first + n;
	return 0;
}

int upstream_route_match(const struct upstream_table *t, const char *path, uint32_t len)
{
	int best = -1;
	for (int i = 0; i < t->nroutes; i++) {
		const struct upstream_route *r = &t->routes[i];
		if (r->prefix_len <= len && memcmp(r->prefix, path, r->prefix_len) == 0 &&
		    (best < 0 || r->prefix_len > t->routes[best].prefix_len))
			best = i;
	}
	return best;
}
