/* Integration-test harness: runs the real herd binary ($HERD_BIN) as a child
 * and talks to it over loopback sockets only.  Every socket wait is bounded
 * (poll with a timeout) so a server bug shows up as a failed assertion, not
 * a hung test. */
#ifndef HERD_TEST_HARNESS_H
#define HERD_TEST_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <criterion/criterion.h>

#include "harness_spawn.h"

#define H_TIMEOUT_MS 5000 /* default bound for one socket wait */

/* A running server.  Servers started through herd_start() are also kept in a
 * per-process registry so harness_fini() can SIGKILL whatever a failing test
 * left behind. */
struct herd {
	pid_t pid;
	int port;       /* bound port parsed from "listening on ...:PORT" */
	int admin_port; /* from "admin on ...:PORT", 0 without --admin */
	bool admin_before_listen; /* contract: the admin line comes first */
	int errfd; /* read end of the child's stderr (and stdout), a temp file */
	bool reaped;
	int status; /* waitpid status once reaped */
};

/* Runs $HERD_BIN with args (NULL-terminated) and waits for it to be ready.
 * Adds "--listen 127.0.0.1:0" unless args contain a --listen.  accept: NULL
 * means the default ($HERD_ACCEPT if set and non-empty, otherwise no --accept
 * flag), "" means never pass --accept, anything else is passed as
 * "--accept VALUE".  Asserts (and dumps the child's stderr) on failure. */
void herd_start_accept(struct herd *h, const char *accept, const char *const *args);
#define herd_start(h, ...) \
	herd_start_accept((h), NULL, (const char *const[]){__VA_ARGS__ __VA_OPT__(,) NULL})
/* $HERD_EXTRA_ARGS (space-separated) is appended to every server's argv
 * after all of the above, so its flags win over the test's own (herd takes
 * the last occurrence; --listen adds a listener instead, so the default
 * --listen above is left out when either argv has one): e.g.
 * HERD_EXTRA_ARGS='--procs 2 --workers 4' runs a suite against the
 * multi-process mode.  herd_run() does not add them. */

/* Like herd_start_accept, but returns as soon as the child runs, without
 * waiting for readiness: port and admin_port stay 0 (see herd_wait_port). */
void herd_spawn_accept(struct herd *h, const char *accept, const char *const *args);
#define herd_spawn(h, ...) \
	herd_spawn_accept((h), NULL, (const char *const[]){__VA_ARGS__ __VA_OPT__(,) NULL})
/* Waits up to timeout_ms for a complete "TAG HOST:PORT" line (TAG e.g.
 * "listening on ") in the child's stderr; returns the port, or -1 on a
 * timeout, a malformed line, or the child's exit. */
int herd_wait_port(struct herd *h, const char *tag, int timeout_ms);
/* The ports of every "listening on HOST:PORT" line printed so far, in
 * order (the first is h->port), at most max; returns how many. */
int herd_ports(const struct herd *h, int *ports, int max);

/* Non-blocking: true while the child has not exited (reaps it if it has). */
bool herd_alive(struct herd *h);
/* Waits up to timeout_ms for the child to exit.  Returns true if it did;
 * h->status then holds the waitpid status. */
bool herd_wait_exit(struct herd *h, int timeout_ms);
void herd_signal(struct herd *h, int sig);
/* Kills (if needed) and forgets a server before the test ends, e.g. to
 * start many in a loop; fails the test on a sanitizer report. */
void herd_release(struct herd *h);
/* The child's stderr so far, malloc'd and NUL-terminated. */
char *herd_stderr(const struct herd *h);

/* Length of the child's stderr so far (an offset for herd_wait_log). */
size_t herd_stderr_len(const struct herd *h);
/* Waits up to timeout_ms for `needle` in the child's stderr after offset
 * `from`; true if it appeared. */
bool herd_wait_log(const struct herd *h, size_t from, const char *needle, int timeout_ms);

/* Runs $HERD_BIN to completion (for CLI checks).  Returns the waitpid status,
 * or -1 if it did not exit within timeout_ms (it is then killed).  *out and
 * *err receive malloc'd stdout/stderr text. */
int herd_run(const char *const *args, int timeout_ms, char **out, char **err);

/* Test wrapper: a test declared with HTEST() ends with harness_passed(),
 * which fails the test if a server printed a sanitizer report, and marks it
 * passed; harness_fini() (the suites' .fini) kills the servers and prints
 * their stderr only for tests that failed (an assertion longjmps past the
 * mark).  A test that skips calls harness_passed() first. */
void harness_passed(void);
void harness_fini(void);
#define HTEST(suite, name, ...)                         \
	static void hbody_##suite##_##name(void);       \
	Test(suite, name, ##__VA_ARGS__)                \
	{                                               \
		hbody_##suite##_##name();               \
		harness_passed();                       \
	}                                               \
	static void hbody_##suite##_##name(void)

/* ---- sockets (never assert: usable from client threads) ---- */

/* Connects to host:port ("127.0.0.1" or "::1"), bounded by H_TIMEOUT_MS.
 * rcvbuf > 0 sets SO_RCVBUF before connecting (to provoke backpressure).
 * Returns a blocking fd with TCP_NODELAY set, or -1. */
int h_connect_host(const char *host, int port, int rcvbuf);
int h_connect(int port); /* 127.0.0.1 */
/* Sends all n bytes; 0 on success, -1 on error/timeout. Never SIGPIPEs. */
int h_send(int fd, const void *buf, size_t n, int timeout_ms);
int h_send_str(int fd, const char *s);
/* Sets SO_LINGER {1,0} and closes: the peer gets an RST. */
void h_close_rst(int fd);

/* ---- HTTP client ---- */

#define H_MAX_HEADERS 64

struct h_conn {
	int fd;
	char *buf; /* bytes read but not consumed yet (pipelined responses) */
	size_t len, cap;
	bool eof;   /* peer closed (FIN) */
	int error;  /* errno of a failed read, e.g. ECONNRESET */
};

struct h_resp {
	int status;
	char version[16];
	int nheaders;
	char *names[H_MAX_HEADERS];
	char *values[H_MAX_HEADERS];
	char head[16384]; /* header section, split in place into names/values */
	bool has_length;
	size_t content_length;
	char *body; /* malloc'd, NUL-terminated; read up to EOF without a length */
	size_t body_len;
};

enum h_read_result {
	H_OK = 0,
	H_EOF = -1,     /* connection closed before any byte of a response */
	H_TIMEOUT = -2, /* nothing complete within the timeout */
	H_PARTIAL = -3, /* closed in the middle of a response */
	H_BAD = -4,     /* not parseable as an HTTP response */
};

void h_conn_init(struct h_conn *c, int fd);
void h_conn_close(struct h_conn *c);
/* One bounded read into c's buffer (grown as needed): 1 got bytes, 0 EOF or
 * an error (c->eof / c->error), -1 nothing before deadline (h_now_ms). */
int h_conn_fill(struct h_conn *c, long long deadline);
/* Drops the first n buffered bytes. */
void h_conn_consume(struct h_conn *c, size_t n);
/* Splits a response head (status line and fields, NUL-terminated, no blank
 * line) in place: the status, version ("HTTP/1.x"), names/values (at most
 * H_MAX_HEADERS, counted from *nheaders on).  H_OK or H_BAD. */
int h_split_head(char *head, int *status, char *version, size_t vlen, char **names,
		 char **values, int *nheaders);
/* Reads exactly one response.  head_request: the response has no body
 * whatever its Content-Length says.  Extra bytes stay buffered in c. */
int h_read_response(struct h_conn *c, struct h_resp *r, bool head_request, int timeout_ms);
/* After a response: 1 if the server closed with nothing else sent, 0 if the
 * connection is still open after timeout_ms, -1 if more bytes came. */
int h_conn_wait_eof(struct h_conn *c, int timeout_ms);
void h_resp_free(struct h_resp *r);
/* Value of the first header with this name (case-insensitive), or NULL. */
const char *h_header(const struct h_resp *r, const char *name);
const char *h_result_str(int rc);

/* Connects, sends `request` verbatim, reads one response, closes.  0 or an
 * h_read_result. */
int h_exchange(int port, const char *request, struct h_resp *r);
/* Asserts GET path on a fresh HTTP/1.1 connection answers 200 with body. */
void h_assert_get(int port, const char *path, const char *body);

/* ---- admin /metrics ---- */

/* GET /metrics on the admin port; malloc'd body or NULL. */
char *h_metrics(int admin_port);
/* Sum over all series of `name` (any labels); returns the number of series
 * found (0 if none), sum in *sum. */
int h_metric_sum(const char *text, const char *name, long long *sum);
/* Value of name{worker="W"}, or -1 if absent. */
long long h_metric_worker(const char *text, const char *name, int worker);

/* Sum of the samples of `name` whose label set contains every string of
 * `want` (NULL-terminated, e.g. "proc=\"1\""; none: every series), or -1
 * if there is no such series. */
long long h_metric_sel(const char *text, const char *name, const char *const *want);
#define h_metric_l(text, name, ...) \
	h_metric_sel((text), (name), (const char *const[]){__VA_ARGS__ __VA_OPT__(,) NULL})

/* ---- herd-load ($HERD_LOAD) in the background ---- */

struct h_load {
	pid_t pid;
	char json[40]; /* its --json file */
};
/* Starts $HERD_LOAD with args (NULL-terminated) plus --json; stdout goes to
 * /dev/null, stderr to the test's.  It dies with the test process. */
void h_load_start(struct h_load *l, const char *const *args);
/* Waits up to timeout_ms for it to exit 0 (asserts); returns its JSON
 * report, malloc'd. */
char *h_load_finish(struct h_load *l, int timeout_ms);
/* Removes the JSON files of herd-load runs a failed test left unfinished
 * (harness_fini calls it). */
void h_load_cleanup(void);
/* The number after "key": in herd-load's JSON (asserts it is there). */
long long h_json_number(const char *json, const char *key);

/* Asserts that herd-load's JSON report shows more than 100 requests, no
 * error and no status but 200 (what: names the load in messages). */
void h_load_assert_clean(const char *json, const char *what);

/* GET /metrics on the admin port, asserting it is answered 200 (the message
 * names `line` and how it failed); returns the malloc'd body. */
char *h_metrics_assert(int admin_port, int line);

/* /proc/PID/stat: state ('R', 'S', 'Z'...), ppid, utime+stime in ms (any may
 * be NULL); false when PID does not exist. */
bool h_proc_stat(int pid, char *state, int *ppid, long long *cpu_ms);

/* Whether $HERD_BIN is a sanitizer build (its allocator keeps freed memory
 * in quarantine, so its RSS says nothing about what the server holds). */
bool h_server_sanitized(void);

/* Runs `sh -c CMD` (CMD from fmt and ap, without single quotes; stdin
 * /dev/null, stderr into the output), SIGKILLed after timeout_s; returns its
 * exit status (-1 if killed); *out gets the malloc'd, NUL-terminated text. */
int h_run_shv(char **out, int timeout_s, const char *fmt, va_list ap);

#endif
