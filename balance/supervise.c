#include "balance/supervise.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "balance/control.h"
#include "core/log.h"
#include "core/worker.h"
#include "net/listen.h"

/* While something is due soon (an admin accept pause), the loop wakes at
 * least this often. */
#define SOON_MS 100

void supervise_signals(sigset_t *set, bool children)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGHUP);
	if (children)
		sigaddset(set, SIGCHLD);
}

static int block_signals(bool children)
{
	sigset_t set;
	/* A peer that closes early must cost us an EPIPE, never the process. */
	signal(SIGPIPE, SIG_IGN);
	supervise_signals(&set, children);
	/* Blocked before any worker exists, so every thread inherits the mask
	 * and only the signalfd sees them. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int supervise_init(struct supervise *sv, const struct herd_config *cfg, struct pool *pool,
		   bool children)
{
	*sv = (struct supervise){.cfg = cfg, .pool = pool, .epfd = -1, .ctl_fd = -1,
				 .admin_fd = -1};
	sv->sig_fd = block_signals(children);
	if (sv->sig_fd < 0) {
		herd_log("cannot set up signal handling: %s", strerror(errno));
		return -1;
	}
	sv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sv->epfd < 0) {
		herd_log("epoll_create1: %s", strerror(errno));
		return -1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sv->sig_fd};
	if (epoll_ctl(sv->epfd, EPOLL_CTL_ADD, sv->sig_fd, &ev) < 0) {
		herd_log("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static size_t render_metrics(void *arg, char *buf, size_t cap)
{
	struct supervise *sv = arg;
	return sv->pool->ops->render_metrics(sv->pool, buf, cap);
}

int supervise_admin(struct supervise *sv)
{
	struct listen_opts ao = {.backlog = 64};
	char err[256], where[96];
	if (!sv->cfg->admin_enabled)
		return 0;
	sv->admin_fd = listen_open(&sv->cfg->admin, &ao, err, sizeof(err));
	if (sv->admin_fd < 0) {
		herd_log("admin: %s", err);
		return -1;
	}
	if (admin_init(&sv->admin, sv->admin_fd, sv->epfd, render_metrics, sv) < 0) {
		herd_log("admin: %s", strerror(errno));
		return -1;
	}
	sv->admin_on = true;
	listen_describe(sv->admin_fd, where, sizeof(where));
	herd_log("admin on %s", where);
	return 0;
}

int supervise_scaling(struct supervise *sv, int nrows)
{
	if (sampler_init(&sv->sampler, nrows) < 0) {
		herd_log("out of memory");
		return -1;
	}
	scale_policy_configure(&sv->policy, sv->cfg);
	scale_state_init(&sv->scale);
	sv->scaling = true;
	return 0;
}

int supervise_steered(struct supervise *sv, int ctl_fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &sv->ctl_fd};
	sv->ctl_fd = ctl_fd;
	if (epoll_ctl(sv->epfd, EPOLL_CTL_ADD, ctl_fd, &ev) < 0) {
		herd_log("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void stop(struct supervise *sv, int64_t now)
{
	if (sv->stopping)
		return;
	sv->stopping = true;
	sv->drain_at_ms = 0;
	sv->admin.draining = true;
	sv->pool->ops->drain(sv->pool, now);
}

/* SIGTERM/SIGINT.  With --drain-delay the balancers in front get time to
 * see /health turn 503 (one probe interval or more) while herd still
 * accepts, so nothing is sent to a listener that has closed.  A handler
 * process drains at once: its supervisor already waited, and a reload's
 * old generation must leave as soon as the new one serves.  A second
 * signal during the delay is an operator who does not want to wait. */
static void on_stop_signal(struct supervise *sv, int64_t now, const char *sig)
{
	struct pool *p = sv->pool;
	if (sv->stopping)
		return;
	if (sv->drain_at_ms) {
		herd_log("%s again: draining now", sig);
	} else if (sv->cfg->drain_delay_s > 0 && sv->ctl_fd < 0) {
		sv->admin.draining = true;
		sv->drain_at_ms = now + config_ms(sv->cfg->drain_delay_s);
		if (sv->drain_at_ms <= now)
			sv->drain_at_ms = now + 1;
		herd_log("%s: /health is 503; still serving for %.1f s (--drain-delay), then "
			 "stopping %d %s (grace %.1f s)",
			 sig, sv->cfg->drain_delay_s, p->ops->live(p), p->members, sv->cfg->grace_s);
		return;
	} else {
		herd_log("%s: stopping %d %s (grace %.1f s)", sig, p->ops->live(p), p->members,
			 sv->cfg->grace_s);
	}
	stop(sv, now);
}

static void on_signal(struct supervise *sv, int64_t now)
{
	struct pool *p = sv->pool;
	struct signalfd_siginfo si;
	while (read(sv->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			on_stop_signal(sv, now, si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			break;
		case SIGHUP:
			if (p->ops->reload)
				p->ops->reload(p, now);
			else if (sv->ctl_fd < 0) /* a handler's reload is its supervisor's */
				herd_log("SIGHUP: reload works with handler processes (--procs 2 or more); "
					 "ignored");
			break;
		case SIGUSR1:
			p->ops->dump(p, stderr);
			break;
		case SIGUSR2:
			p->ops->reopen_logs(p);
			break;
		default: /* SIGCHLD: the pool's tick reaps */
			break;
		}
	}
}

/* The supervisor process speaks: grow or retire a member, and hear back how
 * many serve.  When it is gone this process stops: it must not serve
 * unsupervised. */
static void on_control(struct supervise *sv, int64_t now)
{
	struct pool *p = sv->pool;
	enum ctl_kind kind;
	int value, rc;
	char what[128];
	while ((rc = ctl_recv(sv->ctl_fd, &kind, &value)) == 1) {
		if (sv->stopping)
			continue;
		if (kind == CTL_GROW)
			p->ops->grow(p, now, what, sizeof(what));
		else if (kind == CTL_RETIRE)
			p->ops->retire(p, now, what, sizeof(what));
		ctl_send(sv->ctl_fd, CTL_WORKERS, p->ops->serving(p));
	}
	if (rc == 0 && !sv->stopping) {
		herd_log("the supervisor is gone: stopping");
		stop(sv, now);
	}
}

static void scale_tick(struct supervise *sv, int64_t now)
{
	struct pool *p = sv->pool;
	struct pool_load ld = {.settled = true};
	struct scale_view v;
	char why[160], what[128];
	if (!sv->scaling || sv->stopping || now < sv->next_sample_ms)
		return;
	sv->next_sample_ms = now + config_ms(sv->cfg->scale_interval_s);
	p->ops->load(p, &ld);
	if (!sampler_take(&sv->sampler, ld.rows, ld.nrows, ld.listen_fds, ld.nlisten, &v) ||
	    !ld.settled)
		return;
	enum scale_decision d = scale_decide(&sv->policy, &sv->scale, &v, (double)now / 1000.0,
					     why, sizeof(why));
	if (d == SCALE_UP && p->ops->grow(p, now, what, sizeof(what)) == 0) {
		p->gauges->scale_up++;
		herd_log("scale up: %s: %s", what, why);
	} else if (d == SCALE_DOWN && p->ops->retire(p, now, what, sizeof(what)) == 0) {
		p->gauges->scale_down++;
		herd_log("scale down: %s: %s", what, why);
	}
}

static bool done(const struct supervise *sv)
{
	return sv->stopping && sv->pool->ops->live(sv->pool) == 0;
}

static int loop(struct supervise *sv)
{
	struct pool *p = sv->pool;
	struct epoll_event evs[16];
	while (!done(sv)) {
		int timeout = sv->scaling ? (int)config_ms(sv->cfg->scale_interval_s) : 1000;
		if (timeout > p->tick_ms)
			timeout = p->tick_ms;
		if (sv->admin_on && sv->admin.paused_until_ms && timeout > SOON_MS)
			timeout = SOON_MS;
		if (sv->drain_at_ms) {
			int64_t left = sv->drain_at_ms - worker_monotonic_ms();
			if (left < timeout)
				timeout = left > 0 ? (int)left : 0;
		}
		int n = epoll_wait(sv->epfd, evs, 16, timeout);
		if (n < 0 && errno != EINTR)
			return -1;
		int64_t now = worker_monotonic_ms();
		for (int i = 0; i < n && !done(sv); i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &sv->sig_fd)
				on_signal(sv, now);
			else if (tag == &sv->ctl_fd)
				on_control(sv, now);
			else if (sv->admin_on && admin_owns(&sv->admin, tag))
				admin_on_event(&sv->admin, tag);
			else if (p->ops->on_event)
				p->ops->on_event(p, tag, now);
		}
		if (done(sv))
			break;
		if (sv->drain_at_ms && now >= sv->drain_at_ms) {
			herd_log("drain delay over: stopping %d %s (grace %.1f s)", p->ops->live(p),
				 p->members, sv->cfg->grace_s);
			stop(sv, now);
			if (done(sv))
				break;
		}
		if (sv->admin_on)
			admin_tick(&sv->admin, now);
		p->ops->tick(p, now);
		scale_tick(sv, now);
	}
	return 0;
}

int supervise_run(struct supervise *sv)
{
	struct pool *p = sv->pool;
	int rc = loop(sv);
	if (rc < 0) {
		herd_log("supervisor loop failed: %s", strerror(errno));
		p->ops->abort(p, worker_monotonic_ms());
	}
	if (sv->ctl_fd < 0) /* a handler's counters are its supervisor's to report */
		p->ops->dump(p, stderr);
	return rc;
}

void supervise_close(struct supervise *sv)
{
	if (sv->admin_on)
		admin_close(&sv->admin);
	if (sv->admin_fd >= 0)
		close(sv->admin_fd);
	if (sv->epfd >= 0)
		close(sv->epfd);
	if (sv->sig_fd >= 0)
		close(sv->sig_fd);
	if (sv->scaling)
		sampler_free(&sv->sampler);
	sv->admin_on = sv->scaling = false;
	sv->admin_fd = sv->epfd = sv->sig_fd = -1;
}
