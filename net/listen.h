/* Listening sockets. */
#ifndef HERD_LISTEN_H
#define HERD_LISTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* An address to listen on. */
struct herd_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64]; /* as the user wrote it, for messages */
};

/* An open listening socket, and whether its connections speak TLS from
 * the first byte. */
struct herd_listener {
	int fd;
	bool tls;
};

struct listen_opts {
	int backlog;
	/* Let the kernel queue a connection for accept only once its first
	 * bytes arrived, so the read right after accept finds the request
	 * (saves one wake-up per connection).  Only for protocols where the
	 * client speaks first. */
	bool defer_accept;
	/* SO_REUSEPORT: several sockets on one port, the kernel spreads
	 * connections over them. */
	bool reuseport;
	/* TCP_USER_TIMEOUT, inherited by every accepted connection: the kernel
	 * aborts a connection whose sent bytes (or zero-window probes) went
	 * unacknowledged this long, so a client that stops reading is closed
	 * even when everything we answered waits in the kernel's send queue,
	 * not in ours.  0: the kernel's default. */
	unsigned user_timeout_ms;
};

/* socket+bind+listen, non-blocking and close-on-exec.  Returns the fd, or
 * -1 with a one-line reason in err. */
int listen_open(const struct herd_addr *addr, const struct listen_opts *opts, char *err,
		size_t errlen);

/* systemd socket activation: the LISTEN_FDS listening sockets passed from
 * fd 3 on when LISTEN_PID is this process (the variables are then removed,
 * so children do not take them for theirs).  A socket whose name in
 * LISTEN_FDNAMES (colon-separated, in fd order) starts with "tls" or
 * "https" is a TLS listener.  Each is made non-blocking and close-on-exec,
 * with opts' connection options applied.  Fills out[] and returns how many
 * (at most max), -1 when nothing was passed, -2 with a reason in err when
 * what was passed is not that. */
int listen_from_systemd(const struct listen_opts *opts, struct herd_listener *out, int max,
			char *err, size_t errlen);
/* Whether a LISTEN_FDNAMES name marks a TLS socket. */
bool listen_name_is_tls(const char *name, size_t len);

/* "127.0.0.1:PORT" / "[::1]:PORT" of the bound socket (ephemeral port
 * resolved). */
void listen_describe(int fd, char *buf, size_t len);

/* The same for an address (port included). */
void listen_describe_addr(const struct herd_addr *a, char *buf, size_t len);

/* net.core.somaxconn, or -1 when unreadable. */
int listen_somaxconn(void);

#endif
