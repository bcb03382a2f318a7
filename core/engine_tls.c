/* The engine's TLS half (see core/engine_seam.h): a connection from a TLS
 * listener passes its wire bytes through net/tls.c on the way in, and the
 * records OpenSSL writes by itself (handshake flights, tickets, alerts)
 * leave in order with the engine's own output. */
#include <string.h>

#include "core/engine.h"
#include "core/engine_seam.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/worker.h"
#include "net/tls.h"
#include "net/tls_ctx.h"
#include "net/tls_slot.h"

void engine_tls_close(struct worker *w, struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (!tls_conn_established(t)) {
		/* Abandoned, stalled or broken: every handshake has an outcome. */
		CTR_ADD(w->ctr, tls_handshakes[HERD_TLS_FAILED], 1);
		if (!(c->flags & CONN_ABORT))
			CTR_ADD(w->ctr, errors[HERD_ERR_TLS], 1);
	}
	/* close_notify ends a complete exchange: not after an error (a cut
	 * response must not look complete), not when the client is gone
	 * without one, not when it was sent at linger, not behind output in
	 * flight. */
	uint8_t f = c->flags;
	if (!(f & (CONN_LINGER | CONN_WRITING | CONN_ABORT)) &&
	    (!(f & CONN_EOF) || tls_conn_peer_closed(t))) {
		tls_conn_busy(t, false);
		tls_conn_shutdown(t, &w->wire);
	}
	engine_send_last(w, c, &w->wire);
	tls_conn_free(c->tls);
	c->tls = NULL;
}

/* Ciphertext the TLS layer wrote on its own (handshake flights, tickets)
 * leaves now, or after the output in flight: never out of order.  false:
 * the connection failed. */
bool engine_tls_hand_over(struct worker *w, struct conn *c)
{
	if (!w->wire.len)
		return true;
	if (c->flags & CONN_WRITING) {
		/* Records OpenSSL wrote on its own while our output is still
		 * going out (io_uring keeps reading meanwhile).  A client that
		 * makes it write more than it reads is cut off, not buffered. */
		if (tls_conn_stash(c->tls, &w->wire) < 0) {
			engine_fail(w, c, HERD_ERR_NOMEM);
			return false;
		}
		if (tls_conn_stashed(c->tls) > PAUSE_INPUT) {
			engine_fail(w, c, HERD_ERR_TLS);
			return false;
		}
		return true;
	}
	return engine_send_wire(w, c, false) >= 0;
}

static void tls_count_handshake(struct worker *w, struct conn *c)
{
	switch (tls_conn_news(c->tls)) {
	case TLS_NEWS_FULL:
		CTR_ADD(w->ctr, tls_handshakes[HERD_TLS_FULL], 1);
		break;
	case TLS_NEWS_RESUMED:
		CTR_ADD(w->ctr, tls_handshakes[HERD_TLS_RESUMED], 1);
		break;
	case TLS_NEWS_NONE:
		return;
	}
	CTR_ADD(w->ctr, tls_conns[tls_conn_kernel_tx(c->tls) ? 1 : 0], 1);
}

/* A plain HTTP request on a TLS port: a plain answer, then close. */
static void tls_refuse_plain(struct worker *w, struct conn *c)
{
	CTR_ADD(w->ctr, errors[HERD_ERR_TLS], 1);
	CTR_ADD(w->ctr, tls_handshakes[HERD_TLS_FAILED], 1);
	tls_conn_free(c->tls);
	c->tls = NULL;
	size_t n = strlen(tls_plain_http_answer);
	if (outbuf_room(&w->out) >= n)
		outbuf_put(&w->out, tls_plain_http_answer, n);
	c->proto.flags |= PROTO_LINGER;
	if (engine_transport_out(w, c) > 0)
		engine_settle(w, c);
}

static void tls_failed(struct worker *w, struct conn *c, enum tls_result r)
{
	if (r == TLS_NOMEM) {
		w->wire.len = 0;
		engine_fail(w, c, HERD_ERR_NOMEM);
		return;
	}
	herd_log_ratelimited(&w->log_slot, "worker %d: tls: %s", w->id, tls_conn_error(c->tls));
	engine_send_last(w, c, &w->wire); /* the alert, if any */
	engine_fail(w, c, HERD_ERR_TLS);
}

void engine_tls_input(struct worker *w, struct conn *c, const char *p, uint32_t n)
{
	w->plain.len = 0;
	tls_conn_busy(c->tls, (c->flags & CONN_WRITING) != 0);
	enum tls_result r = tls_conn_input(c->tls, p, n, &w->plain, &w->wire);
	tls_count_handshake(w, c);
	switch (r) {
	case TLS_PLAIN_HTTP:
		tls_refuse_plain(w, c);
		return;
	case TLS_FAILED:
	case TLS_NOMEM:
		tls_failed(w, c, r);
		return;
	case TLS_CLOSED:
		/* The client's close_notify is its FIN: answer what came
		 * before it, then close (engine_settle() sees CONN_EOF). */
		c->flags |= CONN_EOF;
		break;
	case TLS_AGAIN:
		break;
	}
	if (!engine_tls_hand_over(w, c))
		return;
	if (w->plain.len)
		engine_receive(w, c, w->plain.p, (uint32_t)w->plain.len);
	else if (c->flags & CONN_EOF)
		engine_input_end(w, c);
	else if (!(c->flags & CONN_WRITING) && !c->px && !c->app)
		engine_settle(w, c); /* a proxied exchange, a deferred answer wait on their own */
}

/* The TLS state of a connection from a TLS listener, with the certificates
 * of the moment. */
struct tls_conn *engine_tls_open(struct worker *w, int fd)
{
	struct tls_ctx *ctx = w->tls ? tls_slot_get(w->tls) : NULL;
	if (!ctx)
		return NULL;
	struct tls_conn *t = tls_conn_new(ctx, fd, w->ktls);
	tls_ctx_unref(ctx);
	return t;
}

