#include "balance/listen_socket.h"

#include <unistd.h>

#include "core/log.h"
#include "core/mech.h"

enum herd_accept_mode listen_socket_mode(const struct herd_config *cfg)
{
	char why[160];
	if (cfg->accept != HERD_ACCEPT_AUTO)
		return cfg->accept;
	if (loop_uring_available(why, sizeof(why)))
		return HERD_ACCEPT_URING;
	herd_log("warning: --accept auto: %s; using exclusive", why);
	return HERD_ACCEPT_EXCLUSIVE;
}

void listen_socket_bound(int fd, const struct herd_addr *asked, struct herd_addr *bound)
{
	*bound = *asked;
	socklen_t len = sizeof(bound->ss);
	getsockname(fd, (struct sockaddr *)&bound->ss, &len);
	bound->len = len;
}

struct listen_opts listen_socket_opts(const struct herd_config *cfg, enum herd_accept_mode mode)
{
	double ms = cfg->send_timeout_s * 1000;
	return (struct listen_opts){.backlog = cfg->backlog,
				    .defer_accept = cfg->proto == HERD_PROTO_HTTP,
				    .reuseport = mode == HERD_ACCEPT_REUSEPORT,
				    .user_timeout_ms = ms >= 1 && ms < 4e9 ? (unsigned)ms : 0};
}

int listen_socket_open(const struct herd_config *cfg, enum herd_accept_mode mode,
		       struct listen_opts *lo, struct herd_addr *bound)
{
	char err[256];
	int somax = listen_somaxconn();
	if (somax > 0 && cfg->backlog > somax)
		herd_log("warning: --backlog %d is capped by net.core.somaxconn=%d", cfg->backlog,
			 somax);
	*lo = listen_socket_opts(cfg, mode);
	/* Started by systemd with the socket already bound: use it. */
	int fd = listen_from_systemd(lo, err, sizeof(err));
	if (fd == -2) {
		herd_log("%s", err);
		return -1;
	}
	if (fd >= 0) {
		if (mode == HERD_ACCEPT_REUSEPORT) {
			herd_log("socket activation passes one socket: --accept reuseport needs its own");
			close(fd);
			return -1;
		}
		herd_log("using the listening socket passed by systemd (fd %d)", fd);
	} else {
		/* The well-known address.  In reuseport mode this first socket
		 * only holds the port: each worker opens its own listener. */
		fd = listen_open(&cfg->listen, lo, err, sizeof(err));
		if (fd < 0) {
			herd_log("%s", err);
			return -1;
		}
	}
	listen_socket_bound(fd, &cfg->listen, bound);
	return fd;
}
