/* The listener mode's hand-off queue under real concurrency: one producer
 * thread, one consumer thread, millions of fds, nothing lost, duplicated or
 * reordered.  Plain C (no Criterion) so it also runs under ThreadSanitizer,
 * where Criterion cannot start. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/handoff.h"

#define ITEMS 2000000

#include "plain_check.h"

static void *producer(void *arg)
{
	struct handoff *q = arg;
	for (int i = 0; i < ITEMS; i++)
		while (!handoff_push(q, i, i & 1))
			sched_yield();
	return NULL;
}

static void test_concurrent(uint32_t capacity)
{
	struct handoff *q = handoff_new(capacity);
	pthread_t t;
	int next = 0, bad = 0;
	pthread_create(&t, NULL, producer, q);
	while (next < ITEMS) {
		int fd;
		bool tls;
		if (!handoff_pop(q, &fd, &tls)) {
			sched_yield();
			continue;
		}
		if ((fd != next || tls != (next & 1)) && bad++ < 5)
			fprintf(stderr, "capacity %u: got %d, want %d\n", capacity, fd, next);
		next++;
	}
	pthread_join(t, NULL);
	int fd;
	bool tls;
	CHECK(bad == 0, "capacity %u: %d items out of order or lost", capacity, bad);
	CHECK(!handoff_pop(q, &fd, &tls), "capacity %u: queue not empty at the end", capacity);
	handoff_free(q);
}

static void test_bounds(void)
{
	struct handoff *q = handoff_new(5); /* rounds up to 8 */
	int fd, n = 0;
	bool tls;
	CHECK(!handoff_pop(q, &fd, &tls), "new queue not empty");
	while (handoff_push(q, n, false))
		n++;
	CHECK(n == 8, "capacity 5 held %d, want 8", n);
	for (int i = 0; i < 8; i++)
		CHECK(handoff_pop(q, &fd, &tls) && fd == i, "pop %d gave %d", i, fd);
	CHECK(!handoff_pop(q, &fd, &tls), "drained queue not empty");
	/* Wrap the indices around many times. */
	for (int i = 0; i < 100000; i++) {
		CHECK(handoff_push(q, i, i % 3 == 0), "push %d failed", i);
		CHECK(handoff_pop(q, &fd, &tls) && fd == i && tls == (i % 3 == 0),
		      "wrap %d gave %d", i, fd);
	}
	handoff_free(q);
}

int main(void)
{
	test_bounds();
	test_concurrent(2);
	test_concurrent(64);
	test_concurrent(4096);
	printf("%d passed, %d failed\n", checks - failures, failures);
	return failures ? 1 : 0;
}
