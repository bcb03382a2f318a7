#include "net/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The options a listener passes on to the connections it accepts. */
static int set_conn_opts(int fd, const struct listen_opts *opts)
{
	/* No Nagle: an answer must not wait for the client's delayed ACK of
	 * what went before it (a TLS 1.3 ticket, a previous pipelined
	 * answer: 40 ms each).  Headers and a file body still leave
	 * together (MSG_MORE).  Accepted sockets inherit it. */
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -1;
	if (opts->defer_accept) {
		/* Seconds a silent connection may wait before it is queued anyway. */
		int secs = 10;
		if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)) < 0)
			return -1;
	}
	if (opts->user_timeout_ms) {
		unsigned ms = opts->user_timeout_ms;
		if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) < 0)
			return -1;
	}
	return 0;
}

int listen_open(const struct herd_addr *addr, const struct listen_opts *opts, char *err,
		size_t errlen)
{
	int one = 1;
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a socket for %s: %s", addr->text,
			 strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail_opt;
	if (opts->reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail_opt;
	if (set_conn_opts(fd, opts) < 0)
		goto fail_opt;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
		int e = errno;
		if (e == EADDRINUSE)
			snprintf(err, errlen, "cannot listen on %s: address already in use",
				 addr->text);
		else if (e == EACCES)
			snprintf(err, errlen, "cannot listen on %s: permission denied", addr->text);
		else
			snprintf(err, errlen, "cannot bind %s: %s", addr->text, strerror(e));
		close(fd);
		return -1;
	}
	if (listen(fd, opts->backlog) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;

fail_opt:
	snprintf(err, errlen, "cannot set socket options on %s: %s", addr->text, strerror(errno));
	close(fd);
	return -1;
}

void listen_describe(int fd, char *buf, size_t len)
{
	struct herd_addr a;
	socklen_t sl = sizeof(a.ss);
	if (getsockname(fd, (struct sockaddr *)&a.ss, &sl) < 0) {
		snprintf(buf, len, "?");
		return;
	}
	listen_describe_addr(&a, buf, len);
}

void listen_describe_addr(const struct herd_addr *a, char *buf, size_t len)
{
	const struct sockaddr_storage ss = a->ss;
	char host[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
}

int listen_somaxconn(void)
{
	FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
	int v = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

#define SD_LISTEN_FDS_START 3

bool listen_name_is_tls(const char *name, size_t len)
{
	return (len >= 3 && strncmp(name, "tls", 3) == 0) ||
	       (len >= 5 && strncmp(name, "https", 5) == 0);
}

static int adopt(int fd, const struct listen_opts *opts, char *err, size_t errlen)
{
	int type = 0, listening = 0;
	socklen_t sl = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &sl) < 0 || type != SOCK_STREAM ||
	    (sl = sizeof(listening), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &sl)) < 0 ||
	    !listening) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d is not a listening stream socket", fd);
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(err, errlen, "LISTEN_FDS: fd %d: %s", fd, strerror(errno));
		return -1;
	}
	(void)set_conn_opts(fd, opts); /* best effort on a socket made elsewhere */
	return 0;
}

int listen_from_systemd(const struct listen_opts *opts, struct herd_listener *out, int max,
			char *err, size_t errlen)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || atol(pid) != (long)getpid() || atoi(fds) < 1)
		return -1;
	int n = atoi(fds);
	/* Names are optional; a missing one means a plain socket. */
	char names_buf[512];
	const char *names = getenv("LISTEN_FDNAMES");
	snprintf(names_buf, sizeof(names_buf), "%s", names ? names : "");
	names = names_buf;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > max) {
		snprintf(err, errlen, "LISTEN_FDS=%d: at most %d listening sockets", n, max);
		return -2;
	}
	for (int i = 0; i < n; i++) {
		size_t len = strcspn(names, ":");
		out[i] = (struct herd_listener){.fd = SD_LISTEN_FDS_START + i,
						.tls = listen_name_is_tls(names, len)};
		names += len + (names[len] == ':');
		if (adopt(out[i].fd, opts, err, errlen) < 0)
			return -2;
	}
	return n;
}
