/* The supervise loop: one per process, on its main thread, whatever the
 * role.  It turns signals (a signalfd) into actions, serves the admin
 * endpoint, takes the scale decisions (from the policy, or in a handler
 * process from its supervisor's control socket) and shuts the pool down;
 * the pool (balance/pool.h) applies them to its members. */
#ifndef HERD_SUPERVISE_H
#define HERD_SUPERVISE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "balance/admin.h"
#include "balance/policy.h"
#include "balance/pool.h"
#include "balance/sampler.h"
#include "core/config.h"

struct supervise {
	const struct herd_config *cfg;
	struct pool *pool;
	int epfd;   /* the pool may register its own descriptors here */
	int sig_fd;
	int ctl_fd; /* a handler process: its supervisor's control socket, else -1 */
	struct admin admin;
	int admin_fd;
	bool admin_on;
	bool scaling;
	struct sampler sampler;
	struct scale_policy policy;
	struct scale_state scale;
	int64_t next_sample_ms;
	bool stopping;
	/* --drain-delay: when the delayed drain starts (monotonic ms), 0 when
	 * none is pending. */
	int64_t drain_at_ms;
};

/* Blocks the signals herd handles (TERM, INT, USR1, USR2, HUP, and CHLD
 * when the pool has child processes) and makes the signalfd and the epoll
 * set.  Call before starting any thread: they inherit the mask.  0, or -1
 * (logged). */
/* The signals the supervise loop takes through its signalfd (SIGCHLD too
 * with handler processes); blocked in every thread. */
void supervise_signals(sigset_t *set, bool children);

int supervise_init(struct supervise *sv, const struct herd_config *cfg, struct pool *pool,
		   bool children);
/* --admin: opens the endpoint and logs "admin on ...".  0, or -1 (logged). */
int supervise_admin(struct supervise *sv);
/* Scale by the policy, sampling nrows worker slots.  0, or -1 (logged). */
int supervise_scaling(struct supervise *sv, int nrows);
/* A handler process: grow and retire when the supervisor says, and stop
 * when it is gone. */
int supervise_steered(struct supervise *sv, int ctl_fd);
/* Runs until SIGTERM/SIGINT (or the supervisor's end) and the pool has
 * drained (after --drain-delay, during which /health answers 503); then dumps the counters unless a supervisor reports them.  0,
 * or -1 when the loop failed (the pool's members are gone then too). */
int supervise_run(struct supervise *sv);
void supervise_close(struct supervise *sv);

#endif
