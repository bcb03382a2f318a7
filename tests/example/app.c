/* herd-example: an application on libherd (net/herd.h; the README's
 * "Embedding herd" walks through it).  Each route shows one feature:
 *
 *   GET  /hello     a body borrowed from memory that lives as long as the program
 *   GET  /greet     the query and a request header; a body herd copies
 *   POST /echo      the request body (Content-Length or chunked)
 *   GET  /api/...   a prefix route; DELETE /api/items shares a path with it
 *   GET  /file      a file sent with sendfile(2)                  (--file PATH)
 *   GET  /slow      an answer deferred to a thread of our own
 *   GET  /counter   per-worker state, without locks
 *   GET  /crash     abort(): with --procs, one process dies      (--allow-crash)
 *
 *   herd-example [herd's flags] [--greeting TEXT] [--file PATH] [--allow-crash]
 *   cc app.c $(pkg-config --cflags --libs herd) -o herd-example */
#define _POSIX_C_SOURCE 200809L /* nanosleep and strncasecmp under -std=c17 */

#include <herd.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* The text (built in main) outlives every response, so herd sends it from
 * where it is: no copy, and no `done` callback to free it. */
static int hello(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	const char *text = user;
	herd_res_type(res, "text/plain");
	herd_res_body_borrow(res, text, strlen(text), NULL, NULL);
	return HERD_DONE;
}

/* /greet?name=Ann.  Request strings are not NUL-terminated ("%.*s" prints
 * them); the body is on the stack, so herd copies it. */
static int greet(struct herd_request *req, struct herd_response *res, void *user)
{
	struct herd_str q = herd_req_query(req), name = {NULL, 0};
	for (size_t i = 0; i + 5 <= q.len; i++) /* "name=" at the start or after '&' */
		if ((i == 0 || q.p[i - 1] == '&') && !memcmp(q.p + i, "name=", 5)) {
			name.p = q.p + i + 5;
			const char *amp = memchr(name.p, '&', q.len - i - 5);
			name.len = amp ? (size_t)(amp - name.p) : q.len - i - 5;
			break;
		}
	herd_res_type(res, "text/plain");
	if (!name.len) {
		herd_res_status(res, 400);
		herd_res_body(res, "missing ?name=\n", 15);
		return HERD_DONE;
	}
	struct herd_str lang = herd_req_header(req, "Accept-Language");
	const char *hi = lang.len >= 2 && !strncasecmp(lang.p, "fr", 2) ? "Bonjour" : user;
	char body[256];
	int n = snprintf(body, sizeof(body), "%s, %.*s!\n", hi, (int)name.len, name.p);
	herd_res_body(res, body, n < (int)sizeof(body) ? (size_t)n : sizeof(body) - 1);
	return HERD_DONE;
}

/* The body arrives whole: over --max-body, herd answers 413 without us. */
static int echo(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct herd_str body = herd_req_body(req), type = herd_req_header(req, "Content-Type");
	char ctype[128] = "application/octet-stream";
	if (type.p && type.len < sizeof(ctype))
		snprintf(ctype, sizeof(ctype), "%.*s", (int)type.len, type.p);
	herd_res_type(res, ctype);
	if (body.len && herd_res_body(res, body.p, body.len) != 0)
		herd_res_status(res, 500); /* out of memory */
	return HERD_DONE;
}

/* A prefix route: every GET under /api/, answered {"path":"..."}. */
static int api(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct herd_str path = herd_req_path(req);
	char json[512];
	size_t n = 0;
	n += (size_t)snprintf(json, sizeof(json), "{\"path\":\"");
	for (size_t i = 0; i < path.len && n < sizeof(json) - 8; i++) {
		if (path.p[i] == '"' || path.p[i] == '\\') /* JSON string escapes */
			json[n++] = '\\';
		json[n++] = path.p[i];
	}
	n += (size_t)snprintf(json + n, sizeof(json) - n, "\"}\n");
	herd_res_type(res, "application/json");
	herd_res_body(res, json, n);
	return HERD_DONE;
}

/* With it, PUT /api/items is 405 with "Allow: GET, HEAD, DELETE". */
static int delete_items(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req, (void)user;
	herd_res_status(res, 204);
	return HERD_DONE;
}

/* herd opens the file now (404 if it cannot) and sends it with sendfile. */
static int file(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	herd_res_type(res, "application/octet-stream");
	herd_res_file(res, user);
	return HERD_DONE;
}

static int crash(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req, (void)res, (void)user;
	abort(); /* with --procs N, only this handler process dies and is restarted */
}

/* ---- Per-worker state --------------------------------------------------- */

/* One per worker thread, where an application would keep, say, a database
 * connection.  Only its worker touches it: no lock. */
struct worker_state {
	unsigned long served;
};

static void *worker_start(int worker, void *user)
{
	(void)user;
	struct worker_state *ws = calloc(1, sizeof(*ws));
	fprintf(stderr, "example: worker %d start (pid %d)\n", worker, (int)getpid());
	return ws;
}

/* On the same thread, after the worker's last connection closed. */
static void worker_stop(int worker, void *data, void *user)
{
	(void)user;
	fprintf(stderr, "example: worker %d stop (pid %d)\n", worker, (int)getpid());
	free(data);
}

static int counter(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct worker_state *ws = herd_req_worker_data(req);
	char body[64];
	int n = snprintf(body, sizeof(body), "worker %d served %lu\n", herd_req_worker(req),
			 ws ? ++ws->served : 0);
	herd_res_type(res, "text/plain");
	herd_res_body(res, body, (size_t)n);
	return HERD_DONE;
}

/* ---- A deferred answer -------------------------------------------------- */

/* /slow stands for blocking work (a query, a call to another service), which
 * must not run on a worker: its other connections would wait.  The handler
 * defers the answer and queues a job; our thread does the blocking part and
 * posts the rest back to the worker, which completes the response.  The
 * request (like res) is only valid during the handler: copy what you need. */
struct job {
	struct job *next;
	struct herd *server;
	struct herd_response *res; /* the persistent handle from herd_defer() */
	int worker;                /* where to complete it */
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	struct job *head, *tail;
	bool quit;
} jobs = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static int slow(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct job *j = calloc(1, sizeof(*j));
	struct herd_response *later = j ? herd_defer(res) : NULL;
	if (!later) { /* out of memory: answer now */
		free(j);
		herd_res_status(res, 503);
		return HERD_DONE;
	}
	*j = (struct job){NULL, herd_req_server(req), later, herd_res_worker(later)};
	pthread_mutex_lock(&jobs.lock);
	*(jobs.tail ? &jobs.tail->next : &jobs.head) = j;
	jobs.tail = j;
	pthread_cond_signal(&jobs.more);
	pthread_mutex_unlock(&jobs.lock);
	return HERD_DEFER;
}

/* Back on the response's worker (posted by the job thread). */
static void slow_finish(void *arg)
{
	struct job *j = arg;
	char body[64];
	int n = snprintf(body, sizeof(body), "slow answer from worker %d\n", herd_res_worker(j->res));
	herd_res_type(j->res, "text/plain");
	herd_res_body(j->res, body, (size_t)n);
	herd_complete(j->res); /* -1: the client left meanwhile; herd freed it */
	free(j);
}

static void *job_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&jobs.lock);
	for (;;) {
		while (!jobs.head && !jobs.quit)
			pthread_cond_wait(&jobs.more, &jobs.lock);
		struct job *j = jobs.head;
		if (!j)
			break; /* quit, nothing left */
		if (!(jobs.head = j->next))
			jobs.tail = NULL;
		pthread_mutex_unlock(&jobs.lock);

		nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL); /* the blocking work */
		int rc;
		while ((rc = herd_post(j->server, j->worker, slow_finish, j)) == -2)
			nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL); /* no memory */
		if (rc != 0) {
			herd_complete(j->res); /* the worker stopped: this only frees it */
			free(j);
		}
		pthread_mutex_lock(&jobs.lock);
	}
	pthread_mutex_unlock(&jobs.lock);
	return NULL;
}

int main(int argc, char **argv)
{
	struct herd *h = herd_new();
	if (!h)
		return 1;
	/* herd's flags (--listen, --workers, --procs...) out of argv; ours stay. */
	int rc = herd_parse_args(h, &argc, argv);
	if (rc != 0) {
		if (rc > 0) /* --help */
			printf("herd-example: [--greeting TEXT] [--file PATH] [--allow-crash]\n");
		herd_free(h);
		return rc < 0 ? 2 : 0;
	}
	const char *greeting = "Hello", *path = NULL;
	bool allow_crash = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--greeting") && i + 1 < argc)
			greeting = argv[++i];
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--allow-crash"))
			allow_crash = true;
		else {
			fprintf(stderr, "herd-example: unknown argument '%s'\n", argv[i]);
			herd_free(h);
			return 2;
		}
	}
	static char hello_text[256]; /* lives as long as the program: borrowed by /hello */
	snprintf(hello_text, sizeof(hello_text), "%s, world!\n", greeting);

	/* With --procs every handler process runs this main(): same routes. */
	int bad = 0;
	bad |= herd_route(h, "GET", "/hello", HERD_EXACT, hello, hello_text);
	bad |= herd_route(h, "GET", "/greet", HERD_EXACT, greet, (void *)greeting);
	bad |= herd_route(h, "POST", "/echo", HERD_EXACT, echo, NULL);
	bad |= herd_route(h, "GET", "/api/", HERD_PREFIX, api, NULL);
	bad |= herd_route(h, "DELETE", "/api/items", HERD_EXACT, delete_items, NULL);
	bad |= herd_route(h, "GET", "/slow", HERD_EXACT, slow, NULL);
	bad |= herd_route(h, "GET", "/counter", HERD_EXACT, counter, NULL);
	if (path)
		bad |= herd_route(h, "GET", "/file", HERD_EXACT, file, (void *)path);
	if (allow_crash)
		bad |= herd_route(h, "GET", "/crash", HERD_EXACT, crash, NULL);
	if (bad) {
		fprintf(stderr, "herd-example: could not register the routes\n");
		herd_free(h);
		return 1;
	}
	herd_on_worker(h, worker_start, worker_stop, NULL);

	/* Our own thread, for blocking work.  herd_new() blocked the signals
	 * herd takes (SIGTERM...) and it inherits that: they stay herd's. */
	pthread_t jt;
	if (pthread_create(&jt, NULL, job_thread, NULL) != 0) {
		herd_free(h);
		return 1;
	}
	rc = herd_run(h); /* until SIGTERM or SIGINT */

	/* Every worker has stopped: what the job thread still holds is orphaned,
	 * and herd_post() refuses it.  Once the thread is done, nothing can call
	 * herd_post() any more, and the server can go. */
	pthread_mutex_lock(&jobs.lock);
	jobs.quit = true;
	pthread_cond_signal(&jobs.more);
	pthread_mutex_unlock(&jobs.lock);
	pthread_join(jt, NULL);
	herd_free(h);
	return rc;
}
