/* Helpers shared by the multi-process (--procs) integration tests:
 * test_procs_integration.c and test_reload_integration.c. */
#ifndef HERD_TESTS_PROCS_UTIL_H
#define HERD_TESTS_PROCS_UTIL_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"
#define GET_PLAIN "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"
#define PROCS2 "--procs", "2", "--cpus", "0,1", "--admin", "127.0.0.1:0", "--grace", "2"

#define M h_metric_l /* M(text, name, labels...) */
#define json_number h_json_number

/* GET /metrics from h's admin port; fails the test if it cannot. */
#define metrics(h) h_metrics_assert((h)->admin_port, __LINE__)

/* A factor for time bounds: sanitizer builds run the server slower. */
int slack(void);

/* Sleeps until h_now_ms() reaches t_ms (returns at once if past). */
void sleep_until(long long t_ms);

/* One herd_process_info series. */
struct pinfo {
	int proc, pid, gen;
	char state[16];
};

/* The integer value of key="..." in a label list, or -1. */
int label_int(const char *labels, const char *key);

/* The herd_process_info series of a /metrics text into out[max]; returns how many. */
int proc_info(const char *text, struct pinfo *out, int max);

/* Whether pid is one of set[0..n). */
bool in(int pid, const int *set, int n);

/* Waits until generation `gen` has `nprocs` distinct running handlers in
 * slots 0..nprocs-1, none of them in old[0..nold) (and, if `only`, no other
 * process is listed); pids[k] is slot k's.  Fails the test on timeout. */
void wait_gen(const struct herd *h, int nprocs, int gen, int *pids, int timeout_ms, bool only,
	      const int *old, int nold);
#define wait_running(h, nprocs, gen, pids, ms) \
	wait_gen((h), (nprocs), (gen), (pids), (ms), true, NULL, 0)

/* PID still exists as a child (running or unreaped) of `parent`. */
bool child_of(int pid, int parent);

/* PID has exited (a zombie at most: its sockets are closed). */
bool exited(int pid);

/* The server's stderr after `from` shows `needle` within timeout_ms (scaled). */
bool wait_log(const struct herd *h, size_t from, const char *needle, int timeout_ms);

/* How many times needle occurs in text. */
int count_str(const char *text, const char *needle);

/* The server's /plaintext URL, for herd-load. */
void url_of(const struct herd *h, char *url, size_t len);

/* Copies a file (mode 0755); fails the test on error. */
void copy_file(const char *from, const char *to);

/* Whether a handler of a supervisor that is gone is gone too (the test
 * process must be a child subreaper); why says what is wrong, if anything. */
bool handler_gone(int pid, char *why, size_t len);

#endif
