/* One proxied request: the exchange between a client's connection and an
 * upstream's, both driven by the worker's one mechanism.
 *
 * Request: the head the protocol built goes out first, in one send with
 * whatever of the body already arrived; the body follows as the client
 * sends it, framed as it came (Content-Length counted, chunked checked and
 * passed on as is).  Response: the head is parsed and rewritten, the body
 * relayed as it arrives.
 *
 * Backpressure, both ways, holds at most one read per direction: a client
 * whose output is still in flight pauses the upstream's reading, an
 * upstream still taking the request pauses the client's (after
 * PAUSE_INPUT), so a slow reader behind a fast upstream costs no memory.
 *
 * Failures end in exactly one of: the next upstream (nothing was sent), one
 * retry on a fresh connection (a reused one failed before any answer, and
 * the request may be sent twice), herd's own 502/504 (nothing of the
 * response was sent yet), or cutting the client off (a truncated body is
 * never presented as complete).
 *
 * The response side (parsing, relaying, the upstream's close) is in
 * core/proxy_relay.c. */
#include <stdlib.h>
#include <string.h>

#include "core/engine.h"
#include "core/engine_seam.h"
#include "core/mech.h"
#include "core/engine_proxy.h"
#include "core/proxy_int.h"
#include "core/worker.h"
#include "net/access_log.h"
#include "net/http_response.h"
#include "net/http_upstream.h"

static bool mcall_read(struct worker *w, struct conn *c, bool on);

void proxy_start(struct worker *w, struct conn *c, const struct proto_proxy *pp)
{
	struct proxy_xfer *x = up_worker(w) ? calloc(1, sizeof(*x)) : NULL;
	char *head = x ? malloc(w->up_head.len) : NULL;
	c->proto.flags &= (uint8_t)~PROTO_PROXY;
	if (!head) {
		free(x);
		free(pp->log_line);
		engine_fail(w, c, HERD_ERR_NOMEM);
		return;
	}
	memcpy(head, w->up_head.p, w->up_head.len);
	*x = (struct proxy_xfer){.client = c, .head = head, .head_len = (uint32_t)w->up_head.len,
				 .log_line = pp->log_line, .start_ns = (int64_t)worker_clock_ns(),
				 .route = (uint8_t)pp->route, .pflags = pp->flags,
				 .req_done = c->proto.body_kind == HTTP_BODY_NONE};
	w->up_head.len = 0;
	c->px = x;
	/* The body, a tunnel's bytes, or a close: the client is read on (a
	 * first read may have been tried without waiting for it). */
	if (!(c->flags & (CONN_WRITING | CONN_PAUSED)) && !mcall_read(w, c, true)) {
		engine_fail(w, c, HERD_ERR_READ);
		return;
	}
	(void)up_connect(w, x);
}

/* Response bytes an upstream may send before its request is all out (an
 * early 413, say) that herd keeps; then it stops reading them. */
#define UP_EARLY_MAX (64 * 1024)

/* A mechanism call on one side of the exchange.  A failure it reports
 * comes back as CONN_ABORT (see proxy_guarded) instead of ending the
 * exchange under its caller.  false: it failed. */
static bool mcall_read(struct worker *w, struct conn *c, bool on)
{
	w->proxy->guard = c;
	if (on)
		w->mech->read_on(w, c);
	else
		w->mech->read_off(w, c);
	w->proxy->guard = NULL;
	return !(c->flags & CONN_ABORT);
}

bool proxy_guarded(const struct worker *w, const struct conn *c)
{
	return w->proxy && w->proxy->guard == c;
}

/* Stops or resumes reading the client by how much of its input waits.
 * false: the client's connection failed and is closed (x is gone). */
static bool client_flow(struct worker *w, struct conn *c)
{
	bool ok = true;
	if (c->in_len > PAUSE_INPUT) {
		if (!(c->flags & CONN_PAUSED)) {
			c->flags |= CONN_PAUSED;
			ok = mcall_read(w, c, false);
		}
	} else if ((c->flags & CONN_PAUSED) && !(c->flags & CONN_WRITING)) {
		c->flags &= (uint8_t)~CONN_PAUSED;
		ok = mcall_read(w, c, true);
	}
	if (!ok)
		engine_fail(w, c, HERD_ERR_READ);
	return ok;
}

static void drop_front(struct conn *c, uint32_t k)
{
	memmove(c->in, c->in + k, c->in_len - k);
	c->in_len -= k;
}

/* Moves the next piece of the request body (or tunnel bytes) from the
 * client's input to w->out.  0, or -(status) for a body that breaks its
 * framing or --max-body. */
static int take_body(struct worker *w, struct proxy_xfer *x)
{
	struct conn *c = x->client;
	struct proto_state *st = &c->proto;
	size_t room = outbuf_room(&w->out), avail = c->in_len < room ? c->in_len : room;
	if (!avail || (x->req_done && x->state != X_TUNNEL))
		return 0;
	size_t k = avail;
	if (x->state == X_TUNNEL) {
		/* every byte is the tunnel's */
	} else if (st->body_kind == HTTP_BODY_LENGTH) {
		if (k > st->body_left)
			k = (size_t)st->body_left;
		st->body_left -= k;
		x->req_done = st->body_left == 0;
	} else {
		bool done = false;
		ssize_t n = http_chunked_skip(&st->chunked, c->in, avail,
					      w->max_body ? w->max_body : CHUNKED_ANY, &done);
		if (n < 0)
			return (int)n;
		k = (size_t)n;
		x->req_done = done;
	}
	if (x->req_done && x->state != X_TUNNEL)
		st->body_kind = HTTP_BODY_NONE;
	outbuf_put(&w->out, c->in, k);
	drop_front(c, (uint32_t)k);
	return 0;
}

/* Whether the upstream is read: not while what it sent waits for the
 * client (the client's output is in flight, or kept bytes await it), and
 * only a little before its request is all out.  leave_out: its output just
 * finished, so a writable wait may still be registered (epoll) and must be
 * left even if reading stays off.  false: x is gone. */
bool xfer_watch(struct worker *w, struct proxy_xfer *x, bool leave_out)
{
	struct conn *up = x->up;
	if (up->flags & CONN_WRITING)
		return true;
	bool off = x->state == X_CONNECTING || x->state == X_FAILED;
	if (x->state == X_SENDING)
		off = up->in_len >= UP_EARLY_MAX;
	else if (x->state > X_SENDING)
		off = (x->client->flags & CONN_WRITING) || (up->in_len && x->state != X_WAITING);
	bool ok = true;
	if (!off) {
		up->flags &= (uint8_t)~CONN_PAUSED;
		ok = mcall_read(w, up, true);
	} else if (!(up->flags & CONN_PAUSED) || leave_out) {
		up->flags |= CONN_PAUSED;
		ok = (!leave_out || mcall_read(w, up, true)) && mcall_read(w, up, false);
	}
	if (!ok)
		xfer_trouble(w, x, UP_ERR_CLOSED);
	return ok;
}

/* The upstream failed the exchange (closed, reset, or a send failed). */
void xfer_trouble(struct worker *w, struct proxy_xfer *x, enum up_err kind)
{
	if (!x->got_bytes && x->reused && !x->retried && (x->pflags & PROXY_RETRY)) {
		/* A pooled connection the upstream closed as herd used it: once
		 * more, on a fresh one (the request has no body and may be sent
		 * twice). */
		int i = x->up->up_index;
		up_release(w, x, false);
		x->tried &= ~(1u << i);
		x->retried = true;
		x->head_sent = false;
		x->state = X_CONNECTING;
		(void)up_connect(w, x);
		return;
	}
	upstream_note_fail(up_shared(w, x), kind, w->now_ms);
	xfer_fail(w, x, kind == UP_ERR_TIMEOUT ? 504 : 502);
}

/* A request body the client broke (bad chunk, over --max-body): its answer,
 * if none went yet, and no reuse of either connection. */
static void request_broken(struct worker *w, struct proxy_xfer *x, int status)
{
	CTR_ADD(w->ctr, errors[HERD_ERR_PROTOCOL], 1);
	xfer_fail(w, x, status);
}

bool xfer_send(struct worker *w, struct proxy_xfer *x, bool leave_out)
{
	struct conn *c = x->client, *up = x->up;
	if (x->state == X_FAILED || x->state == X_CONNECTING)
		return true;
	while (!(up->flags & CONN_WRITING)) {
		w->out.len = 0;
		if (!x->head_sent) {
			outbuf_put(&w->out, x->head, x->head_len);
			x->head_sent = true;
		}
		int st = take_body(w, x);
		if (st < 0) {
			w->out.len = 0;
			request_broken(w, x, -st);
			return false;
		}
		if (!w->out.len)
			break;
		enum mech_send r = w->mech->send(w, up, false);
		w->out.len = 0;
		up_arm(w, x); /* an upload's progress: the stall timeout restarts */
		if (r == MECH_PENDING) {
			up->flags |= CONN_WRITING;
		} else if (r != MECH_SENT) {
			if (up->in_len)
				return xfer_early_answer(w, x); /* it answered, then closed */
			xfer_trouble(w, x, UP_ERR_CLOSED);
			return false;
		}
	}
	if (x->state == X_SENDING && x->req_done && !(up->flags & CONN_WRITING)) {
		x->state = X_WAITING;
		if (up->in_len && !xfer_pump(w, x)) /* it answered early */
			return false;
	}
	return xfer_watch(w, x, leave_out) && client_flow(w, c);
}

/* Ends the exchange: the upstream pooled (keep) or closed, the line logged,
 * and the client's connection back to the engine, with w->out (the last of
 * the response, or herd's own answer) on its way. */
void xfer_finish(struct worker *w, struct proxy_xfer *x, bool keep)
{
	struct conn *c = x->client;
	int ui = x->up ? x->up->up_index : -1;
	int64_t us = ((int64_t)worker_clock_ns() - x->start_ns) / 1000;
	if (x->from_up && ui >= 0)
		upstream_note_response(&w->up_shared[ui], x->status, (uint64_t)us);
	up_release(w, x, keep && x->req_done);
	if (w->log)
		access_log_finish(w->log, x->log_line, &c->peer, x->status, x->body_bytes,
				  x->from_up && ui >= 0 ? up_name(w, ui) : NULL, (uint64_t)us,
				  w->clock.sec);
	else
		free(x->log_line);
	c->px = NULL;
	if (x->close_client)
		c->proto.flags |= PROTO_CLOSE;
	if (!x->req_done) {
		/* The rest of the body is not read as requests. */
		c->proto.flags |= PROTO_LINGER;
		c->proto.body_kind = HTTP_BODY_NONE;
	}
	free(x->head);
	free(x);
	if (w->out.len && engine_transport_out(w, c) < 0)
		return;
	if (c->flags & CONN_WRITING) {
		if (c->in_len)
			c->flags |= CONN_UNFED;
		return;
	}
	if (c->in_len && !(c->proto.flags & (PROTO_CLOSE | PROTO_LINGER)))
		engine_serve(w, c);
	else
		engine_settle(w, c);
}

/* herd's own answer, once the client's earlier output is out. */
static void local_answer(struct worker *w, struct proxy_xfer *x)
{
	w->out.len = 0;
	http_response_error(&w->out, &w->clock, x->status);
	x->body_bytes = w->out.last_length;
	x->close_client = true;
	xfer_finish(w, x, false);
}

/* The client's connection closes, cutting the response short. */
static void cut(struct worker *w, struct proxy_xfer *x)
{
	struct conn *c = x->client;
	w->out.len = 0;
	c->flags |= CONN_ABORT;
	engine_close(w, c); /* proxy_client_gone() ends the exchange */
}

void xfer_fail(struct worker *w, struct proxy_xfer *x, int status)
{
	if (x->head_out) {
		cut(w, x);
		return;
	}
	up_release(w, x, false);
	x->status = status;
	x->from_up = false;
	if (x->client->flags & CONN_WRITING) {
		x->state = X_FAILED;
		return;
	}
	local_answer(w, x);
}

void proxy_client_input(struct worker *w, struct conn *c, const char *p, uint32_t n)
{
	struct proxy_xfer *x = c->px;
	if (c->in_cap - c->in_len < n &&
	    conn_reserve_input(c, n > c->in_len ? n : c->in_len) < 0) {
		engine_fail(w, c, HERD_ERR_NOMEM);
		return;
	}
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	if (x->up && x->state != X_CONNECTING && x->state != X_FAILED &&
	    !(x->up->flags & CONN_WRITING)) {
		if (x->state == X_TUNNEL)
			up_arm(w, x);
		(void)xfer_send(w, x, false);
		return;
	}
	(void)client_flow(w, c);
}

void proxy_client_drained(struct worker *w, struct conn *c)
{
	struct proxy_xfer *x = c->px;
	if (c->flags & CONN_EOF) {
		engine_close(w, c);
		return;
	}
	if (x->state == X_FAILED) {
		local_answer(w, x);
		return;
	}
	engine_set_timer(w, c, CONN_T_PROXIED);
	if (x->up && x->state >= X_WAITING && !xfer_pump(w, x))
		return;
	if (!client_flow(w, c))
		return;
	if (!(c->flags & CONN_PAUSED) && !mcall_read(w, c, true))
		engine_fail(w, c, HERD_ERR_READ);
}

void proxy_client_gone(struct worker *w, struct conn *c)
{
	struct proxy_xfer *x = c->px;
	c->px = NULL;
	int ui = x->up ? x->up->up_index : -1;
	up_release(w, x, false);
	if (w->log) {
		/* 499, as nginx logs a client that left before its answer. */
		int64_t us = ((int64_t)worker_clock_ns() - x->start_ns) / 1000;
		access_log_finish(w->log, x->log_line, &c->peer, x->head_out ? x->status : 499,
				  x->body_bytes, ui >= 0 ? up_name(w, ui) : NULL, (uint64_t)us,
				  w->clock.sec);
	} else {
		free(x->log_line);
	}
	free(x->head);
	free(x);
}
