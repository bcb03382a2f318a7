/* Per-connection I/O: connect, send a batch, read and validate responses. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "tls.h"
#include "urls.h"
#include "worker.h"

static inline bool counting(const struct load_worker *w, uint64_t now)
{
	return now >= w->t_stats;
}

static bool burst_mode(const struct load_worker *w)
{
	return w->cfg->mode == MODE_STORM || w->cfg->mode == MODE_IDLE;
}

static enum err_kind connect_kind(int e)
{
	switch (e) {
	case ECONNREFUSED: return ERR_CONNECT_REFUSED;
	case ECONNRESET: return ERR_CONNECT_RESET;
	case ETIMEDOUT: return ERR_CONNECT_TIMEOUT;
	default: return ERR_CONNECT_OTHER;
	}
}

static bool is_connect_kind(enum err_kind k)
{
	return k <= ERR_CONNECT_OTHER;
}

static void load_conn_reset(struct load_worker *w, struct load_conn *c)
{
	if (c->up) {
		w->st.disconnected++;
		c->up = false;
	}
	c->sent = 0;
	w->inflight -= c->inflight;
	c->inflight = 0;
	c->closing = false;
	c->peer_fin = false;
	c->carry_len = 0;
	c->out_off = c->out_len = 0;
	c->echo_off = 0;
	resp_init(&c->rp);
}

void load_conn_drop(struct load_worker *w, struct load_conn *c)
{
	load_tls_end(c, true); /* load_conn_fail has ended a failed one already */
	if (c->fd >= 0) {
		if (w->cfg->linger0) {
			/* documented --linger0: RST instead of FIN, no TIME_WAIT here */
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		close(c->fd); /* also removes it from the epoll set */
		c->fd = -1;
	}
	load_conn_reset(w, c);
}

/*
 * --close without per-request socket(), close() and epoll_ctl(): once both
 * FINs are exchanged the socket is CLOSED and connect(AF_UNSPEC) makes it
 * connectable again, still registered with epoll.  The server closed first
 * and has seen our FIN, so this is an ordinary graceful close on the wire;
 * on loopback the final ACK is processed within shutdown() itself.  With
 * --linger0 the disconnect resets the connection instead.
 */
static void load_conn_recycle(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	load_tls_end(c, true);
	if ((!w->cfg->linger0 && shutdown(c->fd, SHUT_WR) < 0) ||
	    connect(c->fd, &unspec, sizeof(unspec)) < 0) {
		load_conn_drop(w, c);
	} else {
		load_conn_reset(w, c);
	}
	c->state = C_DOWN;
	c->deadline = now;
	load_worker_kick(w, c, now);
}

static const char *phase(const struct load_conn *c)
{
	switch (c->state) {
	case C_CONNECTING: return "connecting";
	case C_HANDSHAKE: return "in the TLS handshake";
	case C_BUSY:
		if (c->out_off < c->out_len)
			return "sending the request";
		return resp_idle(&c->rp) && c->carry_len == 0 ? "waiting for the response"
							      : "reading the response";
	case C_CLOSING: return "waiting for the server's close";
	default: return "idle";
	}
}

void load_conn_fail_why(struct load_worker *w, struct load_conn *c, enum err_kind kind,
			uint64_t now, const char *why, const char *data, size_t len)
{
	/* a server that fails connections as they are set up is retried after
	 * a pause, not in a busy loop */
	bool setup = is_connect_kind(kind) || c->state == C_HANDSHAKE;
	if (counting(w, now)) {
		w->st.errors[kind]++;
		if (w->errs.n[kind] < ERR_SAMPLES) {
			char buf[96];
			if (!why && kind == ERR_TIMEOUT) {
				snprintf(buf, sizeof(buf), "nothing complete within %.3g s",
					 (double)w->timeout_ns / 1e9);
				why = buf;
			}
			errs_note(&w->errs, kind, w->addr_str, data ? "reading the response" : phase(c),
				  why, data, len);
		}
	}
	load_tls_end(c, false);
	load_conn_drop(w, c);
	if (burst_mode(w)) {
		bool was_settled = c->state == C_HOLD;
		c->state = C_DONE; /* one attempt per connection */
		if (!was_settled)
			load_worker_settle(w, now);
		return;
	}
	c->state = C_DOWN;
	c->deadline = setup ? now + RETRY_NS : now;
	if (!setup)
		load_worker_kick(w, c, now);
}

void load_conn_fail(struct load_worker *w, struct load_conn *c, enum err_kind kind, uint64_t now)
{
	load_conn_fail_why(w, c, kind, now, NULL, NULL, 0);
}

static void load_conn_ready(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	c->up = true;
	w->st.connected++;
	if (counting(w, now))
		w->st.opened++;
	c->state = C_WAIT;
	load_worker_kick(w, c, now);
}

/* https: drives the handshake; its time counts apart from the requests'. */
static void load_conn_handshake(struct load_worker *w, struct load_conn *c)
{
	enum err_kind kind = ERR_TLS;
	int r = c->ssl ? load_tls_handshake(c, &kind) : load_tls_start(w, c, &kind);
	if (r == 0)
		return;
	uint64_t now = now_ns();
	if (r < 0) {
		load_conn_fail(w, c, kind, now);
		return;
	}
	if (counting(w, now)) {
		hist_record(w->hs_interval, now - c->t_conn);
		w->st.tls_handshakes++;
		w->st.tls_resumed += load_tls_resumed(c);
	}
	load_conn_ready(w, c, now);
}

static void load_conn_connected(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	if (!w->tls) {
		load_conn_ready(w, c, now);
		return;
	}
	c->state = C_HANDSHAKE;
	load_conn_handshake(w, c);
}

void load_conn_open(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	bool fresh = c->fd < 0; /* else a recycled socket, still in the epoll set */
	if (fresh) {
		int fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			load_conn_fail(w, c, ERR_CONNECT_OTHER, now);
			return;
		}
		if (w->nodelay) {
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		c->fd = fd;
	}
	c->state = C_CONNECTING;
	c->deadline = now + w->timeout_ns; /* covers the TLS handshake too */
	c->t_conn = now;
	int rc = connect(c->fd, (const struct sockaddr *)&w->addr, w->addrlen);
	if (rc < 0 && errno != EINPROGRESS) {
		int e = errno;
		load_conn_fail_why(w, c, connect_kind(e), now, strerror(e), NULL, 0);
		return;
	}
	/*
	 * Registered once, edge-triggered, for both directions: no
	 * EPOLL_CTL_MOD per request; EPOLLOUT edges only follow a full send
	 * buffer.  Added after connect() because a fresh socket polls as HUP.
	 */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.ptr = c };
	if (fresh && epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		load_conn_fail(w, c, ERR_CONNECT_OTHER, now);
		return;
	}
	if (rc == 0)
		load_conn_connected(w, c, now);
}

/* Returns -1 when the connection failed (and was dealt with). */
static int load_conn_flush(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	while (c->out_off < c->out_len) {
		const char *p = c->out + c->out_off;
		size_t len = c->out_len - c->out_off;
		ssize_t n = c->ssl ? load_tls_send(c, p, len) : send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (uint32_t)n;
			if (counting(w, now))
				w->st.bytes_written += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0; /* an EPOLLOUT edge follows (TLS: or an EPOLLIN one) */
		load_conn_fail(w, c, n < 0 && errno == EPROTO && c->ssl ? ERR_TLS : ERR_WRITE, now);
		return -1;
	}
	return 0;
}

void load_conn_send(struct load_worker *w, struct load_conn *c, unsigned k, uint64_t t_start,
		    uint64_t now)
{
	/* --close reserves its request when it starts connecting */
	w->inflight += k - c->inflight;
	c->inflight = k;
	c->t_send = t_start;
	c->deadline = now + w->timeout_ns;
	c->state = C_BUSY;
	c->out_off = 0;
	const struct request *rq = w->rq;
	unsigned i = rq->nvar > 1 ? urls_pick(rq->cum, rq->nvar, &w->rng) : 0;
	/* --conn-rate: the connection's last request asks the server to close,
	 * so the TIME_WAIT stays with the server as in --close */
	const struct request_var *v = rq->last && ++c->sent >= w->cfg->reqs_per_conn
					      ? &rq->last[i] : &rq->var[i];
	c->out = v->batch;
	c->out_len = (uint32_t)(k * v->one_len);
	load_conn_flush(w, c, now);
}

static void response_done(struct load_worker *w, struct load_conn *c, unsigned status, uint64_t now)
{
	c->inflight--;
	w->inflight--;
	w->t_last = now;
	if (!counting(w, now))
		return;
	w->st.requests++;
	hist_record(w->interval, now - c->t_send);
	if (status)
		w->st.status[status]++;
}

/* A connection's last response is in: let the server close first. */
static void close_done(struct load_worker *w, struct load_conn *c, bool closing, uint64_t now)
{
	if (c->peer_fin) {
		load_conn_recycle(w, c, now);
	} else if (closing) {
		c->state = C_CLOSING; /* its FIN is on the way */
		c->deadline = now + w->timeout_ns;
	} else {
		load_conn_drop(w, c); /* the server ignored Connection: close */
		c->state = C_DOWN;
		c->deadline = now;
		load_worker_kick(w, c, now);
	}
}

/* The batch in flight is finished, or the server is about to close. */
static void batch_done(struct load_worker *w, struct load_conn *c, uint64_t now)
{
	bool closing = c->closing;
	switch (w->cfg->mode) {
	case MODE_STORM:
	case MODE_IDLE:
		w->st.answered++;
		if (closing) {
			if (w->cfg->mode == MODE_IDLE)
				w->st.closed_by_server++;
			load_conn_drop(w, c);
			c->state = C_DONE;
		} else {
			c->state = C_HOLD;
		}
		load_worker_settle(w, now);
		return;
	case MODE_CLOSE:
		close_done(w, c, closing, now);
		return;
	case MODE_KEEPALIVE:
		if (closing && w->conn_rate > 0) {
			close_done(w, c, true, now);
			return;
		}
		break;
	}
	if (closing) {
		/* pipelined requests after a Connection: close are lost, not failed */
		load_conn_drop(w, c);
		c->state = C_DOWN;
		c->deadline = now;
	} else {
		c->state = C_WAIT;
	}
	load_worker_kick(w, c, now);
}

/* Returns -1 when the connection failed. */
static int consume_http(struct load_worker *w, struct load_conn *c, size_t len, uint64_t now)
{
	const char *p = w->rbuf;
	while (len) {
		if (c->inflight == 0 || c->closing) {
			/* data nobody asked for */
			load_conn_fail_why(w, c, ERR_PROTOCOL, now, "bytes after the last response",
					   p, len);
			return -1;
		}
		size_t used = 0;
		int r = resp_parse(&c->rp, p, len, &used);
		if (r == RESP_ERROR) {
			load_conn_fail_why(w, c, ERR_PROTOCOL, now, "malformed response", p, len);
			return -1;
		}
		if (r == RESP_MORE) {
			size_t left = len - used;
			if (left && !c->carry) {
				c->carry = malloc(RESP_MAX_HEADER);
				if (!c->carry) {
					load_conn_fail(w, c, ERR_PROTOCOL, now);
					return -1;
				}
			}
			if (left)
				memmove(c->carry, p + used, left);
			c->carry_len = (uint16_t)left;
			return 0;
		}
		p += used;
		len -= used;
		response_done(w, c, c->rp.status, now);
		if (c->rp.close) {
			c->closing = true;
			break;
		}
	}
	c->carry_len = 0;
	return 0;
}

/* Echo: every byte must match the payload; a payload's worth is one response. */
static int consume_echo(struct load_worker *w, struct load_conn *c, const char *p, size_t len,
			uint64_t now)
{
	const char *pattern = w->rq->batch;
	size_t size = w->rq->one_len;
	while (len) {
		if (c->inflight == 0) {
			load_conn_fail(w, c, ERR_PROTOCOL, now);
			return -1;
		}
		size_t want = size - c->echo_off;
		size_t k = len < want ? len : want;
		if (memcmp(p, pattern + c->echo_off, k) != 0) {
			load_conn_fail(w, c, ERR_PROTOCOL, now);
			return -1;
		}
		c->echo_off += (uint32_t)k;
		p += k;
		len -= k;
		if (c->echo_off == size) {
			c->echo_off = 0;
			response_done(w, c, 0, now);
		}
	}
	return 0;
}

static void load_conn_eof(struct load_worker *w, struct load_conn *c, uint64_t now, bool reset)
{
	c->peer_fin = !reset;
	if (c->state == C_CLOSING) {
		if (reset) {
			load_conn_drop(w, c);
			c->state = C_DOWN;
			c->deadline = now;
			load_worker_kick(w, c, now);
		} else {
			load_conn_recycle(w, c, now);
		}
		return;
	}
	if (c->state == C_HOLD) {
		w->st.closed_by_server++;
		load_conn_drop(w, c);
		c->state = C_DONE;
		return;
	}
	if (c->state == C_BUSY) {
		if (!reset && w->cfg->url.proto == PROTO_HTTP && c->carry_len == 0 &&
		    resp_eof(&c->rp) == RESP_DONE) {
			response_done(w, c, c->rp.status, now); /* body delimited by close */
			c->closing = true;
			batch_done(w, c, now);
			return;
		}
		load_conn_fail_why(w, c, reset ? ERR_READ : ERR_CLOSED, now,
				   reset ? "connection reset" : "the server closed mid-response",
				   NULL, 0);
		return;
	}
	/* an idle keep-alive connection the server let go: just reopen */
	load_conn_drop(w, c);
	c->state = C_DOWN;
	c->deadline = now;
	load_worker_kick(w, c, now);
}

static void load_conn_readable(struct load_worker *w, struct load_conn *c, uint32_t events)
{
	/*
	 * Edge-triggered: a short read means the socket is drained (any later
	 * data raises a new edge), except when the peer's FIN is already
	 * flagged - then read on to see the EOF, or nothing would report it.
	 */
	bool hup = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
	bool http = w->cfg->url.proto == PROTO_HTTP;
	if (events & EPOLLRDHUP)
		c->peer_fin = true;
	for (;;) {
		size_t carry = c->carry_len;
		if (carry)
			memcpy(w->rbuf, c->carry, carry);
		ssize_t n = c->ssl ? load_tls_recv(c, w->rbuf + carry, LOAD_RBUF_SIZE)
				   : recv(c->fd, w->rbuf + carry, LOAD_RBUF_SIZE, 0);
		if (n > 0) {
			uint64_t now = now_ns();
			if (counting(w, now))
				w->st.bytes_read += (uint64_t)n;
			int r = http ? consume_http(w, c, carry + (size_t)n, now)
				     : consume_echo(w, c, w->rbuf, (size_t)n, now);
			if (r < 0)
				return;
			if (c->state == C_BUSY && (c->inflight == 0 || c->closing)) {
				batch_done(w, c, now);
				/* TLS: the close_notify may already be in OpenSSL's
				 * buffer, where no socket edge will announce it */
				if (c->state != C_CLOSING || !c->ssl)
					return;
				continue;
			}
			/* SSL_read returns a record at a time: read on to EAGAIN */
			if ((size_t)n < LOAD_RBUF_SIZE && !hup && !c->ssl)
				return;
			continue;
		}
		if (n == 0) {
			load_conn_eof(w, c, now_ns(), false);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EPROTO && c->ssl) {
			load_conn_fail(w, c, ERR_TLS, now_ns());
			return;
		}
		load_conn_eof(w, c, now_ns(), true);
		return;
	}
}

static int so_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		return errno;
	return e ? e : ECONNRESET;
}

void load_conn_event(struct load_worker *w, struct load_conn *c, uint32_t events)
{
	switch (c->state) {
	case C_CONNECTING:
		if (events & (EPOLLERR | EPOLLHUP)) {
			int e = so_error(c->fd);
			load_conn_fail_why(w, c, connect_kind(e), now_ns(), strerror(e), NULL, 0);
		}
		else if (events & EPOLLOUT)
			load_conn_connected(w, c, now_ns());
		return;
	case C_HANDSHAKE:
		load_conn_handshake(w, c); /* it wants one direction; either edge retries */
		return;
	case C_BUSY:
		/* TLS: a write may wait for a read edge (WANT_READ) */
		if ((events & EPOLLOUT || c->ssl) && c->out_off < c->out_len &&
		    load_conn_flush(w, c, now_ns()) < 0)
			return;
		/* fall through */
	case C_WAIT:
	case C_HOLD:
	case C_CLOSING:
		if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			load_conn_readable(w, c, events);
		return;
	default:
		return; /* stale event for a socket closed earlier in this batch */
	}
}
