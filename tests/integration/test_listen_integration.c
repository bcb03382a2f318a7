/* Several listening sockets: every --listen answers in every accept mode
 * (the suite runs once per mode), with handler processes too, and socket
 * activation passes several sockets (LISTEN_FDS=2, LISTEN_FDNAMES). */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN "Hello, World!"

TestSuite(listen, .fini = harness_fini, .timeout = 30);

static struct herd srv;

static bool have_ipv6_loopback(void)
{
	int s = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

/* A few requests on fresh connections to host:port, each answered. */
static void assert_answers(const char *host, int port, int times)
{
	for (int i = 0; i < times; i++) {
		int fd = h_connect_host(host, port, 0);
		cr_assert(fd >= 0, "connect to %s port %d", host, port);
		struct h_conn c;
		h_conn_init(&c, fd);
		cr_assert_eq(h_send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
		struct h_resp r;
		int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS);
		cr_assert_eq(rc, H_OK, "%s port %d: %s", host, port, h_result_str(rc));
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(r.body, PLAIN);
		h_resp_free(&r);
		h_conn_close(&c);
	}
}

/* The ports of srv's "listening on" lines: n of them, all distinct. */
static void listening_ports(int *ports, int n)
{
	/* The further listeners' lines follow the first one's: wait for them. */
	int got = 0;
	for (int tries = 0; tries < 200 && (got = herd_ports(&srv, ports, n + 1)) < n; tries++)
		usleep(10000);
	char *text = got != n ? herd_stderr(&srv) : NULL;
	cr_assert_eq(got, n, "%d 'listening on' lines, want %d:\n%s", got, n, text);
	cr_assert_eq(ports[0], srv.port, "the first line is the first listener's");
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			cr_assert_neq(ports[i], ports[j], "listeners %d and %d share a port", i, j);
}

HTEST(listen, two_plain_listeners_answer)
{
	int ports[3];
	herd_start(&srv, "--workers", "2", "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0");
	listening_ports(ports, 2);
	/* Interleaved, so a worker stuck on one listener would show. */
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 2; i++)
			assert_answers("127.0.0.1", ports[i], 2);
}

HTEST(listen, ipv4_and_ipv6)
{
	if (!have_ipv6_loopback()) {
		harness_passed();
		cr_skip_test("::1 is not available");
	}
	int ports[4];
	herd_start(&srv, "--workers", "2", "--listen", "127.0.0.1:0", "--listen", "[::1]:0",
		   "--listen", "127.0.0.1:0");
	listening_ports(ports, 3);
	assert_answers("127.0.0.1", ports[0], 3);
	assert_answers("::1", ports[1], 3);
	assert_answers("127.0.0.1", ports[2], 3);
}

/* Handler processes inherit every listener. */
HTEST(listen, procs_two_listeners)
{
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && strcmp(mode, "reuseport") == 0) {
		harness_passed();
		cr_skip_test("--procs refuses --accept reuseport");
	}
	int ports[3];
	herd_start(&srv, "--procs", "2", "--workers", "2", "--cpus", "0,1", "--listen",
		   "127.0.0.1:0", "--listen", "127.0.0.1:0");
	listening_ports(ports, 2);
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 2; i++)
			assert_answers("127.0.0.1", ports[i], 2);
}

static int loopback_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static pid_t act_pid;
static int act_errfd = -1;

static void act_cleanup(void)
{
	if (act_pid > 0)
		h_child_kill(act_pid, NULL);
	act_pid = 0;
	if (act_errfd >= 0)
		close(act_errfd);
	act_errfd = -1;
}

/* Waits for both "passed by systemd" lines; the log so far in text. */
static void wait_adopted(char *text, size_t cap)
{
	long long deadline = h_now_ms() + 5000;
	for (;;) {
		ssize_t n = pread(act_errfd, text, cap - 1, 0);
		text[n > 0 ? n : 0] = 0;
		if (strstr(text, "(fd 3)") && strstr(text, "(fd 4)") &&
		    strstr(text, "listening on "))
			return;
		cr_assert(!h_child_exited(act_pid, 0, NULL), "socket-activated herd exited: %s",
			  text);
		cr_assert(h_now_ms() < deadline, "herd did not take both passed sockets: %s", text);
		h_sleep_ms(10);
	}
}

HTEST(listen, socket_activation_two_fds)
{
	const char *bin = getenv("HERD_BIN");
	cr_assert(bin && *bin, "HERD_BIN is not set");
	int port1, port2;
	int fd1 = loopback_listener(&port1), fd2 = loopback_listener(&port2);
	char errpath[] = "/tmp/herd-act2-XXXXXX";
	int wfd = mkstemp(errpath);
	cr_assert(wfd >= 0);
	act_errfd = open(errpath, O_RDONLY | O_CLOEXEC);
	unlink(errpath);
	/* reuseport needs sockets of its own, which activation cannot pass:
	 * that mode runs this test with the default accept mode. */
	const char *mode = getenv("HERD_ACCEPT");
	bool pass_mode = mode && *mode && strcmp(mode, "reuseport") != 0;
	/* --listen is ignored under activation: it must bind nothing. */
	const char *argv[] = {bin, "--workers", "2", "--listen", "127.0.0.1:0",
			      pass_mode ? "--accept" : NULL, mode, NULL};
	act_pid = h_spawn(argv, &(struct h_spawn_opts){H_SERVER, .out = wfd, .err = wfd,
						       .listen_fd = fd1, .listen_fd2 = fd2,
						       .listen_fdnames = "web:alt"});
	close(wfd);
	char text[8192];
	wait_adopted(text, sizeof(text));
	cr_assert(!strstr(text, "tls"), "plain names made a TLS listener: %s", text);
	for (int round = 0; round < 3; round++) {
		assert_answers("127.0.0.1", port1, 2);
		assert_answers("127.0.0.1", port2, 2);
	}
	char want[64];
	snprintf(want, sizeof(want), "listening on 127.0.0.1:%d ", port1);
	cr_assert(strstr(text, want), "no '%s' line: %s", want, text);
	snprintf(want, sizeof(want), "listening on 127.0.0.1:%d\n", port2);
	cr_assert(strstr(text, want), "no '%s' line: %s", want, text);
	kill(act_pid, SIGTERM);
	int st = 0;
	bool exited = h_child_wait(act_pid, 5000, &st);
	act_pid = 0;
	cr_assert(exited && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "socket-activated herd did not exit cleanly on SIGTERM (0x%x)", st);
	act_cleanup();
	close(fd1);
	close(fd2);
}

/* A passed fd that is no listening socket: refused with a reason, not half used. */
HTEST(listen, socket_activation_bad_second_fd)
{
	const char *bin = getenv("HERD_BIN");
	int port;
	int fd = loopback_listener(&port);
	char errpath[] = "/tmp/herd-act3-XXXXXX";
	int wfd = mkstemp(errpath);
	cr_assert(wfd >= 0);
	act_errfd = open(errpath, O_RDONLY | O_CLOEXEC);
	unlink(errpath);
	/* LISTEN_FDS counts 2 but fd 4 is no socket. */
	int notsock = open("/dev/null", O_RDONLY | O_CLOEXEC);
	const char *argv[] = {bin, "--workers", "1", NULL};
	act_pid = h_spawn(argv, &(struct h_spawn_opts){H_SERVER, .out = wfd, .err = wfd,
						       .listen_fd = fd, .listen_fd2 = notsock});
	close(wfd);
	int st = 0;
	cr_assert(h_child_wait(act_pid, 5000, &st), "herd kept running with a bad fd 4");
	act_pid = 0;
	char text[4096];
	ssize_t n = pread(act_errfd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "exit 0x%x: %s", st, text);
	cr_assert(strstr(text, "fd 4 is not a listening stream socket"), "%s", text);
	act_cleanup();
	close(notsock);
	close(fd);
}
