/* Starting and reaping the tests' child processes (see harness_spawn.h). */
#include "harness_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

long long h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void redirect(int from, int to, int devnull)
{
	if (from == H_DEVNULL)
		from = devnull;
	if (from > 0)
		dup2(from, to); /* the copy is not close-on-exec */
}

/* The child side of the fork: never returns. */
/* Socket activation as systemd does it: the sockets from fd 3 on and the
 * variables naming them.  Returns how many were passed. */
static int pass_listeners(const struct h_spawn_opts *o)
{
	int fds[2] = {o->listen_fd, o->listen_fd > 0 ? o->listen_fd2 : 0}, n = 0;
	char pid[32], count[8];
	if (fds[0] <= 0)
		return 0;
	n = fds[1] > 0 ? 2 : 1;
	/* Out of the way of fd 3 first, where the other one goes. */
	if (n == 2 && fds[1] == 3)
		fds[1] = dup(fds[1]);
	for (int i = 0; i < n; i++) {
		if (fds[i] != 3 + i)
			dup2(fds[i], 3 + i);
		fcntl(3 + i, F_SETFD, 0); /* dup2 did not run if it already was there */
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(count, sizeof(count), "%d", n);
	setenv("LISTEN_FDS", count, 1);
	setenv("LISTEN_PID", pid, 1);
	if (o->listen_fdnames)
		setenv("LISTEN_FDNAMES", o->listen_fdnames, 1);
	return n;
}

static void exec_child(const char *const *argv, const struct h_spawn_opts *o, pid_t parent)
{
	if (o->own_group)
		setpgid(0, 0);
	if (o->die_with_parent) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* it died before prctl took effect */
			_exit(127);
	}
	if (o->pristine) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < 32; s++)
			if (s != SIGKILL && s != SIGSTOP)
				signal(s, SIG_DFL);
	}
	bool any_null = o->in == H_DEVNULL || o->out == H_DEVNULL || o->err == H_DEVNULL;
	int devnull = any_null ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
	redirect(o->in, 0, devnull);
	redirect(o->out, 1, devnull);
	redirect(o->err, 2, devnull);
	int passed = pass_listeners(o);
	if (o->pristine)
		for (int fd = 3 + passed; fd < 1024; fd++)
			close(fd);
	const struct {
		int resource;
		rlim_t value;
	} lims[] = {{RLIMIT_NOFILE, o->nofile}, {RLIMIT_AS, o->address_space}};
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		struct rlimit rl = {lims[i].value, lims[i].value};
		if (lims[i].value > 0 && setrlimit(lims[i].resource, &rl) != 0) {
			dprintf(2, "setrlimit: %s\n", strerror(errno));
			_exit(126);
		}
	}
	if (o->path)
		execvp(argv[0], (char *const *)argv);
	else
		execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

pid_t h_spawn(const char *const *argv, const struct h_spawn_opts *opts)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		exec_child(argv, opts, parent);
	return pid;
}

bool h_child_exited(pid_t pid, int timeout_ms, int *status)
{
	long long deadline = h_now_ms() + timeout_ms;
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			if (status)
				*status = st;
			return true;
		}
		if (h_now_ms() >= deadline)
			return false;
		h_sleep_ms(5);
	}
}

bool h_child_wait(pid_t pid, int timeout_ms, int *status)
{
	if (h_child_exited(pid, timeout_ms, status))
		return true;
	h_child_kill(pid, status);
	return false;
}

void h_child_kill(pid_t pid, int *status)
{
	/* Without a group of its own -pid names no group (a pid is not reused
	 * while it is a group's id): ESRCH, harmless. */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	int st;
	if (waitpid(pid, &st, 0) == pid && status)
		*status = st;
}
