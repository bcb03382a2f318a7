/* A worker's event loop (core/loop.c): the thread body every worker runs,
 * whatever its mechanism. */
#ifndef HERD_LOOP_H
#define HERD_LOOP_H

/* The thread body: arg is the struct worker. */
void *worker_loop(void *worker);

#endif
