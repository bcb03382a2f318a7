/* What the two bare responders (epoll.c, uring.c) share: the listener, the
 * signals they stop on, the fixed answer with its Date, and the request
 * "parser" (counting "\r\n\r\n").  They are the floor herd's per-request
 * cost is compared against (issue 19, bench/README.md): the least a server
 * does per keep-alive request, so everything here is as naive as it can be
 * while still answering herd-load correctly. */
#ifndef HERD_BARE_H
#define HERD_BARE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One answer: 129 bytes, the Date (29 characters, RFC 9110 IMF-fixdate) at
 * a fixed offset so that it can be rewritten in place. */
#define BARE_HEAD "HTTP/1.1 200 OK\r\nServer: bare\r\nDate: "
#define BARE_TAIL "\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
#define BARE_DATE_LEN 29
#define BARE_RESP_LEN (sizeof(BARE_HEAD) - 1 + BARE_DATE_LEN + sizeof(BARE_TAIL) - 1)

struct bare_resp {
	char text[BARE_RESP_LEN + 1]; /* +1: strftime's terminating NUL */
	time_t sec;                   /* the second the Date shows */
};

__attribute__((noreturn)) static inline void bare_die(const char *what)
{
	perror(what);
	exit(1);
}

/* For liburing's -errno returns. */
__attribute__((noreturn)) static inline void bare_die_rc(int rc, const char *what)
{
	errno = -rc;
	bare_die(what);
}

/* Rewrites the Date when the second changed; true when it did.  Called
 * once per loop turn, after the wait: no timer, and an answer never shows a
 * stale second (the coarse clock is a vDSO read, no syscall). */
static inline bool bare_date(struct bare_resp *r)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec == r->sec)
		return false;
	char *d = r->text + sizeof(BARE_HEAD) - 1;
	r->sec = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &tm);
	strftime(d, BARE_DATE_LEN + 1, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	/* The fixed parts around it (again: strftime's NUL landed on the tail). */
	memcpy(r->text, BARE_HEAD, sizeof(BARE_HEAD) - 1);
	memcpy(d + BARE_DATE_LEN, BARE_TAIL, sizeof(BARE_TAIL) - 1);
	return true;
}

/* Complete requests in one read: its "\r\n\r\n"s.  A terminator split
 * across two reads is missed (its client would wait forever); herd-load and
 * curl write each request, or each pipelined batch, with one send, which a
 * loopback read takes whole.  *close: some request asked for
 * "Connection: close" (exact case, as herd-load and curl write it). */
static inline unsigned bare_count(const char *p, size_t n, bool *close)
{
	unsigned k = 0;
	const char *end = p + n, *q = p;
	while ((q = memmem(q, (size_t)(end - q), "\r\n\r\n", 4))) {
		k++;
		q += 4;
	}
	*close = memmem(p, n, "Connection: close", 17) != NULL;
	return k;
}

/* The listener on 127.0.0.1:PORT (argv[1]; 0: any), non-blocking.
 * TCP_NODELAY as herd sets it: on the listener, which every accepted socket
 * inherits (an answer must not wait for the client's delayed ACK), so no
 * setsockopt per connection. */
static inline int bare_listen(int argc, char **argv, unsigned *port)
{
	char *end;
	unsigned long p = argc == 2 ? strtoul(argv[1], &end, 10) : 65536;
	if (argc != 2 || !*argv[1] || *end || p > 65535) {
		fprintf(stderr, "usage: %s PORT   (0: any free port)\n", argv[0]);
		exit(2);
	}
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		bare_die("socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		bare_die("bind/listen 127.0.0.1");
	*port = ntohs(sa.sin_port);
	return fd;
}

/* SIGTERM and SIGINT as a descriptor the loop waits on with its sockets: no
 * handler, no flag to check, no race with the wait.  SIGPIPE cannot happen
 * (MSG_NOSIGNAL). */
static inline int bare_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		bare_die("sigprocmask");
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		bare_die("signalfd");
	return fd;
}

/* Once everything is set up: what bench/profile (and a person) waits for. */
static inline void bare_ready(unsigned port)
{
	printf("listening on 127.0.0.1:%u\n", port);
	fflush(stdout);
}

#endif
