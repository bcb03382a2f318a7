/* The active health check (balance/proxy_health.c) against a tiny upstream
 * in a thread: the request it sends, up on 2xx, down on 5xx, a refused
 * port and silence, and a clean stop.  Plain C (no Criterion) so a tsan
 * build runs it under ThreadSanitizer, and an asan build checks the thread
 * leaks nothing. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "balance/proxy_health.h"
#include "core/upstream_state.h"

#include "plain_check.h"

/* What the fake upstream answers: 0 silence, else that status. */
static _Atomic int answer = 200;
static _Atomic int stop_server;
static _Atomic int bad_requests, requests;
static char want[256];

static void *serve(void *arg)
{
	int lfd = *(int *)arg;
	while (!atomic_load(&stop_server)) {
		struct pollfd p = {.fd = lfd, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		char buf[1024];
		size_t got = 0;
		ssize_t n;
		while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
			got += (size_t)n;
			buf[got] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		buf[got] = 0;
		if (!got) {
			/* A probe abandoned before it wrote (the prober stopping
			 * mid-round, or its timeout under load): no request. */
			close(fd);
			continue;
		}
		atomic_fetch_add(&requests, 1);
		if (strcmp(buf, want) != 0)
			atomic_fetch_add(&bad_requests, 1);
		int status = atomic_load(&answer);
		if (status) {
			char resp[128];
			int len = snprintf(resp, sizeof(resp),
					   "HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", status);
			if (write(fd, resp, (size_t)len) < 0)
				perror("write");
		} else {
			usleep(300 * 1000); /* longer than the probe's timeout */
		}
		close(fd);
	}
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Waits up to 3 s for entry i's active_down to be `down`. */
static bool wait_for(struct upstream_shared *u, int i, int down)
{
	for (int t = 0; t < 300; t++) {
		if (atomic_load(&u[i].active_down) == down)
			return true;
		sleep_ms(10);
	}
	return false;
}

int main(void)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 16) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0) {
		perror("listen");
		return 1;
	}
	/* A port nobody listens on: bound, never listened to. */
	int dead = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in d = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	len = sizeof(d);
	if (dead < 0 || bind(dead, (struct sockaddr *)&d, sizeof(d)) < 0 ||
	    getsockname(dead, (struct sockaddr *)&d, &len) < 0) {
		perror("bind");
		return 1;
	}
	int port = ntohs(a.sin_port), dport = ntohs(d.sin_port);
	snprintf(want, sizeof(want),
		 "GET /hc?x=1 HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n"
		 "User-Agent: herd-health\r\n\r\n",
		 port);

	static struct herd_config cfg;
	char spec[128], err[256];
	snprintf(spec, sizeof(spec), "/a/=http://localhost:%d,http://127.0.0.1:%d", port, dport);
	CHECK(upstream_table_add(&cfg.proxy, spec, false, err, sizeof(err)) == 0, "%s", err);
	snprintf(spec, sizeof(spec), "/b/=http://localhost:%d", port);
	CHECK(upstream_table_add(&cfg.proxy, spec, true, err, sizeof(err)) == 0, "%s", err);
	cfg.proxy_health = "/hc?x=1";
	cfg.proxy_health_interval_s = 0.1;

	struct upstream_shared *u = NULL;
	if (posix_memalign((void **)&u, 128, upstream_shared_size()) != 0)
		return 1;
	memset(u, 0, upstream_shared_size());
	upstream_shared_init(u, &cfg.proxy);

	pthread_t srv;
	pthread_create(&srv, NULL, serve, &lfd);

	/* No --proxy-health: no thread. */
	struct proxy_health h;
	struct herd_config off = cfg;
	off.proxy_health = NULL;
	CHECK(proxy_health_start(&h, &off, u) == 0 && !h.on, "no checks without a path");
	proxy_health_stop(&h);

	CHECK(proxy_health_start(&h, &cfg, u) == 0 && h.on, "started");
	CHECK(wait_for(u, 1, 1), "a refused port goes down");
	sleep_ms(350);
	CHECK(atomic_load(&u[0].active_down) == 0, "2xx is up");
	CHECK(atomic_load(&u[2].active_down) == 0, "the same URL in another route: up too");
	CHECK(atomic_load(&requests) >= 2, "probed %d times", atomic_load(&requests));

	atomic_store(&answer, 503);
	CHECK(wait_for(u, 0, 1), "5xx is down");
	CHECK(wait_for(u, 2, 1), "both entries of one URL follow one probe");
	atomic_store(&answer, 302);
	CHECK(wait_for(u, 0, 0), "3xx is up");
	atomic_store(&answer, 0);
	CHECK(wait_for(u, 0, 1), "silence past the timeout is down");
	atomic_store(&answer, 204);
	CHECK(wait_for(u, 0, 0), "back up");
	CHECK(upstream_usable(&u[0], 0), "usable");
	CHECK(!upstream_usable(&u[1], 0), "not usable while active-down");

	proxy_health_stop(&h);
	CHECK(!h.on && h.wake_fd == -1, "stopped");
	proxy_health_stop(&h); /* twice is harmless */
	int before = atomic_load(&requests);
	sleep_ms(300);
	CHECK(atomic_load(&requests) == before, "no probes after the stop");
	CHECK(atomic_load(&bad_requests) == 0, "%d requests not as expected:\n%s",
	      atomic_load(&bad_requests), want);

	atomic_store(&stop_server, 1);
	pthread_join(srv, NULL);
	close(lfd);
	close(dead);
	free(u);
	printf("%d checks, %d failed\n", checks, failures);
	return failures != 0;
}
