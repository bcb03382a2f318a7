/* The supervisor of handler processes (--procs / --max-procs > 1): owns the
 * listening socket, the admin endpoint and the shared counters; starts,
 * replaces, scales and reloads the handler processes (balance/proc_set). */
#ifndef HERD_SUPERVISOR_H
#define HERD_SUPERVISOR_H

#include "core/config.h"

/* Runs until SIGTERM/SIGINT and every handler is gone.  The exit status. */
int supervisor_run(const struct herd_config *cfg);

#endif
