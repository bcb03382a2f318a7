/* Ties the roles together: the one file that reaches every layer.  A
 * process is a handler (its supervisor set HERD_HANDLER), the supervisor of
 * handler processes (--procs 2 or more), or the whole server. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "balance/control.h"
#include "balance/handler.h"
#include "balance/server.h"
#include "balance/supervisor.h"
#include "core/config.h"
#include "core/cpus.h"

/* Read by jemalloc when it starts (other allocators ignore it).  jemalloc
 * sets up a thread's cache (and, with several arenas, its arena) at that
 * thread's first malloc, and when memory has run out by then it crashes
 * instead of failing the malloc (jemalloc issue #2289): a worker's first
 * allocation, at its first connection, under a tight RLIMIT_AS was a
 * segfault where it must be a dropped connection.  So no thread caches, and
 * one arena: set up at start, and what one worker frees another can reuse
 * (with an arena per thread, a worker stayed out of memory after the rest
 * had freed theirs).  Cost, measured: a malloc+free pair between 2 us of
 * work takes about 100 ns more, 250 ns with two threads at it, paid where
 * herd allocates per response (uring's send copy) and nowhere else on the
 * steady path.  With every worker's first malloc moved to its thread start
 * (core/loop.c), "narenas:1" alone, thread caches back, survived the same
 * tests, but for starts with under 2 MiB of address space left, where the
 * main thread's own first malloc crashed. */
const char *malloc_conf = "narenas:1,tcache:false";

int main(int argc, char **argv)
{
	/* The time zone, once, before any thread: glibc sets it up lazily at
	 * the first call that needs it (reading TZ and /etc/localtime, with a
	 * malloc and a descriptor), whichever thread that is.  herd itself
	 * formats times without libc (net/http_date.h). */
	tzset();
	static struct herd_config cfg; /* large (CPU table): not on the stack */
	char err[256];

	switch (config_parse(&cfg, argc, argv, stdout, err, sizeof(err))) {
	case CONFIG_OK:
		break;
	case CONFIG_EXIT_HELP:
	case CONFIG_EXIT_VERSION:
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "herd: %s\n", err);
		config_usage(stderr);
		return 2;
	}
	for (int i = 0; i < cfg.ncpus; i++) {
		if (!cpus_usable(cfg.cpus[i])) {
			fprintf(stderr, "herd: bad --cpus: CPU %d is not available to this process\n",
				cfg.cpus[i]);
			return 2;
		}
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	const char *he = getenv(HANDLER_ENV);
	if (he)
		return handler_main(&cfg, he);
	if (cfg.max_procs > 1)
		return supervisor_run(&cfg);
	return server_run(&cfg, NULL);
}
