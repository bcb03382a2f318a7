/* Application routes and the handler's view of a request and its response
 * (see net/http_app.h and the public net/herd.h). */
#include "net/http_app.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/access_log.h"
#include "net/file_cache.h"
#include "net/http_lex.h"
#include "net/http_response.h"

/* ---- body buffers ---- */

struct app_collect *app_collect_get(struct app_worker *aw, size_t cap)
{
	for (int i = aw->nspare - 1; i >= 0; i--) {
		struct app_collect *c = aw->spare[i];
		if (c->cap >= cap) {
			aw->spare[i] = aw->spare[--aw->nspare];
			return c;
		}
	}
	if (cap < APP_SPARE_MIN)
		cap = APP_SPARE_MIN;
	struct app_collect *c = malloc(sizeof(*c) + cap);
	if (c)
		c->cap = cap;
	return c;
}

void app_collect_put(struct app_worker *aw, struct app_collect *c)
{
	if (aw->nspare < APP_SPARE && c->cap <= APP_SPARE_MAX)
		aw->spare[aw->nspare++] = c;
	else
		free(c);
}

void app_worker_spares_free(struct app_worker *aw)
{
	while (aw->nspare)
		free(aw->spare[--aw->nspare]);
}

/* ---- the request view ---- */

struct herd_str herd_req_method(const struct herd_request *req)
{
	return (struct herd_str){req->req->method_name.p, req->req->method_name.len};
}

struct herd_str herd_req_path(const struct herd_request *req)
{
	return (struct herd_str){req->req->path.p, req->req->path.len};
}

struct herd_str herd_req_query(const struct herd_request *req)
{
	const struct http_slice *q = &req->req->query;
	if (q->len == 0)
		return (struct herd_str){"", 0};
	return (struct herd_str){q->p + 1, q->len - 1}; /* without its '?' */
}

struct herd_str herd_req_header(const struct herd_request *req, const char *name)
{
	const struct http_header *h = http_find_header(req->req, name);
	if (!h)
		return (struct herd_str){NULL, 0};
	return (struct herd_str){h->value.p, h->value.len};
}

int herd_req_header_count(const struct herd_request *req)
{
	return (int)req->req->nheaders;
}

int herd_req_header_at(const struct herd_request *req, int i, struct herd_str *name,
		       struct herd_str *value)
{
	if (i < 0 || (uint32_t)i >= req->req->nheaders)
		return -1;
	const struct http_header *h = &req->req->headers[i];
	*name = (struct herd_str){h->name.p, h->name.len};
	*value = (struct herd_str){h->value.p, h->value.len};
	return 0;
}

struct herd_str herd_req_body(const struct herd_request *req)
{
	return req->body.p ? req->body : (struct herd_str){"", 0};
}

const char *herd_req_peer(const struct herd_request *req)
{
	struct herd_request *r = (struct herd_request *)req;
	if (r->peer_text[0])
		return r->peer_text;
	static const struct peer_addr none;
	if (r->peer && memcmp(r->peer, &none, sizeof(none)) != 0) {
		peer_addr_format(r->peer, r->peer_text, sizeof(r->peer_text));
		return r->peer_text;
	}
	/* Looked up when asked: without an access log or a proxy, the engine
	 * does not learn a connection's peer (a system call each). */
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (r->fd >= 0 && getpeername(r->fd, (struct sockaddr *)&ss, &sl) == 0) {
		struct peer_addr p;
		peer_addr_from(&p, (struct sockaddr *)&ss);
		peer_addr_format(&p, r->peer_text, sizeof(r->peer_text));
	}
	return r->peer_text;
}

int herd_req_worker(const struct herd_request *req)
{
	return req->aw->id;
}

void *herd_req_worker_data(const struct herd_request *req)
{
	return req->aw->data;
}

struct herd *herd_req_server(const struct herd_request *req)
{
	return req->aw->server;
}

/* ---- the response ---- */

void app_res_reset(struct herd_response *r)
{
	r->status = 200;
	r->kind = APP_BODY_NONE;
	r->bad = false;
	r->deferred = false;
	r->hlen = 0;
	r->body = NULL;
	r->body_len = 0;
	r->done = NULL;
	r->file = NULL;
	r->handle = NULL;
}

static void drop_body(struct herd_response *r)
{
	if (r->done) {
		void (*done)(void *) = r->done;
		r->done = NULL;
		done(r->done_arg);
	}
	if (r->file) {
		file_cache_put(NULL, r->file);
		r->file = NULL;
	}
	r->kind = APP_BODY_NONE;
	r->body = NULL;
	r->body_len = 0;
}

void app_res_release(struct herd_response *r)
{
	drop_body(r);
}

void app_res_free(struct herd_response *h)
{
	drop_body(h);
	free(h->own);
	free(h->log_line);
	free(h);
}

void herd_res_status(struct herd_response *res, int status)
{
	if (status < 100 || status > 999)
		res->bad = true;
	else
		res->status = status;
}

static int put_field(struct herd_response *res, const char *name, size_t nlen, const char *value)
{
	size_t vlen = strlen(value);
	if (res->hlen + nlen + vlen + 4 > APP_HEADERS_MAX)
		return -1;
	for (size_t i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < ' ' && ch != '\t') || ch == 0x7f)
			return -1; /* no line breaks: no response splitting */
	}
	char *p = res->hdrs + res->hlen;
	memcpy(p, name, nlen);
	p[nlen] = ':';
	p[nlen + 1] = ' ';
	memcpy(p + nlen + 2, value, vlen);
	p[nlen + 2 + vlen] = '\r';
	p[nlen + 3 + vlen] = '\n';
	res->hlen += (uint32_t)(nlen + vlen + 4);
	return 0;
}

int herd_res_type(struct herd_response *res, const char *type)
{
	return put_field(res, "Content-Type", 12, type);
}

int herd_res_header(struct herd_response *res, const char *name, const char *value)
{
	static const char *const ours[] = {"Date", "Server", "Content-Length", "Connection",
					   "Transfer-Encoding", "Keep-Alive"};
	if (!name || !value || !app_token_ok(name))
		return -1;
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strcasecmp(name, ours[i]) == 0)
			return -1;
	return put_field(res, name, strlen(name), value);
}

int herd_res_body(struct herd_response *res, const void *p, size_t len)
{
	drop_body(res);
	if (len > res->own_cap) {
		char *n = malloc(len);
		if (!n) {
			res->bad = true;
			return -1;
		}
		free(res->own);
		res->own = n;
		res->own_cap = len;
	}
	if (len)
		memcpy(res->own, p, len);
	res->kind = APP_BODY_COPY;
	res->body = res->own;
	res->body_len = len;
	return 0;
}

int herd_res_body_borrow(struct herd_response *res, const void *p, size_t len,
			 void (*done)(void *arg), void *arg)
{
	drop_body(res);
	res->kind = APP_BODY_BORROW;
	res->body = p;
	res->body_len = len;
	res->done = done;
	res->done_arg = arg;
	return 0;
}

/* A file a response sends by itself, outside any cache: its reference is
 * the transfer's, and the descriptor closes with it. */
static int file_body(struct herd_response *res, int fd, uint64_t off, uint64_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || off > (uint64_t)st.st_size) {
		close(fd);
		return -1;
	}
	struct file_entry *e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		res->bad = true;
		return -1;
	}
	e->fd = fd;
	e->size = (uint64_t)st.st_size;
	e->refs = 1;
	e->stale = true;
	drop_body(res);
	res->kind = APP_BODY_FILE;
	res->file = e;
	res->file_off = off;
	uint64_t rest = e->size - off;
	res->file_len = len < rest ? len : rest;
	return 0;
}

int herd_res_file(struct herd_response *res, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || file_body(res, fd, 0, UINT64_MAX) < 0) {
		if (!res->bad) {
			drop_body(res);
			res->status = 404;
		}
		return -1;
	}
	return 0;
}

int herd_res_fd(struct herd_response *res, int fd, uint64_t off, uint64_t len, int own_fd)
{
	if (!own_fd)
		fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0 || file_body(res, fd, off, len) < 0) {
		res->bad = true;
		return -1;
	}
	return 0;
}

struct herd_response *herd_defer(struct herd_response *res)
{
	if (res->deferred)
		return res->handle;
	struct herd_response *h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	memcpy(h, res, offsetof(struct herd_response, hdrs));
	memcpy(h->hdrs, res->hdrs, res->hlen);
	/* What the handler set so far moves with it; the scratch response
	 * keeps no body and makes a new buffer when it needs one. */
	if (res->kind == APP_BODY_COPY) {
		res->own = NULL;
		res->own_cap = 0;
	} else {
		h->own = NULL;
		h->own_cap = 0;
	}
	h->handle = NULL;
	h->conn = NULL;
	h->ready = false;
	h->queued = false;
	h->next_ready = NULL;
	h->log_line = NULL;
	atomic_init(&h->orphaned, false);
	res->kind = APP_BODY_NONE;
	res->done = NULL;
	res->file = NULL;
	res->deferred = true;
	res->handle = h;
	return h;
}

int herd_res_worker(const struct herd_response *res)
{
	return res->worker;
}

/* ---- answering ---- */

static const char error_500[] = "500 Internal Server Error\n";

static void put_head(struct proto_env *env, const struct herd_response *r, uint64_t len,
		     unsigned flags)
{
	struct app_head_cache *k = &env->aw->head;
	struct outbuf *out = env->out;
	if (k->head_len && k->sec == env->clock->sec && k->status == r->status &&
	    k->flags == flags && k->len == len && k->hlen == r->hlen &&
	    memcmp(k->hdrs, r->hdrs, r->hlen) == 0) {
		outbuf_put(out, k->head, k->head_len);
		out->last_status = r->status;
		out->last_length = flags & (HTTP_RESP_HEAD | HTTP_RESP_NO_LENGTH) ? 0 : len;
		return;
	}
	size_t before = out->len;
	http_response_head(out, env->clock, r->status, NULL, len, r->hdrs, r->hlen, flags);
	size_t n = out->len - before;
	k->head_len = 0;
	if (r->hlen <= sizeof(k->hdrs) && n <= sizeof(k->head)) {
		k->sec = env->clock->sec;
		k->status = r->status;
		k->flags = flags;
		k->len = len;
		k->hlen = r->hlen;
		k->head_len = (uint32_t)n;
		memcpy(k->hdrs, r->hdrs, r->hlen);
		memcpy(k->head, out->p + before, n);
	}
}

void app_emit(struct proto_state *st, struct proto_env *env, struct herd_response *r,
	      unsigned flags)
{
	if (r->bad || r->status < 200) {
		/* A handler that broke its response: the client learns
		 * nothing of it but that it failed. */
		drop_body(r);
		r->status = 500;
		r->hlen = 0;
		put_field(r, "Content-Type", 12, "text/plain");
		r->kind = APP_BODY_BORROW;
		r->body = error_500;
		r->body_len = sizeof(error_500) - 1;
	}
	bool bodiless = r->status == 204 || r->status == 304;
	bool head_only = bodiless || (flags & HTTP_RESP_HEAD);
	uint64_t len = r->kind == APP_BODY_FILE ? r->file_len : r->body_len;
	struct app_body *out = NULL;
	size_t room = outbuf_room(env->out);
	room = room > APP_HEAD_ROOM ? room - APP_HEAD_ROOM : 0;
	if (!head_only && r->kind != APP_BODY_FILE && len > room) {
		out = malloc(sizeof(*out));
		if (!out) {
			/* Nothing written yet: a 503 the client can retry. */
			drop_body(r);
			http_response_error(env->out, env->clock, 503);
			st->flags |= PROTO_LINGER;
			return;
		}
	}
	put_head(env, r, len, flags | (bodiless ? HTTP_RESP_NO_LENGTH : 0));
	if (flags & HTTP_RESP_CLOSE)
		st->flags |= PROTO_CLOSE;
	if (head_only || r->kind == APP_BODY_NONE) {
		drop_body(r);
		return;
	}
	if (r->kind == APP_BODY_FILE) {
		st->file = r->file;
		st->file_off = r->file_off;
		st->file_left = r->file_len;
		r->file = NULL;
		r->kind = APP_BODY_NONE;
		st->flags |= PROTO_FILE;
		return;
	}
	if (!out) {
		outbuf_put(env->out, r->body, r->body_len);
		drop_body(r);
		return;
	}
	*out = (struct app_body){.p = r->body, .len = r->body_len};
	if (r->kind == APP_BODY_COPY) {
		out->done = free;
		out->arg = r->own;
		r->own = NULL;
		r->own_cap = 0;
	} else {
		out->done = r->done;
		out->arg = r->done_arg;
		r->done = NULL;
	}
	r->kind = APP_BODY_NONE;
	st->app_out = out;
	st->flags |= PROTO_BODY;
}

void app_answer(struct proto_state *st, struct proto_env *env, const struct http_request *req,
		int route, struct herd_str body, unsigned flags)
{
	const struct app_route *rt = &env->app->routes[route];
	struct app_worker *aw = env->aw;
	struct herd_response *r = &aw->scratch;
	app_res_reset(r);
	r->worker = aw->id;
	r->aw = aw;
	struct herd_request hr = {.req = req, .body = body, .peer = env->peer, .aw = aw,
				  .fd = env->fd};
	int rc = rt->fn(&hr, r, rt->user);
	if (r->deferred) {
		/* herd_defer() commits the answer to later, whatever the
		 * handler returned... */
		struct herd_response *h = r->handle;
		r->deferred = false;
		r->handle = NULL;
		if (h->ready) {
			/* ...unless it was completed within the handler. */
			app_emit(st, env, h, flags);
			app_res_free(h);
			return;
		}
		h->resp_flags = flags;
		h->log_line = env->log ? access_log_prepare(env->peer, req, env->clock->sec) : NULL;
		env->deferred = h;
		st->flags |= PROTO_APP;
		return;
	}
	if (rc != HERD_DONE)
		r->bad = true; /* HERD_DEFER without herd_defer(), or garbage */
	app_emit(st, env, r, flags);
}

void app_drop(struct proto_state *st)
{
	free(st->app_in);
	st->app_in = NULL;
	if (st->app_out) {
		if (st->app_out->done)
			st->app_out->done(st->app_out->arg);
		free(st->app_out);
		st->app_out = NULL;
	}
	st->flags &= (uint8_t)~PROTO_BODY;
}
