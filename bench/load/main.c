/* herd-load: HTTP/1.1 (plain or TLS) and echo load generator bundled with herd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "args.h"
#include "config.h"
#include "report.h"
#include "request.h"
#include "run.h"
#include "tls.h"

#define EXIT_UNREACHABLE 1
#define EXIT_USAGE 2
#define FD_HEADROOM 64 /* stdio, epoll instances, the JSON file, resolver */

static void on_signal(int sig)
{
	(void)sig;
	run_interrupted = 1;
}

/* Raises the soft fd limit to the hard one; refuses a run that cannot fit. */
static int check_fd_limit(const struct config *cfg, char *err, size_t errlen)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(err, errlen, "getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return -1;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	uint64_t need = (uint64_t)cfg->conns + cfg->threads + FD_HEADROOM;
	if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
		const char *flag = cfg->mode == MODE_STORM ? "--storm" :
				   cfg->mode == MODE_IDLE ? "--idle" : "-c";
		snprintf(err, errlen, "%s %u needs about %llu file descriptors but the limit is "
			 "%llu (hard limit %llu); lower it or raise the hard limit (ulimit -Hn)",
			 flag, cfg->conns, (unsigned long long)need,
			 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
		return -1;
	}
	return 0;
}

/* One source address has only the ephemeral port range to connect from. */
static void warn_port_range(const struct config *cfg)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned lo, hi;
	if (!f)
		return;
	if (fscanf(f, "%u %u", &lo, &hi) == 2 && hi >= lo && cfg->conns > hi - lo + 1)
		fprintf(stderr, "herd-load: warning: %u connections exceed the %u local ports "
			"(net.ipv4.ip_local_port_range); expect connect_other errors\n",
			cfg->conns, hi - lo + 1);
	fclose(f);
}

/* The first connect decides whether the target is there at all. */
static int probe(const struct sockaddr_storage *ss, socklen_t len, double timeout_s,
		 char *err, size_t errlen)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int e = 0;
	if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
		e = errno;
		if (e == EINPROGRESS) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			int n = poll(&p, 1, (int)(timeout_s * 1000) + 1);
			socklen_t el = sizeof(e);
			if (n == 0)
				e = ETIMEDOUT;
			else if (n < 0)
				e = errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
				e = errno;
		}
	}
	close(fd);
	if (e) {
		snprintf(err, errlen, "cannot connect: %s", strerror(e));
		return -1;
	}
	return 0;
}

static int run_main(struct config *cfg, int argc, char **argv);

/* Every exit frees the configuration, so a sanitizer build reports no leak
 * (and keeps the exit status) on the error paths too. */
int main(int argc, char **argv)
{
	struct config cfg;
	int status = run_main(&cfg, argc, argv);
	config_free(&cfg);
	return status;
}

static int run_main(struct config *cfg, int argc, char **argv)
{
	char err[512];
	switch (args_parse(cfg, argc, argv, err, sizeof(err))) {
	case ARGS_HELP:
		fputs(args_usage, stdout);
		return 0;
	case ARGS_VERSION:
		printf("herd-load %s\n", HERD_LOAD_VERSION);
		return 0;
	case ARGS_ERROR:
		fprintf(stderr, "herd-load: %s\n%s", err, args_usage);
		return EXIT_USAGE;
	case ARGS_OK:
		break;
	}
	if (check_fd_limit(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "herd-load: %s\n", err);
		return EXIT_USAGE;
	}
	if (cfg->mode == MODE_STORM || cfg->mode == MODE_IDLE)
		warn_port_range(cfg);

	struct sockaddr_storage addr;
	socklen_t addrlen;
	if (url_resolve(&cfg->url, &addr, &addrlen, err, sizeof(err)) < 0 ||
	    probe(&addr, addrlen, cfg->timeout_s, err, sizeof(err)) < 0) {
		fprintf(stderr, "herd-load: %s: %s\n", cfg->url_arg, err);
		return EXIT_UNREACHABLE;
	}

	/* a bad --cacert is a bad argument, found before any load */
	SSL_CTX *tls = NULL;
	if (cfg->url.tls && !(tls = load_tls_ctx_new(cfg, err, sizeof(err)))) {
		fprintf(stderr, "herd-load: %s\n", err);
		return EXIT_USAGE;
	}

	struct request rq;
	if (request_build(&rq, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "herd-load: %s\n", err);
		load_tls_ctx_free(tls);
		return EXIT_FAILURE;
	}

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* whichever thread takes the signal, the handler only sets a flag that
	 * the main thread polls */
	struct result res;
	int rc = run(cfg, &addr, addrlen, &rq, tls, &res, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "herd-load: %s\n", err);
	int status = 0;
	if (res.lat) {
		report_table(stdout, &res);
		if (cfg->json_path && report_json(cfg->json_path, &res, err, sizeof(err)) < 0) {
			fprintf(stderr, "herd-load: %s\n", err);
			status = EXIT_FAILURE;
		}
		if (cfg->latency_dist && report_hgrm(cfg->latency_dist, &res, err, sizeof(err)) < 0) {
			fprintf(stderr, "herd-load: %s\n", err);
			status = EXIT_FAILURE;
		}
	}
	if (rc < 0)
		status = EXIT_FAILURE;
	run_result_free(&res);
	request_free(&rq);
	load_tls_ctx_free(tls);
	return status;
}
