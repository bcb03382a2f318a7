/* The well-known listening sockets, set up once per server (the
 * supervisor's when there are handler processes, which inherit them): the
 * --accept mode they serve, and the sockets themselves, passed by systemd or
 * bound now, one per --listen and --listen-tls. */
#ifndef HERD_LISTEN_SOCKET_H
#define HERD_LISTEN_SOCKET_H

#include <stddef.h>

#include "core/config.h"
#include "net/listen.h"

struct listen_set {
	struct herd_listener l[HERD_MAX_LISTEN]; /* fd -1 once closed */
	struct herd_addr bound[HERD_MAX_LISTEN]; /* with the port the kernel gave */
	int n;
	struct listen_opts lo; /* the options they were opened with */
};

/* --accept auto resolved to what this kernel allows (logged when it falls
 * back). */
enum herd_accept_mode listen_socket_mode(const struct herd_config *cfg);

/* The options of every listener herd opens for this configuration. */
struct listen_opts listen_socket_opts(const struct herd_config *cfg, enum herd_accept_mode mode);

/* The sockets: passed by systemd, or bound now.  0, or -1 (logged) with
 * none left open. */
int listen_set_open(struct listen_set *ls, const struct herd_config *cfg,
		    enum herd_accept_mode mode);
/* A handler process: the sockets its supervisor opened. */
void listen_set_adopt(struct listen_set *ls, const struct herd_config *cfg,
		      enum herd_accept_mode mode, const struct herd_listener *l, int n);
void listen_set_close(struct listen_set *ls);

/* "127.0.0.1:8080", with " (tls)" after a TLS listener. */
void listen_set_describe(const struct listen_set *ls, int i, char *buf, size_t len);
/* "listening on ..." for every listener after the first, whose line the
 * caller prints with its own details. */
void listen_set_announce_rest(const struct listen_set *ls);

#endif
