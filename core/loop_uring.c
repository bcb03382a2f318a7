/* The io_uring backend (placeholder until it lands). */
#include <errno.h>
#include <stdio.h>

#include "core/worker.h"

bool loop_uring_available(char *why, size_t len)
{
	snprintf(why, len, "the io_uring backend is not built yet");
	return false;
}

static int uring_init(struct worker *w)
{
	(void)w;
	errno = ENOSYS;
	return -1;
}

static void *uring_run(void *w)
{
	return w;
}

static void uring_destroy(struct worker *w)
{
	(void)w;
}

const struct loop_ops loop_uring_ops = {
	.name = "io_uring",
	.init = uring_init,
	.run = uring_run,
	.destroy = uring_destroy,
};
