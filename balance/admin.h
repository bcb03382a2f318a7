/* The admin listener: GET /metrics in Prometheus text format, and GET
 * /health for load balancers.  Runs in the supervise loop
 * (balance/supervise.c), never on a worker: scraping costs the workers
 * nothing but the relaxed loads of their counters. */
#ifndef HERD_ADMIN_H
#define HERD_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/counters.h"
#include "net/http_response.h"

struct admin_conn;

/* Writes the /metrics text into buf; returns the length it needs (like
 * snprintf), so the admin can grow the buffer and retry. */
typedef size_t (*admin_render_fn)(void *arg, char *buf, size_t cap);

struct admin {
	int listen_fd;
	int epfd; /* the supervisor's */
	admin_render_fn render;
	void *render_arg;
	struct http_clock clock;
	struct admin_conn *conns;
	/* After an accept failure (EMFILE...) the listener leaves the epoll set
	 * until then, or the level-triggered loop would spin on it. */
	int64_t paused_until_ms;
	/* A descriptor slot held for a scrape while the process is out of
	 * descriptors (see admin.c); -1 while a connection uses it, or after
	 * it could not be made. */
	int spare_fd;
	/* Set by the supervise loop from the moment herd starts leaving (first
	 * SIGTERM/SIGINT): /health answers 503 so a balancer stops sending new
	 * connections before the listener closes. */
	bool draining;
};

/* Registers the listener in epfd with data.ptr == adm. */
int admin_init(struct admin *adm, int listen_fd, int epfd, admin_render_fn render, void *arg);
/* data.ptr of an epoll event that belongs to the admin: the admin itself
 * (listener) or one of its connections. */
void admin_on_event(struct admin *adm, void *tag);
int admin_owns(const struct admin *adm, const void *tag);
/* Drops connections that took longer than their deadline. */
void admin_tick(struct admin *adm, int64_t now_ms);
void admin_close(struct admin *adm);

#endif
