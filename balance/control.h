/* What a supervisor and its handler processes say to each other: the
 * HERD_HANDLER variable a handler is started with (what it inherited: the
 * listening sockets with their TLS bits, the shared counters, a control socket; its share of
 * workers and CPUs), and the frames on the control socket after that. */
#ifndef HERD_CONTROL_H
#define HERD_CONTROL_H

#include <stddef.h>
#include <sys/types.h>

#include "core/config.h"
#include "net/listen.h"

#define HANDLER_ENV "HERD_HANDLER"

struct handler_env {
	int slot, gen, bank;
	pid_t supervisor;
	struct herd_listener listeners[HERD_MAX_LISTEN];
	int nlisten;
	int shm_fd, ctl_fd;
	int workers;
	char cpus[256]; /* a --cpus list */
};

/* The HERD_HANDLER value for he.  0, or -1 when buf is too small. */
int handler_format(const struct handler_env *he, char *buf, size_t len);
/* Reads back what handler_format wrote.  0, or -1 when s is not that. */
int handler_parse(const char *s, struct handler_env *he);

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
