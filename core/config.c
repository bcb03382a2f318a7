#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>


const char *const herd_accept_mode_names[HERD_ACCEPT_MODES] = {
	[HERD_ACCEPT_EXCLUSIVE] = "exclusive", [HERD_ACCEPT_URING] = "uring",
	[HERD_ACCEPT_REUSEPORT] = "reuseport", [HERD_ACCEPT_LISTENER] = "listener",
	[HERD_ACCEPT_HERD] = "herd",           [HERD_ACCEPT_AUTO] = "auto",
};

void config_usage(FILE *out)
{
	fputs("usage: herd [options]\n"
	      "  --listen HOST:PORT   address to serve, repeatable (default 0.0.0.0:8080, unless\n"
	      "                       --listen or --listen-tls is given; [::]:8080 for IPv6)\n"
	      "  --listen-tls HOST:PORT  address to serve HTTPS on, repeatable (at most 8\n"
	      "                       listeners in all)\n"
	      "  --tls-cert FILE      PEM certificate chain, repeatable; pairs with --tls-key\n"
	      "                       in order, the first pair is the default\n"
	      "  --tls-key FILE       PEM private key of the --tls-cert in the same position\n"
	      "  --redirect-https     answer plain HTTP with 301 to https:// (needs --listen-tls)\n"
	      "  --tls-ticket-rotate S  session ticket key lifetime (default 3600)\n"
	      "  --workers N          worker threads (default: one per CPU of --cpus)\n"
	      "  --cpus LIST          CPUs to pin workers to, e.g. 0-3,6 (default: current affinity)\n"
	      "  --accept MODE        exclusive (default), uring, reuseport, listener, herd, auto\n"
	      "  --backlog N          listen backlog (default 4096, capped by net.core.somaxconn)\n"
	      "  --proto http|echo    protocol (default http)\n"
	      "  --admin HOST:PORT    admin listener serving GET /metrics (default off)\n"
	      "  --grace SECONDS      longest graceful shutdown before closing the rest (default 10)\n"
	      "  --drain-delay S      on SIGTERM, answer /health 503 at once but keep serving S\n"
	      "                       seconds before draining (default 0)\n"
	      "  --header-timeout S   a request (head and body) must arrive within S (default 10)\n"
	      "  --keepalive-timeout S  idle keep-alive connections close after S (default 60)\n"
	      "  --send-timeout S     a client must take some output within S (default 60)\n"
	      "  --handler-timeout S  an embedding program's deferred answer within S, else 504\n"
	      "                       (default 60)\n"
	      "  --max-conns N        open connections over all workers (default: from RLIMIT_NOFILE)\n"
	      "  --max-body BYTES     largest request body; larger is 413 (default 1048576)\n"
	      "  --root DIR           serve GET/HEAD for files under DIR (default: built-ins only)\n"
	      "  --access-log FILE    combined-format request log (SIGUSR2 reopens it)\n"
	      "  --sendfile on|off    file bodies by sendfile(2), or read and written (default on)\n"
	      "  --proxy PREFIX=URL[,URL...]  send requests whose path starts with PREFIX to\n"
	      "                       the upstreams (http://IP:PORT, http://[IPv6]:PORT,\n"
	      "                       http://localhost:PORT, unix:/path), repeatable\n"
	      "  --proxy-strip PREFIX=URL[,URL...]  the same, removing PREFIX from the path\n"
	      "  --proxy-idle N       idle connections kept per upstream per worker (default 64,\n"
	      "                       0..1024, 0: none)\n"
	      "  --proxy-idle-timeout S  pooled upstream connections close after S idle (default 30)\n"
	      "  --proxy-connect-timeout S  connecting to an upstream (default 5)\n"
	      "  --proxy-timeout S    the response head within S, and no stall longer (default 60)\n"
	      "  --proxy-health PATH  GET PATH on every upstream; 2xx/3xx is up (default off)\n"
	      "  --proxy-health-interval S  how often (default 2, 0.1..3600)\n"
	      "  --min-workers N      scale down to N workers (default: --workers, i.e. static)\n"
	      "  --max-workers N      scale up to N workers (default: --workers)\n"
	      "  --scale-interval S   how often load is sampled (default 0.25)\n"
	      "  --scale-up-busy F    grow when workers are busier than F (0..1, default 0.75)\n"
	      "  --scale-down-busy F  shrink when one fewer stays under F (default 0.4)\n"
	      "  --scale-queue N      accept-queue length that means falling behind (default 32)\n"
	      "  --procs N            handler processes sharing the socket (default 1)\n"
	      "  --min-procs N        scale down to N processes (default: --procs)\n"
	      "  --max-procs N        scale up to N processes (default: --procs)\n"
	      "  --help, --version\n",
	      out);
}

enum config_result config_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return CONFIG_ERROR;
}

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

int config_parse_cpulist(const char *s, int *cpus, int max)
{
	char seen[HERD_MAX_CPUS];
	int n = 0;
	if (max > HERD_MAX_CPUS || !*s)
		return -1;
	memset(seen, 0, sizeof(seen));
	while (*s) {
		char *end;
		errno = 0;
		long lo = strtol(s, &end, 10), hi;
		if (errno || end == s || lo < 0 || *s == '-' || *s == '+')
			return -1;
		hi = lo;
		s = end;
		if (*s == '-') {
			const char *p = s + 1;
			if (*p < '0' || *p > '9')
				return -1;
			hi = strtol(p, &end, 10);
			if (errno || hi < lo)
				return -1;
			s = end;
		}
		if (hi >= max)
			return -1;
		for (long c = lo; c <= hi; c++) {
			if (!seen[c]) {
				seen[c] = 1;
				cpus[n++] = (int)c;
			}
		}
		if (*s == ',') {
			s++;
			if (!*s)
				return -1;
		} else if (*s) {
			return -1;
		}
	}
	qsort(cpus, (size_t)n, sizeof(*cpus), cmp_int);
	return n;
}

int config_parse_addr(const char *s, struct herd_addr *a)
{
	char host[64];
	const char *colon;
	long port;

	memset(a, 0, sizeof(*a));
	if (strlen(s) >= sizeof(a->text))
		return -1;
	snprintf(a->text, sizeof(a->text), "%s", s);

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = 0;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = 0;
		if (strchr(host, ':'))
			return -1; /* bare IPv6 needs brackets */
	}
	if (parse_long(colon + 1, 0, 65535, &port) < 0)
		return -1;

	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		a->len = sizeof(*sin6);
		return 0;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (host[0] == 0)
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	a->len = sizeof(*sin);
	return 0;
}

static int default_cpus(int *cpus)
{
	cpu_set_t set;
	int n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE && c < HERD_MAX_CPUS; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

static void set_defaults(struct herd_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->tls_ticket_rotate_s = 3600;
	cfg->accept = HERD_ACCEPT_EXCLUSIVE;
	cfg->backlog = 4096;
	cfg->proto = HERD_PROTO_HTTP;
	cfg->grace_s = 10.0;
	cfg->header_timeout_s = 10.0;
	cfg->keepalive_timeout_s = 60.0;
	cfg->send_timeout_s = 60.0;
	cfg->handler_timeout_s = 60.0;
	cfg->max_body = 1024 * 1024;
	cfg->scale_interval_s = 0.25;
	cfg->scale_up_busy = 0.75;
	cfg->scale_down_busy = 0.40;
	cfg->scale_queue = 32;
	config_proxy_defaults(cfg);
}

long config_default_max_conns(long nofile_limit, int workers)
{
	long headroom = 64 + 4L * workers;
	return nofile_limit > headroom + 1 ? nofile_limit - headroom : 1;
}

int config_parse_seconds(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return -1;
	*out = v;
	return 0;
}

/* Processes come after workers: each needs at least one worker at all times. */
static enum config_result check_procs(struct herd_config *cfg, char *err, size_t errlen)
{
	if (!cfg->procs)
		cfg->procs = cfg->min_procs > 1 ? cfg->min_procs : 1;
	if (!cfg->min_procs)
		cfg->min_procs = cfg->procs;
	if (!cfg->max_procs)
		cfg->max_procs = cfg->procs > cfg->min_procs ? cfg->procs : cfg->min_procs;
	if (cfg->min_procs > cfg->procs || cfg->procs > cfg->max_procs)
		return config_fail(err, errlen, "bad --procs %d: outside --min-procs %d..--max-procs %d",
			    cfg->procs, cfg->min_procs, cfg->max_procs);
	if (cfg->procs > cfg->workers)
		return config_fail(err, errlen,
			    "--procs %d exceeds --workers %d: every handler process needs a worker",
			    cfg->procs, cfg->workers);
	if (cfg->min_procs > cfg->min_workers)
		return config_fail(err, errlen,
			    "--min-procs %d exceeds --min-workers %d: every handler process needs "
			    "a worker",
			    cfg->min_procs, cfg->min_workers);
	if (cfg->max_procs > cfg->max_workers)
		return config_fail(err, errlen,
			    "--max-procs %d exceeds --max-workers %d: every handler process needs "
			    "a worker",
			    cfg->max_procs, cfg->max_workers);
	if (cfg->max_procs > 1 && cfg->accept == HERD_ACCEPT_REUSEPORT)
		return config_fail(err, errlen,
			    "--accept reuseport cannot be used with --procs > 1: per-worker "
			    "listeners reset their queued connections when a process exits");
	return CONFIG_OK;
}

bool config_flag_known(const char *name, bool *takes_value)
{
	static const char *const known[] = {
		"--listen",         "--workers",           "--cpus",
		"--accept",         "--backlog",           "--proto",
		"--admin",          "--grace",             "--header-timeout",
		"--keepalive-timeout", "--send-timeout",   "--max-conns",
		"--max-body",       "--min-workers",       "--max-workers",
		"--scale-interval", "--scale-up-busy",     "--scale-down-busy",
		"--scale-queue",    "--root",              "--access-log",
		"--procs",          "--min-procs",         "--max-procs",
		"--sendfile",       "--drain-delay",       "--handler-timeout"};
	*takes_value = true;
	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
		if (strcmp(name, known[k]) == 0)
			return true;
	if (config_listen_known(name) || config_proxy_known(name))
		return true;
	*takes_value = false;
	return strcmp(name, "--redirect-https") == 0 || strcmp(name, "--help") == 0 ||
	       strcmp(name, "-h") == 0 || strcmp(name, "--version") == 0;
}

enum config_result config_parse(struct herd_config *cfg, int argc, char **argv,
				FILE *out, char *err, size_t errlen)
{
	const char *cpus_arg = NULL;
	set_defaults(cfg);
	cfg->argv = argv;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = NULL;
		char name[32];
		long n;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			config_usage(out);
			return CONFIG_EXIT_HELP;
		}
		if (strcmp(arg, "--version") == 0) {
			fprintf(out, "herd %s\n", HERD_VERSION);
			return CONFIG_EXIT_VERSION;
		}
		if (strncmp(arg, "--", 2) != 0)
			return config_fail(err, errlen, "unexpected argument '%s'", arg);

		/* Accept both "--flag value" and "--flag=value". */
		const char *eq = strchr(arg, '=');
		size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
		if (nlen >= sizeof(name))
			return config_fail(err, errlen, "unknown option '%s'", arg);
		memcpy(name, arg, nlen);
		name[nlen] = 0;
		bool is_known = config_flag_known(name, &(bool){false});
		if (strcmp(name, "--redirect-https") == 0) {
			if (eq)
				return config_fail(err, errlen, "--redirect-https takes no value");
			cfg->redirect_https = true;
			continue;
		}
		if (!is_known)
			return config_fail(err, errlen, "unknown option '%s'", name);
		if (eq) {
			val = eq + 1;
		} else {
			if (i + 1 >= argc)
				return config_fail(err, errlen, "option '%s' needs a value", name);
			val = argv[++i];
		}

		bool handled;
		if (config_listen_flag(cfg, name, val, &handled, err, errlen) != CONFIG_OK)
			return CONFIG_ERROR;
		if (!handled && config_proxy_flag(cfg, name, val, &handled, err, errlen) != CONFIG_OK)
			return CONFIG_ERROR;
		if (handled) {
			continue;
		} else if (strcmp(name, "--admin") == 0) {
			if (config_parse_addr(val, &cfg->admin) < 0)
				return config_fail(err, errlen, "bad --admin '%s': want HOST:PORT", val);
			cfg->admin_enabled = true;
		} else if (strcmp(name, "--workers") == 0) {
			if (parse_long(val, 1, HERD_MAX_WORKERS, &n) < 0)
				return config_fail(err, errlen, "bad --workers '%s': want 1..%d", val,
					    HERD_MAX_WORKERS);
			cfg->workers = (int)n;
		} else if (strcmp(name, "--cpus") == 0) {
			cpus_arg = val;
		} else if (strcmp(name, "--accept") == 0) {
			int m = 0;
			while (m < HERD_ACCEPT_MODES && strcmp(val, herd_accept_mode_names[m]) != 0)
				m++;
			if (m == HERD_ACCEPT_MODES)
				return config_fail(err, errlen,
					    "bad --accept '%s': want exclusive, uring, reuseport, "
					    "listener, herd or auto",
					    val);
			cfg->accept = (enum herd_accept_mode)m;
		} else if (strcmp(name, "--backlog") == 0) {
			if (parse_long(val, 1, INT_MAX, &n) < 0)
				return config_fail(err, errlen, "bad --backlog '%s': want a positive number",
					    val);
			cfg->backlog = (int)n;
		} else if (strcmp(name, "--proto") == 0) {
			if (strcmp(val, "http") == 0)
				cfg->proto = HERD_PROTO_HTTP;
			else if (strcmp(val, "echo") == 0)
				cfg->proto = HERD_PROTO_ECHO;
			else
				return config_fail(err, errlen, "bad --proto '%s': want http or echo", val);
		} else if (strcmp(name, "--grace") == 0) {
			if (config_parse_seconds(val, 0, 3600, &cfg->grace_s) < 0)
				return config_fail(err, errlen, "bad --grace '%s': want 0..3600 seconds", val);
		} else if (strcmp(name, "--drain-delay") == 0) {
			if (config_parse_seconds(val, 0, 3600, &cfg->drain_delay_s) < 0)
				return config_fail(err, errlen, "bad --drain-delay '%s': want 0..3600 seconds", val);
		} else if (strcmp(name, "--handler-timeout") == 0) {
			if (config_parse_seconds(val, 0.01, 86400, &cfg->handler_timeout_s) < 0)
				return config_fail(err, errlen, "bad --handler-timeout '%s': want 0.01..86400 seconds", val);
		} else if (strcmp(name, "--header-timeout") == 0) {
			if (config_parse_seconds(val, 0.01, 3600, &cfg->header_timeout_s) < 0)
				return config_fail(err, errlen, "bad --header-timeout '%s': want 0.01..3600 seconds", val);
		} else if (strcmp(name, "--keepalive-timeout") == 0) {
			if (config_parse_seconds(val, 0.01, 86400, &cfg->keepalive_timeout_s) < 0)
				return config_fail(err, errlen, "bad --keepalive-timeout '%s': want 0.01..86400 seconds", val);
		} else if (strcmp(name, "--send-timeout") == 0) {
			if (config_parse_seconds(val, 0.01, 3600, &cfg->send_timeout_s) < 0)
				return config_fail(err, errlen, "bad --send-timeout '%s': want 0.01..3600 seconds", val);
		} else if (strcmp(name, "--max-conns") == 0) {
			if (parse_long(val, 1, 100000000, &n) < 0)
				return config_fail(err, errlen, "bad --max-conns '%s': want a positive number", val);
			cfg->max_conns = n;
		} else if (strcmp(name, "--min-workers") == 0 || strcmp(name, "--max-workers") == 0) {
			if (parse_long(val, 1, HERD_MAX_WORKERS, &n) < 0)
				return config_fail(err, errlen, "bad %s '%s': want 1..%d", name, val,
					    HERD_MAX_WORKERS);
			*(name[2] == 'm' && name[3] == 'i' ? &cfg->min_workers : &cfg->max_workers) =
				(int)n;
		} else if (strcmp(name, "--scale-interval") == 0) {
			if (config_parse_seconds(val, 0.01, 60, &cfg->scale_interval_s) < 0)
				return config_fail(err, errlen, "bad --scale-interval '%s': want 0.01..60 seconds", val);
		} else if (strcmp(name, "--scale-up-busy") == 0) {
			if (config_parse_seconds(val, 0.01, 1, &cfg->scale_up_busy) < 0)
				return config_fail(err, errlen, "bad --scale-up-busy '%s': want 0.01..1", val);
		} else if (strcmp(name, "--scale-down-busy") == 0) {
			if (config_parse_seconds(val, 0, 1, &cfg->scale_down_busy) < 0)
				return config_fail(err, errlen, "bad --scale-down-busy '%s': want 0..1", val);
		} else if (strcmp(name, "--scale-queue") == 0) {
			if (parse_long(val, 1, 1 << 30, &n) < 0)
				return config_fail(err, errlen, "bad --scale-queue '%s': want a positive number", val);
			cfg->scale_queue = (int)n;
		} else if (strcmp(name, "--procs") == 0 || strcmp(name, "--min-procs") == 0 ||
			   strcmp(name, "--max-procs") == 0) {
			if (parse_long(val, 1, HERD_MAX_PROCS, &n) < 0)
				return config_fail(err, errlen, "bad %s '%s': want 1..%d", name, val,
					    HERD_MAX_PROCS);
			*(name[2] == 'p' ? &cfg->procs
			  : name[3] == 'i' ? &cfg->min_procs : &cfg->max_procs) = (int)n;
		} else if (strcmp(name, "--root") == 0) {
			if (!*val)
				return config_fail(err, errlen, "bad --root '': want a directory");
			cfg->root = val;
		} else if (strcmp(name, "--access-log") == 0) {
			if (!*val)
				return config_fail(err, errlen, "bad --access-log '': want a file");
			cfg->access_log = val;
		} else if (strcmp(name, "--max-body") == 0) {
			if (parse_long(val, 0, LONG_MAX, &n) < 0)
				return config_fail(err, errlen, "bad --max-body '%s': want bytes", val);
			cfg->max_body = (uint64_t)n;
		} else if (strcmp(name, "--sendfile") == 0) {
			if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0)
				return config_fail(err, errlen, "bad --sendfile '%s': want on or off", val);
			cfg->no_sendfile = val[1] == 'f';
		}
	}

	if (cpus_arg) {
		cfg->ncpus = config_parse_cpulist(cpus_arg, cfg->cpus, HERD_MAX_CPUS);
		if (cfg->ncpus <= 0)
			return config_fail(err, errlen, "bad --cpus '%s': want a list like 0-3,6", cpus_arg);
	} else {
		cfg->ncpus = default_cpus(cfg->cpus);
		if (cfg->ncpus <= 0)
			return config_fail(err, errlen, "cannot read the CPU affinity mask");
	}
	/* Static unless a range is given: min = max = --workers.  With a
	 * range and no --workers, start at the minimum. */
	int base = cfg->workers ? cfg->workers : cfg->ncpus;
	if (base > HERD_MAX_WORKERS)
		base = HERD_MAX_WORKERS;
	if (!cfg->min_workers)
		cfg->min_workers = cfg->max_workers && cfg->max_workers < base ? cfg->max_workers : base;
	if (!cfg->max_workers)
		cfg->max_workers = cfg->min_workers > base ? cfg->min_workers : base;
	if (cfg->min_workers > cfg->max_workers)
		return config_fail(err, errlen, "bad --min-workers %d: above --max-workers %d",
			    cfg->min_workers, cfg->max_workers);
	if (!cfg->workers)
		cfg->workers = cfg->min_workers < cfg->max_workers ? cfg->min_workers : base;
	if (cfg->workers < cfg->min_workers || cfg->workers > cfg->max_workers)
		return config_fail(err, errlen, "bad --workers %d: outside --min-workers %d..--max-workers %d",
			    cfg->workers, cfg->min_workers, cfg->max_workers);
	if (config_listen_check(cfg, err, errlen) != CONFIG_OK ||
	    config_proxy_check(cfg, err, errlen) != CONFIG_OK)
		return CONFIG_ERROR;
	return check_procs(cfg, err, errlen);
}
