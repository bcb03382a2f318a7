#include "net/http_static.h"

#include <stdio.h>
#include <string.h>

#include "net/file_cache.h"
#include "net/http_path.h"
#include "net/http_range.h"
#include "net/http_response.h"

#define PATH_MAX_BYTES 2048

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
	size_t len = req->path.len, qlen = req->query.len;
	if (len + qlen > PATH_MAX_BYTES) {
		simple(env, 414, flags, NULL, 0, head);
		return;
	}
	int n = snprintf(extra, sizeof(extra), "Location: %.*s/%.*s\r\n", (int)len, req->path.p,
			 (int)qlen, req->query.p);
	simple(env, 301, flags, extra, (size_t)n, head);
}

/* The answer's head; a whole file's 200 comes from the entry's copy when
 * it was made this second for the same flags. */
static void full_head(struct proto_env *env, struct file_entry *e, int code, uint64_t len,
		      const char *extra, size_t xlen, unsigned flags)
{
	struct outbuf *out = env->out;
	bool whole = code == 200 && flags <= UINT8_MAX;
	if (whole && e->head_len && e->head_sec == env->clock->sec && e->head_flags == flags) {
		outbuf_put(out, e->head, e->head_len);
		out->last_status = 200;
		out->last_length = flags & HTTP_RESP_HEAD ? 0 : len;
		return;
	}
	size_t before = out->len;
	http_response_head(out, env->clock, code, e->mime, len, extra, xlen, flags);
	size_t n = out->len - before;
	if (whole && n <= sizeof(e->head)) {
		memcpy(e->head, out->p + before, n);
		e->head_len = (uint16_t)n;
		e->head_sec = env->clock->sec;
		e->head_flags = (uint8_t)flags;
	}
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
	int rc = http_path_normalize(req->path.p, req->path.len, path, PATH_MAX_BYTES, &plen,
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

	/* The entry's validator fields; a range's Content-Range is added to a
	 * copy of them. */
	const char *xp = e->validators;
	size_t xlen = e->validators_len;
	char extra[256];
	/* Only now that the answer would be 2xx do preconditions count
	 * (RFC 9110 13.2.1). */
	const struct http_validators v = {e->etag, e->etag_len, e->last_modified[0] != 0, e->mtime};
	switch (req->conditionals ? http_preconditions(req, true, &v) : HTTP_PRECOND_PASS) {
	case HTTP_PRECOND_NOT_MODIFIED:
		http_response_head(env->out, env->clock, 304, NULL, 0, xp, xlen,
				   flags | HTTP_RESP_NO_LENGTH);
		file_cache_put(env->files, e);
		return;
	case HTTP_PRECOND_FAILED:
		simple(env, 412, flags, NULL, 0, head);
		file_cache_put(env->files, e);
		return;
	case HTTP_PRECOND_PASS:
		break;
	}
	uint64_t first = 0, last = e->size ? e->size - 1 : 0, len = e->size;
	int code = 200;
	const struct http_header *range = req->method == HTTP_M_GET
						  ? http_find_header(req, "Range")
						  : NULL;
	if (range && http_if_range(req, &v)) {
		switch (http_range_parse(range->value.p, range->value.len, e->size, &first, &last)) {
		case HTTP_RANGE_OK:
			code = 206;
			len = last - first + 1;
			memcpy(extra, xp, xlen);
			xp = extra;
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
	full_head(env, e, code, len, xp, xlen, flags);
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
