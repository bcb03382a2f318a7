/* Reverse-proxy routes and upstream addresses, as the command line gives
 * them (--proxy PREFIX=URL[,URL...]): parsed once at start, then read-only
 * and shared by every worker.  Pure data and parsing: no sockets here. */
#ifndef HERD_UPSTREAM_H
#define HERD_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define HERD_MAX_ROUTES 16
#define HERD_MAX_UPSTREAMS 32 /* over all routes */

/* One application server: TCP (IPv4, IPv6) or a Unix socket. */
struct upstream_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	/* As shown in metrics and the access log: "127.0.0.1:3000",
	 * "[::1]:3000", "unix:/run/app.sock". */
	char name[120];
	/* The Host field sent when the client gave none (HTTP/1.0):
	 * "127.0.0.1:3000", "localhost" for a Unix socket. */
	char host[80];
};

/* --proxy PREFIX=URL[,URL...]: requests whose path starts with prefix go
 * to upstreams[first .. first + n), with the path as the client sent it.
 * --proxy-strip PREFIX=URL[,URL...]: the same with strip set: the prefix,
 * less a trailing '/', is removed from the path sent upstream ("/api/" and
 * "/api/users" -> "/users"; "/api/" alone -> "/"). */
struct upstream_route {
	char prefix[128];
	uint32_t prefix_len;
	bool strip;
	int first, n;
};

struct upstream_table {
	struct upstream_route routes[HERD_MAX_ROUTES];
	int nroutes;
	struct upstream_addr addrs[HERD_MAX_UPSTREAMS];
	int naddrs;
};

/* Adds one --proxy (strip false) or --proxy-strip (true) value to t.  0, or -1 with err filled (one line naming
 * the problem: the URL, "too many", a prefix not starting with '/', ...).
 * URLs: http://HOST:PORT[/] (numeric IPv4, [IPv6], or "localhost"; port
 * default 80), unix:/absolute/path.  A URL with a path other than "/" is
 * refused (herd does not rewrite paths beyond strip). */
int upstream_table_add(struct upstream_table *t, const char *spec, bool strip, char *err,
		       size_t errlen);

/* The route with the longest prefix matching path[0..len), or -1. */
int upstream_route_match(const struct upstream_table *t, const char *path, uint32_t len);

#endif
