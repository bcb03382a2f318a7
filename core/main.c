/* The herd binary: libherd (net/herd.h) with two routes of its own, the
 * same API an embedding program uses.  --root adds the files under "/". */
#include <stdio.h>
#include <string.h>

#include "net/herd.h"

/* Read by jemalloc when it starts (other allocators ignore it).  jemalloc
 * sets up a thread's cache (and, with several arenas, its arena) at that
 * thread's first malloc, and when memory has run out by then it crashes
 * instead of failing the malloc (jemalloc issue #2289): a worker's first
 * allocation, at its first connection, under a tight RLIMIT_AS was a
 * segfault where it must be a dropped connection.  So no thread caches, and
 * one arena: set up at start, and what one worker frees another can reuse
 * (with an arena per thread, a worker stayed out of memory after the rest
 * had freed theirs).  Cost, measured: a malloc+free pair between 2 us of
 * work takes about 100 ns more, 250 ns with two threads at it, so the
 * steady path allocates nothing for answers up to 8 KiB (uring's send copy
 * takes a worker's spare buffer, core/conn.c).  With every worker's first malloc moved to its thread start
 * (core/loop.c), "narenas:1" alone, thread caches back, survived the same
 * tests, but for starts with under 2 MiB of address space left, where the
 * main thread's own first malloc crashed. */
const char *malloc_conf = "narenas:1,tcache:false";

static const char plaintext_body[] = "Hello, World!";
static const char json_body[] = "{\"message\":\"Hello, World!\"}";

/* The benchmarks' endpoints (TechEmpower's plaintext and JSON tests). */
static int plaintext(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	herd_res_type(res, "text/plain");
	herd_res_body_borrow(res, plaintext_body, sizeof(plaintext_body) - 1, NULL, NULL);
	return HERD_DONE;
}

static int json(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	herd_res_type(res, "application/json");
	herd_res_body_borrow(res, json_body, sizeof(json_body) - 1, NULL, NULL);
	return HERD_DONE;
}

int main(int argc, char **argv)
{
	struct herd *h = herd_new();
	if (!h) {
		fprintf(stderr, "herd: out of memory\n");
		return 1;
	}
	int rc = herd_parse_args(h, &argc, argv);
	if (rc == 0 && argc > 1) {
		/* Nothing is left for a program of its own here. */
		if (strncmp(argv[1], "--", 2) == 0)
			fprintf(stderr, "herd: unknown option '%.*s'\n", (int)strcspn(argv[1], "="),
				argv[1]);
		else
			fprintf(stderr, "herd: unexpected argument '%s'\n", argv[1]);
		herd_usage(stderr);
		rc = -1;
	}
	if (rc != 0) {
		herd_free(h);
		return rc < 0 ? 2 : 0;
	}
	if (herd_route(h, "GET", "/plaintext", HERD_EXACT, plaintext, NULL) < 0 ||
	    herd_route(h, "GET", "/json", HERD_EXACT, json, NULL) < 0) {
		fprintf(stderr, "herd: out of memory\n");
		herd_free(h);
		return 1;
	}
	rc = herd_run(h);
	herd_free(h);
	return rc;
}
