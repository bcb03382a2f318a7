#include "url.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *msg, const char *s)
{
	snprintf(err, errlen, "bad URL '%s': %s", s, msg);
	return -1;
}

int url_parse(struct url *u, const char *s, char *err, size_t errlen)
{
	memset(u, 0, sizeof(*u));
	const char *p;
	if (strncmp(s, "http://", 7) == 0) {
		u->proto = PROTO_HTTP;
		p = s + 7;
	} else if (strncmp(s, "https://", 8) == 0) {
		u->proto = PROTO_HTTP;
		u->tls = true;
		p = s + 8;
	} else if (strncmp(s, "tcp://", 6) == 0) {
		u->proto = PROTO_TCP;
		p = s + 6;
	} else if (strstr(s, "://")) {
		return fail(err, errlen, "unsupported scheme (use http://, https:// or tcp://)", s);
	} else {
		return fail(err, errlen, "must start with http://, https:// or tcp://", s);
	}

	const char *host = p, *host_end;
	if (*p == '[') {
		host = p + 1;
		host_end = strchr(host, ']');
		if (!host_end)
			return fail(err, errlen, "unterminated '[' in IPv6 literal", s);
		p = host_end + 1;
		u->ipv6_literal = true;
	} else {
		host_end = p + strcspn(p, ":/?#");
		p = host_end;
	}
	size_t hlen = (size_t)(host_end - host);
	if (hlen == 0)
		return fail(err, errlen, "missing host", s);
	if (hlen >= sizeof(u->host))
		return fail(err, errlen, "host name too long", s);
	for (size_t i = 0; i < hlen; i++) {
		unsigned char ch = (unsigned char)host[i];
		if (ch <= ' ' || ch >= 0x7f || ch == '@' || ch == '[' || ch == ']')
			return fail(err, errlen, "invalid character in host", s);
	}
	memcpy(u->host, host, hlen);

	/* only https has a default port: a plain-HTTP target here is a test
	 * server on some port, and a forgotten port is a mistake, not 80 */
	if (*p == ':') {
		p++;
		size_t plen = strspn(p, "0123456789");
		if (plen == 0 || plen > 5 || (p[plen] != '\0' && p[plen] != '/'))
			return fail(err, errlen, "port must be a number 1..65535", s);
		memcpy(u->port_str, p, plen);
		u->port = (unsigned)strtoul(u->port_str, NULL, 10);
		if (u->port < 1 || u->port > 65535)
			return fail(err, errlen, "port must be a number 1..65535", s);
		p += plen;
	} else if (u->tls) {
		if (*p != '\0' && *p != '/')
			return fail(err, errlen, "the path must start with '/'", s);
		strcpy(u->port_str, "443");
		u->port = 443;
	} else {
		return fail(err, errlen, "missing port (write HOST:PORT)", s);
	}

	if (u->proto == PROTO_TCP) {
		if (*p && strcmp(p, "/") != 0)
			return fail(err, errlen, "tcp:// URLs take no path", s);
		strcpy(u->path, "/");
	} else {
		if (*p == '\0')
			p = "/";
		size_t len = strlen(p);
		if (len >= sizeof(u->path))
			return fail(err, errlen, "path too long", s);
		for (size_t i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)p[i];
			if (ch <= ' ' || ch == 0x7f)
				return fail(err, errlen, "path contains spaces or control characters", s);
		}
		/* the fragment is never sent to a server */
		memcpy(u->path, p, strcspn(p, "#"));
		if (u->path[0] == '\0')
			strcpy(u->path, "/");
	}

	snprintf(u->hostport, sizeof(u->hostport), u->ipv6_literal ? "[%s]:%s" : "%s:%s",
		 u->host, u->port_str);
	return 0;
}

int url_resolve(const struct url *u, struct sockaddr_storage *ss, socklen_t *len,
		char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	if (u->ipv6_literal) {
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	}
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(u->host, u->port_str, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, errlen, "cannot resolve '%s': %s", u->host,
			 rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}
