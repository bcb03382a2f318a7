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
#include "procs_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define HELLO "Hello, world!\n"

/* abort() in /crash must not leave core files behind. */
static void no_cores(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
}

TestSuite(app, .init = no_cores, .fini = harness_fini, .timeout = 30);

static struct herd srv;

static bool procs_mode(void)
{
	const char *e = getenv("HERD_EXTRA_ARGS");
	return e && strstr(e, "--procs");
}

/* ---- client helpers ---- */

static struct h_conn open_conn(void)
{
	struct h_conn c;
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0, "connect to 127.0.0.1:%d: %s", srv.port, strerror(errno));
	h_conn_init(&c, fd);
	return c;
}

static void send_all(struct h_conn *c, const void *p, size_t n)
{
	cr_assert_eq(h_send(c->fd, p, n, H_TIMEOUT_MS), 0, "send of %zu bytes failed", n);
}

static void send_req(struct h_conn *c, const char *req)
{
	send_all(c, req, strlen(req));
}

/* Reads one response and checks its status. */
static void expect(struct h_conn *c, struct h_resp *r, bool head, int status, const char *what)
{
	int rc = h_read_response(c, r, head, H_TIMEOUT_MS * slack());
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
	cr_assert_eq(r->status, status, "%s: status %d, want %d (body '%.80s')", what, r->status,
		     status, r->body ? r->body : "");
}

/* status, body (exact, when not NULL) and Content-Type (prefix, when not NULL). */
static void expect_text(struct h_conn *c, int status, const char *body, const char *type,
			const char *what)
{
	struct h_resp r;
	expect(c, &r, false, status, what);
	if (body)
		cr_assert_str_eq(r.body, body, "%s: body", what);
	if (type) {
		const char *ct = h_header(&r, "Content-Type");
		cr_assert(ct && !strncmp(ct, type, strlen(type)), "%s: Content-Type %s, want %s",
			  what, ct ? ct : "(none)", type);
	}
	h_resp_free(&r);
}

/* One request on a fresh connection: status and body. */
static void exchange(const char *req, int status, const char *body)
{
	struct h_conn c = open_conn();
	send_req(&c, req);
	expect_text(&c, status, body, NULL, req);
	h_conn_close(&c);
}

/* Allow names exactly the methods of `want` (NULL-terminated), any order. */
static void assert_allow(const struct h_resp *r, const char *const *want, const char *what)
{
	const char *allow = h_header(r, "Allow");
	cr_assert(allow, "%s: 405 without Allow", what);
	char copy[256], *save;
	snprintf(copy, sizeof(copy), "%s", allow);
	int n = 0, nwant = 0;
	while (want[nwant])
		nwant++;
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save), n++) {
		bool found = false;
		for (int i = 0; i < nwant; i++)
			found = found || !strcmp(t, want[i]);
		cr_assert(found, "%s: Allow: %s names %s", what, allow, t);
	}
	cr_assert_eq(n, nwant, "%s: Allow: %s, want %d methods", what, allow, nwant);
}

static void expect_405(const char *req, const char *const *allow)
{
	struct h_conn c = open_conn();
	struct h_resp r;
	send_req(&c, req);
	expect(&c, &r, false, 405, req);
	assert_allow(&r, allow, req);
	h_resp_free(&r);
	h_conn_close(&c);
}

/* Bytes that show a shifted or dropped byte, zeros included. */
static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131u + seed + (i >> 10));
}

static void assert_bytes(const struct h_resp *r, const unsigned char *want, size_t n,
			 const char *what)
{
	cr_assert_eq(r->body_len, n, "%s: %zu bytes, want %zu", what, r->body_len, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r->body[i] != want[i])
			cr_assert_fail("%s: byte %zu is 0x%02x, want 0x%02x", what, i,
				       (unsigned char)r->body[i], want[i]);
}

/* A chunked encoding of data in chunks of the given sizes (0-terminated). */
static size_t chunked(char *out, const unsigned char *data, const size_t *sizes)
{
	size_t len = 0, at = 0;
	for (const size_t *s = sizes; *s; s++) {
		len += (size_t)sprintf(out + len, "%zx\r\n", *s);
		memcpy(out + len, data + at, *s);
		len += *s;
		at += *s;
		len += (size_t)sprintf(out + len, "\r\n");
	}
	len += (size_t)sprintf(out + len, "0\r\n\r\n");
	return len;
}

/* ---- worker hook lines ---- */

struct hook {
	int id, pid, starts, stops;
};

/* The "example: worker N start|stop (pid P)" lines, counted per worker. */
static int hooks(const struct herd *h, struct hook *out, int max)
{
	char *text = herd_stderr(h);
	int n = 0;
	for (const char *p = strstr(text, "example: worker "); p;
	     p = strstr(p + 1, "example: worker ")) {
		int id, pid;
		char what[8];
		cr_assert_eq(sscanf(p, "example: worker %d %5[a-z] (pid %d)", &id, what, &pid), 3,
			     "hook line: %.60s", p);
		int k = 0;
		while (k < n && (out[k].id != id || out[k].pid != pid))
			k++;
		if (k == n) {
			cr_assert_lt(n, max, "more than %d workers", max);
			out[n++] = (struct hook){id, pid, 0, 0};
		}
		cr_assert(!strcmp(what, "start") || !strcmp(what, "stop"), "hook line: %.60s", p);
		if (!strcmp(what, "start"))
			out[k].starts++;
		else
			out[k].stops++;
	}
	free(text);
	return n;
}

/* Waits until `want` workers have started; returns how many are listed. */
static int wait_starts(const struct herd *h, struct hook *hk, int max, int want)
{
	long long deadline = h_now_ms() + 3000L * slack();
	int n, started;
	do {
		n = hooks(h, hk, max);
		started = 0;
		for (int i = 0; i < n; i++)
			started += hk[i].starts;
		if (started >= want)
			break;
		h_sleep_ms(20);
	} while (h_now_ms() < deadline);
	cr_assert_eq(started, want, "%d workers started, want %d", started, want);
	return n;
}

static void sigterm_exit_0(struct herd *h)
{
	herd_signal(h, SIGTERM);
	cr_assert(herd_wait_exit(h, 5000 * slack()), "still running 5 s after SIGTERM");
	cr_assert(WIFEXITED(h->status) && WEXITSTATUS(h->status) == 0,
		  "after SIGTERM: %s %d", WIFSIGNALED(h->status) ? "signal" : "exit status",
		  WIFSIGNALED(h->status) ? WTERMSIG(h->status) : WEXITSTATUS(h->status));
}

/* "worker N served M" */
static void counter(struct h_conn *c, int *worker, long *served)
{
	struct h_resp r;
	send_req(c, "GET /counter HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(c, &r, false, 200, "GET /counter");
	cr_assert_eq(sscanf(r.body, "worker %d served %ld", worker, served), 2, "/counter: %s",
		     r.body);
	h_resp_free(&r);
}

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

HTEST(app, deferred)
{
	/* One worker: while /slow waits, that worker goes on serving. */
	herd_start(&srv, "--workers", "1");
	struct h_conn c = open_conn();
	int worker;
	long served;
	counter(&c, &worker, &served);
	long long t0 = h_now_ms();
	send_req(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_resp r;
	expect(&c, &r, false, 200, "GET /slow");
	long long took = h_now_ms() - t0;
	char want[64];
	snprintf(want, sizeof(want), "slow answer from worker %d\n", worker);
	cr_assert_str_eq(r.body, want, "completed on another worker than the connection's");
	cr_assert_geq(took, 40, "/slow took %lld ms: not deferred to the job thread", took);
	h_resp_free(&r);
	/* The connection goes on after a deferred answer. */
	send_req(&c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
	expect_text(&c, 200, HELLO, NULL, "GET /hello after /slow");

	/* 4 deferred at once (the job thread takes them one by one, 200 ms):
	 * /hello on other connections is answered meanwhile. */
	enum { N = 4 };
	struct h_conn s[N];
	for (int i = 0; i < N; i++) {
		s[i] = open_conn();
		send_req(&s[i], "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	h_sleep_ms(10);
	t0 = h_now_ms();
	for (int i = 0; i < 3; i++)
		exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
	long long hello_ms = h_now_ms() - t0;
	/* Nothing on the last /slow yet (a poll that does not wait). */
	bool pending = h_conn_fill(&s[N - 1], h_now_ms()) < 0;
	cr_assert(pending, "all %d /slow were answered before 3 /hello (%lld ms): the worker "
		  "waited for them", N, hello_ms);
	for (int i = 0; i < N; i++) {
		expect(&s[i], &r, false, 200, "concurrent /slow");
		h_resp_free(&r);
		h_conn_close(&s[i]);
	}
	h_conn_close(&c);
}

HTEST(app, deferred_concurrent)
{
	herd_start(&srv, "--workers", "2");
	enum { N = 20 };
	struct h_conn s[N];
	long long t0 = h_now_ms();
	for (int i = 0; i < N; i++) {
		s[i] = open_conn();
		send_req(&s[i], "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	}
	for (int i = 0; i < N; i++) {
		struct h_resp r;
		expect(&s[i], &r, false, 200, "one of 20 concurrent /slow");
		cr_assert(!strncmp(r.body, "slow answer from worker ", 24), "/slow: %s", r.body);
		h_resp_free(&r);
		h_conn_close(&s[i]);
	}
	long long took = h_now_ms() - t0;
	cr_log_info("deferred_concurrent: 20 /slow answered in %lld ms", took);
	cr_assert_geq(took, 40);
}

/* Clients that leave while their answer is deferred: the job thread's
 * herd_post finds the worker alive and herd_complete returns -1 (the
 * response was orphaned and is freed).  The server serves on, and exits 0 on
 * SIGTERM (a sanitizer build exits non-zero on a leak). */
HTEST(app, deferred_client_gone)
{
	herd_start(&srv, "--workers", "2");
	enum { N = 8 };
	for (int i = 0; i < N; i++) {
		struct h_conn c = open_conn();
		send_req(&c, i % 4 == 3 ? "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /slow HTTP/1.1\r\n"
					  "Host: t\r\n\r\n"
					: "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
		h_sleep_ms(5); /* the handler has run */
		if (i % 2)
			h_close_rst(c.fd);
		else
			close(c.fd);
		c.fd = -1;
		h_conn_close(&c);
	}
	/* A /slow queued behind them is answered after all of theirs were handed
	 * back (one job thread per process, first in, first out). */
	struct h_conn c = open_conn();
	send_req(&c, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_resp r;
	expect(&c, &r, false, 200, "/slow after the orphans");
	h_resp_free(&r);
	h_conn_close(&c);
	h_sleep_ms(100);
	exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
	cr_assert(herd_alive(&srv), "the server died");
	sigterm_exit_0(&srv);
}

HTEST(app, worker_hooks)
{
	herd_start(&srv, "--workers", "2");
	int want = procs_mode() ? 4 : 2; /* --procs 2 --workers 4: 2 processes of 2 */
	struct hook hk[16];
	int n = wait_starts(&srv, hk, 16, want);
	cr_assert_eq(n, want, "%d distinct workers started, want %d", n, want);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(hk[i].starts, 1, "worker %d (pid %d) started %d times", hk[i].id,
			     hk[i].pid, hk[i].starts);
		cr_assert_eq(hk[i].stops, 0, "worker %d stopped while serving", hk[i].id);
		cr_assert(hk[i].id >= 0 && hk[i].id < 2, "worker id %d", hk[i].id);
	}
	/* Per-worker state: one connection stays on one worker. */
	struct h_conn c = open_conn();
	int w0, w;
	long s0, s;
	counter(&c, &w0, &s0);
	cr_assert_geq(s0, 1);
	for (int i = 1; i <= 5; i++) {
		counter(&c, &w, &s);
		cr_assert(w == w0 && s == s0 + i, "/counter: worker %d served %ld, want worker %d "
			  "served %ld", w, s, w0, s0 + i);
	}
	h_conn_close(&c);

	sigterm_exit_0(&srv);
	n = hooks(&srv, hk, 16);
	cr_assert_eq(n, want, "%d workers in the log, want %d", n, want);
	for (int i = 0; i < n; i++)
		cr_assert(hk[i].starts == 1 && hk[i].stops == 1,
			  "worker %d (pid %d): %d starts, %d stops", hk[i].id, hk[i].pid,
			  hk[i].starts, hk[i].stops);
}

/* A worker the supervisor adds under load starts (the hook runs on it) and,
 * retired when the load is gone, stops. */
HTEST(app, hooks_follow_scaling)
{
	if (procs_mode())
		return; /* the run's --workers 4 is outside --max-workers 2 */
	/* The hooks are the worker's, whatever the mode: scaling itself is
	 * the scaling suite's, so this one runs in an epoll and the io_uring
	 * mode only (4 s each). */
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && strcmp(mode, "exclusive") != 0 && strcmp(mode, "uring") != 0)
		return;
	herd_start(&srv, "--min-workers", "1", "--max-workers", "2", "--cpus", "0,1",
		   "--scale-interval", "0.1", "--scale-up-busy", "0.3", "--scale-down-busy", "0.2",
		   "--scale-queue", "8", "--admin", "127.0.0.1:0");
	struct hook hk[16];
	wait_starts(&srv, hk, 16, 1);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hello", srv.port);
	struct h_load l;
	h_load_start(&l, (const char *const[]){"-t", "2", "-c", "64", "--close", "-d", "3", url,
					       NULL});
	char *json = h_load_finish(&l, 20000);
	cr_assert_eq(json_number(json, "errors"), 0, "errors under load: %s", json);
	free(json);
	int n = hooks(&srv, hk, 16), starts = 0;
	for (int i = 0; i < n; i++)
		starts += hk[i].starts;
	cr_assert_geq(starts, 2, "the supervisor did not add a worker under load");

	/* Idle: back to one worker within the policy's cool-down (3 s). */
	long long deadline = h_now_ms() + 8000L * slack();
	int running;
	do {
		h_sleep_ms(100);
		n = hooks(&srv, hk, 16);
		running = 0;
		for (int i = 0; i < n; i++)
			running += hk[i].starts - hk[i].stops;
	} while (running > 1 && h_now_ms() < deadline);
	char *m = metrics(&srv);
	long long workers = M(m, "herd_workers");
	free(m);
	cr_assert_eq(running, 1, "%d workers running by their hooks after the load", running);
	cr_assert_eq(workers, 1, "herd_workers %lld after the load", workers);
	for (int i = 0; i < n; i++)
		cr_assert(hk[i].stops <= hk[i].starts && hk[i].starts - hk[i].stops <= 1,
			  "worker %d: %d starts, %d stops", hk[i].id, hk[i].starts, hk[i].stops);

	sigterm_exit_0(&srv);
	n = hooks(&srv, hk, 16);
	for (int i = 0; i < n; i++)
		cr_assert_eq(hk[i].starts, hk[i].stops, "worker %d: %d starts, %d stops", hk[i].id,
			     hk[i].starts, hk[i].stops);
}

/* A client thread: GET /hello on a fresh connection every 20 ms. */
static struct prober {
	int port;
	atomic_bool stop, pause, paused;
	int sent, ok;
	char first_fail[160];
} pr;

static void *probe_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&pr.stop)) {
		if (atomic_load(&pr.pause)) {
			atomic_store(&pr.paused, true);
			while (atomic_load(&pr.pause) && !atomic_load(&pr.stop))
				h_sleep_ms(1);
			atomic_store(&pr.paused, false);
			continue;
		}
		struct h_resp r = {.body = NULL};
		int rc = h_exchange(pr.port, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", &r);
		pr.sent++;
		if (rc == H_OK && r.status == 200 && r.body && !strcmp(r.body, HELLO))
			pr.ok++;
		else if (!pr.first_fail[0])
			snprintf(pr.first_fail, sizeof(pr.first_fail), "request #%d: %s, status %d",
				 pr.sent, h_result_str(rc), rc == H_OK ? r.status : 0);
		h_resp_free(&r);
		h_sleep_ms(20);
	}
	return NULL;
}

/* The handler that crashes takes down its process only. */
HTEST(app, crash_isolation)
{
	const char *mode = getenv("HERD_ACCEPT");
	if (mode && !strcmp(mode, "reuseport"))
		return; /* --procs refuses reuseport */
	herd_start(&srv, PROCS2, "--workers", "2", "--allow-crash");
	int pids[2], after[2];
	wait_running(&srv, 2, 1, pids, 3000);
	pr = (struct prober){.port = srv.port};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, probe_main, NULL), 0);
	h_sleep_ms(200);

	/* A connection the victim holds when it dies is lost with it: the
	 * prober waits between two requests while the crash happens. */
	atomic_store(&pr.pause, true);
	for (long long end = h_now_ms() + 6000; !atomic_load(&pr.paused) && h_now_ms() < end;)
		h_sleep_ms(1);
	cr_assert(atomic_load(&pr.paused), "prober stuck in a request");
	size_t mark = herd_stderr_len(&srv);
	struct h_conn c = open_conn();
	send_req(&c, "GET /crash HTTP/1.1\r\nHost: t\r\n\r\n");
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS * slack());
	h_resp_free(&r);
	h_conn_close(&c);
	cr_assert(rc == H_EOF || rc == H_PARTIAL, "GET /crash: %s, want the connection closed "
		  "without an answer", rc == H_OK ? "answered" : h_result_str(rc));
	cr_assert(wait_log(&srv, mark, "killed by signal 6", 3000), "no 'killed by signal 6'");
	char *text = herd_stderr(&srv);
	const char *line = strstr(text + mark, "killed by signal 6");
	while (line > text && line[-1] != '\n')
		line--;
	int slot = -1, victim = -1;
	cr_assert(sscanf(line, "herd: handler %d (pid %d)", &slot, &victim) == 2 && slot >= 0 &&
			  slot < 2 && victim == pids[slot],
		  "crash line: %.*s", (int)strcspn(line, "\n"), line);
	cr_assert(strstr(line, "; restarting") && strstr(line, "; restarting") < strchr(line, '\n'),
		  "%.*s", (int)strcspn(line, "\n"), line);
	free(text);
	atomic_store(&pr.pause, false); /* the victim is gone: from now on, no failure */

	wait_gen(&srv, 2, 1, after, 3000, true, &victim, 1);
	cr_assert_eq(after[!slot], pids[!slot], "the other process (slot %d) was replaced too",
		     !slot);
	h_sleep_ms(200);
	atomic_store(&pr.stop, true);
	pthread_join(th, NULL);
	char *m = metrics(&srv);
	char lk[2][16];
	snprintf(lk[0], sizeof(lk[0]), "proc=\"%d\"", slot);
	snprintf(lk[1], sizeof(lk[1]), "proc=\"%d\"", !slot);
	cr_assert_eq(M(m, "herd_process_restarts_total", lk[0]), 1);
	cr_assert_leq(M(m, "herd_process_restarts_total", lk[1]), 0);
	free(m);
	cr_log_info("crash_isolation: handler %d crashed; prober %d/%d answered", slot, pr.ok,
		    pr.sent);
	cr_assert_geq(pr.sent, 10, "prober made only %d requests", pr.sent);
	cr_assert_eq(pr.ok, pr.sent, "prober: %d of %d answered; first failure %s", pr.ok, pr.sent,
		     pr.first_fail);
	/* Both processes serve again (fresh connections go to either). */
	for (int i = 0; i < 20; i++)
		exchange("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n", 200, HELLO);
}

/* Handler answers are logged and counted like the built-ins', deferred ones
 * included. */
HTEST(app, log_and_metrics)
{
	char dir[] = "/tmp/herd-app-log-XXXXXX", path[64];
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/access.log", dir);
	herd_start(&srv, "--workers", "2", "--admin", "127.0.0.1:0", "--access-log", path);
	for (int i = 0; i < 5; i++)
		exchange("GET /hello HTTP/1.1\r\nHost: t\r\nUser-Agent: five\r\n\r\n", 200, HELLO);
	exchange("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n", 200, NULL);
	exchange("GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", 404, NULL);
	exchange("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 200, "abc");
	enum { REQUESTS = 8 };

	long long req = -1, deadline = h_now_ms() + 3000L * slack();
	do {
		char *m = metrics(&srv);
		req = M(m, "herd_requests_total");
		free(m);
		if (req == REQUESTS)
			break;
		h_sleep_ms(50);
	} while (h_now_ms() < deadline);
	cr_assert_eq(req, REQUESTS, "herd_requests_total %lld after %d requests", req, REQUESTS);

	/* The log is written out within a second. */
	static const struct {
		const char *line;
		int count;
	} want[] = {
		{"\"GET /hello HTTP/1.1\" 200 14 \"-\" \"five\"", 5},
		{"\"GET /slow HTTP/1.1\" 200 ", 1},
		{"\"GET /nope HTTP/1.1\" 404 ", 1},
		{"\"POST /echo HTTP/1.1\" 200 3 ", 1},
	};
	char *text = NULL;
	bool all = false;
	deadline = h_now_ms() + 3000L * slack();
	do {
		free(text);
		text = NULL;
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			static char buf[65536];
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			buf[n > 0 ? n : 0] = 0;
			text = strdup(buf);
		}
		all = text != NULL;
		for (size_t i = 0; all && i < sizeof(want) / sizeof(*want); i++)
			all = count_str(text, want[i].line) == want[i].count;
		if (all)
			break;
		h_sleep_ms(100);
	} while (h_now_ms() < deadline);
	unlink(path);
	rmdir(dir);
	cr_assert(all, "access log:\n%s", text ? text : "(none)");
	free(text);
}
