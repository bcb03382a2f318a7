/* Application routes (libherd, net/herd.h) over the HTTP protocol: the
 * route table, the request view a handler sees, the response it fills and
 * how that response becomes bytes.  The engine's side (deferred answers,
 * posts, per-worker hooks) is core/app.c; configuring and running is
 * balance/herd_app.c. */
#ifndef HERD_HTTP_APP_H
#define HERD_HTTP_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/herd.h"
#include "net/http_lex.h"
#include "net/http_parse.h"
#include "net/proto.h"

#define APP_MAX_ROUTES 256
/* Fields a handler may add to one response. */
#define APP_HEADERS_MAX 4096
/* Output room an application answer's head needs. */
#define APP_HEAD_ROOM (HTTP_RESPONSE_MAX + APP_HEADERS_MAX)

struct file_entry;

struct app_route {
	char *method;   /* NULL: every method */
	char *path;
	uint32_t mlen, plen;
	bool prefix;
	bool files;     /* --root: the static files (http_static_answer) */
	herd_handler fn;
	void *user;
};

/* Read-only once the server runs: every worker reads it. */
struct app_table {
	struct app_route routes[APP_MAX_ROUTES];
	int n;
	struct herd *server;
};

/* A token (RFC 9110 5.6.2): a method, a field name. */
static inline bool app_token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!(http_cls[(unsigned char)*s] & HTTP_C_TCHAR))
			return false;
	return true;
}

/* net/http_app_route.c.  0, or -1 (bad method or path, duplicate, table
 * full). */
int app_table_add(struct app_table *t, const char *method, const char *path, bool prefix,
		  bool files, herd_handler fn, void *user);

/* What the table says of a request: a route to call, or an answer. */
struct app_match {
	int route;       /* >= 0: the route; -1: none (status says why) */
	int status;      /* 404 (no path matches), 405 (other methods), 501 */
	char allow[128]; /* 405: "Allow: ...\r\n" */
	uint32_t allow_len;
};
void app_table_match(const struct app_table *t, const struct http_request *req,
		     struct app_match *m);

enum app_body_kind { APP_BODY_NONE, APP_BODY_COPY, APP_BODY_BORROW, APP_BODY_FILE };

struct app_worker;

struct herd_response {
	int status;
	uint8_t kind;       /* enum app_body_kind */
	bool bad;           /* a setter failed: answer 500 */
	bool deferred;      /* herd_defer() was called on this (scratch) response */
	uint32_t hlen;
	const char *body;
	size_t body_len;
	char *own;          /* APP_BODY_COPY: the buffer (body points into it) */
	size_t own_cap;
	void (*done)(void *arg);
	void *done_arg;
	struct file_entry *file;
	uint64_t file_off, file_len;
	/* A deferred answer: the connection's, and herd_complete's. */
	struct herd_response *handle; /* scratch: the heap copy herd_defer made */
	struct app_worker *aw;
	void *conn;                   /* core's struct conn; NULL once orphaned */
	_Atomic bool orphaned;
	bool ready;                   /* herd_complete() was called */
	bool queued;                  /* on its worker's ready list (core/app.c) */
	int worker;
	struct herd_response *next_ready;
	unsigned resp_flags;          /* HTTP_RESP_* of the request */
	char *log_line;               /* access_log_prepare()'s, or NULL */
	char hdrs[APP_HEADERS_MAX];
};

/* Body buffers a worker keeps for the next request with a body, so a
 * stream of such requests costs no allocation each. */
#define APP_SPARE 4
#define APP_SPARE_MIN (16 * 1024)
#define APP_SPARE_MAX (256 * 1024)

/* The head of the worker's last answer: a handler that answers the same way
 * within the same second (the Date line) gets the bytes copied, not
 * formatted again. */
struct app_head_cache {
	int64_t sec;
	int status;
	unsigned flags;
	uint64_t len;
	uint32_t hlen, head_len; /* head_len 0: empty */
	char hdrs[128];
	char head[384];
};

/* Per worker: its id and data, the response handlers fill in (no
 * allocation per request) and what herd_complete and herd_post need. */
struct app_worker {
	int id;
	void *data;
	struct herd *server;
	void *owner; /* core's struct worker */
	unsigned long thread; /* pthread_t of the worker */
	struct herd_response scratch;
	struct app_collect *spare[APP_SPARE];
	int nspare;
	struct app_head_cache head;
	/* Deferred answers completed on this worker, sent at the loop's
	 * level (core/app.c): never inside another connection's turn. */
	struct herd_response *ready_head, *ready_tail;
};

struct herd_request {
	const struct http_request *req;
	struct herd_str body;
	const struct peer_addr *peer;
	struct app_worker *aw;
	int fd; /* the connection's socket, for herd_req_peer; -1: none */
	char peer_text[48];
};

/* A request body being read for a handler (struct proto_state.app_in). */
struct app_collect {
	int route;
	uint32_t head_len;
	size_t len, cap; /* head + body bytes so far */
	bool done;
	char buf[];
};

/* A buffer for a request's head and at least cap - head bytes of body
 * (c->cap says how much it holds), or NULL; back with app_collect_put. */
struct app_collect *app_collect_get(struct app_worker *aw, size_t cap);
void app_collect_put(struct app_worker *aw, struct app_collect *c);
/* Frees the worker's spare buffers (its end). */
void app_worker_spares_free(struct app_worker *aw);

/* A body that leaves after the head, a piece per hand-over
 * (struct proto_state.app_out, PROTO_BODY). */
struct app_body {
	const char *p;
	size_t len, off;
	void (*done)(void *arg);
	void *arg;
};

/* The response state a handler starts from. */
void app_res_reset(struct herd_response *r);
/* Frees what the response holds (its copied body, its file; calls done). */
void app_res_release(struct herd_response *r);
/* Frees a response herd_defer() made, and all it holds. */
void app_res_free(struct herd_response *h);

/* The protocol's side (net/http_proto.c): answers a request the table
 * matched to route (its body, if any, in body), into env->out or with
 * PROTO_BODY / PROTO_FILE / PROTO_APP (deferred). */
void app_answer(struct proto_state *st, struct proto_env *env, const struct http_request *req,
		int route, struct herd_str body, unsigned resp_flags);
/* Writes a finished response (head, and its body or the stop that sends
 * it); the response gives its body up to the connection. */
void app_emit(struct proto_state *st, struct proto_env *env, struct herd_response *r,
	      unsigned resp_flags);
/* Whatever a connection's protocol state holds for the application: a
 * body being read, a body being sent.  On close. */
void app_drop(struct proto_state *st);

#endif
