/* What the engine (core/engine.c) calls of core/app.c: the application's
 * part of a connection's life.  A header of its own, as core/engine_proxy.h,
 * so core/app.c can build on the engine without an include circle. */
#ifndef HERD_ENGINE_APP_H
#define HERD_ENGINE_APP_H

struct worker;
struct conn;
struct herd_response;

/* The protocol stopped at a deferred answer (PROTO_APP): wait for it. */
void app_wait(struct worker *w, struct conn *c, struct herd_response *h);
/* A deferred answer's connection is gone (closed, or failed before it
 * waited): logged as 499, orphaned or freed. */
void app_gone(struct worker *w, struct conn *c, struct herd_response *h);
/* The output before a deferred answer is out (or a completed one waits). */
void app_output_done(struct worker *w, struct conn *c);
/* A handler's body after its head (PROTO_BODY), a piece per hand-over. */
void app_send_body(struct worker *w, struct conn *c);
/* The connection closes: its deferred answer is orphaned, bodies dropped. */
void app_conn_close(struct worker *w, struct conn *c);
/* The deferred answer took longer than --handler-timeout: 504, close. */
void app_expire(struct worker *w, struct conn *c);

#endif
