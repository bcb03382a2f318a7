/* libherd through real sockets: the example application (tests/example/app.c)
 * is the server ($HERD_BIN), run in every accept mode like the herd binary.
 * The app's own flags (--greeting, --file, --allow-crash) go with herd's on
 * its command line: herd_parse_args() leaves them to the app.
 *
 *   cli                  app flags after herd's; unknown ones exit 2; --help
 *   routes               exact and prefix routes, HEAD, 404, 405 with Allow
 *   prefix_and_exact_share_a_path  GET /api/ and DELETE /api/items on /api/items
 *   greet                the query and a request header; --greeting
 *   echo_bodies          Content-Length (small, 512 KiB) and chunked bodies,
 *                        100-continue, byte-exact, the connection reused
 *   max_body             over --max-body: 413 and close, the handler not called
 *   file                 herd_res_file: byte-exact, HEAD, 404 once it is gone
 *   pipelining           /hello, /slow (deferred), /echo in one write: in order;
 *                        many keep-alive requests on one connection
 *   deferred             /slow answers after its job thread's 50 ms, on its
 *                        worker, without blocking that worker's other clients
 *   deferred_concurrent  20 at once
 *   deferred_client_gone clients that leave while /slow is pending: orphaned
 *                        responses freed, the server serves on and exits 0
 *   worker_hooks         start/stop once per worker, per-worker state
 *   hooks_follow_scaling a worker the supervisor adds and retires starts and stops
 *   crash_isolation      --procs 2: /crash kills one handler process, the other
 *                        serves throughout, the slot restarts
 *   log_and_metrics      the access log and herd_requests_total see handler answers
 *
 * In the run with HERD_EXTRA_ARGS='--procs 2 --workers 4 ...' every server
 * has 2 processes of 2 workers: the tests that count workers allow for it. */
#include "app_suite.h"

TestSuite(app, .init = no_cores, .fini = harness_fini, .timeout = 30);

/* ---- tests ---- */

HTEST(app, cli)
{
	char *out, *err;
	int st = herd_run((const char *const[]){"--workers", "1", "--bogus", NULL}, 5000, &out,
			  &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2, "--bogus: status 0x%x", st);
	cr_assert(strstr(err, "unknown argument '--bogus'"), "--bogus: stderr: %s", err);
	free(out);
	free(err);
	st = herd_run((const char *const[]){"--workers", "zero", NULL}, 5000, &out, &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 2,
		  "--workers zero: status 0x%x, stderr %s", st, err);
	free(out);
	free(err);
	st = herd_run((const char *const[]){"--help", NULL}, 5000, &out, &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "--help: status 0x%x", st);
	cr_assert(strstr(out, "--workers") && strstr(out, "--greeting"), "--help: %s", out);
	free(out);
	free(err);
}

HTEST(app, routes)
{
	herd_start(&srv, "--workers", "2");
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, false, 200, "GET /hello");
	cr_assert_str_eq(r.body, HELLO);
	cr_assert(r.has_length && r.content_length == strlen(HELLO));
	const char *ct = h_header(&r, "Content-Type"), *server = h_header(&r, "Server");
	cr_assert(ct && !strcmp(ct, "text/plain"), "Content-Type: %s", ct ? ct : "(none)");
	cr_assert(server && !strcmp(server, "herd"), "Server: %s", server ? server : "(none)");
	cr_assert(h_header(&r, "Date"), "no Date");
	h_resp_free(&r);
	/* HEAD: GET's length, no body: the next response must follow at once. */
	send_req(&c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, true, 200, "HEAD /hello");
	cr_assert(r.has_length && r.content_length == strlen(HELLO), "HEAD Content-Length");
	h_resp_free(&r);
	send_req(&c, "HEAD /api/x HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, true, 200, "HEAD /api/x (a GET prefix route)");
	cr_assert(r.has_length && r.content_length == strlen("{\"path\":\"/api/x\"}\n"));
	h_resp_free(&r);
	/* The prefix route: anything under /api/, the path without the query. */
	send_req(&c, "GET /api/things HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, "{\"path\":\"/api/things\"}\n", "application/json", "GET /api/things");
	send_req(&c, "GET /api/a/b?x=1&y=2 HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, "{\"path\":\"/api/a/b\"}\n", "application/json", "GET /api/a/b?x=1");
	send_req(&c, "GET /api/a\"b\\c HTTP/1.1\r\nHost: t\r\n\r\n"); /* herd passes both */
	expect_text(&c, 200, "{\"path\":\"/api/a\\\"b\\\\c\"}\n", NULL, "GET /api/a\"b\\c");
	send_req(&c, "GET /api/ HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, "{\"path\":\"/api/\"}\n", NULL, "GET /api/");
	/* No route: 404, and the connection stays usable. */
	static const char *const missing[] = {"/nope", "/hello/", "/hell", "/Hello", "/api",
					      "/apix", "/crash", "/file", "/"};
	for (size_t i = 0; i < sizeof(missing) / sizeof(*missing); i++) {
		char req[128];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", missing[i]);
		send_req(&c, req);
		expect(&c, &r, false, 404, req);
		h_resp_free(&r);
	}
	send_req(&c, "GET /hello?x HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, HELLO, NULL, "GET /hello?x (exact routes ignore the query)");
	h_conn_close(&c);

	/* Routes for the path, none for the method: 405, Allow names theirs. */
	expect_405("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
		   (const char *const[]){"GET", "HEAD", NULL});
	expect_405("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", (const char *const[]){"POST", NULL});
	expect_405("DELETE /api/other HTTP/1.1\r\nHost: t\r\n\r\n",
		   (const char *const[]){"GET", "HEAD", NULL});
}

/* GET /api/ (prefix) and DELETE /api/items (exact) both match /api/items:
 * each takes its method there, and the 405 of a third names both. */
HTEST(app, prefix_and_exact_share_a_path)
{
	herd_start(&srv, "--workers", "2");
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "DELETE /api/items HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, false, 204, "DELETE /api/items");
	h_resp_free(&r);
	send_req(&c, "GET /api/items HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, "{\"path\":\"/api/items\"}\n", "application/json",
		    "GET /api/items (the GET /api/ prefix route; DELETE /api/items is exact)");
	h_conn_close(&c);
	expect_405("PUT /api/items HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi",
		   (const char *const[]){"GET", "HEAD", "DELETE", NULL});
}

HTEST(app, greet)
{
	herd_start(&srv, "--workers", "2");
	struct h_conn c = open_conn();
	static const struct {
		const char *target, *lang, *body;
		int status;
	} cases[] = {
		{"/greet?name=Ann", NULL, "Hello, Ann!\n", 200},
		{"/greet?x=1&name=Bob&y=2", NULL, "Hello, Bob!\n", 200},
		{"/greet?name=Ann", "fr-CH, fr;q=0.9, en;q=0.8", "Bonjour, Ann!\n", 200},
		{"/greet?name=Ann", "de-DE", "Hello, Ann!\n", 200},
		{"/greet?name=Eve&name=Mallory", NULL, "Hello, Eve!\n", 200},
		{"/greet", NULL, "missing ?name=\n", 400},
		{"/greet?", NULL, "missing ?name=\n", 400},
		{"/greet?name=", NULL, "missing ?name=\n", 400},
		{"/greet?surname=Ann", NULL, "missing ?name=\n", 400},
		{"/greet?nam=Ann", "fr", "missing ?name=\n", 400},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char req[256], what[160];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n%s%s%s\r\n", cases[i].target,
			 cases[i].lang ? "Accept-Language: " : "", cases[i].lang ? cases[i].lang : "",
			 cases[i].lang ? "\r\n" : "");
		snprintf(what, sizeof(what), "GET %s (Accept-Language %s)", cases[i].target,
			 cases[i].lang ? cases[i].lang : "none");
		send_req(&c, req);
		expect_text(&c, cases[i].status, cases[i].body, "text/plain", what);
	}
	h_conn_close(&c);
	/* The app's own flag, left by herd_parse_args among herd's. */
	herd_release(&srv);
	herd_start(&srv, "--greeting", "Howdy", "--workers", "1");
	exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, "Howdy, world!\n");
	exchange("GET /greet?name=Zed HTTP/1.1\r\nHost: t\r\n\r\n", 200, "Howdy, Zed!\n");
}

HTEST(app, echo_bodies)
{
	herd_start(&srv, "--workers", "2");
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x-demo; a=b\r\n"
		     "Content-Length: 11\r\n\r\nhello world");
	expect_text(&c, 200, "hello world", "text/x-demo; a=b", "POST /echo, 11 bytes");
	send_req(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
	expect(&c, &r, false, 200, "POST /echo, empty");
	cr_assert(r.has_length && r.content_length == 0, "empty echo: Content-Length %zu",
		  r.content_length);
	const char *ct = h_header(&r, "Content-Type");
	cr_assert(ct && !strcmp(ct, "application/octet-stream"), "Content-Type %s",
		  ct ? ct : "(none)");
	h_resp_free(&r);

	/* 512 KiB with Content-Length, on the same connection. */
	enum { BIG = 512 * 1024 };
	static unsigned char big[BIG];
	fill(big, BIG, 7);
	char head[160];
	snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n",
		 BIG);
	send_req(&c, head);
	send_all(&c, big, BIG);
	expect(&c, &r, false, 200, "POST /echo, 512 KiB");
	assert_bytes(&r, big, BIG, "512 KiB echo");
	h_resp_free(&r);

	/* Chunked: chunks of odd sizes, each its own write, 100 KiB in all. */
	static const size_t sizes[] = {1, 0x10, 1000, 4096, 7, 50000, 47286, 0};
	static char enc[BIG];
	size_t total = 0;
	for (const size_t *s = sizes; *s; s++)
		total += *s;
	cr_assert_eq(total, 102406);
	fill(big, total, 99);
	size_t len = chunked(enc, big, sizes);
	send_req(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
		     "Content-Type: application/x-chunks\r\n\r\n");
	for (size_t at = 0, step = 997; at < len; at += step) {
		send_all(&c, enc + at, at + step < len ? step : len - at);
		if (at < 8000)
			h_sleep_ms(2); /* the first pieces in separate reads */
	}
	expect(&c, &r, false, 200, "POST /echo, chunked");
	assert_bytes(&r, big, total, "chunked echo");
	ct = h_header(&r, "Content-Type");
	cr_assert(ct && !strcmp(ct, "application/x-chunks"), "Content-Type %s", ct ? ct : "(none)");
	h_resp_free(&r);

	/* Expect: 100-continue: herd says 100 before the client sends the body. */
	send_req(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
		     "Content-Length: 4\r\n\r\n");
	expect(&c, &r, false, 100, "100-continue");
	h_resp_free(&r);
	send_req(&c, "ping");
	expect_text(&c, 200, "ping", NULL, "POST /echo after 100-continue");

	send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, HELLO, NULL, "GET /hello after the bodies");
	h_conn_close(&c);
}

/* After a 413: the one response, Connection: close, then the server closes
 * (had the handler run, its 200 would have come first). */
static void expect_413(const char *head, const void *body, size_t len, const char *what)
{
	struct h_conn c = open_conn();
	send_req(&c, head);
	if (len)
		h_send(c.fd, body, len, 3000); /* may be cut short by the answer */
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS * slack());
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
	cr_assert_eq(r.status, 413, "%s: status %d, want 413 (body '%.60s')", what, r.status,
		     r.body);
	const char *conn = h_header(&r, "Connection");
	cr_assert(conn && !strcasecmp(conn, "close"), "%s: Connection: %s", what,
		  conn ? conn : "(none)");
	h_resp_free(&r);
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "%s: more after the 413, or no close",
		     what);
	h_conn_close(&c);
}

HTEST(app, max_body)
{
	herd_start(&srv, "--workers", "2", "--max-body", "1000");
	static unsigned char body[8192];
	fill(body, sizeof(body), 3);
	/* At the limit: echoed. */
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n");
	send_all(&c, body, 1000);
	expect(&c, &r, false, 200, "POST /echo, 1000 bytes");
	assert_bytes(&r, body, 1000, "1000-byte echo");
	h_resp_free(&r);
	static const size_t at_limit[] = {400, 400, 200, 0};
	static char enc[8192];
	size_t len = chunked(enc, body, at_limit);
	send_req(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	send_all(&c, enc, len);
	expect(&c, &r, false, 200, "POST /echo, 1000 bytes chunked");
	assert_bytes(&r, body, 1000, "1000-byte chunked echo");
	h_resp_free(&r);
	h_conn_close(&c);

	/* Over it. */
	expect_413("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1001\r\n\r\n", body, 1001,
		   "Content-Length 1001");
	expect_413("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", NULL, 0,
		   "Content-Length 5000, body not sent");
	static const size_t over[] = {400, 400, 400, 400, 0};
	len = chunked(enc, body, over);
	expect_413("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", enc, len,
		   "chunked, 1600 bytes");
	static const size_t one_big[] = {1001, 0};
	len = chunked(enc, body, one_big);
	expect_413("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", enc, len,
		   "chunked, one chunk of 1001");
	exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
}

HTEST(app, file)
{
	enum { SIZE = 200 * 1024 + 123 };
	static unsigned char data[SIZE];
	fill(data, SIZE, 42);
	char path[] = "/tmp/herd-app-file-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	bool written = write(fd, data, SIZE) == SIZE;
	close(fd);
	if (!written)
		unlink(path);
	cr_assert(written, "writing %s", path);
	herd_start(&srv, "--workers", "2", "--file", path);

	struct h_conn c = open_conn();
	struct h_resp r;
	for (int i = 0; i < 2; i++) { /* twice: the connection goes on after a file */
		send_req(&c, "GET /file HTTP/1.1\r\nHost: t\r\n\r\n");
		expect(&c, &r, false, 200, "GET /file");
		cr_assert(r.has_length && r.content_length == SIZE, "Content-Length %zu, want %d",
			  r.content_length, SIZE);
		assert_bytes(&r, data, SIZE, "GET /file");
		const char *ct = h_header(&r, "Content-Type");
		cr_assert(ct && !strcmp(ct, "application/octet-stream"), "Content-Type %s",
			  ct ? ct : "(none)");
		h_resp_free(&r);
	}
	send_req(&c, "HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, true, 200, "HEAD /file");
	cr_assert(r.has_length && r.content_length == SIZE, "HEAD Content-Length %zu",
		  r.content_length);
	h_resp_free(&r);
	send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, HELLO, NULL, "GET /hello after HEAD /file");
	/* herd_res_file opens the path at each request: gone is 404. */
	unlink(path);
	send_req(&c, "GET /file HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(&c, &r, false, 404, "GET /file after unlink");
	h_resp_free(&r);
	h_conn_close(&c);
}

HTEST(app, pipelining)
{
	herd_start(&srv, "--workers", "2");
	struct h_conn c = open_conn();
	long long t0 = h_now_ms();
	send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
		     "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
		     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfifth"
		     "GET /api/last HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, HELLO, NULL, "pipelined 1: /hello");
	struct h_resp r;
	expect(&c, &r, false, 200, "pipelined 2: /slow");
	cr_assert(!strncmp(r.body, "slow answer from worker ", 24), "/slow: %s", r.body);
	h_resp_free(&r);
	cr_assert_geq(h_now_ms() - t0, 40, "/slow answered before its job's 50 ms");
	expect_text(&c, 200, "fifth", NULL, "pipelined 3: /echo");
	expect_text(&c, 200, "{\"path\":\"/api/last\"}\n", NULL, "pipelined 4: /api/last");

	/* Many keep-alive requests on the one connection, each route in turn. */
	int worker = -1, w;
	long served = 0, s;
	for (int i = 0; i < 200; i++) {
		char req[160], want[64];
		switch (i % 4) {
		case 0:
			send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
			expect_text(&c, 200, HELLO, NULL, "keep-alive /hello");
			break;
		case 1:
			snprintf(req, sizeof(req), "GET /greet?name=n%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
			snprintf(want, sizeof(want), "Hello, n%d!\n", i);
			send_req(&c, req);
			expect_text(&c, 200, want, NULL, "keep-alive /greet");
			break;
		case 2:
			snprintf(want, sizeof(want), "body %d", i);
			snprintf(req, sizeof(req),
				 "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s",
				 strlen(want), want);
			send_req(&c, req);
			expect_text(&c, 200, want, NULL, "keep-alive /echo");
			break;
		case 3: /* one connection, one worker: its count goes up by one */
			counter(&c, &w, &s);
			if (worker >= 0) {
				cr_assert_eq(w, worker, "/counter: worker %d, then %d", worker, w);
				cr_assert_eq(s, served + 1, "/counter: served %ld, then %ld", served, s);
			}
			worker = w;
			served = s;
			break;
		}
	}
	h_conn_close(&c);
}

