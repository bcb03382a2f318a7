/* Helpers shared by the reverse-proxy integration suites
 * (test_proxy_integration.c, test_proxy_hostile_integration.c): upstreams
 * (proxy_upstream.py) started and stopped by the test, an HTTP/1.x response
 * reader that also decodes chunked bodies (and tells a chunked body without
 * its last chunk from a complete one), the upstreams' byte pattern, /metrics
 * by upstream label, external commands (curl). */
#ifndef HERD_TESTS_PROXY_INTEG_H
#define HERD_TESTS_PROXY_INTEG_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* One proxy_upstream.py process. */
struct px_up {
	pid_t pid;
	int port;           /* 0 for a Unix socket */
	char unix_path[108]; /* "" for TCP */
	char url[160];       /* http://127.0.0.1:PORT, http://[::1]:PORT, unix:/path */
	char label[160];     /* its name in metrics and the access log */
};

/* Starts proxy_upstream.py with args (NULL-terminated: --name, --mode,
 * --unix, --ipv6) and waits up to 5 s for its port line (asserts). */
void px_up_start(struct px_up *u, const char *const *args);
#define PX_UP(u, ...) px_up_start((u), (const char *const[]){__VA_ARGS__ __VA_OPT__(,) NULL})
/* SIGKILLs it (the test may stop an upstream halfway). */
void px_up_stop(struct px_up *u);
/* A temp directory of the test's own (created on first use, removed by
 * px_fini). */
const char *px_dir(void);
/* The suites' .fini: kills the upstreams, removes the temp dir, then
 * harness_fini. */
void px_fini(void);

/* A loopback TCP port on which nothing listens: a socket bound and never
 * listening, kept for the test (connect is refused at once). */
int px_dead_port(void);

/* ---- talking to an upstream directly (bypassing herd) ---- */

/* A value of the upstream's /count ("requests", "connections", "aborted",
 * "never_closed", "health", "path /echo"); 0 for a path it never saw;
 * asserts the upstream answers. */
long px_up_stat(const struct px_up *u, const char *key);
/* Polls px_up_stat(u, key) every step_ms until it is not 0 or within_ms
 * have passed; then returns px_up_stat(u, key). */
long px_up_stat_wait(const struct px_up *u, const char *key, int within_ms, int step_ms);
/* GET target straight to the upstream, asserting a 200. */
void px_up_get(const struct px_up *u, const char *target);

/* ---- responses ---- */

enum px_framing { PX_NONE, PX_LENGTH, PX_CHUNKED, PX_CLOSE };

struct px_resp {
	int status;
	char version[16];
	char *head;             /* malloc'd header section, split into names/values */
	size_t head_len;        /* bytes of the head on the wire, blank line included */
	int nheaders;
	char *names[H_MAX_HEADERS];
	char *values[H_MAX_HEADERS];
	enum px_framing framing;
	size_t content_length;
	bool last_chunk;        /* chunked: the 0-size chunk and trailers arrived */
	char *body;             /* malloc'd, decoded, NUL-terminated */
	size_t body_len;
};

/* Reads one response off c (the interim 1xx ones are returned like any
 * other: call again for the final one).  head_request: no body whatever the
 * head says.  Returns H_OK, or H_EOF / H_TIMEOUT / H_PARTIAL / H_BAD; on
 * H_PARTIAL r holds the head and what arrived of the body. */
int px_read(struct h_conn *c, struct px_resp *r, bool head_request, int timeout_ms);
void px_resp_free(struct px_resp *r);
const char *px_header(const struct px_resp *r, const char *name);
/* How many fields of that name the response has. */
int px_header_count(const struct px_resp *r, const char *name);

/* A fresh connection to 127.0.0.1:port (asserts), wrapped in c. */
void px_open(struct h_conn *c, int port);
/* Sends req on c (asserts), reads one response with px_read. */
int px_send_read(struct h_conn *c, const char *req, struct px_resp *r, int timeout_ms);
/* Connects, sends req, reads one response, closes (asserts the send). */
int px_exchange(int port, const char *req, struct px_resp *r, int timeout_ms);
/* GET path HTTP/1.1 on a fresh connection: the status (asserts a response). */
int px_status(int port, const char *path);

/* ---- the upstream's bytes ---- */

/* Byte i of every body the upstream generates (/big, /chunked, ...). */
unsigned char px_pat(size_t i);
/* malloc'd pattern bytes [off, off + n). */
unsigned char *px_pat_buf(size_t off, size_t n);
/* Index of the first byte of buf[0..n) that differs from the pattern at
 * offset off + i, or -1 when all match. */
long px_pat_diff(const void *buf, size_t n, size_t off);

/* Reads a response off the raw socket fd: its head byte by byte (asserts
 * "HTTP/1.1 200"), then its body in recv()s of up to chunk bytes into buf,
 * asserting each matches the pattern, until want body bytes are in or
 * within_ms have passed (asserts the socket stays open).  who names the
 * client in messages.  Returns the body bytes read (may pass want). */
size_t px_read_pat_response(int fd, char *buf, size_t chunk, size_t want, int within_ms,
			    const char *who);

/* ---- metrics ---- */

/* Value of name{upstream="LABEL"[, extra]} summed over matching series
 * (extra e.g. "class=\"2xx\"" or NULL); -1 when no series matches. */
long long px_metric(int admin_port, const char *name, const char *label, const char *extra);

/* ---- misc ---- */

/* Runs `sh -c cmd` (stdin /dev/null, stderr into the output), killed after
 * 30 s; returns its exit status (-1 if killed); *out malloc'd text. */
int px_run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes n bytes to path (asserts). */
void px_write_file(const char *path, const void *p, size_t n);
/* Whole file, malloc'd, NUL-terminated (NULL if absent); *n its length. */
char *px_read_file(const char *path, size_t *n);
/* Sum of VmRSS (KiB) of pid and its descendants. */
long px_rss_kib(pid_t pid);
/* CPU time (utime + stime, in clock ticks) of pid and its descendants. */
long long px_cpu_ticks(pid_t pid);
/* True when $HERD_EXTRA_ARGS asks for handler processes (--procs). */
bool px_procs(void);
/* True when ::1 can be bound here. */
bool px_have_ipv6(void);

#endif
