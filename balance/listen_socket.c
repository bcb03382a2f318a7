#include "balance/listen_socket.h"

#include <stdio.h>
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

struct listen_opts listen_socket_opts(const struct herd_config *cfg, enum herd_accept_mode mode)
{
	double ms = cfg->send_timeout_s * 1000;
	return (struct listen_opts){.backlog = cfg->backlog,
				    .defer_accept = cfg->proto == HERD_PROTO_HTTP,
				    .reuseport = mode == HERD_ACCEPT_REUSEPORT,
				    .user_timeout_ms = ms >= 1 && ms < 4e9 ? (unsigned)ms : 0};
}

/* Where listener i listens, read back from the socket: the port the kernel
 * gave to ":0", and the address of a socket systemd made. */
static void bound(struct listen_set *ls, int i)
{
	struct herd_addr *b = &ls->bound[i];
	socklen_t len = sizeof(b->ss);
	getsockname(ls->l[i].fd, (struct sockaddr *)&b->ss, &len);
	b->len = len;
	listen_describe_addr(b, b->text, sizeof(b->text));
}

/* Started by systemd with the sockets already bound: 1 when they are used,
 * 0 when none were passed, -1 on failure (logged). */
static int from_systemd(struct listen_set *ls, enum herd_accept_mode mode)
{
	char err[256];
	int n = listen_from_systemd(&ls->lo, ls->l, HERD_MAX_LISTEN, err, sizeof(err));
	if (n == -1)
		return 0;
	if (n < 0) {
		herd_log("%s", err);
		return -1;
	}
	ls->n = n;
	if (mode == HERD_ACCEPT_REUSEPORT) {
		herd_log("socket activation passes shared sockets: --accept reuseport needs "
			 "its own");
		listen_set_close(ls);
		return -1;
	}
	for (int i = 0; i < n; i++)
		herd_log("using the listening socket passed by systemd (fd %d%s)", ls->l[i].fd,
			 ls->l[i].tls ? ", tls" : "");
	return 1;
}

int listen_set_open(struct listen_set *ls, const struct herd_config *cfg,
		    enum herd_accept_mode mode)
{
	char err[256];
	int somax = listen_somaxconn();
	if (somax > 0 && cfg->backlog > somax)
		herd_log("warning: --backlog %d is capped by net.core.somaxconn=%d", cfg->backlog,
			 somax);
	ls->n = 0;
	ls->lo = listen_socket_opts(cfg, mode);
	int activated = from_systemd(ls, mode);
	if (activated < 0)
		return -1;
	/* The configured addresses.  In reuseport mode these first sockets
	 * only hold the ports: each worker opens its own listeners. */
	for (int i = 0; !activated && i < cfg->nlisten; i++) {
		ls->l[i] = (struct herd_listener){.tls = cfg->listens[i].tls};
		ls->l[i].fd = listen_open(&cfg->listens[i].addr, &ls->lo, err, sizeof(err));
		if (ls->l[i].fd < 0) {
			herd_log("%s", err);
			listen_set_close(ls);
			return -1;
		}
		ls->n = i + 1;
	}
	for (int i = 0; i < ls->n; i++)
		bound(ls, i);
	return 0;
}

void listen_set_adopt(struct listen_set *ls, const struct herd_config *cfg,
		      enum herd_accept_mode mode, const struct herd_listener *l, int n)
{
	ls->lo = listen_socket_opts(cfg, mode);
	ls->n = n;
	for (int i = 0; i < n; i++) {
		ls->l[i] = l[i];
		bound(ls, i);
	}
}

void listen_set_close(struct listen_set *ls)
{
	for (int i = 0; i < ls->n; i++) {
		if (ls->l[i].fd >= 0)
			close(ls->l[i].fd);
		ls->l[i].fd = -1;
	}
}

void listen_set_describe(const struct listen_set *ls, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", ls->bound[i].text, ls->l[i].tls ? " (tls)" : "");
}

void listen_set_announce_rest(const struct listen_set *ls)
{
	char where[96];
	for (int i = 1; i < ls->n; i++) {
		listen_set_describe(ls, i, where, sizeof(where));
		herd_log("listening on %s", where);
	}
}
