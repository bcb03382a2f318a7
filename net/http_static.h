/* Answering GET and HEAD from the files under --root. */
#ifndef HERD_HTTP_STATIC_H
#define HERD_HTTP_STATIC_H

#include "net/http_parse.h"
#include "net/proto.h"

/* Room the output buffer needs before a request that may be a file. */
#define HTTP_STATIC_ROOM (HTTP_RESPONSE_MAX + 1024 + FILE_INLINE_MAX)

/* Appends the answer to req for a file under the root: headers, and the
 * body when the file is small.  A larger body is left in st->file for the
 * backend (and PROTO_FILE set).  `flags` are the HTTP_RESP_* connection
 * flags the caller decided (close, keep-alive). */
void http_static_answer(struct proto_state *st, const struct http_request *req,
			struct proto_env *env, unsigned flags);

#endif
