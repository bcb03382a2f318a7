/* Signals and shutdown: SIGTERM/SIGINT drain and exit 0, SIGPIPE never
 * kills, SIGUSR1 dumps counters. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN "Hello, World!"
#define GET_PLAIN "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"

TestSuite(lifecycle, .fini = harness_fini, .timeout = 20);

static struct herd srv;

static void start(void)
{
	herd_start(&srv, "--workers", "2", "--grace", "2");
}

static void assert_exit_0(int within_ms, const char *what)
{
	cr_assert(herd_wait_exit(&srv, within_ms), "%s: still running after %d ms", what, within_ms);
	cr_assert(WIFEXITED(srv.status), "%s: killed by signal %d", what,
		  WIFSIGNALED(srv.status) ? WTERMSIG(srv.status) : -1);
	cr_assert_eq(WEXITSTATUS(srv.status), 0, "%s: exit status %d", what, WEXITSTATUS(srv.status));
}

/* A keep-alive connection that has completed one request. */
static struct h_conn warm_conn(void)
{
	struct h_conn c;
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	h_conn_init(&c, fd);
	cr_assert_eq(h_send_str(fd, GET_PLAIN), 0);
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_str_eq(r.body, PLAIN);
	h_resp_free(&r);
	return c;
}

HTEST(lifecycle, sigterm_exits_0)
{
	start();
	h_assert_get(srv.port, "/plaintext", PLAIN);
	long long t0 = h_now_ms();
	herd_signal(&srv, SIGTERM);
	assert_exit_0(5000, "SIGTERM");
	/* Nothing is open, so there is nothing to wait the grace period for. */
	cr_assert_lt(h_now_ms() - t0, 2500, "idle shutdown took %lld ms", h_now_ms() - t0);
}

HTEST(lifecycle, sigint_exits_0)
{
	start();
	h_assert_get(srv.port, "/json", "{\"message\":\"Hello, World!\"}");
	herd_signal(&srv, SIGINT);
	assert_exit_0(5000, "SIGINT");
}

HTEST(lifecycle, sigterm_closes_idle_keepalive)
{
	start();
	struct h_conn c = warm_conn();
	herd_signal(&srv, SIGTERM);
	cr_assert_eq(h_conn_wait_eof(&c, 4000), 1, "idle keep-alive connection not closed by SIGTERM");
	assert_exit_0(5000, "SIGTERM with an idle connection");
	h_conn_close(&c);
}

/* A client closing just as SIGTERM arrives: once it is gone nothing is open,
 * so the server must exit at once, not wait out the grace period (a stale
 * event for an already-closed connection would be counted as a second
 * close and leave the worker waiting for a connection that does not exist). */
HTEST(lifecycle, sigterm_races_client_close, .timeout = 60)
{
	for (int i = 0; i < 50; i++) {
		herd_start(&srv, "--workers", "1", "--grace", "3");
		struct h_conn c = warm_conn();
		long long t0 = h_now_ms();
		if (i % 2) { /* both orders: the FIN and the stop must meet in one epoll batch */
			h_conn_close(&c);
			herd_signal(&srv, SIGTERM);
		} else {
			herd_signal(&srv, SIGTERM);
			h_conn_close(&c);
		}
		assert_exit_0(5000, "SIGTERM right after a client closed");
		long long ms = h_now_ms() - t0;
		cr_assert_lt(ms, 2000, "iteration %d: exit took %lld ms with no connection open "
				       "(grace 3 s)", i, ms);
		herd_release(&srv);
	}
}

/* A request that races with shutdown gets a whole response and then a clean
 * close, or just the clean close; never a truncated response.  A worker that
 * read the request before it saw the stop answers it as keep-alive and closes
 * the connection as idle right after: the signal and the request race, and
 * no server can order them, so the Connection header is not asserted. */
HTEST(lifecycle, sigterm_request_in_flight)
{
	start();
	struct h_conn c[8];
	for (int i = 0; i < 8; i++)
		c[i] = warm_conn();
	herd_signal(&srv, SIGTERM);
	for (int i = 0; i < 8; i++)
		h_send_str(c[i].fd, GET_PLAIN); /* may fail: already closed */
	int answered = 0;
	for (int i = 0; i < 8; i++) {
		struct h_resp r;
		int rc = h_read_response(&c[i], &r, false, 4000);
		cr_assert(rc == H_OK || rc == H_EOF, "conn %d: %s (want a response or EOF)", i,
			  h_result_str(rc));
		if (rc == H_OK) {
			answered++;
			cr_assert_eq(r.status, 200);
			cr_assert_str_eq(r.body, PLAIN);
			cr_assert_eq(h_conn_wait_eof(&c[i], 4000), 1, "not closed after the response");
		}
		h_resp_free(&r);
		h_conn_close(&c[i]);
	}
	assert_exit_0(5000, "SIGTERM with requests in flight");
	cr_log_info("%d of 8 in-flight requests answered", answered);
}

/* Pipelined requests followed at once by an RST: the server's writes hit a
 * reset socket.  Without SIGPIPE ignored / MSG_NOSIGNAL this kills it. */
HTEST(lifecycle, sigpipe_does_not_kill)
{
	start();
	char reqs[16 * sizeof(GET_PLAIN)] = "";
	for (int i = 0; i < 16; i++)
		strcat(reqs, GET_PLAIN);
	for (int i = 0; i < 60; i++) {
		int fd = h_connect_host("127.0.0.1", srv.port, 2048);
		cr_assert(fd >= 0, "connect #%d (server status 0x%x)", i, srv.status);
		h_send_str(fd, reqs);
		if (i % 3 == 1)
			h_sleep_ms(1);
		if (i % 3 == 2)
			h_send_str(fd, reqs); /* more work queued behind a full buffer */
		h_close_rst(fd);
	}
	h_sleep_ms(200);
	cr_assert(herd_alive(&srv), "server died: %s %d",
		  WIFSIGNALED(srv.status) ? "signal" : "exit",
		  WIFSIGNALED(srv.status) ? WTERMSIG(srv.status) : WEXITSTATUS(srv.status));
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

/* Plain close() with responses unread also makes the kernel send an RST. */
HTEST(lifecycle, client_close_with_unread_responses)
{
	start();
	for (int i = 0; i < 30; i++) {
		int fd = h_connect(srv.port);
		cr_assert(fd >= 0);
		for (int j = 0; j < 8; j++)
			h_send_str(fd, GET_PLAIN);
		close(fd);
	}
	h_sleep_ms(100);
	cr_assert(herd_alive(&srv), "server died (status 0x%x)", srv.status);
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

HTEST(lifecycle, sigusr1_dumps_counters)
{
	start();
	h_assert_get(srv.port, "/plaintext", PLAIN);
	char *before = herd_stderr(&srv);
	size_t before_len = strlen(before);
	herd_signal(&srv, SIGUSR1);
	long long deadline = h_now_ms() + 3000;
	bool found = false;
	while (!found && h_now_ms() < deadline) {
		h_sleep_ms(20);
		char *now = herd_stderr(&srv);
		found = strlen(now) > before_len && strstr(now + before_len, "accepted");
		free(now);
	}
	free(before);
	cr_assert(found, "no counters dump containing 'accepted' on stderr after SIGUSR1");
	cr_assert(herd_alive(&srv), "SIGUSR1 killed the server");
	h_assert_get(srv.port, "/plaintext", PLAIN);
	herd_signal(&srv, SIGTERM);
	assert_exit_0(5000, "SIGTERM after SIGUSR1");
}
