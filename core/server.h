/* The supervisor: owns the listening socket, starts the workers, serves the
 * admin endpoint, turns signals into actions, and shuts down gracefully. */
#ifndef HERD_SERVER_H
#define HERD_SERVER_H

#include <stdbool.h>

#include "core/config.h"
#include "net/listen.h"

struct handler_env;

/* Runs until SIGTERM/SIGINT.  Returns the process exit status.  Picks the
 * role: a handler process (HERD_HANDLER set), the supervisor of handler
 * processes (--procs/--max-procs > 1), or the whole server in this process. */
int server_run(const struct herd_config *cfg);

/* The server in this process; he: this is a handler process, serving on
 * what the supervisor passed and obeying its control socket. */
int server_serve(const struct herd_config *cfg, const struct handler_env *he);

/* Blocks the signals herd handles (TERM, INT, USR1, USR2, HUP, and CHLD
 * when it has children) and returns a signalfd for them, or -1.  Call
 * before starting any thread. */
int server_signalfd(bool children);

/* --accept auto resolved to what this kernel allows (logged when it falls
 * back). */
enum herd_accept_mode server_resolve_mode(const struct herd_config *cfg);

/* The well-known listening socket: passed by systemd, or bound now.  *lo
 * gets the options used, *bound the address with the port the kernel gave.
 * The fd, or -1 (logged). */
int server_listen(const struct herd_config *cfg, enum herd_accept_mode mode,
		  struct listen_opts *lo, struct herd_addr *bound);

#endif
