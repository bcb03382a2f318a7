/* herd.h: run your own C handlers on herd's pinned workers (libherd).
 *
 * An application links libherd, registers handlers for methods and paths,
 * and hands control to herd_run().  herd then does what the `herd` binary
 * does (the binary is this API plus three routes): one thread per CPU, all
 * racing to accept on the shared listening sockets, keep-alive and
 * pipelining, the limits and timeouts, TLS, drain, the access log and
 * /metrics on the admin port, the supervisor growing and shrinking the set,
 * and with --procs N handler processes that restart when one crashes.
 *
 *     static int hello(struct herd_request *req, struct herd_response *res, void *user)
 *     {
 *             herd_res_type(res, "text/plain");
 *             herd_res_body(res, "hello\n", 6);
 *             return HERD_DONE;
 *     }
 *
 *     int main(int argc, char **argv)
 *     {
 *             struct herd *h = herd_new();
 *             int rc = herd_parse_args(h, &argc, argv);   // herd's flags out of argv
 *             if (rc != 0)
 *                     return rc < 0 ? 2 : 0;               // error, or --help/--version
 *             herd_route(h, "GET", "/hello", HERD_EXACT, hello, NULL);
 *             rc = herd_run(h);                            // until SIGTERM
 *             herd_free(h);
 *             return rc;
 *     }
 *
 *     cc app.c $(pkg-config --cflags --libs herd)
 *
 * Threads.  A handler runs on the worker thread that owns the connection
 * and must not block it: defer the answer (HERD_DEFER) and complete it on
 * that worker later, e.g. from a function another thread posts there with
 * herd_post().  Nothing here is safe to call from another thread except
 * herd_post(), herd_complete() of an orphaned response (see there) and the
 * herd_worker_count() query.
 *
 * Processes.  With --procs N (N > 1) herd starts N handler processes by
 * running the program's own binary again with the same arguments, and each
 * process runs main() as written: register the same routes and hooks, in
 * the same order, whatever process you are in.  A handler that crashes
 * takes down only its process; the supervisor starts a new one and the
 * others go on serving.  That is how to run handler code you do not trust
 * to stay up.
 */
#ifndef HERD_H
#define HERD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERD_API_VERSION 1

struct herd;          /* a server being configured, then run */
struct herd_request;  /* a request: valid during its handler's call */
struct herd_response; /* its answer, filled in by the handler */

/* Bytes that are not NUL-terminated; p is NULL for "absent". */
struct herd_str {
	const char *p;
	size_t len;
};

/* ---- Configuration ---------------------------------------------------- */

/* A server with herd's defaults and no routes; NULL: out of memory.
 * Blocks SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 in the calling
 * thread, so threads the program starts afterwards inherit the mask and
 * herd_run (which takes them through a signalfd) sees them all. */
struct herd *herd_new(void);
/* Frees a server, run or not (see herd_run). */
void herd_free(struct herd *h);

/* Takes herd's own flags (every flag of `herd --help`, as `--flag value`
 * or `--flag=value`) out of argv and leaves the rest, in order, after
 * argv[0]; *argc is updated and argv[*argc] is NULL.  "--" ends herd's
 * part.  Returns 0, 1 when --help or --version was printed (exit 0), or
 * -1 after printing the problem on stderr (exit 2).  The flags are checked
 * together with the setters' by herd_run. */
int herd_parse_args(struct herd *h, int *argc, char **argv);

/* Sets any flag by its command-line name, e.g. herd_set(h, "--workers",
 * "4") or herd_set(h, "--redirect-https", NULL).  A setting wins over
 * the same flag given before it, on the command line (herd_parse_args) or
 * by a setter, except for the flags that add (--listen, --listen-tls,
 * --tls-cert/--tls-key, --proxy, --proxy-strip): every one given counts.
 * 0, or -1 for a name herd does not know (the value is checked by
 * herd_run, like the command line's). */
int herd_set(struct herd *h, const char *flag, const char *value);
/* The common ones. */
int herd_set_listen(struct herd *h, const char *addr); /* "127.0.0.1:8080", "[::1]:0", ":80" */
int herd_set_workers(struct herd *h, int n);
int herd_set_procs(struct herd *h, int n);
int herd_set_root(struct herd *h, const char *dir);   /* serve files under "/" */
int herd_set_max_body(struct herd *h, uint64_t bytes);
int herd_set_admin(struct herd *h, const char *addr); /* /metrics, /health */
/* herd's flags, as `herd --help` prints them. */
void herd_usage(FILE *out);

/* ---- Routes ----------------------------------------------------------- */

enum herd_result {
	HERD_DONE = 0,  /* the response is complete: herd sends it */
	HERD_DEFER = 1, /* herd_complete(res) later, on this worker */
};

typedef int (*herd_handler)(struct herd_request *req, struct herd_response *res, void *user);

enum herd_match {
	HERD_EXACT = 0,  /* the path, exactly as sent (no query) */
	HERD_PREFIX = 1, /* any path starting with it ("/api/" takes "/api/x") */
};

/* Registers fn for method ("GET", "POST", any token; NULL or "*": every
 * method) and path.  A GET route answers HEAD too (herd drops the body).
 * Of the routes that take a request's method and path, an exact one wins
 * over a prefix, a longer prefix over a shorter, a named method over "*".
 * A path no route takes is 404; a path whose routes all take other methods
 * is 405 with Allow naming them.  For GET and HEAD, herd decides the
 * conditions that need no validator itself (If-None-Match: * is 304,
 * If-Match with a tag is 412) before the handler; the others (a tag in
 * If-None-Match, dates) are the handler's, which sees every field.  The strings are copied.  0, or -1
 * (a bad method or path, a duplicate, or more than 256 routes). */
int herd_route(struct herd *h, const char *method, const char *path, enum herd_match match,
	       herd_handler fn, void *user);

/* ---- Per-worker state --------------------------------------------------- */

/* start runs on each worker's thread before it serves anything, and its
 * result is that worker's data (herd_req_worker_data); stop runs on the
 * same thread after its last connection closed.  Workers the supervisor
 * adds under load and retires later start and stop too.  Either may be
 * NULL. */
typedef void *(*herd_worker_start)(int worker, void *user);
typedef void (*herd_worker_stop)(int worker, void *data, void *user);
void herd_on_worker(struct herd *h, herd_worker_start start, herd_worker_stop stop, void *user);

/* Worker slots in this process (ids are 0 .. count-1; not all may run). */
int herd_worker_count(const struct herd *h);

/* ---- Requests ----------------------------------------------------------- */

struct herd_str herd_req_method(const struct herd_request *req);
struct herd_str herd_req_path(const struct herd_request *req);   /* as sent, without the query */
struct herd_str herd_req_query(const struct herd_request *req);  /* after '?'; len 0 when none */
/* The first field of that name (any case); p NULL when there is none. */
struct herd_str herd_req_header(const struct herd_request *req, const char *name);
/* Field i (0 .. count-1) as received. */
int herd_req_header_count(const struct herd_request *req);
int herd_req_header_at(const struct herd_request *req, int i, struct herd_str *name,
		       struct herd_str *value);
/* The body, whole (Content-Length or chunked, at most --max-body; more was
 * answered 413 without calling the handler); len 0 when none. */
struct herd_str herd_req_body(const struct herd_request *req);
/* The client's address as text ("127.0.0.1", "::1"); "" for a Unix socket. */
const char *herd_req_peer(const struct herd_request *req);
int herd_req_worker(const struct herd_request *req);
void *herd_req_worker_data(const struct herd_request *req);
/* The server, for herd_post. */
struct herd *herd_req_server(const struct herd_request *req);

/* ---- Responses ---------------------------------------------------------- */

/* 200 unless set; 100..999. */
void herd_res_status(struct herd_response *res, int status);
/* Content-Type (none unless set). */
int herd_res_type(struct herd_response *res, const char *type);
/* One more field.  herd writes Date, Server, Content-Length and Connection
 * itself (and refuses them here).  0, or -1: not a valid field, or over
 * 4 KiB of fields. */
int herd_res_header(struct herd_response *res, const char *name, const char *value);
/* The body: copied now. */
int herd_res_body(struct herd_response *res, const void *p, size_t len);
/* The body: sent from p, which must stay valid until done(arg) is called
 * (once, when the body is out or the client is gone: on this worker, or on
 * the thread that frees an orphaned response with herd_complete);
 * done may be NULL for memory that lives forever. */
int herd_res_body_borrow(struct herd_response *res, const void *p, size_t len,
			 void (*done)(void *arg), void *arg);
/* The body: a file, sent with sendfile(2).  By path (opened now; 404 when
 * it cannot be) or by an open descriptor, from off for len bytes (len
 * UINT64_MAX: to the end), which herd closes when done if own_fd. */
int herd_res_file(struct herd_response *res, const char *path);
int herd_res_fd(struct herd_response *res, int fd, uint64_t off, uint64_t len, int own_fd);

/* ---- Answering later ---------------------------------------------------- */

/* Keeps the answer for later: returns the response to fill in and pass to
 * herd_complete() (res itself, like the request, is only valid during the
 * handler's call), or NULL when out of memory (answer now instead).  The
 * handler then returns HERD_DEFER.  Meanwhile the connection reads no
 * further request; a client that leaves orphans the response. */
struct herd_response *herd_defer(struct herd_response *res);
int herd_res_worker(const struct herd_response *res);
/* Sends a response whose handler returned HERD_DEFER, on its worker's
 * thread; then res is gone.  Returns 0, or -1 when the client left (or the
 * worker stopped) meanwhile: the response was orphaned and is now freed.
 * An orphaned response may be completed from any thread, which only frees
 * it (herd_post() returning -1 is how another thread learns of it). */
int herd_complete(struct herd_response *res);

/* Runs fn(arg) on worker's thread soon (from any thread, also a handler's).
 * 0; -1 when that worker is not running (fn is not called; a response it
 * owned is orphaned); -2 when no memory could be had for a second (nothing
 * was queued: try again). */
int herd_post(struct herd *h, int worker, void (*fn)(void *arg), void *arg);

/* ---- Running ------------------------------------------------------------ */

/* Serves until SIGTERM or SIGINT (graceful: the drain of the binary).
 * Returns the process's exit status: 0, 1 (could not start), 2 (bad
 * configuration, printed on stderr).  Every worker has stopped by then, and
 * herd_post() refuses; h stays valid until herd_free(h), which the program
 * calls once none of its threads can still call herd_post(). */
int herd_run(struct herd *h);

#ifdef __cplusplus
}
#endif

#endif
