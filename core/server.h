/* The supervisor: owns the listening socket, starts the workers, serves the
 * admin endpoint, turns signals into actions, and shuts down gracefully. */
#ifndef HERD_SERVER_H
#define HERD_SERVER_H

#include "core/config.h"

/* Runs until SIGTERM/SIGINT.  Returns the process exit status. */
int server_run(const struct herd_config *cfg);

#endif
