#include "balance/worker_set.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mech.h"
#include "net/handoff.h"

#define HANDOFF_CAPACITY 4096

int worker_set_init(struct worker_set *ws, int cap, const struct worker *tmpl, const int *cpus,
		    int ncpus, struct worker_counters *ctr)
{
	memset(ws, 0, sizeof(*ws));
	ws->cap = cap;
	ws->cpus = cpus;
	ws->ncpus = ncpus;
	memcpy(&ws->tmpl, tmpl, sizeof(ws->tmpl));
	ws->w = calloc((size_t)cap, sizeof(*ws->w));
	ws->state = calloc((size_t)cap, 1);
	ws->own_listener_open = calloc((size_t)cap, 1);
	ws->own_ctr = !ctr;
	ws->ctr = ctr ? ctr : counters_alloc(cap);
	ws->rows = calloc((size_t)cap, sizeof(*ws->rows));
	ws->wake_fds = malloc(sizeof(int) * (size_t)cap);
	if (!ws->w || !ws->state || !ws->own_listener_open || !ws->ctr || !ws->rows ||
	    !ws->wake_fds) {
		worker_set_destroy(ws);
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < cap; i++) {
		ws->wake_fds[i] = ws->w[i].wake_fd = -1;
		ws->rows[i] = (struct counters_row){.c = &ws->ctr[i], .proc = -1, .worker = i};
	}
	for (int i = 0; i < cap; i++) {
		ws->wake_fds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ws->wake_fds[i] < 0) {
			int e = errno;
			worker_set_destroy(ws);
			errno = e;
			return -1;
		}
	}
	return 0;
}

int worker_set_live(const struct worker_set *ws)
{
	return atomic_load_explicit(&ws->live, memory_order_relaxed);
}

int worker_set_in_use(const struct worker_set *ws)
{
	int n = 0;
	for (int i = 0; i < ws->cap; i++)
		n += ws->state[i] != SLOT_EMPTY;
	return n;
}

static int least_loaded_cpu(const struct worker_set *ws)
{
	int best = ws->cpus[0], best_n = -1;
	for (int c = 0; c < ws->ncpus; c++) {
		int n = 0;
		for (int i = 0; i < ws->cap; i++)
			n += ws->state[i] == SLOT_RUNNING && ws->w[i].cpu == ws->cpus[c];
		if (best_n < 0 || n < best_n) {
			best = ws->cpus[c];
			best_n = n;
		}
	}
	return best;
}

static void set_live(struct worker_set *ws, int delta)
{
	atomic_fetch_add_explicit(&ws->live, delta, memory_order_relaxed);
	ws->gauges.workers = worker_set_live(ws);
	if (ws->live_out)
		atomic_store_explicit(ws->live_out, ws->gauges.workers, memory_order_relaxed);
}

static void close_own_listener(struct worker_set *ws, int i)
{
	/* What SO_REUSEPORT hashed to these listeners and nobody accepted yet
	 * is reset by the kernel now: the cost of per-worker queues. */
	if (!ws->own_listener_open[i])
		return;
	for (int k = 0; k < ws->w[i].nlisten; k++)
		close(ws->w[i].listeners[k].fd);
	ws->own_listener_open[i] = 0;
}

/* reuseport: the worker's own socket on every address. */
static int open_own_listeners(struct worker_set *ws, int i)
{
	struct worker *w = &ws->w[i];
	char err[256];
	w->nlisten = 0;
	for (int k = 0; k < ws->naddrs; k++) {
		int fd = listen_open(&ws->addrs[k], &ws->lopts, err, sizeof(err));
		if (fd < 0) {
			herd_log("worker %d: %s", i, err);
			for (int j = 0; j < k; j++)
				close(w->listeners[j].fd);
			return -1;
		}
		w->listeners[k] = (struct herd_listener){.fd = fd, .tls = ws->tls[k]};
		w->nlisten = k + 1;
	}
	ws->own_listener_open[i] = 1;
	return 0;
}

int worker_set_grow(struct worker_set *ws)
{
	int i = 0;
	while (i < ws->cap && ws->state[i] != SLOT_EMPTY)
		i++;
	if (i == ws->cap)
		return -1;

	struct worker *w = &ws->w[i];
	struct handoff *handoff = w->handoff;
	/* The slot starts over from the template; only what peers may hold
	 * on to (the wake eventfd) and the counters survive. */
	memcpy(w, &ws->tmpl, sizeof(*w));
	w->id = i;
	w->cpu = least_loaded_cpu(ws);
	w->ctr = &ws->ctr[i];
	w->wake_fd = ws->wake_fds[i];
	w->peers = ws->w;
	w->peer_wake = ws->wake_fds;
	w->peer_ctr = ws->ctr;
	w->npeers = ws->cap;
	w->nlive = &ws->live;
	if (w->mode == HERD_ACCEPT_LISTENER) {
		if (!handoff)
			handoff = handoff_new(HANDOFF_CAPACITY);
		if (!handoff) {
			herd_log("worker %d: out of memory", i);
			return -1;
		}
		w->handoff = handoff;
	}
	if (w->mode == HERD_ACCEPT_REUSEPORT && open_own_listeners(ws, i) < 0)
		return -1;
	if (worker_init(w) < 0) {
		herd_log("worker %d: cannot set up its %s loop: %s", i, w->mech->name,
			 strerror(errno));
		goto fail;
	}
	int rc = worker_start(w);
	if (rc) {
		herd_log("worker %d: cannot start on CPU %d: %s", i, w->cpu, strerror(rc));
		worker_destroy(w);
		goto fail;
	}
	ws->state[i] = SLOT_RUNNING;
	atomic_store_explicit(&w->running, true, memory_order_release);
	atomic_store_explicit(&w->ctr->running, 1, memory_order_relaxed);
	set_live(ws, 1);
	if (i + 1 > ws->gauges.slots)
		ws->gauges.slots = i + 1;
	return i;
fail:
	close_own_listener(ws, i);
	return -1;
}

int worker_set_retire(struct worker_set *ws, int64_t deadline_ms)
{
	int pick = -1;
	uint64_t fewest = UINT64_MAX;
	if (worker_set_live(ws) <= 1)
		return -1;
	for (int i = 0; i < ws->cap; i++) {
		uint64_t n = CTR_GET(&ws->ctr[i], conns_active);
		if (ws->state[i] == SLOT_RUNNING && n < fewest) {
			pick = i;
			fewest = n;
		}
	}
	if (pick < 0)
		return -1;
	/* Out of the peers' view first: no nudge or hand-off is aimed at a
	 * worker that is leaving. */
	atomic_store_explicit(&ws->w[pick].running, false, memory_order_release);
	atomic_store_explicit(&ws->ctr[pick].running, 0, memory_order_relaxed);
	ws->state[pick] = SLOT_RETIRING;
	set_live(ws, -1);
	worker_request_stop(&ws->w[pick], deadline_ms);
	return pick;
}

/* Joins a worker whose thread returned (or is about to) and empties its slot. */
static void finish_slot(struct worker_set *ws, int i)
{
	struct worker *w = &ws->w[i];
	int fd, stranded = 0;
	bool tls;
	worker_join(w);
	worker_destroy(w);
	close_own_listener(ws, i);
	while (w->handoff && handoff_pop(w->handoff, &fd, &tls)) {
		close(fd);
		atomic_fetch_sub_explicit(w->conns_open, 1, memory_order_relaxed);
		stranded++;
	}
	if (stranded)
		herd_log("worker %d: %d handed-over connections closed at retirement", i, stranded);
	ws->state[i] = SLOT_EMPTY;
}

void worker_set_reap(struct worker_set *ws)
{
	for (int i = 0; i < ws->cap; i++) {
		struct worker *w = &ws->w[i];
		if (ws->state[i] != SLOT_RETIRING)
			continue;
		if (atomic_load_explicit(&w->left_race, memory_order_acquire))
			close_own_listener(ws, i);
		if (atomic_load_explicit(&w->finished, memory_order_acquire))
			finish_slot(ws, i);
	}
}

void worker_set_stop_all(struct worker_set *ws, int64_t deadline_ms)
{
	for (int i = 0; i < ws->cap; i++) {
		if (ws->state[i] == SLOT_RUNNING) {
			atomic_store_explicit(&ws->w[i].running, false, memory_order_release);
			atomic_store_explicit(&ws->ctr[i].running, 0, memory_order_relaxed);
			ws->state[i] = SLOT_RETIRING;
			set_live(ws, -1);
			worker_request_stop(&ws->w[i], deadline_ms);
		}
	}
	/* The caller closes the shared listener next; nobody may still be
	 * accepting from it then. */
	for (int spin = 0; spin < 1000; spin++) {
		int racing = 0;
		for (int i = 0; i < ws->cap; i++)
			racing += ws->state[i] == SLOT_RETIRING &&
				  !atomic_load_explicit(&ws->w[i].left_race, memory_order_acquire);
		if (!racing)
			break;
		usleep(1000);
	}
}

void worker_set_join_all(struct worker_set *ws)
{
	for (int i = 0; i < ws->cap; i++)
		if (ws->state[i] != SLOT_EMPTY)
			finish_slot(ws, i);
}

void worker_set_destroy(struct worker_set *ws)
{
	for (int i = 0; ws->w && i < ws->cap; i++) {
		close_own_listener(ws, i);
		handoff_free(ws->w[i].handoff);
		if (ws->wake_fds && ws->wake_fds[i] >= 0)
			close(ws->wake_fds[i]); /* the set's, not the worker's */
	}
	free(ws->wake_fds);
	free(ws->w);
	free(ws->state);
	free(ws->own_listener_open);
	free(ws->rows);
	if (ws->own_ctr)
		counters_free(ws->ctr);
	memset(ws, 0, sizeof(*ws));
}

int worker_set_listen_fds(const struct worker_set *ws, int *fds, int max)
{
	int n = 0;
	if (ws->tmpl.mode != HERD_ACCEPT_REUSEPORT) {
		for (int k = 0; k < ws->tmpl.nlisten && n < max; k++)
			fds[n++] = ws->tmpl.listeners[k].fd;
		return n;
	}
	for (int i = 0; i < ws->cap; i++)
		for (int k = 0; ws->own_listener_open[i] && k < ws->w[i].nlisten && n < max; k++)
			fds[n++] = ws->w[i].listeners[k].fd;
	return n;
}
