/* libherd's edge cases through real sockets, against tests/integration/
 * app_edge.c (one worker, so every connection shares it):
 *   notify_from_another_handler  a handler completes another connection's
 *                                deferred answer while its own pipelined
 *                                answers are being built: each client gets
 *                                its own bytes, in order
 *   notify_then_pipelined        the completed connection's pipelined
 *                                request is answered right after
 *   completed_within_handler     herd_defer + herd_complete before return
 *   handler_timeout              never completed: 504 after
 *                                --handler-timeout, then close
 *   notify_after_client_left     completing an orphaned answer only frees */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(app_edge, .fini = harness_fini, .timeout = 30);

static struct herd srv;

static struct h_conn conn(void)
{
	struct h_conn c;
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0, "connect: %s", strerror(errno));
	h_conn_init(&c, fd);
	return c;
}

static void expect(struct h_conn *c, int status, const char *body, const char *what)
{
	struct h_resp r;
	int rc = h_read_response(c, &r, false, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
	cr_assert_eq(r.status, status, "%s: status %d (body '%.60s')", what, r.status,
		     r.body ? r.body : "");
	if (body)
		cr_assert_str_eq(r.body, body, "%s", what);
	h_resp_free(&r);
}

/* Nothing arrives within ms. */
static void quiet(struct h_conn *c, int ms, const char *what)
{
	struct h_resp r;
	int rc = h_read_response(c, &r, false, ms);
	cr_assert_neq(rc, H_OK, "%s: an answer came: %d '%.60s'", what, r.status,
		      r.body ? r.body : "");
}

#define NOTIFY "POST /notify HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
#define WAIT "GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"
#define X "GET /x HTTP/1.1\r\nHost: t\r\n\r\n"

HTEST(app_edge, notify_from_another_handler)
{
	herd_start(&srv, "--workers", "1");
	struct h_conn a = conn(), b = conn();
	h_send_str(a.fd, WAIT);
	quiet(&a, 100, "waiting");
	/* B's /x answer is in the worker's buffer when /notify completes A's. */
	h_send_str(b.fd, X X NOTIFY X);
	expect(&b, 200, "x\n", "B's first /x");
	expect(&b, 200, "x\n", "B's second /x");
	expect(&b, 200, "notified 1\n", "B's notify");
	expect(&b, 200, "x\n", "B's /x after notify");
	expect(&a, 200, "notified\n", "A's wait");
	quiet(&a, 100, "A has nothing more");
	h_conn_close(&a);
	h_conn_close(&b);
}

HTEST(app_edge, notify_then_pipelined)
{
	herd_start(&srv, "--workers", "1");
	struct h_conn a = conn(), b = conn();
	h_send_str(a.fd, WAIT X WAIT);
	quiet(&a, 100, "waiting");
	h_send_str(b.fd, NOTIFY);
	expect(&b, 200, "notified 1\n", "first notify");
	expect(&a, 200, "notified\n", "A's first wait");
	expect(&a, 200, "x\n", "A's /x behind it");
	quiet(&a, 100, "A's second wait");
	h_send_str(b.fd, NOTIFY);
	expect(&b, 200, "notified 1\n", "second notify");
	expect(&a, 200, "notified\n", "A's second wait");
	h_conn_close(&a);
	h_conn_close(&b);
}

HTEST(app_edge, completed_within_handler)
{
	herd_start(&srv, "--workers", "1");
	struct h_conn a = conn();
	h_send_str(a.fd, "GET /now HTTP/1.1\r\nHost: t\r\n\r\n" X);
	expect(&a, 200, "now\n", "/now");
	expect(&a, 200, "x\n", "/x behind it");
	h_conn_close(&a);
}

HTEST(app_edge, handler_timeout)
{
	herd_start(&srv, "--workers", "1", "--handler-timeout", "0.3");
	struct h_conn a = conn();
	long long t0 = h_now_ms();
	h_send_str(a.fd, "GET /never HTTP/1.1\r\nHost: t\r\n\r\n" X);
	expect(&a, 504, NULL, "/never");
	long long dt = h_now_ms() - t0;
	cr_assert(dt >= 250 && dt < 3000, "504 after %lld ms", dt);
	cr_assert_eq(h_conn_wait_eof(&a, 2000), 1, "closed after the 504");
	h_conn_close(&a);
	/* The server goes on, and stops cleanly (the stop hook frees). */
	struct h_conn b = conn();
	h_send_str(b.fd, X);
	expect(&b, 200, "x\n", "after");
	h_conn_close(&b);
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 10000));
	cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0);
}

HTEST(app_edge, notify_after_client_left)
{
	herd_start(&srv, "--workers", "1");
	for (int i = 0; i < 4; i++) {
		struct h_conn a = conn();
		h_send_str(a.fd, WAIT);
		quiet(&a, 50, "waiting");
		if (i % 2)
			h_close_rst(a.fd);
		else
			close(a.fd);
		a.fd = -1;
		h_conn_close(&a);
	}
	usleep(100 * 1000);
	struct h_conn b = conn();
	h_send_str(b.fd, NOTIFY);
	expect(&b, 200, "notified 0\n", "nobody left to notify");
	h_conn_close(&b);
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 10000));
	cr_assert(WIFEXITED(srv.status) && WEXITSTATUS(srv.status) == 0);
}
