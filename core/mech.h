/* A mechanism: how a worker waits for and learns about I/O.  Two implement
 * it: epoll (readiness: core/mech_epoll.c) and io_uring (completions:
 * core/mech_uring*.c).  A mechanism owns waiting, delivering events and the
 * syscalls that move a connection's bytes; it owns none of the rules.  The
 * rules (a connection's life: core/engine.c; the accept race: core/race.c)
 * are written once and call down through this table, and a mechanism calls
 * back up through the engine_* and race_* entry points.
 *
 * State: a mechanism keeps its per-worker state behind w->io and two bytes
 * per connection in c->io[], both opaque to everything else. */
#ifndef HERD_MECH_H
#define HERD_MECH_H

#include <stdbool.h>
#include <stddef.h>

struct worker;
struct conn;

/* How a hand-over of output went. */
enum mech_send {
	MECH_SENT,     /* every byte is in the socket */
	MECH_PENDING,  /* the rest follows; engine_output_done() when it has */
	MECH_FAILED,   /* the connection cannot be written: close it */
	MECH_NOMEM,    /* no memory to keep the rest: close it */
};

struct mech {
	const char *name;

	/* Worker lifecycle.  init runs in the supervisor's thread (0, or -1
	 * with errno set); start, wait, dispatch and finish in the worker's. */
	int (*init)(struct worker *w);
	void (*destroy)(struct worker *w);
	int (*start)(struct worker *w);
	/* Submits what the turn queued and sleeps until an event or
	 * timeout_ms; also accounts the worker's busy time.  <0: fatal. */
	int (*wait)(struct worker *w, int timeout_ms);
	/* Delivers the events the wait returned: connection events to the
	 * engine, listener and wake events to the race. */
	void (*dispatch)(struct worker *w);
	/* Every connection is closed: waits until no request in flight can
	 * name anything the worker is about to free. */
	void (*finish)(struct worker *w);

	/* The accept race.  Makes the listener watched, or not (want), as far
	 * as this mechanism can right now; returns whether the worker races. */
	bool (*race_set)(struct worker *w, bool want);
	/* Once per turn, after the race's own rules ran; may be NULL. */
	void (*race_turn)(struct worker *w);

	/* A connection's I/O. */
	/* Starts reading a new connection; data_waiting: the listener
	 * deferred the accept until the request arrived, so try it now. */
	void (*conn_start)(struct worker *w, struct conn *c, bool data_waiting);
	/* Input is wanted (again); reading goes on until read_off. */
	void (*read_on)(struct worker *w, struct conn *c);
	/* Too much input is queued behind output: stop reading for now. */
	void (*read_off)(struct worker *w, struct conn *c);
	/* Hands over w->out (and empties it).  more: a file body follows, or
	 * it is the connection's last answer (CONN_LAST_OUT), left corked for
	 * the FIN. */
	enum mech_send (*send)(struct worker *w, struct conn *c, bool more);
	/* The socket is full: engine_output_done() once it can take more. */
	void (*wait_writable)(struct worker *w, struct conn *c);
	/* The engine is done with the connection: close its socket, and
	 * engine_release() it once no event can name it any more.  With
	 * CONN_LAST_OUT (and no CONN_ABORT), shutdown(SHUT_WR) first: the
	 * corked answer leaves with the FIN before unread input can turn the
	 * close into a reset. */
	void (*close)(struct worker *w, struct conn *c);
};

extern const struct mech mech_epoll;
extern const struct mech mech_uring;

/* Whether this kernel lets herd run the io_uring mechanism; when not, why. */
bool loop_uring_available(char *why, size_t len);

#endif
