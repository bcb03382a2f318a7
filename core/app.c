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
	int fd = s->wake_fd;
	pthread_mutex_unlock(&s->mu);
	/* One wake-up per batch: the worker takes the whole queue. */
	uint64_t post = WORKER_WAKE_POST;
	if (first && write(fd, &post, sizeof(post)) < 0 && errno != EAGAIN)
		return 0; /* queued all the same: the worker's next turn finds it */
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

void app_run_posts(struct worker *w)
{
	run_list(take_posts(w->app_slot, false));
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
	if (rt->stop)
		rt->stop(w->id, w->aw->data, rt->user);
	free(w->aw->scratch.own);
	app_worker_spares_free(w->aw);
	free(w->aw);
	w->aw = NULL;
}

/* ---- deferred answers ---- */

static void res_free(struct herd_response *h)
{
	app_res_release(h);
	free(h->own);
	free(h);
}

void app_orphan(struct herd_response *h)
{
	if (h->ready) {
		/* herd_complete() was called (while output was in flight, or
		 * in the handler itself): the application let go of it. */
		res_free(h);
		return;
	}
	h->conn = NULL;
	atomic_store_explicit(&h->orphaned, true, memory_order_release);
}

static void answer(struct worker *w, struct conn *c, struct herd_response *h);

void app_wait(struct worker *w, struct conn *c, struct herd_response *h)
{
	c->app = h;
	h->conn = c;
	if (c->flags & CONN_WRITING)
		return; /* app_output_done() once the answers before it are out */
	if (h->ready) {
		answer(w, c, h); /* completed within its handler */
		return;
	}
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
	if (w->log && h->log_ticket)
		access_log_release(w->log, h->log_ticket, &c->peer, w->out.last_status,
				   (flags & HTTP_RESP_HEAD) ? 0 : w->out.last_length, w->clock.sec);
	res_free(h);
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
		res_free(h);
		return -1;
	}
	struct app_worker *aw = h->aw;
	if (!aw || !pthread_equal(pthread_self(), (pthread_t)aw->thread)) {
		herd_log("herd_complete: a response of worker %d completed on another thread "
			 "(post it to its worker with herd_post)",
			 aw ? aw->id : -1);
		abort();
	}
	struct worker *w = aw->owner;
	struct conn *c = h->conn;
	h->ready = true;
	if (!c || (c->flags & CONN_WRITING))
		return 0; /* app_wait() or app_output_done() sends it */
	answer(w, c, h);
	return 0;
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
		if (w->log && h->log_ticket)
			access_log_release(w->log, h->log_ticket, &c->peer, 499, 0, w->clock.sec);
		h->log_ticket = 0;
		app_orphan(h);
	}
	app_drop(&c->proto);
}

void app_expire(struct worker *w, struct conn *c)
{
	struct herd_response *h = c->app;
	http_response_error(&w->out, &w->clock, 504);
	if (w->log && h && h->log_ticket) {
		access_log_release(w->log, h->log_ticket, &c->peer, 504, w->out.last_length,
				   w->clock.sec);
		h->log_ticket = 0;
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
