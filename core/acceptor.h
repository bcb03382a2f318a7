/* The listener/dispatcher design herd exists to beat, kept as
 * --accept listener for side-by-side measurement: one acceptor thread takes
 * every connection, from every listening socket, and hands it to a worker,
 * round robin, through the worker's queue (with its listener's TLS bit) and
 * eventfd. */
#ifndef HERD_ACCEPTOR_H
#define HERD_ACCEPTOR_H

#include <pthread.h>
#include <stdint.h>

#include "core/config.h"
#include "net/listen.h"

struct worker;

struct acceptor {
	struct herd_listener listeners[HERD_MAX_LISTEN]; /* polled together */
	int nlisten, stop_fd, cpu;
	struct worker *workers; /* every slot; those not running are skipped */
	const int *wake_fds;    /* slot i's eventfd, fixed while slots get rewritten */
	/* --max-conns: the acceptor reserves a slot before each accept, so at
	 * the limit connections wait in the kernel's queue, as in the other
	 * modes; the receiving worker takes the reservation over. */
	_Atomic long *conns_open;
	long max_conns;
	int nworkers, next;
	pthread_t thread;
	int64_t log_slot;
};

/* Starts the acceptor thread pinned to a->cpu.  0 or an errno value. */
int acceptor_start(struct acceptor *a);
/* Stops accepting and joins the thread. */
void acceptor_stop(struct acceptor *a);

#endif
