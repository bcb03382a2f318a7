/* What the two files of the app suite (test_app_integration.c: the API's
 * requests and responses; test_app_run_integration.c: deferred answers,
 * hooks, processes, logs) share: the server, client helpers, hook lines. */
#ifndef HERD_APP_SUITE_H
#define HERD_APP_SUITE_H

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
static inline void no_cores(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
}


/* Each file of the suite has its own (tests run one per process). */
static struct herd srv __attribute__((unused));

static inline bool procs_mode(void)
{
	const char *e = getenv("HERD_EXTRA_ARGS");
	return e && strstr(e, "--procs");
}

/* ---- client helpers ---- */

static inline struct h_conn open_conn(void)
{
	struct h_conn c;
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0, "connect to 127.0.0.1:%d: %s", srv.port, strerror(errno));
	h_conn_init(&c, fd);
	return c;
}

static inline void send_all(struct h_conn *c, const void *p, size_t n)
{
	cr_assert_eq(h_send(c->fd, p, n, H_TIMEOUT_MS), 0, "send of %zu bytes failed", n);
}

static inline void send_req(struct h_conn *c, const char *req)
{
	send_all(c, req, strlen(req));
}

/* Reads one response and checks its status. */
static inline void expect(struct h_conn *c, struct h_resp *r, bool head, int status, const char *what)
{
	int rc = h_read_response(c, r, head, H_TIMEOUT_MS * slack());
	cr_assert_eq(rc, H_OK, "%s: %s", what, h_result_str(rc));
	cr_assert_eq(r->status, status, "%s: status %d, want %d (body '%.80s')", what, r->status,
		     status, r->body ? r->body : "");
}

/* status, body (exact, when not NULL) and Content-Type (prefix, when not NULL). */
static inline void expect_text(struct h_conn *c, int status, const char *body, const char *type,
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
static inline void exchange(const char *req, int status, const char *body)
{
	struct h_conn c = open_conn();
	send_req(&c, req);
	expect_text(&c, status, body, NULL, req);
	h_conn_close(&c);
}

/* Allow names exactly the methods of `want` (NULL-terminated), any order. */
static inline void assert_allow(const struct h_resp *r, const char *const *want, const char *what)
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

static inline void expect_405(const char *req, const char *const *allow)
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
static inline void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 131u + seed + (i >> 10));
}

static inline void assert_bytes(const struct h_resp *r, const unsigned char *want, size_t n,
			 const char *what)
{
	cr_assert_eq(r->body_len, n, "%s: %zu bytes, want %zu", what, r->body_len, n);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)r->body[i] != want[i])
			cr_assert_fail("%s: byte %zu is 0x%02x, want 0x%02x", what, i,
				       (unsigned char)r->body[i], want[i]);
}

/* A chunked encoding of data in chunks of the given sizes (0-terminated). */
static inline size_t chunked(char *out, const unsigned char *data, const size_t *sizes)
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
static inline int hooks(const struct herd *h, struct hook *out, int max)
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
static inline int wait_starts(const struct herd *h, struct hook *hk, int max, int want)
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

static inline void sigterm_exit_0(struct herd *h)
{
	herd_signal(h, SIGTERM);
	cr_assert(herd_wait_exit(h, 5000 * slack()), "still running 5 s after SIGTERM");
	cr_assert(WIFEXITED(h->status) && WEXITSTATUS(h->status) == 0,
		  "after SIGTERM: %s %d", WIFSIGNALED(h->status) ? "signal" : "exit status",
		  WIFSIGNALED(h->status) ? WTERMSIG(h->status) : WEXITSTATUS(h->status));
}

/* "worker N served M" */
static inline void counter(struct h_conn *c, int *worker, long *served)
{
	struct h_resp r;
	send_req(c, "GET /counter HTTP/1.1\r\nHost: t\r\n\r\n");
	expect(c, &r, false, 200, "GET /counter");
	cr_assert_eq(sscanf(r.body, "worker %d served %ld", worker, served), 2, "/counter: %s",
		     r.body);
	h_resp_free(&r);
}

#endif
