/* herd-bare-epoll: the least an epoll server does per keep-alive request,
 * the floor herd is measured against (issue 19; bench/README.md, "Bare
 * responders").  One thread, one epoll set:
 *   - the listener level-triggered: a wake-up that accepted less than the
 *     backlog simply comes again, and accept4 runs until EAGAIN;
 *   - each connection EPOLLIN, level-triggered, registered once: no
 *     epoll_ctl per request, and no EPOLLOUT ever (see serve());
 *   - per readable connection one recv into a 4 KiB stack buffer, one
 *     answer per "\r\n\r\n" in it, all answers in one send.
 * No connection state, no timers, no parser: what herd does beyond this is
 * what its figures above this floor pay for.
 *
 *   herd-bare-epoll PORT     (0: any; prints "listening on 127.0.0.1:PORT")
 */
#include <sys/epoll.h>

#include "bare.h"

/* The answers of one read: BATCH copies of the answer laid end to end,
 * rebuilt when the Date changes, so a read with k requests is one send of
 * k * BARE_RESP_LEN bytes from here, with no copy per request.  16
 * pipelined requests (herd-load --pipeline 16) fit many times over. */
#define BATCH 64
static char batch[BATCH * BARE_RESP_LEN];
static struct bare_resp resp;

static void refresh(void)
{
	if (!bare_date(&resp))
		return;
	for (unsigned i = 0; i < BATCH; i++)
		memcpy(batch + (size_t)i * BARE_RESP_LEN, resp.text, BARE_RESP_LEN);
}

/* One readable connection.  A send that does not take everything closes
 * the connection: the clients this serves read each answer before asking
 * again, so ~129-byte answers never fill a socket's buffer; a client that
 * stops reading is not worth the EPOLLOUT bookkeeping of a bare
 * responder. */
static void serve(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return; /* spurious wake-up: level-triggered, it comes again */
	if (n <= 0) {
		close(fd); /* EOF or error; close() also leaves the epoll set */
		return;
	}
	bool close_after;
	unsigned k = bare_count(buf, (size_t)n, &close_after);
	while (k) {
		unsigned now = k < BATCH ? k : BATCH;
		size_t len = (size_t)now * BARE_RESP_LEN;
		if (send(fd, batch, len, MSG_NOSIGNAL) != (ssize_t)len) {
			close(fd);
			return;
		}
		k -= now;
	}
	if (close_after)
		close(fd); /* after its answer: the FIN follows the data */
}

/* Every connection waiting in the backlog, until EAGAIN. */
static void accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				perror("accept4"); /* EMFILE: the next wake-up tries again */
			return;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("epoll_ctl");
			close(fd);
		}
	}
}

int main(int argc, char **argv)
{
	unsigned port;
	int lfd = bare_listen(argc, argv, &port);
	int sfd = bare_signals();
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		bare_die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		bare_die("epoll_ctl");
	ev.data.fd = sfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
		bare_die("epoll_ctl");
	refresh();
	bare_ready(port);

	struct epoll_event evs[256];
	for (bool stop = false; !stop;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bare_die("epoll_wait");
		}
		refresh();
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd)
				accept_all(ep, lfd);
			else if (fd == sfd)
				stop = true; /* SIGTERM/SIGINT: this turn's work, then out */
			else
				serve(fd);
		}
	}
	/* Open connections go with the process; what matters is the exit
	 * status and that the port is free again. */
	close(lfd);
	return 0;
}
