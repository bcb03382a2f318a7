/* Static file serving (--root) of the real binary, over loopback: the
 * bytes, the headers, HEAD, pipelining, socket activation.
 *
 * Each test builds its own tree (see static_util.h).  The tests:
 *
 *   bytes_exact      0 B .. 10 MiB byte-exact, on one keep-alive connection
 *                    and on fresh ones; headers (types, ETag, Last-Modified)
 *   content_types    extension -> Content-Type; built-ins beat files
 *   head             headers only, Content-Length of the file, framing kept
 *   cached_head_...  the reused 200 head follows the response flags and the Date
 *   pipelined        file requests pipelined in one write, in order
 *   socket_activation LISTEN_PID/LISTEN_FDS: the passed socket is used
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "static_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(static_files, .fini = static_fini, .timeout = 30);

/* ---- byte-exact bodies and headers --------------------------------------- */

HTEST(static_files, bytes_exact)
{
	make_tree(true);
	start("2");
	/* One keep-alive connection, every size in turn (the connection must
	 * stay framed across in-memory and sendfile bodies), then /plaintext. */
	struct h_conn c = open_conn();
	for (size_t i = 0; i < NFILES; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/%s", files[i].name);
		conn_req(&c, "GET", path, NULL);
		struct h_resp r;
		conn_read(&c, &r, false, path);
		cr_assert_eq(r.status, 200, "GET %s: status %d", path, r.status);
		assert_file_headers(&r, files[i].name, files[i].size, OCTET, path);
		assert_body(&r, files[i].data, files[i].size, path);
		const char *conn = h_header(&r, "Connection");
		cr_assert(!conn || strcasecmp(conn, "close"), "GET %s: Connection: close", path);
		h_resp_free(&r);
	}
	conn_expect_plaintext(&c, "the 10 MiB file");
	h_conn_close(&c);

	/* Fresh connections: the same bytes (served from the cache now). */
	for (size_t i = 0; i < NFILES; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/%s", files[i].name);
		struct h_resp r;
		cr_assert_eq(req("GET", path, NULL, &r), 200, "GET %s again", path);
		assert_body(&r, files[i].data, files[i].size, path);
		h_resp_free(&r);
	}

	/* Connection: close (and HTTP/1.0) after a sendfile body: the whole
	 * body, then the server closes. */
	static const char *const closers[] = {
		"GET /f10m.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		"GET /f100k.bin HTTP/1.0\r\n\r\n",
		"GET /f16k1.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	};
	static const char *const closer_file[] = {"f10m.bin", "f100k.bin", "f16k1.bin"};
	for (size_t i = 0; i < 3; i++) {
		c = open_conn();
		cr_assert_eq(h_send_str(c.fd, closers[i]), 0);
		struct h_resp r;
		conn_read(&c, &r, false, closers[i]);
		cr_assert_eq(r.status, 200, "%.40s: %d", closers[i], r.status);
		const struct tfile *f = tf(closer_file[i]);
		assert_body(&r, f->data, f->size, closers[i]);
		h_resp_free(&r);
		cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1,
			     "%.40s: the server did not close after the body", closers[i]);
		h_conn_close(&c);
	}

	/* The ETag is stable while the file is unchanged. */
	struct h_resp a, b;
	req("GET", "/f4k.bin", NULL, &a);
	req("GET", "/f4k.bin", NULL, &b);
	cr_assert_str_eq(h_header(&a, "ETag"), h_header(&b, "ETag"), "ETag changes between requests");
	h_resp_free(&a);
	h_resp_free(&b);
}

HTEST(static_files, content_types)
{
	make_tree(false);
	start("2");
	static const struct {
		const char *path, *type, *body;
	} cases[] = {
		{"/index.html", "text/html; charset=utf-8", INDEX_HTML},
		{"/page.html", "text/html; charset=utf-8", "<p>page</p>\n"},
		{"/small.txt", "text/plain; charset=utf-8", SMALL_TXT},
		{"/UPPER.TXT", "text/plain; charset=utf-8", "upper case extension\n"},
		{"/data.json", "application/json", "{\"a\":1}\n"},
		{"/img.png", "image/png", "\x89PNG\r\n\x1a\n"},
		{"/noext", OCTET, "no extension\n"},
		{"/f4k.bin", OCTET, NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct h_resp r;
		cr_assert_eq(req("GET", cases[i].path, NULL, &r), 200, "GET %s: %d", cases[i].path,
			     r.status);
		assert_file_headers(&r, cases[i].path + 1,
				    cases[i].body ? strlen(cases[i].body) : 4096, cases[i].type,
				    cases[i].path);
		if (cases[i].body)
			assert_body(&r, cases[i].body, strlen(cases[i].body), cases[i].path);
		h_resp_free(&r);
	}
	/* CSS: text/css (any parameters); JavaScript: text/javascript (or the
	 * legacy application/javascript). */
	struct h_resp r;
	cr_assert_eq(req("GET", "/style.css", NULL, &r), 200);
	const char *css = h_header(&r, "Content-Type");
	cr_assert(css && !strncmp(css, "text/css", 8) && (!css[8] || css[8] == ';'),
		  "GET /style.css: Content-Type %s", css ? css : "(none)");
	assert_body(&r, "body{color:red}\n", 16, "GET /style.css");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/app.js", NULL, &r), 200);
	const char *ct = h_header(&r, "Content-Type");
	cr_assert(ct && (!strncmp(ct, "text/javascript", 15) ||
			 !strncmp(ct, "application/javascript", 22)),
		  "GET /app.js: Content-Type %s", ct ? ct : "(none)");
	h_resp_free(&r);

	/* The built-ins win over files of the same name. */
	cr_assert_eq(req("GET", "/plaintext", NULL, &r), 200);
	cr_assert_str_eq(r.body, PLAIN, "GET /plaintext served the file, not the built-in");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/json", NULL, &r), 200);
	cr_assert_str_eq(r.body, JSON, "GET /json served the file, not the built-in");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/plaintext?x=1", NULL, &r), 200);
	cr_assert_str_eq(r.body, PLAIN, "GET /plaintext?x=1");
	h_resp_free(&r);
	/* A query string does not change which file is served. */
	cr_assert_eq(req("GET", "/small.txt?v=3&x=%2F..", NULL, &r), 200, "query: %d", r.status);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET /small.txt?v=3");
	h_resp_free(&r);
	/* Percent-encoded names are decoded. */
	cr_assert_eq(req("GET", "/%73mall%2Etxt", NULL, &r), 200, "encoded name: %d", r.status);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET /%73mall%2Etxt");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/sub/./../small.txt", NULL, &r), 200, "dot segments: %d",
		     r.status);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET /sub/./../small.txt");
	h_resp_free(&r);
}

/* ---- HEAD ---------------------------------------------------------------- */

HTEST(static_files, head)
{
	make_tree(true);
	start("2");
	struct h_conn c = open_conn();
	static const char *const names[] = {"f4k.bin", "f10m.bin", "empty.bin", "f16k1.bin"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const struct tfile *f = tf(names[i]);
		char path[64];
		snprintf(path, sizeof(path), "/%s", f->name);
		struct h_resp g, h;
		cr_assert_eq(req("GET", path, NULL, &g), 200);
		conn_req(&c, "HEAD", path, NULL);
		conn_read(&c, &h, true, path);
		cr_assert_eq(h.status, 200, "HEAD %s: %d", path, h.status);
		assert_file_headers(&h, f->name, f->size, OCTET, path);
		cr_assert_str_eq(h_header(&h, "ETag"), h_header(&g, "ETag"), "HEAD %s: ETag", path);
		cr_assert_str_eq(h_header(&h, "Last-Modified"), h_header(&g, "Last-Modified"),
				 "HEAD %s: Last-Modified", path);
		h_resp_free(&g);
		h_resp_free(&h);
		/* No body: the next response on the connection comes right away. */
		conn_expect_plaintext(&c, "HEAD of a file");
	}
	/* Nothing more arrives after the last answer. */
	struct pollfd p = {c.fd, POLLIN, 0};
	cr_assert_eq(c.len, 0u, "stray bytes after HEAD responses");
	cr_assert_eq(poll(&p, 1, 100), 0, "stray bytes after HEAD responses");
	h_conn_close(&c);

	/* HEAD of a directory, a missing file, a dotfile. */
	struct h_resp r;
	cr_assert_eq(req("HEAD", "/site/", NULL, &r), 200);
	assert_length(&r, strlen(SITE_INDEX), "HEAD /site/");
	h_resp_free(&r);
	expect_status("HEAD", "/nope.txt", NULL, 404);
	expect_status("HEAD", "/.hidden", NULL, 404);
	expect_status("HEAD", "/sub", NULL, 301);
}


/* A whole file's 200 head is reused within its second (net/http_static.c):
 * per response flags (keep-alive, close, HTTP/1.0 keep-alive), and never
 * past the second its Date names. */
HTEST(static_files, cached_head_follows_flags_and_date)
{
	make_tree(true);
	start("1");
	const struct tfile *f = tf("f4k.bin");
	struct h_conn c = open_conn();
	struct h_resp a, b;
	conn_req(&c, "GET", "/f4k.bin", NULL);
	conn_read(&c, &a, false, "first GET");
	conn_req(&c, "GET", "/f4k.bin", NULL);
	conn_read(&c, &b, false, "second GET");
	cr_assert_eq(a.status, 200);
	cr_assert_eq(b.status, 200);
	assert_body(&b, f->data, f->size, "second GET");
	cr_assert_null(h_header(&b, "Connection"), "keep-alive answer says Connection: %s",
		       h_header(&b, "Connection"));
	h_resp_free(&b);
	conn_req(&c, "GET", "/f4k.bin", "Connection: close\r\n");
	conn_read(&c, &b, false, "GET with Connection: close");
	cr_assert(h_header(&b, "Connection") && !strcasecmp(h_header(&b, "Connection"), "close"),
		  "the cached head's flags: Connection: %s", h_header(&b, "Connection"));
	assert_body(&b, f->data, f->size, "GET with Connection: close");
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "no close after Connection: close");
	h_resp_free(&b);
	h_conn_close(&c);

	/* HTTP/1.0 asking for keep-alive gets it said, once cached too. */
	for (int i = 0; i < 2; i++) {
		c = open_conn();
		cr_assert_eq(h_send_str(c.fd, "GET /f4k.bin HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
		conn_read(&c, &b, false, "HTTP/1.0 keep-alive");
		cr_assert(h_header(&b, "Connection") &&
			  !strcasecmp(h_header(&b, "Connection"), "keep-alive"),
			  "HTTP/1.0 keep-alive: Connection: %s", h_header(&b, "Connection"));
		h_resp_free(&b);
		h_conn_close(&c);
	}

	/* A later second: a new Date, the same validators. */
	usleep(1100 * 1000);
	c = open_conn();
	conn_req(&c, "GET", "/f4k.bin", NULL);
	conn_read(&c, &b, false, "GET a second later");
	cr_assert_str_neq(h_header(&b, "Date"), h_header(&a, "Date"), "Date did not move on");
	cr_assert_str_eq(h_header(&b, "ETag"), h_header(&a, "ETag"));
	assert_body(&b, f->data, f->size, "GET a second later");
	h_resp_free(&a);
	h_resp_free(&b);
	h_conn_close(&c);
}

/* ---- pipelining ----------------------------------------------------------- */

static void read_expect_file(struct h_conn *c, const char *name, const char *what)
{
	struct h_resp r;
	conn_read(c, &r, false, what);
	cr_assert_eq(r.status, 200, "%s: status %d", what, r.status);
	if (!strcmp(name, "small.txt")) {
		assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), what);
	} else {
		const struct tfile *f = tf(name);
		assert_body(&r, f->data, f->size, what);
	}
	h_resp_free(&r);
}

HTEST(static_files, pipelined)
{
	make_tree(true);
	start("2");
	static const char *const orders[][3] = {
		{"small.txt", "f100k.bin", "f4k.bin"},
		{"f100k.bin", "small.txt", "f100k.bin"},
		{"f10m.bin", "small.txt", "f16k1.bin"},
		{"f16k.bin", "f10m.bin", "f1.bin"},
	};
	for (size_t o = 0; o < sizeof(orders) / sizeof(orders[0]); o++) {
		for (int pass = 0; pass < 2; pass++) { /* cold, then cached */
			struct h_conn c = open_conn();
			char batch[1024];
			snprintf(batch, sizeof(batch),
				 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
				 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"
				 "GET /%s HTTP/1.1\r\nHost: t\r\n\r\n",
				 orders[o][0], orders[o][1], orders[o][2]);
			cr_assert_eq(send(c.fd, batch, strlen(batch), MSG_NOSIGNAL),
				     (ssize_t)strlen(batch), "one write");
			for (int k = 0; k < 3; k++) {
				char what[128];
				snprintf(what, sizeof(what), "pipelined #%d /%s (batch %zu)", k + 1,
					 orders[o][k], o);
				read_expect_file(&c, orders[o][k], what);
			}
			/* Same connection still usable. */
			conn_expect_plaintext(&c, "three pipelined file responses");
			h_conn_close(&c);
		}
	}

	/* A mixed batch: HEAD, 304, range, 404, built-in, and a final
	 * Connection: close, in one write. */
	struct h_resp r;
	cr_assert_eq(req("GET", "/f100k.bin", NULL, &r), 200);
	char etag[128];
	snprintf(etag, sizeof(etag), "%s", h_header(&r, "ETag"));
	h_resp_free(&r);
	char batch[2048];
	snprintf(batch, sizeof(batch),
		 "HEAD /f100k.bin HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /f100k.bin HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n"
		 "GET /f100k.bin HTTP/1.1\r\nHost: t\r\nRange: bytes=50000-50099\r\n\r\n"
		 "GET /nope.bin HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /json HTTP/1.1\r\nHost: t\r\n\r\n"
		 "GET /f4k.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		 etag);
	struct h_conn c = open_conn();
	cr_assert_eq(send(c.fd, batch, strlen(batch), MSG_NOSIGNAL), (ssize_t)strlen(batch));
	conn_read(&c, &r, true, "pipelined HEAD");
	cr_assert_eq(r.status, 200);
	assert_length(&r, 102400, "pipelined HEAD");
	h_resp_free(&r);
	conn_read(&c, &r, true, "pipelined 304");
	cr_assert_eq(r.status, 304, "pipelined If-None-Match: %d", r.status);
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined range");
	cr_assert_eq(r.status, 206, "pipelined range: %d", r.status);
	assert_body(&r, tf("f100k.bin")->data + 50000, 100, "pipelined range");
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined 404");
	cr_assert_eq(r.status, 404, "pipelined 404: %d", r.status);
	h_resp_free(&r);
	conn_read(&c, &r, false, "pipelined /json");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, JSON, "pipelined /json");
	h_resp_free(&r);
	read_expect_file(&c, "f4k.bin", "pipelined last (Connection: close)");
	cr_assert_eq(h_conn_wait_eof(&c, H_TIMEOUT_MS), 1, "no close after Connection: close");
	h_conn_close(&c);
}


/* ---- socket activation ---------------------------------------------------- */

HTEST(static_files, socket_activation)
{
	const char *bin = getenv("HERD_BIN");
	cr_assert(bin && *bin, "HERD_BIN is not set");
	make_tree(false);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 64), 0);
	socklen_t al = sizeof(a);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	int port = ntohs(a.sin_port);

	char errpath[] = "/tmp/herd-act-XXXXXX";
	int wfd = mkstemp(errpath);
	cr_assert(wfd >= 0);
	act_errfd = open(errpath, O_RDONLY | O_CLOEXEC);
	unlink(errpath);
	cr_assert(act_errfd >= 0);

	/* reuseport needs a socket per worker, which activation cannot pass:
	 * that mode runs this test with the default accept mode. */
	const char *mode = getenv("HERD_ACCEPT");
	bool pass_mode = mode && *mode && strcmp(mode, "reuseport") != 0;
	/* --listen only keeps a server that ignored the passed socket on
	 * loopback: with activation it must bind nothing. */
	const char *argv[] = {bin,	"--workers", "1", "--root", root_dir, "--listen", "127.0.0.1:0",
			      pass_mode ? "--accept" : NULL, mode, NULL};
	pid_t pid = h_spawn(argv, &(struct h_spawn_opts){H_SERVER, .out = wfd, .err = wfd,
							 .listen_fd = lfd});
	act_pid = pid;
	close(wfd);

	/* The log line, bounded. */
	char text[8192];
	long long deadline = h_now_ms() + 5000;
	for (;;) {
		ssize_t n = pread(act_errfd, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = 0;
		if (strstr(text, "using the listening socket passed by systemd"))
			break;
		cr_assert(!strstr(text, "listening on "),
			  "herd bound a socket of its own instead of the passed one: %s", text);
		cr_assert(!h_child_exited(pid, 0, NULL), "socket-activated herd exited: %s", text);
		cr_assert(h_now_ms() < deadline, "no 'using the listening socket passed by "
						 "systemd' within 5 s: %s",
			  text);
		h_sleep_ms(10);
	}
	/* It answers on our socket (it bound none of its own). */
	h_assert_get(port, "/plaintext", PLAIN);
	struct h_resp r;
	cr_assert_eq(h_exchange(port, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n", &r), H_OK);
	cr_assert_eq(r.status, 200);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "socket-activated GET /small.txt");
	h_resp_free(&r);
	const char *lo = strstr(text, "listening on ");
	if (lo) {
		char want[64];
		snprintf(want, sizeof(want), ":%d", port);
		const char *eol = strchr(lo, '\n');
		size_t ll = eol ? (size_t)(eol - lo) : strlen(lo);
		cr_assert(memmem(lo, ll, want, strlen(want)),
			  "'listening on' names another port than the passed socket's %d: %.*s",
			  port, (int)ll, lo);
	}
	/* SIGTERM: a clean exit, as without activation. */
	kill(pid, SIGTERM);
	int st = 0;
	bool exited = h_child_wait(pid, 5000, &st);
	act_pid = 0;
	cr_assert(exited, "socket-activated herd did not exit within 5 s of SIGTERM");
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "socket-activated herd exit status 0x%x after SIGTERM", st);
	act_passed = true;
	close(lfd);
}
