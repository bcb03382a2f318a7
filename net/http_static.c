#include "net/http_static.h"

#include <stdio.h>
#include <string.h>

#include "net/file_cache.h"
#include "net/http_date.h"
#include "net/http_path.h"
#include "net/http_range.h"
#include "net/http_response.h"

#define PATH_MAX_BYTES 2048

static bool token_in_list(const struct http_slice *list, const char *etag, size_t etag_len)
{
	/* If-None-Match compares weakly: W/"x" matches "x". */
	const char *p = list->p, *end = list->p + list->len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *tok = p;
		while (p < end && *p != ',')
			p++;
		const char *tend = p;
		while (tend > tok && (tend[-1] == ' ' || tend[-1] == '\t'))
			tend--;
		if (tend - tok == 1 && *tok == '*')
			return true;
		if (tend - tok > 2 && tok[0] == 'W' && tok[1] == '/')
			tok += 2;
		if ((size_t)(tend - tok) == etag_len && memcmp(tok, etag, etag_len) == 0)
			return true;
	}
	return false;
}

static bool not_modified(const struct http_request *req, const struct file_entry *e)
{
	const struct http_header *inm = http_find_header(req, "If-None-Match");
	if (inm)
		return token_in_list(&inm->value, e->etag, e->etag_len);
	const struct http_header *ims = http_find_header(req, "If-Modified-Since");
	int64_t since;
	if (ims && http_date_parse(ims->value.p, ims->value.len, &since) == 0)
		return e->mtime <= since;
	return false;
}

/* If-Range: the range applies only to the representation it names. */
static bool range_applies(const struct http_request *req, const struct file_entry *e)
{
	const struct http_header *ir = http_find_header(req, "If-Range");
	if (!ir)
		return true;
	if (ir->value.len == e->etag_len && !memcmp(ir->value.p, e->etag, e->etag_len))
		return true;
	int64_t t;
	return http_date_parse(ir->value.p, ir->value.len, &t) == 0 && t == e->mtime;
}

static size_t validators(const struct file_entry *e, char *buf, size_t cap)
{
	/* An mtime outside years 0..9999 has no HTTP date: leave it out. */
	int n = snprintf(buf, cap, "%s%s%sETag: %.*s\r\nAccept-Ranges: bytes\r\n",
			 e->last_modified[0] ? "Last-Modified: " : "", e->last_modified,
			 e->last_modified[0] ? "\r\n" : "", (int)e->etag_len, e->etag);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static void simple(struct proto_env *env, int status, unsigned flags, const char *extra,
		   size_t extra_len, bool head)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, http_reason(status));
	http_response_head(env->out, env->clock, status, "text/plain", (uint64_t)n, extra,
			   extra_len, flags);
	if (!head)
		outbuf_put(env->out, body, (size_t)n);
}

static void redirect_to_dir(const struct http_request *req, struct proto_env *env,
			    unsigned flags, bool head)
{
	char extra[PATH_MAX_BYTES + 32];
	size_t len = req->target.len;
	const char *q = memchr(req->target.p, '?', len);
	if (q)
		len = (size_t)(q - req->target.p);
	if (len > PATH_MAX_BYTES) {
		simple(env, 414, flags, NULL, 0, head);
		return;
	}
	int n = snprintf(extra, sizeof(extra), "Location: %.*s/%.*s\r\n", (int)len,
			 req->target.p, q ? (int)(req->target.len - len) : 0, q ? q : "");
	simple(env, 301, flags, extra, (size_t)n, head);
}

void http_static_answer(struct proto_state *st, const struct http_request *req,
			struct proto_env *env, unsigned flags)
{
	bool head = req->method == HTTP_M_HEAD;
	char path[PATH_MAX_BYTES + 16];
	size_t plen;
	bool dir_slash;
	int64_t now = env->clock->sec;

	if (req->method != HTTP_M_GET && !head) {
		simple(env, 405, flags | HTTP_RESP_ALLOW_GET, NULL, 0, false);
		return;
	}
	int rc = http_path_normalize(req->target.p, req->target.len, path, PATH_MAX_BYTES, &plen,
				     &dir_slash);
	if (rc < 0) {
		simple(env, -rc, flags, NULL, 0, head);
		return;
	}
	if (http_path_has_dotfile(path)) {
		simple(env, 404, flags, NULL, 0, head);
		return;
	}
	int status = 404;
	struct file_entry *e = file_cache_get(env->files, path, now, &status);
	if (e && e->is_dir) {
		file_cache_put(env->files, e);
		if (!dir_slash && plen) {
			redirect_to_dir(req, env, flags, head);
			return;
		}
		memcpy(path + plen, plen ? "/index.html" : "index.html", plen ? 12 : 11);
		e = file_cache_get(env->files, path, now, &status);
		if (e && e->is_dir) {
			file_cache_put(env->files, e);
			e = NULL;
			status = 404;
		}
	} else if (e && dir_slash) {
		file_cache_put(env->files, e); /* "/file/" names no directory */
		e = NULL;
		status = 404;
	}
	if (!e) {
		simple(env, status, flags, NULL, 0, head);
		return;
	}

	char extra[256];
	size_t xlen = validators(e, extra, sizeof(extra));
	if (not_modified(req, e)) {
		http_response_head(env->out, env->clock, 304, NULL, 0, extra, xlen,
				   flags | HTTP_RESP_NO_LENGTH);
		file_cache_put(env->files, e);
		return;
	}
	uint64_t first = 0, last = e->size ? e->size - 1 : 0, len = e->size;
	int code = 200;
	const struct http_header *range = req->method == HTTP_M_GET
						  ? http_find_header(req, "Range")
						  : NULL;
	if (range && range_applies(req, e)) {
		switch (http_range_parse(range->value.p, range->value.len, e->size, &first, &last)) {
		case HTTP_RANGE_OK:
			code = 206;
			len = last - first + 1;
			xlen += (size_t)snprintf(extra + xlen, sizeof(extra) - xlen,
						 "Content-Range: bytes %llu-%llu/%llu\r\n",
						 (unsigned long long)first, (unsigned long long)last,
						 (unsigned long long)e->size);
			break;
		case HTTP_RANGE_UNSATISFIABLE: {
			char cr[64];
			int n = snprintf(cr, sizeof(cr), "Content-Range: bytes */%llu\r\n",
					 (unsigned long long)e->size);
			simple(env, 416, flags, cr, (size_t)n, head);
			file_cache_put(env->files, e);
			return;
		}
		default:
			first = 0;
			break;
		}
	}
	http_response_head(env->out, env->clock, code, e->mime, len, extra, xlen, flags);
	if (head || len == 0) {
		file_cache_put(env->files, e);
	} else if (e->content) {
		outbuf_put(env->out, e->content + first, len);
		file_cache_put(env->files, e);
	} else {
		st->file = e; /* the backend sends it and drops the reference */
		st->file_off = first;
		st->file_left = len;
		st->flags |= PROTO_FILE;
	}
}
