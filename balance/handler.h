/* A handler process (--procs): a child of the supervisor, started by exec
 * of the herd binary with HERD_HANDLER (balance/control.h) describing what
 * it inherited.  It runs the ordinary server with its share of workers and
 * CPUs, and obeys the control socket instead of its own scaling policy. */
#ifndef HERD_HANDLER_H
#define HERD_HANDLER_H

#include "core/config.h"

/* Test-only: "all" or a slot number; that handler aborts at start. */
#define HANDLER_CRASH_ENV "HERD_TEST_HANDLER_CRASH"

/* Entered from main when HERD_HANDLER is set (env is its value).  Returns
 * the exit status. */
int handler_main(const struct herd_config *cfg, const char *env);

#endif
