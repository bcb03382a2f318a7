/* The well-known listening socket, set up once per server (the supervisor's
 * when there are handler processes, which inherit it): the --accept mode it
 * serves, and the socket itself, passed by systemd or bound now. */
#ifndef HERD_LISTEN_SOCKET_H
#define HERD_LISTEN_SOCKET_H

#include "core/config.h"
#include "net/listen.h"

/* --accept auto resolved to what this kernel allows (logged when it falls
 * back). */
enum herd_accept_mode listen_socket_mode(const struct herd_config *cfg);

/* The options of every listener herd opens for this configuration. */
struct listen_opts listen_socket_opts(const struct herd_config *cfg, enum herd_accept_mode mode);

/* The socket: passed by systemd, or bound now.  *lo gets the options used,
 * *bound the address with the port the kernel gave.  The fd, or -1
 * (logged). */
int listen_socket_open(const struct herd_config *cfg, enum herd_accept_mode mode,
		       struct listen_opts *lo, struct herd_addr *bound);

/* *bound: where fd listens (the port the kernel gave included). */
void listen_socket_bound(int fd, const struct herd_addr *asked, struct herd_addr *bound);

#endif
