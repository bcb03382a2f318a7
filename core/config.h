/* Command-line configuration: parsed once in main, then read-only. */
#ifndef HERD_CONFIG_H
#define HERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "net/listen.h"
#include "net/upstream.h"

struct app_runtime;

#ifndef HERD_VERSION
#define HERD_VERSION "0.1.0"
#endif

#define HERD_MAX_CPUS 1024
#define HERD_MAX_WORKERS 256
#define HERD_MAX_PROCS 64
#define HERD_MAX_LISTEN 8
#define HERD_MAX_CERTS 8

enum herd_accept_mode {
	HERD_ACCEPT_EXCLUSIVE, /* shared fd, EPOLLEXCLUSIVE in every worker's epoll */
	HERD_ACCEPT_URING,     /* shared fd, multishot accept on every worker's io_uring */
	HERD_ACCEPT_REUSEPORT, /* one SO_REUSEPORT listener per worker */
	HERD_ACCEPT_LISTENER,  /* one acceptor thread hands fds to workers */
	HERD_ACCEPT_HERD,      /* shared fd in every epoll, no EPOLLEXCLUSIVE */
	HERD_ACCEPT_AUTO,      /* uring where the kernel allows it, else exclusive */
	HERD_ACCEPT_MODES
};

extern const char *const herd_accept_mode_names[HERD_ACCEPT_MODES];

enum herd_proto {
	HERD_PROTO_HTTP,
	HERD_PROTO_ECHO,
};

/* One address to serve: --listen (plain) or --listen-tls. */
struct herd_listen {
	struct herd_addr addr;
	bool tls;
};

/* --tls-cert and --tls-key, paired in the order given: the first pair is
 * the default certificate. */
struct herd_tls_pair {
	const char *cert, *key;
};

struct herd_config {
	/* In the order given; ignored under socket activation (the sockets
	 * and their names come from systemd then). */
	struct herd_listen listens[HERD_MAX_LISTEN];
	int nlisten;
	struct herd_tls_pair tls[HERD_MAX_CERTS];
	int ntls;
	bool redirect_https;        /* --redirect-https: plain HTTP answers 301 to https:// */
	double tls_ticket_rotate_s; /* --tls-ticket-rotate: session ticket key lifetime */
	bool admin_enabled;
	struct herd_addr admin;
	int workers; /* 0 until resolved: one per CPU of cpus[] */
	int cpus[HERD_MAX_CPUS];
	int ncpus;
	enum herd_accept_mode accept;
	int backlog;
	enum herd_proto proto;
	double grace_s;
	double drain_delay_s; /* --drain-delay: keep accepting this long after /health turns 503 */
	double header_timeout_s;    /* a request head (and its body) must arrive within */
	double keepalive_timeout_s; /* idle between requests */
	double send_timeout_s;      /* the client must take some output within */
	long max_conns;             /* over all workers; 0 until resolved from RLIMIT_NOFILE */
	uint64_t max_body;          /* request body bytes; larger is 413 */
	const char *root;           /* --root DIR: serve files, or NULL */
	const char *access_log;     /* --access-log FILE, or NULL */
	bool no_sendfile;           /* --sendfile off: file bodies are read and written */
	/* Scaling (balance/): static when min == max. */
	int min_workers, max_workers;
	double scale_interval_s;
	double scale_up_busy, scale_down_busy;
	int scale_queue;
	/* Reverse proxy (config_proxy.c): routes and upstreams, none without
	 * --proxy; idle pooled connections per upstream per worker. */
	struct upstream_table proxy;
	int proxy_idle;
	double proxy_idle_timeout_s, proxy_connect_timeout_s, proxy_timeout_s;
	const char *proxy_health;       /* --proxy-health PATH, or NULL: no active checks */
	double proxy_health_interval_s;
	const char *proxy_flag;         /* the first --proxy* flag given, for errors */
	/* Application routes (libherd, core/app.h): set by herd_run, NULL
	 * for a configuration parsed alone; a deferred answer's limit. */
	struct app_runtime *app;
	double handler_timeout_s;
	/* Handler processes (balance/supervisor.c): one process when max_procs == 1. */
	int procs, min_procs, max_procs;
	char **argv; /* as given: handler processes are started with it */
};

enum config_result {
	CONFIG_OK = 0,
	CONFIG_EXIT_HELP,    /* --help printed: exit 0 */
	CONFIG_EXIT_VERSION, /* --version printed: exit 0 */
	CONFIG_ERROR,        /* err holds one line naming the problem: exit 2 */
};

/* Fills *cfg from argv (defaults first).  Never exits, never prints except
 * for --help/--version, which go to `out`.  CPUs default to the calling
 * thread's affinity mask. */
enum config_result config_parse(struct herd_config *cfg, int argc, char **argv,
				 FILE *out, char *err, size_t errlen);

/* "0-3,6" -> {0,1,2,3,6}; sorted, duplicates removed.  Returns count, -1 on
 * syntax error or a CPU >= max. */
int config_parse_cpulist(const char *s, int *cpus, int max);

/* "HOST:PORT", "[v6]:PORT", ":PORT" (any IPv4).  Numeric hosts and
 * "localhost" only: a server binds to addresses, not names.  0 on success. */
int config_parse_addr(const char *s, struct herd_addr *a);

void config_usage(FILE *out);

/* CONFIG_ERROR with err set from fmt: every flag parser's way to refuse. */
enum config_result config_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* config_listen.c: the listener and TLS flags.  config_listen_flag handles
 * `name` if it is one of them (*handled), the pair counts included;
 * config_listen_check validates their combination once all flags are read.
 * Both return CONFIG_OK or CONFIG_ERROR with err filled. */
enum config_result config_listen_flag(struct herd_config *cfg, const char *name, const char *val,
				      bool *handled, char *err, size_t errlen);
enum config_result config_listen_check(struct herd_config *cfg, char *err, size_t errlen);
/* Whether `name` is a flag config_listen_flag takes. */
bool config_listen_known(const char *name);

/* config_proxy.c: the reverse-proxy flags, the same way. */
enum config_result config_proxy_flag(struct herd_config *cfg, const char *name, const char *val,
				     bool *handled, char *err, size_t errlen);
enum config_result config_proxy_check(const struct herd_config *cfg, char *err, size_t errlen);
bool config_proxy_known(const char *name);
void config_proxy_defaults(struct herd_config *cfg);

/* Whether `name` ("--workers") is one of herd's flags, and whether it
 * takes a value (--help, --version and --redirect-https do not). */
bool config_flag_known(const char *name, bool *takes_value);

/* A number of seconds in [min, max] (fractions allowed).  0, or -1. */
int config_parse_seconds(const char *s, double min, double max, double *out);

/* Seconds from the command line as the milliseconds timers count in. */
static inline int64_t config_ms(double seconds)
{
	return (int64_t)(seconds * 1000.0 + 0.5);
}

/* The --max-conns default: the descriptor limit less headroom for listeners,
 * epoll, eventfds, logs and the admin endpoint. */
long config_default_max_conns(long nofile_limit, int workers);

#endif
