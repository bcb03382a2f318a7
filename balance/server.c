#include "balance/server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "balance/listen_socket.h"
#include "balance/proxy_health.h"
#include "balance/tls_setup.h"
#include "balance/pool.h"
#include "balance/supervise.h"
#include "balance/worker_set.h"
#include "core/acceptor.h"
#include "core/app.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/mech.h"
#include "core/shm_counters.h"
#include "core/upstream_metrics.h"
#include "core/upstream_state.h"
#include "core/worker.h"
#include "net/listen.h"
#include "net/transport.h"

/* After an error answer, how long a client may keep sending before close. */
#define LINGER_MS 5000

struct server {
	struct pool pool; /* first: the pool ops get the server back from it */
	const struct herd_config *cfg;
	const struct handler_env *he; /* a handler process: what the supervisor passed */
	enum herd_accept_mode mode;   /* resolved: never auto */
	struct listen_set ls;         /* the well-known sockets; fds -1 once closed */
	struct acceptor acceptor;
	bool acceptor_on;
	_Atomic long conns_open;
	long max_conns;
	struct worker_set ws;
	bool ws_on, drained;
	int root_fd, log_fd;
	char *root_path; /* --root made absolute, for the workers to follow */
	struct shm_counters shm;
	struct tls_setup tls;
	/* --proxy: the upstreams' shared state (a handler's is in shm; a
	 * single process owns it in up_own) and its health checks. */
	struct upstream_shared *up, *up_own;
	struct proxy_health health;
	struct supervise sv;
};

static struct server *server_of(struct pool *p)
{
	return (struct server *)p;
}

static const struct server *server_of_const(const struct pool *p)
{
	return (const struct server *)p;
}

static int open_access_log(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

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

static int open_files(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	if (s->he) {
		/* The supervisor's sockets, shared by every handler process. */
		listen_set_adopt(&s->ls, cfg, s->mode, s->he->listeners, s->he->nlisten);
	} else if (listen_set_open(&s->ls, cfg, s->mode) < 0) {
		return -1;
	}
	if (cfg->root) {
		s->root_fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (s->root_fd < 0) {
			herd_log("cannot open --root %s: %s", cfg->root, strerror(errno));
			return -1;
		}
		/* Workers re-open the path (a deploy switches a symlink), so a
		 * relative one must not depend on the directory we run in.
		 * Not realpath(): that would resolve the very symlink to follow. */
		char cwd[PATH_MAX];
		bool rel = cfg->root[0] != '/';
		if (rel && !getcwd(cwd, sizeof(cwd))) {
			herd_log("cannot make --root %s absolute: %s", cfg->root, strerror(errno));
			return -1;
		}
		size_t len = (rel ? strlen(cwd) + 1 : 0) + strlen(cfg->root) + 1;
		s->root_path = malloc(len);
		if (!s->root_path) {
			herd_log("cannot open --root %s: out of memory", cfg->root);
			return -1;
		}
		snprintf(s->root_path, len, "%s%s%s", rel ? cwd : "", rel ? "/" : "", cfg->root);
	}
	if (cfg->access_log) {
		s->log_fd = open_access_log(cfg->access_log);
		if (s->log_fd < 0) {
			herd_log("cannot open --access-log %s: %s", cfg->access_log, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* What every worker slot starts from: the engine's part (mechanism,
 * protocol, transport), then the limits and what the workers share. */
static void worker_template(struct server *s, struct worker *t)
{
	const struct herd_config *cfg = s->cfg;
	memset(t, 0, sizeof(*t));
	t->mech = s->mode == HERD_ACCEPT_URING ? &mech_uring : &mech_epoll;
	t->run = worker_loop;
	t->proto = cfg->proto == HERD_PROTO_HTTP ? &proto_http : &proto_echo;
	t->transport = cfg->no_sendfile ? &transport_tcp_copy : &transport_tcp;
	t->mode = s->mode;
	/* Listener mode: the acceptor thread owns the sockets. */
	t->nlisten = s->mode == HERD_ACCEPT_LISTENER ? 0 : s->ls.n;
	memcpy(t->listeners, s->ls.l, sizeof(t->listeners[0]) * (size_t)t->nlisten);
	t->timeouts = (struct worker_timeouts){.idle_ms = config_ms(cfg->keepalive_timeout_s),
					       .read_ms = config_ms(cfg->header_timeout_s),
					       .write_ms = config_ms(cfg->send_timeout_s),
					       .linger_ms = LINGER_MS};
	t->timeouts.up_connect_ms = config_ms(cfg->proxy_connect_timeout_s);
	t->timeouts.up_read_ms = config_ms(cfg->proxy_timeout_s);
	t->timeouts.up_idle_ms = config_ms(cfg->proxy_idle_timeout_s);
	t->upstreams = cfg->proxy.nroutes ? &cfg->proxy : NULL;
	t->up_shared = t->upstreams ? s->up : NULL;
	t->up_idle_max = cfg->proxy_idle;
	t->timeouts.app_ms = config_ms(cfg->handler_timeout_s);
	t->app_rt = cfg->app;
	t->app_table = cfg->app ? cfg->app->table : NULL;
	t->max_body = cfg->max_body;
	t->root_fd = s->root_fd;
	t->root_path = s->root_path;
	t->log_fd = s->log_fd;
	t->conns_open = &s->conns_open;
	t->max_conns = s->max_conns;
	t->balance = true;
	t->foreign_racers = s->he != NULL;
	t->wake_fd = -1;
}

/* A handler process counts in the supervisor's shared memory: its workers'
 * counters, its open connections and live workers, where the supervisor and
 * the other processes see them. */
static int attach_shared(struct server *s, struct worker *t, struct worker_counters **ctr,
			 struct shm_proc_load **load)
{
	const struct handler_env *he = s->he;
	if (shm_counters_attach(&s->shm, he->shm_fd) < 0 || he->slot >= s->shm.slots ||
	    he->bank >= SHM_BANKS || s->shm.wcap < s->cfg->max_workers) {
		herd_log("cannot map the supervisor's counters: %s", strerror(errno));
		return -1;
	}
	*ctr = shm_counters_bank(&s->shm, he->slot, he->bank);
	*load = shm_counters_load(&s->shm, he->slot, he->bank);
	t->conns_open = &(*load)->conns_open;
	/* The supervisor named the entries and checks their health. */
	s->up = s->shm.upstreams;
	t->up_shared = t->upstreams ? s->up : NULL;
	t->all_loads = s->shm.loads;
	t->nloads = s->shm.slots * SHM_BANKS;
	return 0;
}

static int start_workers(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	struct worker tmpl;
	struct worker_counters *ctr = NULL;
	struct shm_proc_load *load = NULL;
	worker_template(s, &tmpl);
	if (s->he && attach_shared(s, &tmpl, &ctr, &load) < 0)
		return -1;
	/* A handler's ticket keys are its supervisor's, so a client resumes
	 * on any process; the supervisor also said which TLS this kernel has. */
	if (tls_setup_init(&s->tls, cfg, &s->ls, s->he ? s->shm.shared : NULL, s->he != NULL) < 0)
		return -1;
	tls_setup_worker(&s->tls, &tmpl);
	if (cfg->redirect_https)
		tmpl.https_port = s->tls.https_port;
	if (worker_set_init(&s->ws, cfg->max_workers, &tmpl, cfg->cpus, cfg->ncpus, ctr) < 0) {
		herd_log("out of memory for %d workers", cfg->max_workers);
		return -1;
	}
	s->ws_on = true;
	if (load)
		s->ws.live_out = &load->live;
	for (int i = 0; i < s->ls.n; i++) {
		s->ws.addrs[i] = s->ls.bound[i];
		s->ws.tls[i] = s->ls.l[i].tls;
	}
	s->ws.naddrs = s->ls.n;
	s->ws.lopts = s->ls.lo;
	for (int i = 0; i < s->ws.cap; i++)
		s->ws.rows[i].proc = s->he ? s->he->slot : -1;
	for (int i = 0; i < cfg->workers; i++)
		if (worker_set_grow(&s->ws) < 0)
			return -1;
	if (s->mode == HERD_ACCEPT_REUSEPORT) {
		/* Every worker has its own listeners on the ports now: the ones
		 * that reserved them would only collect connections nobody takes. */
		listen_set_close(&s->ls);
	}
	if (s->mode == HERD_ACCEPT_LISTENER) {
		s->acceptor = (struct acceptor){.nlisten = s->ls.n, .cpu = cfg->cpus[0],
						.workers = s->ws.w, .wake_fds = s->ws.wake_fds,
						.nworkers = s->ws.cap,
						.conns_open = tmpl.conns_open,
						.max_conns = s->max_conns};
		memcpy(s->acceptor.listeners, s->ls.l, sizeof(s->ls.l[0]) * (size_t)s->ls.n);
		int rc = acceptor_start(&s->acceptor);
		if (rc) {
			herd_log("cannot start the acceptor thread: %s", strerror(rc));
			return -1;
		}
		s->acceptor_on = true;
	}
	return 0;
}

static void stop_workers(struct server *s, int64_t now_ms)
{
	int64_t deadline = now_ms + config_ms(s->cfg->grace_s);
	if (s->acceptor_on) {
		acceptor_stop(&s->acceptor);
		s->acceptor_on = false;
	}
	/* New connections must be refused at once, but the listener may only
	 * close once no worker can still be accepting from it. */
	worker_set_stop_all(&s->ws, deadline);
	listen_set_close(&s->ls);
	worker_set_join_all(&s->ws);
	s->drained = true;
}

/* The pool ops over the worker threads. */

static void tick(struct pool *p, int64_t now_ms)
{
	worker_set_reap(&server_of(p)->ws);
	tls_setup_tick(&server_of(p)->tls, now_ms);
}

/* SIGHUP in one process: new certificates for new handshakes (a handler's
 * reload is its supervisor's: a new generation). */
static void reload(struct pool *p, int64_t now_ms)
{
	struct server *s = server_of(p);
	(void)now_ms;
	if (s->he)
		return;
	if (s->tls.on)
		tls_setup_reload(&s->tls, s->cfg);
	else
		herd_log("SIGHUP: reload works with handler processes (--procs 2 or more) and "
			 "re-reads TLS certificates; nothing to do");
}

static int grow(struct pool *p, int64_t now_ms, char *what, size_t len)
{
	struct server *s = server_of(p);
	int before = worker_set_live(&s->ws), slot = worker_set_grow(&s->ws);
	(void)now_ms;
	if (slot < 0)
		return -1;
	snprintf(what, len, "%d -> %d workers (worker %d on CPU %d)", before,
		 worker_set_live(&s->ws), slot, s->ws.w[slot].cpu);
	return 0;
}

static int retire(struct pool *p, int64_t now_ms, char *what, size_t len)
{
	struct server *s = server_of(p);
	int before = worker_set_live(&s->ws);
	int slot = worker_set_retire(&s->ws, now_ms + config_ms(s->cfg->grace_s));
	if (slot < 0)
		return -1;
	snprintf(what, len, "%d -> %d workers (worker %d drains)", before, worker_set_live(&s->ws),
		 slot);
	return 0;
}

static void load(struct pool *p, struct pool_load *ld)
{
	struct server *s = server_of(p);
	ld->rows = s->ws.rows;
	ld->nrows = s->ws.cap;
	int max = (int)(sizeof(ld->listen_fds) / sizeof(ld->listen_fds[0]));
	ld->nlisten = worker_set_listen_fds(&s->ws, ld->listen_fds, max);
}

static void drain(struct pool *p, int64_t now_ms)
{
	/* Threads are joined here, within the grace period: nothing else of
	 * this process needs the loop meanwhile. */
	stop_workers(server_of(p), now_ms);
}

/* logrotate renamed the file: open a new one under the same descriptor, so
 * workers writing to it need not know. */
static void reopen_logs(struct pool *p)
{
	struct server *s = server_of(p);
	const char *path = s->cfg->access_log;
	if (s->log_fd < 0)
		return;
	int fd = open_access_log(path);
	if (fd < 0) {
		herd_log("SIGUSR2: cannot reopen %s: %s", path, strerror(errno));
		return;
	}
	if (dup3(fd, s->log_fd, O_CLOEXEC) < 0)
		herd_log("SIGUSR2: cannot reopen %s: %s", path, strerror(errno));
	else
		herd_log("SIGUSR2: reopened %s", path);
	close(fd);
}

static void dump(struct pool *p, FILE *out)
{
	struct server *s = server_of(p);
	counters_dump(s->ws.rows, s->ws.gauges.slots, out);
}

static size_t render_metrics(struct pool *p, char *buf, size_t cap)
{
	struct server *s = server_of(p);
	struct counters_sink k = {buf, cap, 0};
	k.len = counters_render_prometheus(s->ws.rows, s->ws.gauges.slots, &s->ws.gauges, buf, cap);
	if (s->cfg->proxy.nroutes && s->up)
		upstream_render(&k, &s->cfg->proxy, s->up, worker_monotonic_ms());
	if (k.len < cap)
		buf[k.len] = 0;
	return k.len;
}

static int serving(const struct pool *p)
{
	return worker_set_live(&server_of_const(p)->ws);
}

static int live(const struct pool *p)
{
	return worker_set_in_use(&server_of_const(p)->ws);
}

static const struct pool_ops server_ops = {
	.tick = tick,
	.grow = grow,
	.retire = retire,
	.load = load,
	.drain = drain,
	.abort = drain,
	.reload = reload,
	.reopen_logs = reopen_logs,
	.dump = dump,
	.render_metrics = render_metrics,
	.serving = serving,
	.live = live,
};

static void announce(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	char where[96], more[32] = "";
	const char *proto = cfg->proto == HERD_PROTO_HTTP ? "http" : "echo";
	listen_set_describe(&s->ls, 0, where, sizeof(where));
	if (s->ls.n > 1)
		snprintf(more, sizeof(more), " and %d more", s->ls.n - 1);
	if (s->he) {
		/* Not "listening on": that line is the supervisor's. */
		herd_log("handler %d (pid %d, generation %d) serving %s%s: %d workers on CPUs %s, "
			 "accept %s, %s",
			 s->he->slot, (int)getpid(), s->he->gen, where, more, cfg->workers,
			 s->he->cpus, herd_accept_mode_names[s->mode], proto);
		if (ctl_send(s->he->ctl_fd, CTL_READY, worker_set_live(&s->ws)) < 0)
			herd_log("cannot tell the supervisor we are ready: %s", strerror(errno));
	} else if (s->sv.scaling) {
		herd_log("listening on %s (%d workers, scaling %d..%d, accept %s, %s)", where,
			 cfg->workers, cfg->min_workers, cfg->max_workers,
			 herd_accept_mode_names[s->mode], proto);
	} else {
		herd_log("listening on %s (%d workers, accept %s, %s)", where, cfg->workers,
			 herd_accept_mode_names[s->mode], proto);
	}
	if (!s->he)
		listen_set_announce_rest(&s->ls);
}

/* A single process owns the upstreams' state; the health checks start
 * before any worker, so none serves with a stale idea of them for long. */
static int own_upstreams(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	void *mem = NULL;
	if (!cfg->proxy.nroutes)
		return 0;
	if (posix_memalign(&mem, 128, upstream_shared_size()) != 0) {
		herd_log("out of memory for the upstreams");
		return -1;
	}
	memset(mem, 0, upstream_shared_size());
	s->up = s->up_own = mem;
	upstream_shared_init(s->up, &cfg->proxy);
	return proxy_health_start(&s->health, cfg, s->up);
}

static int setup(struct server *s)
{
	const struct herd_config *cfg = s->cfg;
	s->mode = listen_socket_mode(cfg);
	resolve_limits(s);
	if (cfg->workers > cfg->ncpus)
		herd_log("warning: %d workers share %d CPUs", cfg->workers, cfg->ncpus);
	if (open_files(s) < 0)
		return -1;
	/* A handler's metrics are served by its supervisor, which also decides
	 * when it grows and shrinks. */
	if (s->he)
		return start_workers(s) < 0 ? -1 : supervise_steered(&s->sv, s->he->ctl_fd);
	if (supervise_admin(&s->sv) < 0 || own_upstreams(s) < 0 || start_workers(s) < 0)
		return -1;
	if (cfg->min_workers < cfg->max_workers)
		return supervise_scaling(&s->sv, cfg->max_workers);
	return 0;
}

int server_run(const struct herd_config *cfg, const struct handler_env *he)
{
	struct server s = {.cfg = cfg, .he = he, .root_fd = -1, .log_fd = -1,
			   .shm = {.fd = -1}, .health = {.wake_fd = -1}};
	int status = 1;
	s.pool = (struct pool){.ops = &server_ops, .members = "workers", .tick_ms = 1000,
			       .gauges = &s.ws.gauges};
	if (supervise_init(&s.sv, cfg, &s.pool, false) == 0 && setup(&s) == 0) {
		announce(&s);
		status = supervise_run(&s.sv) < 0;
	}
	if (s.ws_on && !s.drained) /* a start that failed half way */
		stop_workers(&s, worker_monotonic_ms());
	proxy_health_stop(&s.health);
	supervise_close(&s.sv);
	listen_set_close(&s.ls);
	if (s.root_fd >= 0)
		close(s.root_fd);
	if (s.log_fd >= 0)
		close(s.log_fd);
	if (s.ws_on)
		worker_set_destroy(&s.ws);
	tls_setup_destroy(&s.tls); /* after the workers: their connections held it */
	free(s.root_path); /* the workers' copy of the path is gone with them */
	free(s.up_own);
	shm_counters_close(&s.shm); /* closes the inherited fd too */
	return status;
}
