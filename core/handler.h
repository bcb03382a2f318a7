/* A handler process (--procs): a child of the supervisor, started by exec
 * of the herd binary with HERD_HANDLER describing what it inherited (the
 * listening socket, the shared counters, a control socket) and its share of
 * workers and CPUs.  It runs the ordinary server with those, and obeys the
 * control socket instead of its own scaling policy. */
#ifndef HERD_HANDLER_H
#define HERD_HANDLER_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/config.h"

#define HANDLER_ENV "HERD_HANDLER"
/* Test-only: "all" or a slot number; that handler aborts at start. */
#define HANDLER_CRASH_ENV "HERD_TEST_HANDLER_CRASH"

struct handler_env {
	int slot, gen, bank;
	pid_t supervisor;
	int listen_fd, shm_fd, ctl_fd;
	int workers;
	char cpus[256]; /* a --cpus list */
};

/* The HERD_HANDLER value for env (what handler_parse reads back). */
int handler_format(const struct handler_env *he, char *buf, size_t len);

/* Entered from main when HERD_HANDLER is set.  Returns the exit status. */
int handler_main(const struct herd_config *cfg, const char *env);

/* Control messages over a SOCK_SEQPACKET pair, one fixed frame each. */
enum ctl_kind {
	CTL_READY = 'r',   /* handler: workers are accepting; value: how many */
	CTL_WORKERS = 'w', /* handler: running workers now */
	CTL_GROW = 'g',    /* supervisor: start one more worker */
	CTL_RETIRE = 'x',  /* supervisor: retire one worker (lossless drain) */
};

int ctl_send(int fd, enum ctl_kind kind, int value);
/* 1 with a frame, 0 at EOF (the peer is gone), -1 when nothing is there
 * (EAGAIN) or on error. */
int ctl_recv(int fd, enum ctl_kind *kind, int *value);

#endif
