/* The engine's side of application routes (see core/app.h). */
#include "core/app.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/engine_app.h"
#include "core/engine_seam.h"
#include "core/log.h"
#include "core/mech.h"
#include "core/worker.h"
#include "net/access_log.h"
#include "net/http_app.h"
#include "net/http_response.h"

/* Body bytes copied per event before yielding to other connections. */
#define BODY_SEND_BUDGET (512 * 1024)

int app_runtime_init(struct app_runtime *rt, int nslots)
{
	rt->slots = calloc((size_t)nslots, sizeof(*rt->slots));
	if (!rt->slots)
		return -1;
	rt->nslots = nslots;
	for (int i = 0; i < nslots; i++) {
		pthread_mutex_init(&rt->slots[i].mu, NULL);
		rt->slots[i].wake_fd = -1;
	}
	return 0;
}

void app_runtime_destroy(struct app_runtime *rt)
{
	for (int i = 0; i < rt->nslots; i++) {
		struct app_post *p = rt->slots[i].head;
		while (p) {
			struct app_post *next = p->next;
			free(p);
			p = next;
		}
		pthread_mutex_destroy(&rt->slots[i].mu);
	}
	free(rt->slots);
	rt->slots = NULL;
	rt->nslots = 0;
}

int app_post(struct app_runtime *rt, int worker, void (*fn)(void *arg), void *arg)
{
	if (!rt || !fn || worker < 0 || worker >= rt->nslots)
		return -1;
	struct app_post *p = malloc(sizeof(*p));
	/* The caller may hold a response it can complete nowhere else: wait
	 * a little for memory rather than fail at once. */
	for (int i = 0; !p && i < 1000; i++) {
		nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
		p = malloc(sizeof(*p));
	}
	if (!p)
		return -2;
	*p = (struct app_post){.fn = fn, .arg = arg};
	struct app_slot *s = &rt->slots[worker];
	pthread_mutex_lock(&s->mu);
	if (!s->open) {
		pthread_mutex_unlock(&s->mu);
		free(p);
		return -1;
	}
	if (s->tail)
		s->tail->next = p;
	else
		s->head = p;
	s->tail = p;
	bool first = !atomic_exchange_explicit(&s->pending, true, memory_order_relaxed);
	/* One wake-up per batch: the worker takes the whole queue.  Under the
	 * lock, so the descriptor is the open slot's (an eventfd never
	 * blocks); a failed write leaves it queued for the next turn. */
	uint64_t post = WORKER_WAKE_POST;
	if (first && write(s->wake_fd, &post, sizeof(post)) < 0 && errno != EAGAIN)
		herd_log("herd_post: cannot wake worker %d: %s", worker, strerror(errno));
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static struct app_post *take_posts(struct app_slot *s, bool close)
{
	pthread_mutex_lock(&s->mu);
	struct app_post *p = s->head;
	s->head = s->tail = NULL;
	atomic_store_explicit(&s->pending, false, memory_order_relaxed);
	if (close)
		s->open = false;
	pthread_mutex_unlock(&s->mu);
	return p;
}

static void run_list(struct app_post *p)
{
	while (p) {
		struct app_post *next = p->next;
		p->fn(p->arg);
		free(p);
		p = next;
	}
}

void app_worker_turn(struct worker *w)
{
	struct app_slot *s = w->app_slot;
	if (s && atomic_load_explicit(&s->pending, memory_order_relaxed))
		run_list(take_posts(s, false));
	if (w->aw && w->aw->ready_head)
		app_run_ready(w);
}

int app_worker_begin(struct worker *w)
{
	struct app_runtime *rt = w->app_rt;
	if (!rt)
		return 0;
	struct app_worker *aw = calloc(1, sizeof(*aw));
	if (!aw)
		return -1;
	*aw = (struct app_worker){.id = w->id, .server = rt->server, .owner = w,
				  .thread = (unsigned long)pthread_self()};
	w->aw = aw;
	if (rt->start)
		aw->data = rt->start(w->id, rt->user);
	if (w->id < rt->nslots) {
		struct app_slot *s = &rt->slots[w->id];
		pthread_mutex_lock(&s->mu);
		s->open = true;
		s->wake_fd = w->wake_fd;
		pthread_mutex_unlock(&s->mu);
		w->app_slot = s;
	}
	return 0;
}

void app_worker_end(struct worker *w)
{
	struct app_runtime *rt = w->app_rt;
	if (!rt || !w->aw)
		return;
	/* Every connection is closed, so every deferred answer is orphaned:
	 * what is still posted runs now (completing one only frees it), and
	 * later posts are refused. */
	if (w->app_slot)
		run_list(take_posts(w->app_slot, true));
	w->app_slot = NULL;
	app_run_ready(w); /* every connection is closed: this frees them */
	if (rt->stop)
		rt->stop(w->id, w->aw->data, rt->user);
	free(w->aw->scratch.own);
	app_worker_spares_free(w->aw);
	free(w->aw);
	w->aw = NULL;
}

/* ---- deferred answers ----
 *
 * A deferred response belongs to the application until herd_complete(),
 * then to herd; its connection may close at any point.  Who frees it:
 *  - completed within its handler: the protocol sends it at once
 *    (app_answer), never waiting here;
 *  - connection gone before completion: orphaned here, freed by the
 *    application's herd_complete() (on any thread);
 *  - completed: queued on the worker's ready list and sent at the loop's
 *    level (app_run_ready), or, if output was in flight, by
 *    app_output_done(); a connection gone meanwhile leaves it to whichever
 *    of those runs next, which frees it. */

void app_gone(struct worker *w, struct conn *c, struct herd_response *h)
{
	if (h->log_line) {
		access_log_finish_plain(w->log, h->log_line, &c->peer, 499, 0, w->clock.sec);
		h->log_line = NULL;
	}
	if (h->ready) {
		h->conn = NULL;
		if (!h->queued)
			app_res_free(h); /* app_output_done() will not come */
		return;
	}
	h->conn = NULL;
	atomic_store_explicit(&h->orphaned, true, memory_order_release);
}

void app_wait(struct worker *w, struct conn *c, struct herd_response *h)
{
	c->app = h;
	h->conn = c;
	if (c->flags & CONN_WRITING)
		return; /* app_output_done() once the answers before it are out */
	engine_set_timer(w, c, CONN_T_APP);
	/* Reading goes on: a client that leaves is noticed, a pipelined
	 * request waits in c->in (engine_receive). */
	w->mech->read_on(w, c);
}

static void answer(struct worker *w, struct conn *c, struct herd_response *h)
{
	c->app = NULL;
	c->proto.flags &= (uint8_t)~PROTO_APP;
	struct proto_env env = {.out = &w->out, .clock = &w->clock, .draining = w->draining,
				.log = w->log, .peer = &c->peer, .app = w->app_table, .aw = w->aw,
				.fd = c->fd};
	unsigned flags = h->resp_flags;
	if (w->draining)
		flags = (flags & ~(unsigned)HTTP_RESP_KEEPALIVE) | HTTP_RESP_CLOSE;
	app_emit(&c->proto, &env, h, flags);
	if (h->log_line) {
		access_log_finish_plain(w->log, h->log_line, &c->peer, w->out.last_status,
					(flags & HTTP_RESP_HEAD) ? 0 : w->out.last_length,
					w->clock.sec);
		h->log_line = NULL;
	}
	app_res_free(h);
	engine_set_timer(w, c, CONN_T_NONE);
	/* Requests pipelined behind it wait in c->in, unfed. */
	if (c->in_len)
		c->flags |= CONN_UNFED;
	int sent = w->out.len ? engine_transport_out(w, c) : 1;
	if (sent == 1)
		engine_output_done(w, c);
}

int herd_complete(struct herd_response *h)
{
	if (atomic_load_explicit(&h->orphaned, memory_order_acquire)) {
		app_res_free(h);
		return -1;
	}
	struct app_worker *aw = h->aw;
	if (!aw || !pthread_equal(pthread_self(), (pthread_t)aw->thread)) {
		herd_log("herd_complete: a response of worker %d completed on another thread "
			 "(post it to its worker with herd_post)",
			 aw ? aw->id : -1);
		abort();
	}
	if (h->ready)
		return 0;
	h->ready = true;
	struct conn *c = h->conn;
	if (!c || (c->flags & CONN_WRITING))
		return 0; /* within its handler, or app_output_done() sends it */
	/* Not from here: this may be another connection's handler, whose
	 * answer is being built in the worker's buffers. */
	h->queued = true;
	h->next_ready = NULL;
	if (aw->ready_tail)
		aw->ready_tail->next_ready = h;
	else
		aw->ready_head = h;
	aw->ready_tail = h;
	return 0;
}

void app_run_ready(struct worker *w)
{
	struct app_worker *aw = w->aw;
	struct herd_response *h;
	while ((h = aw->ready_head)) {
		aw->ready_head = h->next_ready;
		if (!aw->ready_head)
			aw->ready_tail = NULL;
		h->queued = false;
		if (h->conn)
			answer(w, h->conn, h);
		else
			app_res_free(h); /* its client left after it was completed */
	}
}

void app_output_done(struct worker *w, struct conn *c)
{
	struct herd_response *h = c->app;
	if (h->ready) {
		answer(w, c, h);
		return;
	}
	engine_set_timer(w, c, CONN_T_APP);
	w->mech->read_on(w, c);
}

void app_conn_close(struct worker *w, struct conn *c)
{
	struct herd_response *h = c->app;
	if (h) {
		c->app = NULL;
		app_gone(w, c, h);
	}
	app_drop(&c->proto);
}

void app_expire(struct worker *w, struct conn *c)
{
	struct herd_response *h = c->app;
	http_response_error(&w->out, &w->clock, 504);
	if (h && h->log_line) {
		access_log_finish_plain(w->log, h->log_line, &c->peer, 504, w->out.last_length,
					w->clock.sec);
		h->log_line = NULL;
	}
	engine_send_answer_last(w, c);
	CTR_ADD(w->ctr, errors[HERD_ERR_PROTOCOL], 1);
	c->flags |= CONN_ABORT;
	engine_close(w, c);
}

/* ---- a body after its head ---- */

void app_send_body(struct worker *w, struct conn *c)
{
	struct app_body *b = c->proto.app_out;
	size_t budget = BODY_SEND_BUDGET;
	while (b->off < b->len) {
		if (!budget) {
			engine_wait_writable(w, c, true);
			return;
		}
		size_t n = b->len - b->off;
		if (n > w->out.cap - w->out.len)
			n = w->out.cap - w->out.len;
		if (n > budget)
			n = budget;
		memcpy(w->out.p + w->out.len, b->p + b->off, n);
		w->out.len += n;
		b->off += n;
		budget -= n;
		int r = engine_transport_out(w, c);
		if (r <= 0)
			return; /* closed, or engine_output_done() comes back here */
	}
	app_drop(&c->proto);
	engine_next(w, c);
}
