/* The tests' child processes (the server, herd-load, curl): started and
 * reaped in one place, so every child gets the same care about descriptors,
 * signals and outliving its test, and every wait is bounded.  Needs nothing
 * but Criterion, so a test binary without the rest of the harness (herd-load's
 * own test) links it too. */
#ifndef HERD_TEST_HARNESS_SPAWN_H
#define HERD_TEST_HARNESS_SPAWN_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#define H_DEVNULL (-1)

/* Zeroed, it is a plain fork + execv that inherits everything. */
struct h_spawn_opts {
	/* The child's stdin, stdout, stderr: 0 keeps the test's, H_DEVNULL is
	 * /dev/null, anything else is a descriptor of the caller's, who still
	 * owns it (and closes its copy). */
	int in, out, err;
	bool path; /* argv[0] is looked up in $PATH (a tool such as curl) */
	/* Its own process group: h_child_kill then also reaches what it forked. */
	bool own_group;
	/* SIGKILLed when the test's thread dies (a Criterion timeout kills the
	 * test process): nothing outlives its test. */
	bool die_with_parent;
	/* Default signal dispositions and an empty mask, whatever the test
	 * process set, so the server's own signal handling is what gets
	 * tested; and no descriptor of the test's but 0-2 (and listen_fd), so a
	 * test's socket cannot stay open in the child. */
	bool pristine;
	/* > 0: passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID, as systemd
	 * passes an activated socket (LISTEN_PID must be the child's own pid,
	 * so only the child can set it). */
	int listen_fd;
	/* > 0 (with listen_fd): a second socket, passed as fd 4, LISTEN_FDS=2. */
	int listen_fd2;
	/* Non-NULL: LISTEN_FDNAMES, e.g. "web:alt". */
	const char *listen_fdnames;
	/* > 0: RLIMIT_NOFILE, soft and hard (herd raises its soft limit to the
	 * hard one, so a soft limit alone would not hold). */
	rlim_t nofile;
	/* > 0: RLIMIT_AS, soft and hard. */
	rlim_t address_space;
};

/* How every test runs herd: the options above that make a server the test's
 * alone.  E.g. &(struct h_spawn_opts){H_SERVER, .out = fd, .err = fd}. */
#define H_SERVER .in = H_DEVNULL, .own_group = true, .die_with_parent = true, .pristine = true

/* Starts argv[0] (NULL-terminated argv) as a child; asserts fork works.  A
 * failed exec prints "exec ARGV0: ERROR" to the child's stderr and exits
 * 127. */
pid_t h_spawn(const char *const *argv, const struct h_spawn_opts *opts);

/* Waits up to timeout_ms (0: just looks) for the child to exit; true if it
 * did, *status (may be NULL) then holds its waitpid status.  It keeps
 * running otherwise. */
bool h_child_exited(pid_t pid, int timeout_ms, int *status);
/* The same, but a child still running at the deadline is killed and reaped
 * (h_child_kill): false then. */
bool h_child_wait(pid_t pid, int timeout_ms, int *status);
/* SIGKILLs the child and its process group, if it has one, and reaps it;
 * *status (may be NULL) gets the waitpid status. */
void h_child_kill(pid_t pid, int *status);

long long h_now_ms(void); /* CLOCK_MONOTONIC */
void h_sleep_ms(int ms);

#endif
