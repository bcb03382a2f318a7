/* The way back of one proxied request (see core/proxy.c): the upstream's
 * response head parsed and rewritten, its body (or a tunnel's bytes)
 * relayed to the client as it arrives, and what the upstream's close or
 * failure means at each point. */
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/engine_proxy.h"
#include "core/engine_seam.h"
#include "core/mech.h"
#include "core/proxy_int.h"
#include "core/worker.h"
#include "net/http_upstream.h"

/* The upstream answered before the request was all out and will take no
 * more of it: the answer goes to the client, whose connection closes after
 * (the rest of its body is not read as requests).  false: x is gone. */
bool xfer_early_answer(struct worker *w, struct proxy_xfer *x)
{
	x->state = X_WAITING;
	x->up->flags |= CONN_EOF;
	return xfer_pump(w, x);
}

/* What herd tells the client about the connection, from the request and
 * the response's framing. */
static unsigned client_framing(struct worker *w, struct proxy_xfer *x,
			       const struct upstream_response *r)
{
	bool close = (x->pflags & PROXY_CLOSE) || w->draining || r->body == UP_BODY_CLOSE;
	unsigned f = 0;
	if (r->body == UP_BODY_CHUNKED && (x->pflags & PROXY_HTTP10)) {
		f |= UPR_DECHUNK; /* no chunked for HTTP/1.0: the close ends it */
		close = true;
	}
	if (r->status == 101)
		close = false;
	x->close_client = close;
	if (close)
		return f | UPR_CLOSE;
	return f | ((x->pflags & PROXY_KEEPALIVE) ? UPR_KEEPALIVE : 0);
}

/* A response head from the upstream: 1 parsed (written to w->out), 0 more
 * is needed, -1 x is gone. */
static int take_head(struct worker *w, struct proxy_xfer *x, const char *b, size_t n,
		     size_t *off)
{
	struct upstream_response r;
	int k = http_parse_response(b + *off, n - *off, x->pflags & PROXY_HEAD, &r);
	if (k == 0)
		return 0;
	if (k < 0 || (r.status == 101 && !(x->pflags & PROXY_UPGRADE))) {
		upstream_note_fail(up_shared(w, x), UP_ERR_INVALID, w->now_ms);
		xfer_fail(w, x, 502);
		return -1;
	}
	x->got_bytes = true;
	*off += (size_t)k;
	if (r.status < 200 && r.status != 101) {
		/* Interim (100, 103): passed on, except to HTTP/1.0 clients. */
		if (!(x->pflags & PROXY_HTTP10)) {
			int h = upstream_response_head(w->out.p + w->out.len, outbuf_room(&w->out), &r, 0);
			if (h > 0)
				w->out.len += (size_t)h;
		}
		return 1;
	}
	unsigned f = client_framing(w, x, &r);
	int h = upstream_response_head(w->out.p + w->out.len, outbuf_room(&w->out), &r, f);
	if (h < 0) {
		upstream_note_fail(up_shared(w, x), UP_ERR_INVALID, w->now_ms);
		xfer_fail(w, x, 502);
		return -1;
	}
	upstream_note_ok(up_shared(w, x));
	w->out.len += (size_t)h;
	x->head_out = x->from_up = true;
	x->status = r.status;
	x->up_keep = r.keep_alive;
	x->uprflags = (uint8_t)f;
	x->resp_kind = (uint8_t)r.body;
	x->resp_left = r.content_length;
	http_chunked_init(&x->resp_chunked);
	x->state = X_BODY;
	if (r.status == 101) {
		x->state = X_TUNNEL;
		x->resp_kind = UP_BODY_CLOSE; /* every byte, until either side closes */
	}
	free(x->head);
	x->head = NULL;
	return 1;
}

/* Moves body bytes of b[*off..n) into w->out, framed as the client gets
 * them.  Returns whether the body ended; *bad: it broke its framing. */
static bool take_resp_body(struct worker *w, struct proxy_xfer *x, const char *b, size_t n,
			   size_t *off, bool *bad)
{
	size_t room = outbuf_room(&w->out), avail = n - *off;
	if (avail > room)
		avail = room;
	const char *p = b + *off;
	bool done = false;
	size_t k = avail, out = avail;
	if (x->resp_kind == UP_BODY_LENGTH) {
		if (k > x->resp_left)
			k = out = (size_t)x->resp_left;
		x->resp_left -= k;
		done = x->resp_left == 0;
		outbuf_put(&w->out, p, k);
	} else if (x->resp_kind == UP_BODY_CHUNKED) {
		ssize_t m;
		if (x->uprflags & UPR_DECHUNK) {
			m = http_chunked_decode(&x->resp_chunked, p, avail, w->out.p + w->out.len, &out,
						&done);
			if (m >= 0)
				w->out.len += out;
		} else {
			m = http_chunked_skip(&x->resp_chunked, p, avail, CHUNKED_ANY, &done);
			if (m >= 0)
				outbuf_put(&w->out, p, (size_t)m);
			out = m >= 0 ? (size_t)m : 0;
		}
		if (m < 0) {
			*bad = true;
			return false;
		}
		k = (size_t)m;
	} else if (x->resp_kind == UP_BODY_NONE) {
		k = out = 0;
		done = true;
	} else {
		outbuf_put(&w->out, p, k); /* close-delimited, or a tunnel */
	}
	x->body_bytes += out;
	*off += k;
	return done;
}

/* Upstream bytes b[0..n) for the client.  Returns the bytes used: all, or
 * fewer when the client's output went pending (the rest waits).  *gone:
 * the exchange ended (finished or failed) and x is no more. */
static size_t relay(struct worker *w, struct proxy_xfer *x, const char *b, size_t n, bool *gone)
{
	struct conn *c = x->client;
	size_t off = 0;
	*gone = false;
	up_arm(w, x); /* progress: the stall timeout restarts */
	for (;;) {
		bool done = false, bad = false;
		if (x->state == X_WAITING) {
			int r = off < n ? take_head(w, x, b, n, &off) : 0;
			if (r < 0) {
				*gone = true;
				return n;
			}
			if (r > 0 && x->state == X_BODY && x->resp_kind == UP_BODY_NONE)
				done = true;
			else if (r > 0)
				continue;
		} else if (off < n) {
			done = take_resp_body(w, x, b, n, &off, &bad) && x->state == X_BODY;
		}
		if (bad) {
			upstream_note_fail(up_shared(w, x), UP_ERR_INVALID, w->now_ms);
			xfer_fail(w, x, 502);
			*gone = true;
			return n;
		}
		if (done) {
			/* Bytes past the response's end: the upstream is not
			 * speaking HTTP on this connection any more. */
			xfer_finish(w, x, x->up_keep && off == n);
			*gone = true;
			return n;
		}
		/* w->out is the worker's: nothing stays in it past this call. */
		if (w->out.len && (off == n || !outbuf_room(&w->out) || x->state == X_WAITING)) {
			int r = engine_transport_out(w, c);
			if (r < 0) {
				*gone = true;
				return n;
			}
			if (r == 0)
				return off;
		}
		if (off == n || x->state == X_WAITING)
			return off;
	}
}

/* What the upstream connection has kept goes to the client, and what its
 * close means once nothing is kept.  false: x is gone. */
bool xfer_pump(struct worker *w, struct proxy_xfer *x)
{
	struct conn *up = x->up;
	if (up->in_len && !(x->client->flags & CONN_WRITING)) {
		char *buf = up->in;
		uint32_t len = up->in_len;
		up->in = NULL;
		up->in_len = up->in_cap = 0;
		bool gone;
		size_t used = relay(w, x, buf, len, &gone);
		if (!gone && used < len && conn_keep_input(up, buf + used, (uint32_t)(len - used)) < 0) {
			free(buf);
			xfer_fail(w, x, 502);
			return false;
		}
		free(buf);
		if (gone)
			return false;
	}
	/* Kept now: bytes for a client still busy, or a partial head. */
	if ((up->flags & CONN_EOF) && !(x->client->flags & CONN_WRITING)) {
		if (!up->in_len &&
		    ((x->state == X_BODY && x->resp_kind == UP_BODY_CLOSE) || x->state == X_TUNNEL)) {
			/* The end of a close-delimited body, or of a tunnel. */
			x->close_client = true;
			xfer_finish(w, x, false);
		} else {
			xfer_trouble(w, x, UP_ERR_CLOSED);
		}
		return false;
	}
	if (!xfer_watch(w, x, false))
		return false;
	/* A tunnel just opened: what the client sent after its request. */
	if (x->state == X_TUNNEL && x->client->in_len && !(up->flags & CONN_WRITING))
		return xfer_send(w, x, false);
	return true;
}

void proxy_up_input(struct worker *w, struct conn *up, const char *p, uint32_t n)
{
	if (up_idle_event(w, up))
		return;
	struct proxy_xfer *x = up->px;
	x->got_bytes = true; /* from now on the request is never sent again */
	if (!up->in_len && !(x->client->flags & CONN_WRITING) && x->state >= X_WAITING &&
	    x->state != X_FAILED) {
		bool gone;
		size_t used = relay(w, x, p, n, &gone);
		if (gone)
			return;
		if (used == n) {
			(void)xfer_pump(w, x); /* a tunnel's first client bytes */
			return;
		}
		p += used;
		n -= (uint32_t)used;
	}
	/* Kept: a partial head, or bytes the client cannot take yet. */
	if (conn_reserve_input(up, n) < 0) {
		xfer_fail(w, x, 502);
		return;
	}
	memcpy(up->in + up->in_len, p, n);
	up->in_len += n;
	if (x->state >= X_WAITING && x->state != X_FAILED)
		(void)xfer_pump(w, x);
	else if (x->state == X_SENDING)
		(void)xfer_watch(w, x, false); /* an early answer: kept, up to a bound */
}

void proxy_up_end(struct worker *w, struct conn *up)
{
	if (up_idle_event(w, up))
		return;
	struct proxy_xfer *x = up->px;
	up->flags |= CONN_EOF;
	if (x->state == X_FAILED)
		return;
	if (x->state == X_SENDING && up->in_len) {
		(void)xfer_early_answer(w, x);
		return;
	}
	if (x->state < X_WAITING) {
		xfer_trouble(w, x, UP_ERR_CLOSED);
		return;
	}
	(void)xfer_pump(w, x);
}

void proxy_up_error(struct worker *w, struct conn *up)
{
	if (up_idle_event(w, up))
		return;
	struct proxy_xfer *x = up->px;
	if (proxy_guarded(w, up)) {
		up->flags |= CONN_ABORT; /* its caller ends the exchange */
		return;
	}
	if (x->state == X_CONNECTING)
		up_connect_failed(w, x);
	else if (x->state == X_SENDING && up->in_len)
		(void)xfer_early_answer(w, x);
	else
		xfer_trouble(w, x, UP_ERR_CLOSED);
}
