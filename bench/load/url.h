/* Target URL: http://HOST:PORT/PATH, https://HOST[:PORT]/PATH or tcp://HOST:PORT (echo). */
#ifndef HERD_LOAD_URL_H
#define HERD_LOAD_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum proto { PROTO_HTTP, PROTO_TCP };

#define URL_HOST_MAX 256
#define URL_PATH_MAX 4096

struct url {
	enum proto proto;
	bool ipv6_literal;
	bool tls;                       /* https:// */
	unsigned port;
	char host[URL_HOST_MAX];        /* without brackets */
	char port_str[8];
	char hostport[URL_HOST_MAX + 10]; /* Host header value, brackets kept */
	char path[URL_PATH_MAX];        /* "/" when the URL has none */
};

/* Returns 0, or -1 with a one-line reason in err. */
int url_parse(struct url *u, const char *s, char *err, size_t errlen);

/* Resolves once (getaddrinfo); the first address wins. 0 or -1 with err. */
int url_resolve(const struct url *u, struct sockaddr_storage *ss, socklen_t *len,
		char *err, size_t errlen);

#endif
