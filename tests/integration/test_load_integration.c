/*
 * herd-load end to end against a tiny server this file forks itself (the
 * herd server may not build yet): it counts requests, and herd-load's JSON
 * count must equal it.  The binary comes from $HERD_LOAD.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness_spawn.h"

#define MAXFD 4096
#define CBUF 8192

static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";
static const char response_close[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nHello, World!";

struct server {
	pid_t pid;
	int port;
	atomic_ulong *count; /* shared with the forked server */
};

struct cbuf {
	size_t len;
	char data[CBUF];
};

/* Answers every complete request head; blocking writes keep it simple. */
static bool serve_conn(int fd, struct cbuf *b, atomic_ulong *count)
{
	ssize_t n = read(fd, b->data + b->len, CBUF - b->len);
	if (n <= 0)
		return false;
	b->len += (size_t)n;
	size_t off = 0;
	char *end;
	while ((end = memmem(b->data + off, b->len - off, "\r\n\r\n", 4))) {
		size_t hlen = (size_t)(end + 4 - (b->data + off));
		bool close_it = memmem(b->data + off, hlen, "Connection: close", 17) != NULL;
		atomic_fetch_add(count, 1);
		const char *r = close_it ? response_close : response;
		size_t rl = strlen(r);
		if (send(fd, r, rl, MSG_NOSIGNAL) != (ssize_t)rl || close_it)
			return false;
		off += hlen;
	}
	memmove(b->data, b->data + off, b->len - off);
	b->len -= off;
	return b->len < CBUF;
}

/* Echo: writes back whatever arrives; `count` becomes a byte count. */
static bool echo_conn(int fd, struct cbuf *b, atomic_ulong *count)
{
	ssize_t n = read(fd, b->data, CBUF);
	if (n <= 0)
		return false;
	atomic_fetch_add(count, (unsigned long)n);
	return send(fd, b->data, (size_t)n, MSG_NOSIGNAL) == n;
}

static void server_main(int lfd, atomic_ulong *count, bool echo)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct cbuf *bufs = calloc(MAXFD, sizeof(*bufs));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
	if (!bufs || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		_exit(3);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int c;
				while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
					struct epoll_event cev = { .events = EPOLLIN, .data.fd = c };
					if (c >= MAXFD || epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev) < 0) {
						close(c);
						continue;
					}
					bufs[c].len = 0;
				}
				continue;
			}
			if (!(echo ? echo_conn : serve_conn)(fd, &bufs[fd], count))
				close(fd);
		}
	}
}

static struct server server_start(bool echo)
{
	struct server s = { 0 };
	s.count = mmap(NULL, sizeof(*s.count), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(s.count, MAP_FAILED);
	atomic_store(s.count, 0);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 1024), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	s.port = ntohs(a.sin_port);
	s.pid = fork();
	cr_assert_geq(s.pid, 0);
	if (s.pid == 0)
		server_main(lfd, s.count, echo);
	close(lfd);
	return s;
}

static void server_stop(struct server *s)
{
	h_child_kill(s->pid, NULL);
	munmap(s->count, sizeof(*s->count));
}

/* Runs herd-load with a hard time limit; returns its exit status. */
static int run_load(char *const argv[], int limit_s)
{
	pid_t pid = h_spawn((const char *const *)argv,
			    &(struct h_spawn_opts){ .out = H_DEVNULL, .err = H_DEVNULL });
	int st;
	if (!h_child_wait(pid, limit_s * 1000, &st))
		cr_assert_fail("herd-load did not finish within %d s", limit_s);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const char *load_bin(void)
{
	const char *bin = getenv("HERD_LOAD");
	if (!bin || !*bin)
		cr_skip_test("HERD_LOAD is not set");
	return bin;
}

/* Reads one top-level number from the JSON report. */
static double json_number(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	cr_assert(f, "no JSON report at %s", path);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char pat[64];
	snprintf(pat, sizeof(pat), "\n  \"%s\": ", key);
	char *p = strstr(buf, pat);
	cr_assert(p, "key %s missing in %s", key, buf);
	return strtod(p + strlen(pat), NULL);
}

static void tmp_json(char *path)
{
	strcpy(path, "/tmp/herd-load-test-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void count_matches(const char *mode_flag)
{
	const char *bin = load_bin();
	struct server s = server_start(false);
	char url[64], json[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	tmp_json(json);
	char *argv[] = { (char *)bin, "-n", "5000", "-c", "8", "-t", "2", "--json", json,
			 url, (char *)mode_flag, NULL };
	if (!mode_flag)
		argv[10] = NULL;
	cr_assert_eq(run_load(argv, 20), 0);
	double reported = json_number(json, "requests");
	cr_expect_eq(json_number(json, "errors"), 0);
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	cr_expect_eq((unsigned long)reported, 5000);
	cr_expect_eq((unsigned long)reported, atomic_load(s.count),
		     "herd-load %lu, server %lu", (unsigned long)reported, atomic_load(s.count));
	server_stop(&s);
	unlink(json);
}

Test(load_integration, keepalive_count_matches_server, .timeout = 30)
{
	count_matches(NULL);
}

Test(load_integration, close_mode_count_matches_server, .timeout = 30)
{
	count_matches("--close");
}

Test(load_integration, open_loop_rate_is_held, .timeout = 30)
{
	const char *bin = load_bin();
	struct server s = server_start(false);
	char url[64], json[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
	tmp_json(json);
	char *argv[] = { (char *)bin, "--rate", "2000", "-d", "3", "--json", json, url, NULL };
	cr_assert_eq(run_load(argv, 20), 0);
	double rps = json_number(json, "rps");
	cr_expect(rps >= 1900 && rps <= 2100, "rate 2000 req/s, achieved %.1f", rps);
	cr_expect_eq(json_number(json, "errors"), 0);
	server_stop(&s);
	unlink(json);
}

Test(load_integration, unreachable_target_exits_1, .timeout = 30)
{
	const char *bin = load_bin();
	/* a port that was free a moment ago and has no listener */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
	char *argv[] = { (char *)bin, "-d", "1", url, NULL };
	cr_expect_eq(run_load(argv, 20), 1);
	close(fd);
}

Test(load_integration, bad_arguments_exit_2, .timeout = 30)
{
	const char *bin = load_bin();
	char *argv[] = { (char *)bin, "-t", "zero", "http://127.0.0.1:1/", NULL };
	cr_expect_eq(run_load(argv, 20), 2);
	char *argv2[] = { (char *)bin, "http://127.0.0.1/", NULL };
	cr_expect_eq(run_load(argv2, 20), 2);
}

Test(load_integration, echo_count_and_bytes, .timeout = 30)
{
	const char *bin = load_bin();
	struct server s = server_start(true);
	char url[64], json[64];
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", s.port);
	tmp_json(json);
	char *argv[] = { (char *)bin, "-n", "3000", "-c", "4", "--pipeline", "4", "--payload",
			 "300", "--json", json, url, NULL };
	cr_assert_eq(run_load(argv, 20), 0);
	cr_expect_eq(json_number(json, "requests"), 3000);
	cr_expect_eq(json_number(json, "errors"), 0);
	cr_expect_eq(atomic_load(s.count), 3000ul * 300, "server echoed %lu bytes",
		     atomic_load(s.count));
	server_stop(&s);
	unlink(json);
}
