/* Load sampling: turns the workers' counters and the accept queue into one
 * scale_view per interval. */
#ifndef HERD_SAMPLER_H
#define HERD_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "balance/policy.h"
#include "core/counters.h"

struct sampler_slot {
	uint64_t busy_ns, accepted, requests;
	uint8_t valid; /* the slot ran through the whole last interval */
};

struct sampler {
	struct sampler_slot *slot;
	int cap;
	uint64_t t_ns;
};

int sampler_init(struct sampler *sm, int cap);
void sampler_free(struct sampler *sm);
/* Samples now: rows[i] must name the same worker from call to call (a
 * worker counts while its block says running), listen_fds are the sockets
 * whose queues are summed.  false for the first call, which only sets the
 * baseline. */
bool sampler_take(struct sampler *sm, const struct counters_row *rows, int nrows,
		  const int *listen_fds, int nlisten, struct scale_view *v);

/* Accept-queue length and limit of a listening socket (TCP_INFO:
 * tcpi_unacked and tcpi_sacked).  -1 when unreadable. */
int sampler_queue(int listen_fd, unsigned *len, unsigned *max);

#endif
