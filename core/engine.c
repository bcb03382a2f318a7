/* A connection's life, once for every mechanism (see core/engine.h).
 *
 * Input: bytes the mechanism read or received go through the transport to
 * the protocol; whatever the protocol leaves unconsumed (a partial request)
 * is copied into the connection's own buffer, so an idle connection holds
 * none.  While output is in the mechanism's hands (CONN_WRITING) input is
 * queued, not fed, and reading stops once too much of it piles up.
 *
 * Output: the protocol's answers to everything one read brought leave in one
 * hand-over.  A mechanism either writes them at once (epoll) or takes a copy
 * and reports completion later (io_uring); a file body follows by sendfile,
 * or, under a transport that must see its bytes, through the output path.
 *
 * Waiting: after each step the connection is settled on exactly one timer
 * (header, keep-alive, send, linger) and one thing to wait for.
 *
 * TLS: a connection from a TLS listener has c->tls; its input goes through
 * core/engine_tls.c first, its output is encrypted in transport_out, and
 * the rest of its life is the one above. */
#include "core/engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/engine_app.h"
#include "core/engine_seam.h"
#include "core/mech.h"
#include "core/engine_proxy.h"
#include "core/worker.h"
#include "net/http_app.h"
#include "net/tls.h"

/* Protocol rounds per event when the output buffer keeps filling up and the
 * socket takes it all; then the connection yields to the others. */
#define SERVE_ROUNDS 8

void engine_set_timer(struct worker *w, struct conn *c, enum conn_timer t)
{
	if (c->timer != CONN_T_NONE)
		conn_list_remove(&w->timers[c->timer], c);
	c->timer = (uint8_t)t;
	if (t == CONN_T_NONE)
		return;
	c->deadline_ms = w->now_ms + w->timers[t].timeout_ms;
	conn_list_append(&w->timers[t], c);
}

void engine_release(struct worker *w, struct conn *c)
{
	conn_drop_output(&w->pool, c);
	conn_pool_put(&w->pool, c);
}

/* Sends wire straight to the socket, best effort: a last answer or alert
 * on a connection about to close, where nothing else is in flight. */
void engine_send_last(struct worker *w, struct conn *c, struct outbuf *o)
{
	if (o->len && !(c->flags & CONN_WRITING))
		(void)send(c->fd, o->p, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);
	o->len = 0;
	(void)w;
}

void engine_send_answer_last(struct worker *w, struct conn *c)
{
	if (c->tls) {
		if (tls_conn_output(c->tls, w->out.p, w->out.len, &w->wire) == 0)
			engine_send_last(w, c, &w->wire);
		w->wire.len = 0;
	} else {
		engine_send_last(w, c, &w->out);
	}
	w->out.len = 0;
}

void engine_close(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_close(w, c);
		return;
	}
	if (c->px)
		proxy_client_gone(w, c);
	if (c->app || c->proto.app_in || c->proto.app_out)
		app_conn_close(w, c);
	if (c->tls)
		engine_tls_close(w, c);
	engine_drop_file(w, c);
	engine_set_timer(w, c, CONN_T_NONE);
	conn_drop_input(c);
	w->nconns--;
	CTR_SUB(w->ctr, conns_active, 1);
	atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
	w->mech->close(w, c);
}

void engine_fail(struct worker *w, struct conn *c, enum herd_err_kind kind)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_error(w, c); /* the upstream's statistics count it */
		return;
	}
	if (c->px && proxy_guarded(w, c)) {
		c->flags |= CONN_ABORT; /* the proxy closes it once its call returned */
		return;
	}
	CTR_ADD(w->ctr, errors[kind], 1);
	c->flags |= CONN_ABORT;
	if (kind == HERD_ERR_NOMEM)
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory, dropping a connection",
				     w->id);
	engine_close(w, c);
}

/* Whether a draining worker closes a connection that finished an answer,
 * instead of waiting, as idle, for a next request to answer with close. */
static bool drain_closes(const struct worker *w, bool mid_request)
{
	return w->draining && !mid_request && !w->proto->drain_waits_for_next;
}

/* What a hand-over to the mechanism means for the connection.  1: all of
 * it is in the socket; 0: the mechanism reports completion later; -1:
 * closed. */
static int handed_over(struct worker *w, struct conn *c, enum mech_send r)
{
	switch (r) {
	case MECH_SENT:
		return 1;
	case MECH_PENDING:
		c->flags |= CONN_WRITING;
		if (c->timer != CONN_T_WRITE)
			engine_set_timer(w, c, CONN_T_WRITE);
		return 0;
	case MECH_NOMEM:
		engine_fail(w, c, HERD_ERR_NOMEM);
		return -1;
	case MECH_FAILED:
		break;
	}
	engine_fail(w, c, HERD_ERR_WRITE);
	return -1;
}

int engine_send_wire(struct worker *w, struct conn *c, bool more)
{
	/* The mechanism sends w->out: the ciphertext takes its place for
	 * the hand-over. */
	struct outbuf plain = w->out;
	w->out = w->wire;
	enum mech_send r = w->mech->send(w, c, more);
	w->wire = w->out;
	w->out = plain;
	return handed_over(w, c, r);
}

/* The output leaves for the mechanism: the transport's one place on the way
 * out (plain TCP hands w->out over as it is, TLS its ciphertext).  As
 * handed_over(). */
int engine_transport_out(struct worker *w, struct conn *c)
{
	/* Headers with a file body right behind them wait for it: one segment.
	 * So does a connection's last answer for the FIN that closing it
	 * sends right after: data and FIN leave as one segment, which spares
	 * both ends a packet per connection.  Not under TLS: kTLS would hold
	 * the record open past the FIN, and a close_notify follows anyway. */
	uint8_t pf = c->proto.flags;
	bool more = (pf & PROTO_FILE) && c->proto.file_left;
	if ((pf & PROTO_CLOSE) && !(pf & (PROTO_OUT_FULL | PROTO_FILE | PROTO_BODY)) && !c->app &&
	    !c->px && !c->tls) {
		more = true;
		c->flags |= CONN_LAST_OUT;
	}
	if (!c->tls)
		return handed_over(w, c, w->mech->send(w, c, more));
	int k = w->out.len ? tls_conn_output(c->tls, w->out.p, w->out.len, &w->wire) : 0;
	w->out.len = 0;
	if (k < 0) {
		w->wire.len = 0;
		engine_fail(w, c, HERD_ERR_TLS);
		return -1;
	}
	return engine_send_wire(w, c, more);
}

static void serve(struct worker *w, struct conn *c, const char *data, uint32_t len);

void engine_serve(struct worker *w, struct conn *c)
{
	serve(w, c, c->in, c->in_len);
}

/* Waits for the socket to take more: output stuck, a file body's next
 * piece, or a protocol that yielded after SERVE_ROUNDS. */
void engine_wait_writable(struct worker *w, struct conn *c, bool progress)
{
	if (progress || c->timer != CONN_T_WRITE)
		engine_set_timer(w, c, CONN_T_WRITE); /* progress: the send timeout restarts */
	c->flags |= CONN_WRITING;
	w->mech->wait_writable(w, c);
}

void engine_next(struct worker *w, struct conn *c)
{
	/* The protocol stopped at a body: requests pipelined behind it come
	 * next, unless this answer was the last. */
	if (c->in_len && !(c->proto.flags & (PROTO_CLOSE | PROTO_LINGER)))
		serve(w, c, c->in, c->in_len);
	else
		engine_settle(w, c);
}

static void start_linger(struct worker *w, struct conn *c)
{
	/* Our answer is out; stop reading requests but keep draining the
	 * client's bytes, so closing does not reset the answer away. */
	if (c->tls) {
		tls_conn_busy(c->tls, false);
		tls_conn_shutdown(c->tls, &w->wire);
		engine_send_last(w, c, &w->wire);
	}
	shutdown(c->fd, SHUT_WR);
	c->flags |= CONN_LINGER;
	c->flags &= (uint8_t)~(CONN_UNFED | CONN_PAUSED);
	conn_drop_input(c);
	if (c->flags & CONN_EOF) {
		engine_close(w, c);
		return;
	}
	engine_set_timer(w, c, CONN_T_LINGER);
	w->mech->read_on(w, c);
}

/* Decides what the connection waits for once no output is in progress and
 * the protocol has seen all input. */
void engine_settle(struct worker *w, struct conn *c)
{
	uint8_t f = c->proto.flags;
	if (f & PROTO_OUT_FULL) {
		engine_wait_writable(w, c, false);
		return;
	}
	if (f & PROTO_LINGER) {
		start_linger(w, c);
		return;
	}
	/* A handshake runs on the head timeout, like a request's first bytes. */
	bool mid_request = c->in_len || proto_in_message(&c->proto) ||
			   (c->tls && !tls_conn_established(c->tls));
	if ((f & PROTO_CLOSE) || (c->flags & CONN_EOF) || drain_closes(w, mid_request)) {
		engine_close(w, c);
		return;
	}
	if (mid_request) {
		/* The head timeout runs from the request's first byte, not from
		 * the latest one: a trickling client cannot extend it. */
		if (c->timer != CONN_T_READ)
			engine_set_timer(w, c, CONN_T_READ);
	} else {
		engine_set_timer(w, c, CONN_T_IDLE);
	}
	c->flags &= (uint8_t)~CONN_PAUSED;
	w->mech->read_on(w, c);
}

static void serve(struct worker *w, struct conn *c, const char *data, uint32_t len)
{
	for (int round = 0;; round++) {
		struct proto_env env = {.out = &w->out, .clock = &w->clock,
					.draining = w->draining, .max_body = w->max_body,
					.files = w->files, .log = w->log, .peer = &c->peer,
					.https_port = c->tls ? 0 : w->https_port,
					.routes = w->upstreams, .up_head = &w->up_head,
					.https = c->tls != NULL, .app = w->app_table,
					.aw = w->aw, .fd = c->fd};
		c->proto.flags &= (uint8_t)~PROTO_OUT_FULL;
		c->flags &= (uint8_t)~CONN_UNFED;
		size_t used = w->proto->feed(&c->proto, data, len, &env);
		bool proxy = c->proto.flags & PROTO_PROXY;
		if (env.tally.requests)
			CTR_ADD(w->ctr, requests, env.tally.requests);
		if (env.tally.errors)
			CTR_ADD(w->ctr, errors[HERD_ERR_PROTOCOL], env.tally.errors);
		if (conn_keep_input(c, data + used, (uint32_t)(len - used)) < 0) {
			if (proxy)
				free(env.proxy.log_line);
			w->out.len = 0;
			engine_fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		int sent = w->out.len ? engine_transport_out(w, c) : 1;
		if (sent < 0 && proxy)
			free(env.proxy.log_line);
		if (proxy && sent >= 0) {
			/* Answers before it may still be going out: the
			 * exchange waits for them before it writes. */
			proxy_start(w, c, &env.proxy);
			return;
		}
		if (env.deferred) {
			/* The same for an answer the application gives later. */
			if (sent >= 0)
				app_wait(w, c, env.deferred);
			else
				app_gone(w, c, env.deferred);
			return;
		}
		if (sent <= 0)
			return;
		if (c->proto.flags & PROTO_FILE) {
			engine_send_file(w, c);
			return;
		}
		if (c->proto.flags & PROTO_BODY) {
			app_send_body(w, c);
			return;
		}
		if (!(c->proto.flags & PROTO_OUT_FULL) || round + 1 == SERVE_ROUNDS)
			break;
		data = c->in;
		len = c->in_len;
	}
	engine_settle(w, c);
}

/* Appends to the kept input, growing it geometrically: a backlog behind a
 * slow send arrives in many small pieces. */
static int append_input(struct conn *c, const char *p, uint32_t n)
{
	if (c->in_cap - c->in_len < n &&
	    conn_reserve_input(c, n > c->in_len ? n : c->in_len) < 0)
		return -1;
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return 0;
}

/* Application bytes for the protocol. */
void engine_receive(struct worker *w, struct conn *c, const char *p, uint32_t n)
{
	if (c->px) {
		proxy_client_input(w, c, p, n);
		return;
	}
	if ((c->flags & CONN_WRITING) || c->app) {
		/* Backpressure: the protocol sees no more input until the
		 * client took our output (or the application answered). */
		if (append_input(c, p, n) < 0) {
			engine_fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		c->flags |= CONN_UNFED;
		if (c->in_len > PAUSE_INPUT && !(c->flags & CONN_PAUSED)) {
			c->flags |= CONN_PAUSED;
			w->mech->read_off(w, c);
		}
		return;
	}
	if (c->in_len) {
		if (append_input(c, p, n) < 0) {
			engine_fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		serve(w, c, c->in, c->in_len);
		return;
	}
	serve(w, c, p, n);
}

/* Wire bytes from the mechanism: the transport's one place on the way in
 * (plain TCP passes them through, TLS decrypts). */
void engine_input(struct worker *w, struct conn *c, const char *p, uint32_t n)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_input(w, c, p, n);
		return;
	}
	CTR_ADD(w->ctr, bytes_in, n);
	/* After a final answer nothing more is read as a request (lingering
	 * drains, closing discards): keep none of it. */
	if ((c->flags & CONN_LINGER) || (c->proto.flags & (PROTO_CLOSE | PROTO_LINGER)))
		return;
	if (c->tls)
		engine_tls_input(w, c, p, n);
	else
		engine_receive(w, c, p, n);
}

void engine_input_end(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_end(w, c);
		return;
	}
	c->flags |= CONN_EOF;
	/* Output still going out (a client that half-closed after its
	 * requests): close once it is sent, see engine_settle(). */
	if ((c->flags & CONN_LINGER) || !(c->flags & CONN_WRITING))
		engine_close(w, c);
}

void engine_input_error(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_error(w, c);
		return;
	}
	if (!(c->flags & CONN_LINGER)) {
		/* A reset in the middle of a handshake or a record is TLS's. */
		bool tls = c->tls && tls_conn_partial(c->tls);
		CTR_ADD(w->ctr, errors[tls ? HERD_ERR_TLS : HERD_ERR_READ], 1);
		c->flags |= CONN_ABORT;
	}
	engine_close(w, c);
}

bool engine_output_sent(struct worker *w, struct conn *c, size_t n)
{
	CTR_ADD(w->ctr, bytes_out, (uint64_t)n);
	c->out_off += (uint32_t)n;
	if (c->out_off < c->out_len) {
		if (!(c->flags & CONN_UPSTREAM)) /* the proxy keeps its own timers */
			engine_set_timer(w, c, CONN_T_WRITE); /* progress: the send timeout restarts */
		return true;
	}
	conn_drop_output(&w->pool, c);
	return false;
}

void engine_output_done(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_writable(w, c);
		return;
	}
	c->flags &= (uint8_t)~CONN_WRITING;
	if (c->tls && tls_conn_stashed(c->tls)) {
		/* TLS records written while this output was in flight. */
		if (tls_conn_unstash(c->tls, &w->wire) < 0) {
			engine_fail(w, c, HERD_ERR_NOMEM);
			return;
		}
		if (!engine_tls_hand_over(w, c) || (c->flags & CONN_WRITING))
			return;
	}
	if (c->px)
		proxy_client_drained(w, c);
	else if (c->app)
		app_output_done(w, c);
	else if (c->proto.flags & PROTO_FILE)
		engine_send_file(w, c);
	else if (c->proto.flags & PROTO_BODY)
		app_send_body(w, c);
	else if ((c->proto.flags & PROTO_OUT_FULL) || (c->flags & CONN_UNFED))
		serve(w, c, c->in, c->in_len);
	else
		engine_settle(w, c);
}

void engine_open(struct worker *w, int fd, bool tls)
{
	struct conn *c = conn_pool_get(&w->pool);
	if (c && tls && !(c->tls = engine_tls_open(w, fd))) {
		conn_pool_put(&w->pool, c);
		c = NULL;
	}
	if (!c) {
		atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
		CTR_ADD(w->ctr, errors[HERD_ERR_NOMEM], 1);
		herd_log_ratelimited(&w->log_slot, "worker %d: out of memory, refusing a connection",
				     w->id);
		close(fd);
		return;
	}
	c->fd = fd;
	if (w->log || w->upstreams) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
			peer_addr_from(&c->peer, (struct sockaddr *)&ss);
	}
	w->nconns++;
	CTR_ADD(w->ctr, conns_active, 1);
	engine_set_timer(w, c, CONN_T_READ);
	w->mech->conn_start(w, c, w->proto->client_first);
}

void engine_expire(struct worker *w, struct conn *c)
{
	if (c->flags & CONN_UPSTREAM) {
		proxy_up_expire(w, c);
		return;
	}
	if (c->timer == CONN_T_APP) {
		app_expire(w, c);
		return;
	}
	if (c->timer == CONN_T_READ && (c->in_len || c->proto.app_in) &&
	    w->proto->timeout_answer) {
		/* A request that never completed gets an answer (HTTP: 408),
		 * best effort: the connection closes right after.  A body read
		 * for a handler is kept by the protocol, not in c->in. */
		struct proto_env env = {.out = &w->out, .clock = &w->clock, .draining = true,
					.log = w->log, .peer = &c->peer, .aw = w->aw};
		w->proto->timeout_answer(&c->proto, c->in, c->in_len, &env);
		engine_send_answer_last(w, c);
	}
	engine_close(w, c);
}

void engine_begin_drain(struct worker *w)
{
	/* Idle keep-alive connections close soon (worker_drain_idle); the
	 * others close after their current answer (engine_settle()). */
	worker_drain_idle(w, engine_close);
}

void engine_close_all(struct worker *w)
{
	for (int t = 0; t < CONN_T_COUNT; t++)
		while (w->timers[t].head)
			engine_close(w, w->timers[t].head);
}
