/* GET /health on the admin listener and --drain-delay: a balancer probing
 * /health sees 503 from the first SIGTERM, while herd keeps accepting for
 * the delay, then drains as without it. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define GET_PLAIN "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"

TestSuite(health, .fini = harness_fini, .timeout = 30);

static struct herd srv;

/* Status of `method path` on the admin port, or an h_read_result (< 0). */
static int admin_status(const char *method, const char *path)
{
	char req[256];
	struct h_resp r;
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, path);
	int rc = h_exchange(srv.admin_port, req, &r);
	if (rc != H_OK)
		return rc;
	int status = r.status;
	h_resp_free(&r);
	return status;
}

static void assert_exit_0(int within_ms, const char *what)
{
	cr_assert(herd_wait_exit(&srv, within_ms), "%s: still running after %d ms", what, within_ms);
	cr_assert(WIFEXITED(srv.status), "%s: killed by signal %d", what,
		  WIFSIGNALED(srv.status) ? WTERMSIG(srv.status) : -1);
	cr_assert_eq(WEXITSTATUS(srv.status), 0, "%s: exit status %d", what, WEXITSTATUS(srv.status));
}

/* A keep-alive connection that has completed one request. */
static void warm(struct h_conn *c)
{
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	h_conn_init(c, fd);
	cr_assert_eq(h_send_str(fd, GET_PLAIN), 0);
	struct h_resp r;
	int rc = h_read_response(c, &r, false, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	h_resp_free(&r);
}

/* Polls /health until it answers 503; returns ms since t0 (-1: never). */
static long long wait_503(long long t0, int within_ms)
{
	while (h_now_ms() - t0 < within_ms) {
		if (admin_status("GET", "/health") == 503)
			return h_now_ms() - t0;
		usleep(2000);
	}
	return -1;
}

HTEST(health, ok_while_serving)
{
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0");
	struct h_resp r;
	int rc = h_exchange(srv.admin_port, "GET /health HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok\n");
	h_resp_free(&r);
	cr_assert_eq(admin_status("HEAD", "/health"), 200);
	cr_assert_eq(admin_status("GET", "/health?probe=1"), 200);
	cr_assert_eq(admin_status("POST", "/health"), 405);
	/* Only the exact paths: anything else stays 404 as before. */
	cr_assert_eq(admin_status("GET", "/healthz"), 404);
	cr_assert_eq(admin_status("GET", "/health/x"), 404);
	cr_assert_eq(admin_status("GET", "/"), 404);
	cr_assert_eq(admin_status("GET", "/metrics"), 200);
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

/* The contract a balancer relies on: 503 at once, service unchanged for
 * the delay, then the drain as without a delay. */
HTEST(health, drain_delay_keeps_serving_then_drains)
{
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0", "--drain-delay", "1",
		   "--grace", "2");
	struct h_conn ka;
	warm(&ka);
	long long t0 = h_now_ms();
	herd_signal(&srv, SIGTERM);
	long long ms = wait_503(t0, 2000);
	cr_assert(ms >= 0, "/health never answered 503 after SIGTERM");
	cr_assert_leq(ms, 100, "/health turned 503 only after %lld ms", ms);
	/* Through the delay: new connections and the kept-alive one are served
	 * and the keep-alive one is not told to close. */
	while (h_now_ms() - t0 < 800) {
		h_assert_get(srv.port, "/plaintext", PLAIN);
		cr_assert_eq(h_send_str(ka.fd, GET_PLAIN), 0);
		struct h_resp r;
		int rc = h_read_response(&ka, &r, false, H_TIMEOUT_MS);
		cr_assert_eq(rc, H_OK, "keep-alive during the delay: %s", h_result_str(rc));
		const char *conn = h_header(&r, "Connection");
		cr_assert(!conn || strcasecmp(conn, "close") != 0,
			  "Connection: close during the drain delay at %lld ms", h_now_ms() - t0);
		h_resp_free(&r);
		cr_assert(herd_alive(&srv), "exited during the drain delay");
		usleep(100 * 1000);
	}
	/* Then the drain: the idle keep-alive connection is closed, the process
	 * exits 0, and nothing listens any more. */
	cr_assert_eq(h_conn_wait_eof(&ka, 4000), 1, "idle keep-alive connection not closed");
	h_conn_close(&ka);
	assert_exit_0(5000, "SIGTERM with --drain-delay 1");
	cr_assert_geq(h_now_ms() - t0, 900, "drained after %lld ms, before the delay",
		      h_now_ms() - t0);
	int fd = h_connect(srv.port);
	cr_assert_lt(fd, 0, "still accepting after the exit");
}

HTEST(health, second_signal_drains_at_once)
{
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0", "--drain-delay", "30");
	long long t0 = h_now_ms();
	herd_signal(&srv, SIGTERM);
	cr_assert_geq(wait_503(t0, 2000), 0, "/health never answered 503 after SIGTERM");
	h_assert_get(srv.port, "/plaintext", PLAIN);
	herd_signal(&srv, SIGINT);
	assert_exit_0(3000, "a second signal during --drain-delay 30");
}

/* Without --drain-delay SIGTERM drains at once, as it always did. */
HTEST(health, no_delay_unchanged)
{
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0");
	cr_assert_eq(admin_status("GET", "/health"), 200);
	long long t0 = h_now_ms();
	herd_signal(&srv, SIGTERM);
	assert_exit_0(5000, "SIGTERM");
	cr_assert_lt(h_now_ms() - t0, 900, "idle shutdown took %lld ms", h_now_ms() - t0);
}
