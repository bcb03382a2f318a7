#include "core/server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/log.h"
#include "core/worker.h"
#include "net/accept_listener.h"
#include "net/handoff.h"
#include "net/listen.h"

#define HANDOFF_CAPACITY 4096

struct server {
	const struct herd_config *cfg;
	enum herd_accept_mode mode; /* resolved: never auto */
	int *listen_fds;            /* one, or one per worker (reuseport) */
	int nlisten;
	int admin_fd, epfd, sig_fd;
	struct acceptor acceptor;
	bool acceptor_on;
	_Atomic long conns_open;
	long max_conns;
	struct worker_counters *ctr;
	struct worker *workers;
	int nworkers; /* started */
	struct admin admin;
	bool admin_on;
};

/* After an error answer, how long a client may keep sending before close. */
#define LINGER_MS 5000

static void resolve_limits(struct server *s)
{
	struct rlimit rl;
	s->max_conns = s->cfg->max_conns;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		/* Descriptors are the budget for connections: take what we may. */
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	long nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
			      ? (long)rl.rlim_cur
			      : 1048576;
	long fit = config_default_max_conns(nofile, s->cfg->workers);
	if (s->max_conns == 0)
		s->max_conns = fit;
	else if (s->max_conns > fit)
		herd_log("warning: --max-conns %ld exceeds what RLIMIT_NOFILE %ld allows (%ld)",
			 s->max_conns, nofile, fit);
}

static int64_t ms(double seconds)
{
	return (int64_t)(seconds * 1000.0 + 0.5);
}

static int block_signals(struct server *s)
{
	sigset_t set;
	/* A peer that closes early must cost us an EPIPE, never the process. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	/* Blocked before any worker exists, so every thread inherits the mask
	 * and only the signalfd sees them. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	s->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	return s->sig_fd < 0 ? -1 : 0;
}

static void resolve_mode(struct server *s)
{
	char why[160];
	s->mode = s->cfg->accept;
	if (s->mode != HERD_ACCEPT_AUTO)
		return;
	if (loop_uring_available(why, sizeof(why))) {
		s->mode = HERD_ACCEPT_URING;
	} else {
		herd_log("warning: --accept auto: %s; using exclusive", why);
		s->mode = HERD_ACCEPT_EXCLUSIVE;
	}
}

static int open_sockets(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	char err[256];
	int somax = listen_somaxconn();
	if (somax > 0 && cfg->backlog > somax)
		herd_log("warning: --backlog %d is capped by net.core.somaxconn=%d", cfg->backlog,
			 somax);

	struct listen_opts lo = {.backlog = cfg->backlog,
				 .defer_accept = cfg->proto == HERD_PROTO_HTTP,
				 .reuseport = s->mode == HERD_ACCEPT_REUSEPORT};
	int want = s->mode == HERD_ACCEPT_REUSEPORT ? cfg->workers : 1;
	struct herd_addr addr = cfg->listen;
	s->listen_fds = malloc(sizeof(int) * (size_t)want);
	if (!s->listen_fds) {
		herd_log("out of memory");
		return -1;
	}
	for (int i = 0; i < want; i++) {
		s->listen_fds[i] = listen_open(&addr, &lo, err, sizeof(err));
		if (s->listen_fds[i] < 0) {
			herd_log("%s", err);
			return -1;
		}
		s->nlisten++;
		if (i == 0) {
			/* The others join the port the first one got (port 0). */
			socklen_t len = addr.len;
			getsockname(s->listen_fds[0], (struct sockaddr *)&addr.ss, &len);
		}
	}
	if (cfg->admin_enabled) {
		struct listen_opts ao = {.backlog = 64};
		s->admin_fd = listen_open(&cfg->admin, &ao, err, sizeof(err));
		if (s->admin_fd < 0) {
			herd_log("admin: %s", err);
			return -1;
		}
	}
	return 0;
}

static int start_workers(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	s->ctr = counters_alloc(cfg->workers);
	s->workers = calloc((size_t)cfg->workers, sizeof(*s->workers));
	if (!s->ctr || !s->workers) {
		herd_log("out of memory starting %d workers", cfg->workers);
		return -1;
	}
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &s->workers[i];
		w->id = i;
		w->cpu = cfg->cpus[i % cfg->ncpus];
		w->mode = s->mode;
		w->ops = s->mode == HERD_ACCEPT_URING ? &loop_uring_ops : &loop_epoll_ops;
		w->listen_fd = s->mode == HERD_ACCEPT_LISTENER ? -1
			       : s->listen_fds[s->mode == HERD_ACCEPT_REUSEPORT ? i : 0];
		if (s->mode == HERD_ACCEPT_LISTENER && !(w->handoff = handoff_new(HANDOFF_CAPACITY))) {
			herd_log("out of memory starting worker %d", i);
			return -1;
		}
		w->feed = cfg->proto == HERD_PROTO_HTTP ? http_feed : echo_feed;
		w->optimistic_read = cfg->proto == HERD_PROTO_HTTP;
		w->timeouts = (struct worker_timeouts){.idle_ms = ms(cfg->keepalive_timeout_s),
						       .read_ms = ms(cfg->header_timeout_s),
						       .write_ms = ms(cfg->send_timeout_s),
						       .linger_ms = LINGER_MS};
		w->max_body = cfg->max_body;
		w->conns_open = &s->conns_open;
		w->max_conns = s->max_conns;
		w->peers = s->workers;
		w->npeers = cfg->workers;
		w->balance = true;
		w->ctr = &s->ctr[i];
		w->epfd = w->wake_fd = -1;
		if (worker_init(w) < 0) {
			herd_log("worker %d: cannot set up its %s loop: %s", i, w->ops->name,
				 strerror(errno));
			for (int j = 0; j < i; j++)
				worker_destroy(&s->workers[j]);
			return -1;
		}
	}
	/* Only now: a running worker may nudge any peer, so all must exist. */
	for (int i = 0; i < cfg->workers; i++) {
		struct worker *w = &s->workers[i];
		int rc = worker_start(w);
		if (rc) {
			herd_log("worker %d: cannot start on CPU %d: %s", i, w->cpu, strerror(rc));
			for (int j = i; j < cfg->workers; j++)
				worker_destroy(&s->workers[j]);
			return -1;
		}
		s->nworkers++;
	}
	if (s->mode == HERD_ACCEPT_LISTENER) {
		s->acceptor = (struct acceptor){.listen_fd = s->listen_fds[0], .cpu = cfg->cpus[0],
						.workers = s->workers, .nworkers = s->nworkers};
		int rc = acceptor_start(&s->acceptor);
		if (rc) {
			herd_log("cannot start the acceptor thread: %s", strerror(rc));
			return -1;
		}
		s->acceptor_on = true;
	}
	return 0;
}

static void close_listeners(struct server *s)
{
	for (int i = 0; i < s->nlisten; i++)
		close(s->listen_fds[i]);
	s->nlisten = 0;
}

static void stop_workers(struct server *s)
{
	int64_t deadline = worker_monotonic_ms() + (int64_t)(s->cfg->grace_s * 1000.0);
	if (s->acceptor_on) {
		acceptor_stop(&s->acceptor);
		s->acceptor_on = false;
	}
	for (int i = 0; i < s->nworkers; i++)
		worker_request_stop(&s->workers[i], deadline);
	/* New connections must be refused at once, but the listener may only
	 * close once no worker can still be accepting from it. */
	for (int spin = 0; spin < 1000; spin++) {
		int left = 0;
		for (int i = 0; i < s->nworkers; i++)
			left += atomic_load(&s->workers[i].left_race);
		if (left == s->nworkers)
			break;
		usleep(1000);
	}
	close_listeners(s);
	for (int i = 0; i < s->nworkers; i++) {
		worker_join(&s->workers[i]);
		worker_destroy(&s->workers[i]);
		handoff_free(s->workers[i].handoff);
	}
}

/* Returns false when it is time to shut down. */
static bool on_signal(struct server *s)
{
	struct signalfd_siginfo si;
	while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			herd_log("%s: stopping (grace %.1f s)",
				 si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", s->cfg->grace_s);
			return false;
		case SIGUSR1:
			counters_dump(s->ctr, s->nworkers, stderr);
			break;
		default:
			break;
		}
	}
	return true;
}

static int supervise(struct server *s)
{
	struct epoll_event evs[16];
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->sig_fd};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sig_fd, &ev) < 0)
		return -1;
	for (;;) {
		int n = epoll_wait(s->epfd, evs, 16, 1000);
		if (n < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &s->sig_fd) {
				if (!on_signal(s))
					return 0;
			} else if (s->admin_on) {
				admin_on_event(&s->admin, tag);
			}
		}
		if (s->admin_on)
			admin_tick(&s->admin, worker_monotonic_ms());
	}
}

int server_run(const struct herd_config *cfg)
{
	struct server s = {.cfg = cfg, .admin_fd = -1, .epfd = -1, .sig_fd = -1};
	int status = 1;
	char where[96];

	if (block_signals(&s) < 0) {
		herd_log("cannot set up signal handling: %s", strerror(errno));
		goto out;
	}
	resolve_mode(&s);
	resolve_limits(&s);
	if (cfg->workers > cfg->ncpus)
		herd_log("warning: %d workers share %d CPUs", cfg->workers, cfg->ncpus);
	s.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s.epfd < 0) {
		herd_log("epoll_create1: %s", strerror(errno));
		goto out;
	}
	if (open_sockets(&s) < 0 || start_workers(&s) < 0)
		goto out;
	if (s.admin_fd >= 0) {
		if (admin_init(&s.admin, s.admin_fd, s.epfd, s.ctr, cfg->workers) < 0) {
			herd_log("admin: %s", strerror(errno));
			goto out;
		}
		s.admin_on = true;
		listen_describe(s.admin_fd, where, sizeof(where));
		herd_log("admin on %s", where);
	}
	listen_describe(s.listen_fds[0], where, sizeof(where));
	herd_log("listening on %s (%d workers, accept %s, %s)", where, cfg->workers,
		 herd_accept_mode_names[s.mode], cfg->proto == HERD_PROTO_HTTP ? "http" : "echo");
	if (supervise(&s) < 0)
		herd_log("supervisor loop failed: %s", strerror(errno));
	else
		status = 0;
out:
	if (s.nworkers)
		stop_workers(&s);
	if (s.ctr && s.nworkers)
		counters_dump(s.ctr, s.nworkers, stderr);
	if (s.admin_on)
		admin_close(&s.admin);
	if (s.admin_fd >= 0)
		close(s.admin_fd);
	if (s.acceptor_on)
		acceptor_stop(&s.acceptor);
	close_listeners(&s);
	free(s.listen_fds);
	if (s.epfd >= 0)
		close(s.epfd);
	if (s.sig_fd >= 0)
		close(s.sig_fd);
	free(s.workers);
	counters_free(s.ctr);
	return status;
}
