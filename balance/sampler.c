#include "balance/sampler.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/worker.h"

int sampler_init(struct sampler *sm, int cap)
{
	sm->slot = calloc((size_t)cap, sizeof(*sm->slot));
	sm->cap = cap;
	sm->t_ns = 0;
	return sm->slot ? 0 : -1;
}

void sampler_free(struct sampler *sm)
{
	free(sm->slot);
	sm->slot = NULL;
}

int sampler_queue(int listen_fd, unsigned *len, unsigned *max)
{
	struct tcp_info ti;
	socklen_t sl = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &ti, &sl) < 0)
		return -1;
	/* On a listening socket these two fields are the queue, not ACKs. */
	*len = ti.tcpi_unacked;
	*max = ti.tcpi_sacked;
	return 0;
}

bool sampler_take(struct sampler *sm, const struct counters_row *rows, int nrows,
		  const int *listen_fds, int nlisten, struct scale_view *v)
{
	uint64_t now = worker_clock_ns();
	double dt = sm->t_ns ? (double)(now - sm->t_ns) / 1e9 : 0;
	memset(v, 0, sizeof(*v));
	int counted = 0;

	for (int i = 0; i < nrows && i < sm->cap; i++) {
		struct sampler_slot *p = &sm->slot[i];
		const struct worker_counters *c = rows[i].c;
		bool running = atomic_load_explicit(&c->running, memory_order_relaxed);
		struct sampler_slot cur = {CTR_GET(c, busy_ns), CTR_GET(c, accepted),
					   CTR_GET(c, requests), running};
		if (running)
			v->workers++;
		if (running && p->valid && dt > 0) {
			double busy = (double)(cur.busy_ns - p->busy_ns) / 1e9 / dt;
			if (busy > 1)
				busy = 1; /* a turn that began before the interval */
			v->busy_avg += busy;
			if (busy > v->busy_max)
				v->busy_max = busy;
			v->accepts_per_s += (double)(cur.accepted - p->accepted) / dt;
			v->requests_per_s += (double)(cur.requests - p->requests) / dt;
			counted++;
		}
		if (running)
			v->conns_active += (long)CTR_GET(c, conns_active);
		*p = cur;
	}
	if (counted)
		v->busy_avg /= counted;

	for (int i = 0; i < nlisten; i++) {
		unsigned len, max;
		if (sampler_queue(listen_fds[i], &len, &max) == 0) {
			v->queue_len += len;
			if (max > v->queue_max)
				v->queue_max = max;
		}
	}
	bool baseline = sm->t_ns == 0;
	sm->t_ns = now;
	return !baseline;
}
