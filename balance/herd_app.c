/* libherd's configuring and running (net/herd.h): herd's flags collected
 * from the command line and the setters, parsed together by config_parse
 * at herd_run, which then becomes what the binary's main would: a server,
 * a supervisor of handler processes, or one of its handlers. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "balance/control.h"
#include "balance/handler.h"
#include "balance/server.h"
#include "balance/supervise.h"
#include "balance/supervisor.h"
#include "core/app.h"
#include "core/config.h"
#include "core/cpus.h"
#include "net/herd.h"
#include "net/http_app.h"

struct herd {
	/* herd's flags, argv[0] first, then the setters' (owned when
	 * owned[i]); NULL-terminated when run. */
	char **args;
	bool *owned;
	int nargs, cap;
	/* The program's arguments as given: handler processes (--procs) run
	 * the program again with them. */
	char **argv;
	char *cmdline; /* behind argv when it came from /proc/self/cmdline */
	struct app_table table;
	struct app_runtime rt;
	struct herd_config cfg;
	bool ran;
};

struct herd *herd_new(void)
{
	/* herd_run takes these through a signalfd (balance/supervise.c); a
	 * thread of the program's started before it, with them unblocked,
	 * would take one instead and die of it, skipping the drain.  Blocked
	 * here, every thread started from now on inherits the mask. */
	sigset_t set;
	supervise_signals(&set, false);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	struct herd *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->table.server = h;
	h->rt.server = h;
	return h;
}

void herd_free(struct herd *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->nargs; i++)
		if (h->owned[i])
			free(h->args[i]);
	free(h->args);
	free(h->owned);
	free(h->argv);
	free(h->cmdline);
	for (int i = 0; i < h->table.n; i++) {
		free(h->table.routes[i].method);
		free(h->table.routes[i].path);
	}
	app_runtime_destroy(&h->rt);
	free(h);
}

static int push(struct herd *h, char *arg, bool owned)
{
	if (h->nargs + 2 > h->cap) {
		int cap = h->cap ? 2 * h->cap : 16;
		char **a = realloc(h->args, sizeof(*a) * (size_t)cap);
		if (!a)
			return -1;
		h->args = a;
		bool *o = realloc(h->owned, sizeof(*o) * (size_t)cap);
		if (!o)
			return -1;
		h->owned = o;
		h->cap = cap;
	}
	if (h->nargs == 0 && arg && strncmp(arg, "-", 1) == 0) {
		/* argv[0] first: a setter before herd_parse_args */
		h->args[h->nargs] = (char *)"herd";
		h->owned[h->nargs++] = false;
	}
	h->args[h->nargs] = arg;
	h->owned[h->nargs++] = owned;
	h->args[h->nargs] = NULL;
	return 0;
}

int herd_parse_args(struct herd *h, int *argc, char **argv)
{
	int n = *argc;
	if (n < 1) /* an empty argv (execve allows it): nothing to take */
		return 0;
	free(h->argv);
	h->argv = calloc((size_t)n + 1, sizeof(*h->argv));
	if (!h->argv) {
		fprintf(stderr, "herd: out of memory\n");
		return -1;
	}
	memcpy(h->argv, argv, sizeof(*argv) * (size_t)n);
	if (h->nargs == 0 && push(h, n > 0 ? argv[0] : (char *)"herd", false) < 0)
		return -1;
	if (h->nargs > 0 && !h->owned[0])
		h->args[0] = n > 0 ? argv[0] : (char *)"herd";
	int out = 1;
	bool ours = true;
	for (int i = 1; i < n; i++) {
		char *a = argv[i];
		if (ours && strcmp(a, "--") == 0) {
			ours = false;
			continue;
		}
		char name[32];
		size_t nlen = strcspn(a, "=");
		bool takes = false;
		if (!ours || a[0] != '-' || nlen >= sizeof(name)) {
			argv[out++] = a;
			continue;
		}
		memcpy(name, a, nlen);
		name[nlen] = 0;
		if (!config_flag_known(name, &takes)) {
			argv[out++] = a; /* the program's own */
			continue;
		}
		if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
			config_usage(stdout);
			return 1;
		}
		if (strcmp(name, "--version") == 0) {
			printf("herd %s\n", HERD_VERSION);
			return 1;
		}
		if (push(h, a, false) < 0)
			return -1;
		if (takes && !a[nlen]) {
			if (i + 1 >= n) {
				fprintf(stderr, "herd: option '%s' needs a value\n", name);
				config_usage(stderr);
				return -1;
			}
			if (push(h, argv[++i], false) < 0)
				return -1;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

int herd_set(struct herd *h, const char *flag, const char *value)
{
	bool takes = false;
	if (!flag || !config_flag_known(flag, &takes) || strcmp(flag, "--help") == 0 ||
	    strcmp(flag, "-h") == 0 || strcmp(flag, "--version") == 0 || (takes && !value))
		return -1;
	size_t len = strlen(flag) + (takes ? strlen(value) + 1 : 0) + 1;
	char *arg = malloc(len);
	if (!arg)
		return -1;
	if (takes)
		snprintf(arg, len, "%s=%s", flag, value);
	else
		snprintf(arg, len, "%s", flag);
	if (h->nargs == 0 && push(h, (char *)"herd", false) < 0) {
		free(arg);
		return -1;
	}
	if (push(h, arg, true) < 0) {
		free(arg);
		return -1;
	}
	return 0;
}

static int set_int(struct herd *h, const char *flag, long long v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", v);
	return herd_set(h, flag, buf);
}

int herd_set_listen(struct herd *h, const char *addr)
{
	return herd_set(h, "--listen", addr);
}

int herd_set_workers(struct herd *h, int n)
{
	return set_int(h, "--workers", n);
}

int herd_set_procs(struct herd *h, int n)
{
	return set_int(h, "--procs", n);
}

int herd_set_root(struct herd *h, const char *dir)
{
	return herd_set(h, "--root", dir);
}

int herd_set_max_body(struct herd *h, uint64_t bytes)
{
	return set_int(h, "--max-body", (long long)bytes);
}

int herd_set_admin(struct herd *h, const char *addr)
{
	return herd_set(h, "--admin", addr);
}

void herd_usage(FILE *out)
{
	config_usage(out);
}

int herd_route(struct herd *h, const char *method, const char *path, enum herd_match match,
	       herd_handler fn, void *user)
{
	if (h->ran || !fn)
		return -1;
	return app_table_add(&h->table, method, path, match == HERD_PREFIX, false, fn, user);
}

void herd_on_worker(struct herd *h, herd_worker_start start, herd_worker_stop stop, void *user)
{
	h->rt.start = start;
	h->rt.stop = stop;
	h->rt.user = user;
}

int herd_worker_count(const struct herd *h)
{
	return h->rt.nslots;
}

int herd_post(struct herd *h, int worker, void (*fn)(void *arg), void *arg)
{
	return app_post(&h->rt, worker, fn, arg);
}

/* The process's arguments from /proc/self/cmdline (a program that only
 * used setters), kept in h->argv; 0, or -1. */
static int own_argv(struct herd *h)
{
	FILE *f = fopen("/proc/self/cmdline", "re");
	if (!f)
		return -1;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		len += fread(buf + len, 1, cap - len, f);
		if (len < cap)
			break;
		char *b = realloc(buf, cap * 2);
		if (!b) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = b;
		cap *= 2;
	}
	fclose(f);
	if (!buf || len == 0) {
		free(buf);
		return -1;
	}
	int n = 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == 0;
	char **argv = calloc((size_t)n + 2, sizeof(*argv));
	if (!argv) {
		free(buf);
		return -1;
	}
	int k = 0;
	for (size_t i = 0; i < len && k < n + 1; i += strlen(buf + i) + 1)
		argv[k++] = buf + i;
	h->argv = argv;
	h->cmdline = buf;
	return 0;
}

int herd_run(struct herd *h)
{
	/* The time zone, once, before any thread: glibc sets it up lazily at
	 * the first call that needs it (reading TZ and /etc/localtime, with a
	 * malloc and a descriptor), whichever thread that is. */
	tzset();
	char err[256];
	if (h->ran) {
		fprintf(stderr, "herd: herd_run called twice\n");
		return 1;
	}
	h->ran = true;
	if (h->nargs == 0 && push(h, (char *)"herd", false) < 0) {
		fprintf(stderr, "herd: out of memory\n");
		return 1;
	}
	struct herd_config *cfg = &h->cfg;
	switch (config_parse(cfg, h->nargs, h->args, stdout, err, sizeof(err))) {
	case CONFIG_OK:
		break;
	case CONFIG_EXIT_HELP:
	case CONFIG_EXIT_VERSION:
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "herd: %s\n", err);
		config_usage(stderr);
		return 2;
	}
	for (int i = 0; i < cfg->ncpus; i++) {
		if (!cpus_usable(cfg->cpus[i])) {
			fprintf(stderr, "herd: bad --cpus: CPU %d is not available to this process\n",
				cfg->cpus[i]);
			return 2;
		}
	}
	/* Handler processes run the program again, with its own arguments:
	 * those herd_parse_args saw, else the process's own. */
	if (h->argv)
		cfg->argv = h->argv;
	else if (cfg->max_procs > 1 && !getenv(HANDLER_ENV) && own_argv(h) == 0)
		cfg->argv = h->argv;
	/* --root: the files under "/", after every route of the program's
	 * (a longer prefix or an exact path wins; one of its own at "/" for
	 * the same method too). */
	if (cfg->root)
		(void)app_table_add(&h->table, "GET", "/", true, true, NULL, NULL);
	if (app_runtime_init(&h->rt, cfg->max_workers) < 0) {
		fprintf(stderr, "herd: out of memory\n");
		return 1;
	}
	h->rt.table = &h->table;
	cfg->app = &h->rt;
	setvbuf(stderr, NULL, _IOLBF, 0);
	const char *he = getenv(HANDLER_ENV);
	if (he)
		return handler_main(cfg, he);
	if (cfg->max_procs > 1)
		return supervisor_run(cfg);
	return server_run(cfg, NULL);
}
