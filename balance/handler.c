#include "balance/handler.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "balance/control.h"
#include "balance/server.h"
#include "core/log.h"

static bool told_to_crash(int slot)
{
	const char *v = getenv(HANDLER_CRASH_ENV);
	if (!v || !*v)
		return false;
	return strcmp(v, "all") == 0 || atoi(v) == slot;
}

int handler_main(const struct herd_config *cfg, const char *env)
{
	static struct herd_config mine; /* large (CPU table): not on the stack */
	struct handler_env he;
	char tag[16], name[16];
	if (handler_parse(env, &he) < 0) {
		herd_log("bad %s '%s': this variable is for herd's own handler processes", HANDLER_ENV,
			 env);
		return 2;
	}
	/* Never outlive the supervisor: killed when it dies, and if it died
	 * between fork and here, do not start at all. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != he.supervisor)
		return 1;
	snprintf(tag, sizeof(tag), "herd[p%d]", he.slot);
	herd_log_tag(tag);
	snprintf(name, sizeof(name), "herd-p%d", he.slot);
	prctl(PR_SET_NAME, name);
	if (told_to_crash(he.slot)) {
		struct rlimit none = {0, 0};
		setrlimit(RLIMIT_CORE, &none); /* a test crash leaves no core file */
		herd_log("%s: crashing at start, as asked", HANDLER_CRASH_ENV);
		abort();
	}
	/* Inherited without close-on-exec so they crossed the exec; our own
	 * children (none today) must not get them. */
	for (int i = 0; i < he.nlisten; i++)
		fcntl(he.listeners[i].fd, F_SETFD, FD_CLOEXEC);
	fcntl(he.shm_fd, F_SETFD, FD_CLOEXEC);
	fcntl(he.ctl_fd, F_SETFD, FD_CLOEXEC);

	mine = *cfg;
	mine.workers = he.workers;
	mine.ncpus = config_parse_cpulist(he.cpus, mine.cpus, HERD_MAX_CPUS);
	if (mine.ncpus <= 0) {
		herd_log("bad CPU list '%s' from the supervisor", he.cpus);
		return 2;
	}
	/* --max-conns is over all processes: each takes an even share. */
	if (mine.max_conns)
		mine.max_conns = mine.max_conns / mine.procs > 0 ? mine.max_conns / mine.procs : 1;
	return server_run(&mine, &he);
}
