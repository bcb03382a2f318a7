/* The reverse proxy as the engine sees it: a client's request for a route
 * (the protocol stopped at PROTO_PROXY) becomes an exchange with an
 * upstream over a second connection of the same worker, a struct conn with
 * CONN_UPSTREAM driven by the same mechanism as any client's.  The engine
 * passes every event of either connection here while the exchange lasts
 * (c->px), and every event of an upstream connection always.
 *
 *   core/proxy.c     the exchange: request out, its end and failures
 *   core/proxy_relay.c  the response (or tunnel) back
 *   core/proxy_up.c  upstream connections: balancing, connect, the pool */
#ifndef HERD_ENGINE_PROXY_H
#define HERD_ENGINE_PROXY_H

#include <stdint.h>

#include "net/proto.h"

struct worker;
struct conn;

/* The protocol stopped at a request for a route (its head in w->up_head). */
void proxy_start(struct worker *w, struct conn *c, const struct proto_proxy *pp);

/* The client's connection, while c->px. */
void proxy_client_input(struct worker *w, struct conn *c, const char *p, uint32_t n);
/* Its output is out: the response may go on. */
void proxy_client_drained(struct worker *w, struct conn *c);
/* It is closing (error, timeout, gone): the exchange ends with it. */
void proxy_client_gone(struct worker *w, struct conn *c);

/* An upstream connection's events (c->flags & CONN_UPSTREAM). */
void proxy_up_input(struct worker *w, struct conn *up, const char *p, uint32_t n);
void proxy_up_end(struct worker *w, struct conn *up);
void proxy_up_error(struct worker *w, struct conn *up);
/* Connected, or its output is out. */
void proxy_up_writable(struct worker *w, struct conn *up);
void proxy_up_expire(struct worker *w, struct conn *up);
/* The worker closes it (exit). */
void proxy_up_close(struct worker *w, struct conn *up);

/* Whether a mechanism call on c is under way in the proxy: a failure it
 * reports is noted (CONN_ABORT), not handled, until the call returned. */
bool proxy_guarded(const struct worker *w, const struct conn *c);

/* Frees the worker's upstream bookkeeping (every connection is closed). */
void proxy_worker_free(struct worker *w);

#endif
