/* The supervisor of handler processes (--procs / --max-procs > 1): the
 * processes as a pool (balance/pool.h) over balance/proc_set.c, with what
 * they share (the listening socket, the shared counters, which the admin
 * endpoint reports over all of them) and the supervise loop.  Starts,
 * replaces, scales and reloads the handlers. */
#ifndef HERD_SUPERVISOR_H
#define HERD_SUPERVISOR_H

#include "core/config.h"

/* Runs until SIGTERM/SIGINT and every handler is gone.  The exit status. */
int supervisor_run(const struct herd_config *cfg);

#endif
