/* --proxy-health: the active health check of the upstreams, run by the one
 * process that owns the deployment (the single process, or the supervisor
 * of handler processes; never a handler).  A thread of its own: every
 * interval it asks each upstream for the health path at once and sets
 * active_down in the shared state every worker reads. */
#ifndef HERD_PROXY_HEALTH_H
#define HERD_PROXY_HEALTH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/upstream_state.h"

struct proxy_health {
	bool on;
	pthread_t thread;
	int wake_fd; /* eventfd: stop */
	const struct upstream_table *t;
	struct upstream_shared *u;
	const char *path;
	int64_t interval_ms, timeout_ms;
};

/* Starts the checks when cfg asks for them (else nothing, 0).  u: the
 * shared array, alive until proxy_health_stop.  0, or -1 after logging. */
int proxy_health_start(struct proxy_health *h, const struct herd_config *cfg,
		       struct upstream_shared *u);
/* Ends the thread (a probe under way is abandoned) and frees what it had;
 * harmless when never started. */
void proxy_health_stop(struct proxy_health *h);

#endif
