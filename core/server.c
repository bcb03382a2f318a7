#include "core/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "balance/policy.h"
#include "balance/sampler.h"
#include "balance/worker_set.h"
#include "core/acceptor.h"
#include "core/admin.h"
#include "core/handler.h"
#include "core/log.h"
#include "core/shm_counters.h"
#include "core/supervisor.h"
#include "core/worker.h"
#include "net/listen.h"

struct server {
	const struct herd_config *cfg;
	enum herd_accept_mode mode; /* resolved: never auto */
	int *listen_fds;            /* the well-known listening socket */
	int nlisten;
	struct listen_opts lopts;
	struct herd_addr bound;     /* with the port the kernel gave */
	int admin_fd, epfd, sig_fd;
	struct acceptor acceptor;
	bool acceptor_on;
	_Atomic long conns_open;
	long max_conns;
	struct worker_set ws;
	bool ws_on;
	/* Scaling: on when --min-workers < --max-workers. */
	bool scaling;
	struct sampler sampler;
	struct scale_policy policy;
	struct scale_state scale;
	int64_t next_sample_ms;
	struct admin admin;
	bool admin_on;
	int root_fd;
	int log_fd;
	/* A handler process: what the supervisor passed, or NULL. */
	const struct handler_env *he;
	struct shm_counters shm;
};

static int open_access_log(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* logrotate renamed the file: open a new one under the same descriptor, so
 * workers writing to it need not know. */
static void reopen_access_log(struct server *s)
{
	int fd = open_access_log(s->cfg->access_log);
	if (fd < 0) {
		herd_log("SIGUSR2: cannot reopen %s: %s", s->cfg->access_log, strerror(errno));
		return;
	}
	if (dup3(fd, s->log_fd, O_CLOEXEC) < 0)
		herd_log("SIGUSR2: cannot reopen %s: %s", s->cfg->access_log, strerror(errno));
	else
		herd_log("SIGUSR2: reopened %s", s->cfg->access_log);
	close(fd);
}

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
	long fit = config_default_max_conns(nofile, s->cfg->max_workers);
	if (s->max_conns == 0)
		s->max_conns = fit;
	else if (s->max_conns > fit)
		herd_log("warning: --max-conns %ld exceeds what RLIMIT_NOFILE %ld allows (%ld)",
			 s->max_conns, nofile, fit);
}

int server_signalfd(bool children)
{
	sigset_t set;
	/* A peer that closes early must cost us an EPIPE, never the process. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	if (children)
		sigaddset(&set, SIGCHLD);
	/* Blocked before any worker exists, so every thread inherits the mask
	 * and only the signalfd sees them. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

enum herd_accept_mode server_resolve_mode(const struct herd_config *cfg)
{
	char why[160];
	if (cfg->accept != HERD_ACCEPT_AUTO)
		return cfg->accept;
	if (loop_uring_available(why, sizeof(why)))
		return HERD_ACCEPT_URING;
	herd_log("warning: --accept auto: %s; using exclusive", why);
	return HERD_ACCEPT_EXCLUSIVE;
}

int server_listen(const struct herd_config *cfg, enum herd_accept_mode mode,
		  struct listen_opts *lo, struct herd_addr *bound)
{
	char err[256];
	int somax = listen_somaxconn();
	if (somax > 0 && cfg->backlog > somax)
		herd_log("warning: --backlog %d is capped by net.core.somaxconn=%d", cfg->backlog,
			 somax);
	*lo = (struct listen_opts){.backlog = cfg->backlog,
				   .defer_accept = cfg->proto == HERD_PROTO_HTTP,
				   .reuseport = mode == HERD_ACCEPT_REUSEPORT};
	/* Started by systemd with the socket already bound: use it. */
	int fd = listen_from_systemd(lo, err, sizeof(err));
	if (fd == -2) {
		herd_log("%s", err);
		return -1;
	}
	if (fd >= 0) {
		if (mode == HERD_ACCEPT_REUSEPORT) {
			herd_log("socket activation passes one socket: --accept reuseport needs its own");
			close(fd);
			return -1;
		}
		herd_log("using the listening socket passed by systemd (fd %d)", fd);
	} else {
		/* The well-known address.  In reuseport mode this first socket
		 * only holds the port: each worker opens its own listener. */
		fd = listen_open(&cfg->listen, lo, err, sizeof(err));
		if (fd < 0) {
			herd_log("%s", err);
			return -1;
		}
	}
	*bound = cfg->listen;
	socklen_t len = sizeof(bound->ss);
	getsockname(fd, (struct sockaddr *)&bound->ss, &len);
	bound->len = len;
	return fd;
}

static int open_sockets(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	char err[256];
	s->listen_fds = malloc(sizeof(int));
	if (!s->listen_fds) {
		herd_log("out of memory");
		return -1;
	}
	if (s->he) {
		/* The supervisor's socket, shared by every handler process. */
		s->listen_fds[0] = s->he->listen_fd;
		s->lopts = (struct listen_opts){.backlog = cfg->backlog,
						.defer_accept = cfg->proto == HERD_PROTO_HTTP};
		s->bound = cfg->listen;
		socklen_t len = sizeof(s->bound.ss);
		getsockname(s->listen_fds[0], (struct sockaddr *)&s->bound.ss, &len);
		s->bound.len = len;
	} else {
		s->listen_fds[0] = server_listen(cfg, s->mode, &s->lopts, &s->bound);
		if (s->listen_fds[0] < 0)
			return -1;
	}
	s->nlisten = 1;
	if (cfg->root) {
		s->root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s->root_fd < 0) {
			herd_log("cannot open --root %s: %s", cfg->root, strerror(errno));
			return -1;
		}
	}
	if (cfg->access_log) {
		s->log_fd = open_access_log(cfg->access_log);
		if (s->log_fd < 0) {
			herd_log("cannot open --access-log %s: %s", cfg->access_log, strerror(errno));
			return -1;
		}
	}
	if (cfg->admin_enabled && !s->he) {
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
	struct worker tmpl;
	memset(&tmpl, 0, sizeof(tmpl));
	tmpl.mode = s->mode;
	tmpl.ops = s->mode == HERD_ACCEPT_URING ? &loop_uring_ops : &loop_epoll_ops;
	tmpl.listen_fd = s->mode == HERD_ACCEPT_LISTENER ? -1 : s->listen_fds[0];
	tmpl.feed = cfg->proto == HERD_PROTO_HTTP ? http_feed : echo_feed;
	tmpl.optimistic_read = cfg->proto == HERD_PROTO_HTTP;
	tmpl.timeouts = (struct worker_timeouts){.idle_ms = config_ms(cfg->keepalive_timeout_s),
						 .read_ms = config_ms(cfg->header_timeout_s),
						 .write_ms = config_ms(cfg->send_timeout_s),
						 .linger_ms = LINGER_MS};
	tmpl.max_body = cfg->max_body;
	tmpl.root_fd = s->root_fd;
	tmpl.log_fd = s->log_fd;
	tmpl.conns_open = &s->conns_open;
	struct worker_counters *ctr = NULL;
	struct shm_proc_load *load = NULL;
	if (s->he) {
		if (shm_counters_attach(&s->shm, s->he->shm_fd) < 0 || s->he->slot >= s->shm.slots ||
		    s->he->bank >= SHM_BANKS || s->shm.wcap < cfg->max_workers) {
			herd_log("cannot map the supervisor's counters: %s", strerror(errno));
			return -1;
		}
		ctr = shm_counters_bank(&s->shm, s->he->slot, s->he->bank);
		load = shm_counters_load(&s->shm, s->he->slot, s->he->bank);
		/* Our open connections live where the other processes see them. */
		tmpl.conns_open = &load->conns_open;
		tmpl.all_loads = s->shm.loads;
		tmpl.nloads = s->shm.slots * SHM_BANKS;
	}
	tmpl.max_conns = s->max_conns;
	tmpl.balance = true;
	tmpl.foreign_racers = s->he != NULL;
	tmpl.epfd = tmpl.wake_fd = -1;
	if (worker_set_init(&s->ws, cfg->max_workers, &tmpl, cfg->cpus, cfg->ncpus, ctr) < 0) {
		herd_log("out of memory for %d workers", cfg->max_workers);
		return -1;
	}
	s->ws_on = true;
	if (load)
		s->ws.live_out = &load->live;
	s->ws.addr = s->bound;
	s->ws.lopts = s->lopts;
	for (int i = 0; i < cfg->workers; i++)
		if (worker_set_grow(&s->ws) < 0)
			return -1;
	if (s->mode == HERD_ACCEPT_REUSEPORT) {
		/* Every worker has its own listener on the port now: the one
		 * that reserved it would only collect connections nobody takes. */
		close(s->listen_fds[0]);
		s->nlisten = 0;
	}
	if (s->mode == HERD_ACCEPT_LISTENER) {
		s->acceptor = (struct acceptor){.listen_fd = s->listen_fds[0], .cpu = cfg->cpus[0],
						.workers = s->ws.w, .wake_fds = s->ws.wake_fds,
						.nworkers = s->ws.cap,
						.conns_open = tmpl.conns_open,
						.max_conns = s->max_conns};
		int rc = acceptor_start(&s->acceptor);
		if (rc) {
			herd_log("cannot start the acceptor thread: %s", strerror(rc));
			return -1;
		}
		s->acceptor_on = true;
	}
	/* A handler process grows and shrinks when its supervisor says. */
	s->scaling = !s->he && cfg->min_workers < cfg->max_workers;
	if (s->scaling) {
		if (sampler_init(&s->sampler, cfg->max_workers) < 0) {
			herd_log("out of memory");
			return -1;
		}
		scale_policy_configure(&s->policy, cfg);
		scale_state_init(&s->scale);
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
	int64_t deadline = worker_monotonic_ms() + config_ms(s->cfg->grace_s);
	if (s->acceptor_on) {
		acceptor_stop(&s->acceptor);
		s->acceptor_on = false;
	}
	/* New connections must be refused at once, but the listener may only
	 * close once no worker can still be accepting from it. */
	worker_set_stop_all(&s->ws, deadline);
	close_listeners(s);
	worker_set_join_all(&s->ws);
}

static void scale_tick(struct server *s)
{
	struct scale_view v;
	char why[160];
	int64_t now = worker_monotonic_ms();
	worker_set_reap(&s->ws);
	if (!s->scaling || now < s->next_sample_ms)
		return;
	s->next_sample_ms = now + config_ms(s->cfg->scale_interval_s);
	int fds[HERD_MAX_WORKERS];
	int nfds = worker_set_listen_fds(&s->ws, fds, HERD_MAX_WORKERS);
	if (!sampler_take(&s->sampler, s->ws.rows, s->ws.cap, fds, nfds, &v))
		return;
	enum scale_decision d = scale_decide(&s->policy, &s->scale, &v, (double)now / 1000.0, why,
					     sizeof(why));
	if (d == SCALE_UP) {
		int slot = worker_set_grow(&s->ws);
		if (slot >= 0) {
			s->ws.gauges.scale_up++;
			herd_log("scale up: %d -> %d workers (worker %d on CPU %d): %s", v.workers,
				 worker_set_live(&s->ws), slot, s->ws.w[slot].cpu, why);
		}
	} else if (d == SCALE_DOWN) {
		int slot = worker_set_retire(&s->ws, now + config_ms(s->cfg->grace_s));
		if (slot >= 0) {
			s->ws.gauges.scale_down++;
			herd_log("scale down: %d -> %d workers (worker %d drains): %s", v.workers,
				 worker_set_live(&s->ws), slot, why);
		}
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
			counters_dump(s->ws.rows, s->ws.gauges.slots, stderr);
			break;
		case SIGUSR2:
			if (s->log_fd >= 0)
				reopen_access_log(s);
			break;
		case SIGHUP:
			if (!s->he)
				herd_log("SIGHUP: reload works with handler processes (--procs 2 or more); "
					 "ignored");
			break;
		default:
			break;
		}
	}
	return true;
}

/* The supervisor process speaks: grow or retire a worker.  false when it is
 * gone (then this process stops: it must not serve unsupervised). */
static bool on_control(struct server *s)
{
	enum ctl_kind kind;
	int value, rc;
	while ((rc = ctl_recv(s->he->ctl_fd, &kind, &value)) == 1) {
		if (kind == CTL_GROW)
			worker_set_grow(&s->ws);
		else if (kind == CTL_RETIRE)
			worker_set_retire(&s->ws, worker_monotonic_ms() + config_ms(s->cfg->grace_s));
		ctl_send(s->he->ctl_fd, CTL_WORKERS, worker_set_live(&s->ws));
	}
	if (rc == 0)
		herd_log("the supervisor is gone: stopping");
	return rc != 0;
}

static int supervise(struct server *s)
{
	struct epoll_event evs[16];
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->sig_fd};
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sig_fd, &ev) < 0)
		return -1;
	if (s->he) {
		ev.data.ptr = (void *)s->he;
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->he->ctl_fd, &ev) < 0)
			return -1;
	}
	for (;;) {
		int timeout = s->scaling ? (int)config_ms(s->cfg->scale_interval_s) : 1000;
		if (s->admin_on && s->admin.paused_until_ms && timeout > 100)
			timeout = 100;
		int n = epoll_wait(s->epfd, evs, 16, timeout);
		if (n < 0 && errno != EINTR)
			return -1;
		for (int i = 0; i < n; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &s->sig_fd) {
				if (!on_signal(s))
					return 0;
			} else if (s->he && tag == (void *)s->he) {
				if (!on_control(s))
					return 0;
			} else if (s->admin_on) {
				admin_on_event(&s->admin, tag);
			}
		}
		if (s->admin_on)
			admin_tick(&s->admin, worker_monotonic_ms());
		scale_tick(s);
	}
}

static size_t render_metrics(void *arg, char *buf, size_t cap)
{
	struct server *s = arg;
	return counters_render_prometheus(s->ws.rows, s->ws.gauges.slots, &s->ws.gauges, buf, cap);
}

static void announce(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	char where[96];
	const char *proto = cfg->proto == HERD_PROTO_HTTP ? "http" : "echo";
	listen_describe_addr(&s->bound, where, sizeof(where));
	if (s->he) {
		/* Not "listening on": that line is the supervisor's. */
		herd_log("handler %d (pid %d, generation %d) serving %s: %d workers on CPUs %s, "
			 "accept %s, %s",
			 s->he->slot, (int)getpid(), s->he->gen, where, cfg->workers, s->he->cpus,
			 herd_accept_mode_names[s->mode], proto);
		if (ctl_send(s->he->ctl_fd, CTL_READY, worker_set_live(&s->ws)) < 0)
			herd_log("cannot tell the supervisor we are ready: %s", strerror(errno));
	} else if (s->scaling) {
		herd_log("listening on %s (%d workers, scaling %d..%d, accept %s, %s)", where,
			 cfg->workers, cfg->min_workers, cfg->max_workers,
			 herd_accept_mode_names[s->mode], proto);
	} else {
		herd_log("listening on %s (%d workers, accept %s, %s)", where, cfg->workers,
			 herd_accept_mode_names[s->mode], proto);
	}
}

int server_run(const struct herd_config *cfg)
{
	const char *he = getenv(HANDLER_ENV);
	if (he)
		return handler_main(cfg, he);
	if (cfg->max_procs > 1)
		return supervisor_run(cfg);
	return server_serve(cfg, NULL);
}

int server_serve(const struct herd_config *cfg, const struct handler_env *he)
{
	struct server s = {.cfg = cfg, .admin_fd = -1, .epfd = -1, .sig_fd = -1, .root_fd = -1,
			   .log_fd = -1, .he = he, .shm = {.fd = -1}};
	int status = 1;
	char where[96];

	s.sig_fd = server_signalfd(false);
	if (s.sig_fd < 0) {
		herd_log("cannot set up signal handling: %s", strerror(errno));
		goto out;
	}
	s.mode = server_resolve_mode(cfg);
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
		if (admin_init(&s.admin, s.admin_fd, s.epfd, render_metrics, &s) < 0) {
			herd_log("admin: %s", strerror(errno));
			goto out;
		}
		s.admin_on = true;
		listen_describe(s.admin_fd, where, sizeof(where));
		herd_log("admin on %s", where);
	}
	if (s.he)
		for (int i = 0; i < s.ws.cap; i++)
			s.ws.rows[i].proc = s.he->slot;
	announce(&s);
	if (supervise(&s) < 0)
		herd_log("supervisor loop failed: %s", strerror(errno));
	else
		status = 0;
out:
	if (s.ws_on) {
		stop_workers(&s);
		if (!s.he) /* the supervisor reports every process */
			counters_dump(s.ws.rows, s.ws.gauges.slots, stderr);
	}
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
	if (s.root_fd >= 0)
		close(s.root_fd);
	if (s.log_fd >= 0)
		close(s.log_fd);
	if (s.sig_fd >= 0)
		close(s.sig_fd);
	if (s.ws_on)
		worker_set_destroy(&s.ws);
	if (s.scaling)
		sampler_free(&s.sampler);
	shm_counters_close(&s.shm); /* closes the inherited fd too */
	return status;
}
