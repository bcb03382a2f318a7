/* Assertions for the tests that run without Criterion (it cannot start
 * under ThreadSanitizer): count checks and failures, report each failure
 * with its place, and let main() exit non-zero when any failed. */
#ifndef HERD_TESTS_PLAIN_CHECK_H
#define HERD_TESTS_PLAIN_CHECK_H

#include <stdio.h>

static int failures, checks;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		checks++;                                                  \
		if (!(cond)) {                                             \
			failures++;                                        \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
		}                                                          \
	} while (0)

#endif
