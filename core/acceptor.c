#include "core/acceptor.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"
#include "net/handoff.h"

/* Longest wait for a descriptor after accept4 ran out of them. */
#define ACCEPT_PAUSE_MS 100

/* Hands fd to the next worker whose queue has room; false when all are full. */
static bool dispatch(struct acceptor *a, int fd, bool tls)
{
	for (int tries = 0; tries < a->nworkers; tries++) {
		int slot = a->next;
		struct worker *w = &a->workers[slot];
		a->next = (a->next + 1) % a->nworkers;
		/* Slots come and go with scaling: only running workers get fds. */
		if (!atomic_load_explicit(&w->running, memory_order_acquire) ||
		    !handoff_push(w->handoff, fd, tls))
			continue;
		/* Always wake: deciding "the worker is surely awake" from the
		 * queue's fill level races with the worker going to sleep. */
		uint64_t one = 1;
		if (write(a->wake_fds[slot], &one, sizeof(one)) < 0 && errno != EAGAIN)
			herd_log_ratelimited(&a->log_slot, "acceptor: wake: %s", strerror(errno));
		return true;
	}
	return false;
}

/* EMFILE and friends: the workers close connections all the time, and each
 * close frees a descriptor, so accepting resumes as soon as one did (within
 * a millisecond); with none open the descriptors are held elsewhere, and
 * the wait is longer.  Only a stop request cuts it short. */
static void wait_for_descriptors(struct acceptor *a, struct pollfd *stop)
{
	long open = atomic_load(a->conns_open);
	for (int ms = 0; ms < ACCEPT_PAUSE_MS; ms++) {
		if (poll(stop, 1, 1) > 0 || (open > 0 && atomic_load(a->conns_open) < open))
			return;
	}
}

/* Takes what listener l's queue holds, handing each connection on. */
static void drain_queue(struct acceptor *a, const struct herd_listener *l, struct pollfd *stop)
{
	for (;;) {
		if (atomic_fetch_add(a->conns_open, 1) >= a->max_conns) {
			atomic_fetch_sub(a->conns_open, 1);
			herd_log_ratelimited(&a->log_slot,
					     "acceptor: at --max-conns %ld, not accepting",
					     a->max_conns);
			poll(stop, 1, 20); /* only a stop request cuts the wait short */
			return;
		}
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			atomic_fetch_sub(a->conns_open, 1);
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN) {
				herd_log_ratelimited(&a->log_slot, "acceptor: accept: %s",
						     strerror(errno));
				wait_for_descriptors(a, stop);
			}
			return;
		}
		for (int waited = 0; !dispatch(a, fd, l->tls); waited++) {
			if (waited == 5000) { /* 5 s: nobody is taking connections */
				close(fd);
				atomic_fetch_sub(a->conns_open, 1);
				break;
			}
			poll(NULL, 0, 1); /* every queue full: workers are behind */
		}
	}
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	/* p[0]: the stop request; then one per listener. */
	struct pollfd p[1 + HERD_MAX_LISTEN] = {{.fd = a->stop_fd, .events = POLLIN}};
	for (int i = 0; i < a->nlisten; i++)
		p[1 + i] = (struct pollfd){.fd = a->listeners[i].fd, .events = POLLIN};
	for (;;) {
		if (poll(p, 1 + (nfds_t)a->nlisten, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		for (int i = 0; i < a->nlisten; i++)
			if (p[1 + i].revents & POLLIN)
				drain_queue(a, &a->listeners[i], &p[0]);
	}
	return NULL;
}

int acceptor_start(struct acceptor *a)
{
	pthread_attr_t attr;
	cpu_set_t set;
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0)
		return errno;
	int rc = pthread_attr_init(&attr);
	if (rc)
		return rc;
	CPU_ZERO(&set);
	CPU_SET(a->cpu, &set);
	rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (rc == 0)
		rc = pthread_create(&a->thread, &attr, acceptor_main, a);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		pthread_setname_np(a->thread, "herd-acceptor");
	return rc;
}

void acceptor_stop(struct acceptor *a)
{
	uint64_t one = 1;
	if (write(a->stop_fd, &one, sizeof(one)) < 0)
		herd_log("acceptor: cannot stop: %s", strerror(errno));
	pthread_join(a->thread, NULL);
	close(a->stop_fd);
}
