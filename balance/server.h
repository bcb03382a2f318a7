/* The server in this process: the worker threads as a pool (balance/pool.h)
 * over balance/worker_set.c, with what they share (the listening socket,
 * the listener mode's acceptor thread, --root, the access log) and the
 * supervise loop on the main thread.  The whole server with one process;
 * with --procs, each handler process. */
#ifndef HERD_SERVER_H
#define HERD_SERVER_H

#include "balance/control.h"
#include "core/config.h"

/* Runs until SIGTERM/SIGINT.  he: this is a handler process, serving on
 * what the supervisor passed and obeying its control socket; NULL: the
 * server opens its own socket and scales by its own policy.  Returns the
 * process exit status. */
int server_run(const struct herd_config *cfg, const struct handler_env *he);

#endif
