#include "args.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "body.h"
#include "urls.h"

const char args_usage[] =
	"usage: herd-load [options] URL [URL...]\n"
	"  URL is http://HOST:PORT/PATH, https://HOST[:PORT]/PATH or tcp://HOST:PORT\n"
	"  (echo protocol); several URLs (same host) are picked per request, equally\n"
	"  -t, --threads N        worker threads, each with its own epoll loop (1)\n"
	"  -c, --connections N    concurrent connections over all threads (64)\n"
	"  -d, --duration SECS    run time, e.g. 10, 1.5, 500ms, 2m (10)\n"
	"  -n, --requests N       stop after N responses (-d then only caps the time)\n"
	"      --warmup SECS      run this long first, excluded from statistics (0)\n"
	"  -H, --header 'N: v'    extra request header, repeatable, sent with every URL\n"
	"  -m, --method M         request method (GET), e.g. -m POST\n"
	"      --body FILE        send FILE as the request body, with Content-Length\n"
	"      --body-string S    send S as the request body, e.g. --body-string '{\"a\":1}'\n"
	"      --urls FILE        more URLs, one per line: URL [WEIGHT] (weight 1 if absent),\n"
	"                         picked per request with probability weight/sum\n"
	"      --timeout SECS     connect/response timeout; counted as errors (5)\n"
	"      --close            new connection per request (Connection: close)\n"
	"      --linger0          with --close: reset on close (SO_LINGER 0), no TIME_WAIT\n"
	"      --pipeline N       N requests in flight per connection, one write (1)\n"
	"      --rate R           open loop at R requests/s overall (latency from\n"
	"                         intended send time, no coordinated omission)\n"
	"      --conn-rate R      open loop: R new connections/s overall, each doing\n"
	"                         --reqs-per-conn requests (latency of the first counts\n"
	"                         from the connection's intended start); -c caps how\n"
	"                         many are open at once\n"
	"      --reqs-per-conn K  with --conn-rate: requests per connection, the last\n"
	"                         with Connection: close (1)\n"
	"      --storm N          open N connections at once, one request each\n"
	"      --idle N           open N connections, one request each, hold for -d\n"
	"      --payload BYTES    tcp:// request size; the echo must match (64)\n"
	"      --insecure         https: do not verify the server's certificate\n"
	"      --cacert FILE      https: verify against the CA (or self-signed) certificate(s)\n"
	"                         in FILE instead of the system's; the host name is checked\n"
	"      --tls-resume       https: a new connection offers a ticket its thread got\n"
	"                         and has not used yet, newest first (use with --close)\n"
	"      --cpus LIST        pin threads round robin, e.g. 0 or 0-3,6\n"
	"      --json FILE        write results as JSON\n"
	"      --timeline         add per-second requests, errors, p50, p99, max and open\n"
	"                         connections to the JSON (\"timeline\")\n"
	"      --latency-dist FILE write the latency distribution in HdrHistogram's .hgrm\n"
	"                         text format (values in ms, as wrk2 --u_latency)\n"
	"      --progress         a plain progress line per second even when stdout is\n"
	"                         not a terminal (on one, a live line is the default)\n"
	"  -h, --help             this text\n"
	"  -V, --version          print the version\n"
	"exit status: 0 run completed (errors are counted, not fatal), 1 target\n"
	"unreachable at start, 2 bad arguments\n";

enum {
	OPT_WARMUP = 256, OPT_TIMEOUT, OPT_CLOSE, OPT_PIPELINE, OPT_RATE, OPT_STORM,
	OPT_IDLE, OPT_PAYLOAD, OPT_CPUS, OPT_JSON, OPT_LINGER0, OPT_INSECURE, OPT_CACERT,
	OPT_TLS_RESUME, OPT_BODY, OPT_BODY_STRING, OPT_URLS, OPT_CONN_RATE, OPT_REQS_PER_CONN,
	OPT_PROGRESS, OPT_TIMELINE, OPT_LATENCY_DIST,
};

static const struct option longopts[] = {
	{ "threads", required_argument, NULL, 't' },
	{ "connections", required_argument, NULL, 'c' },
	{ "duration", required_argument, NULL, 'd' },
	{ "requests", required_argument, NULL, 'n' },
	{ "header", required_argument, NULL, 'H' },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "close", no_argument, NULL, OPT_CLOSE },
	{ "linger0", no_argument, NULL, OPT_LINGER0 },
	{ "pipeline", required_argument, NULL, OPT_PIPELINE },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "storm", required_argument, NULL, OPT_STORM },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "tls-resume", no_argument, NULL, OPT_TLS_RESUME },
	{ "method", required_argument, NULL, 'm' },
	{ "body", required_argument, NULL, OPT_BODY },
	{ "body-string", required_argument, NULL, OPT_BODY_STRING },
	{ "urls", required_argument, NULL, OPT_URLS },
	{ "conn-rate", required_argument, NULL, OPT_CONN_RATE },
	{ "reqs-per-conn", required_argument, NULL, OPT_REQS_PER_CONN },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "timeline", no_argument, NULL, OPT_TIMELINE },
	{ "latency-dist", required_argument, NULL, OPT_LATENCY_DIST },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

const char *mode_name(enum mode m)
{
	switch (m) {
	case MODE_KEEPALIVE: return "keep-alive";
	case MODE_CLOSE: return "close";
	case MODE_STORM: return "storm";
	case MODE_IDLE: return "idle";
	}
	return "?";
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Plain non-negative decimal; *end points past it for unit suffixes. */
static int parse_number(const char *s, double *out, char **end)
{
	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		return -1;
	errno = 0;
	double v = strtod(s, end);
	if (errno || *end == s || !isfinite(v) || v < 0)
		return -1;
	*out = v;
	return 0;
}

int args_parse_seconds(const char *s, double *out)
{
	char *end;
	double v;
	if (parse_number(s, &v, &end))
		return -1;
	if (strcmp(end, "ms") == 0)
		v /= 1000.0;
	else if (strcmp(end, "m") == 0)
		v *= 60.0;
	else if (*end && strcmp(end, "s") != 0)
		return -1;
	*out = v;
	return 0;
}

int args_parse_cpus(const char *s, int *out, unsigned max_out, unsigned ncpu_conf,
		    char *err, size_t errlen)
{
	unsigned n = 0;
	const char *p = s;
	for (;;) {
		char *end;
		if (!isdigit((unsigned char)*p))
			goto bad;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		p = end;
		if (*p == '-') {
			p++;
			if (!isdigit((unsigned char)*p))
				goto bad;
			hi = strtoul(p, &end, 10);
			p = end;
		}
		if (hi < lo)
			goto bad;
		if (hi >= ncpu_conf) {
			snprintf(err, errlen, "invalid value for --cpus: CPU %lu does not exist "
				 "(this machine has %u)", hi, ncpu_conf);
			return -1;
		}
		for (unsigned long c = lo; c <= hi; c++) {
			if (n == max_out) {
				snprintf(err, errlen, "invalid value for --cpus: more than %u CPUs",
					 max_out);
				return -1;
			}
			out[n++] = (int)c;
		}
		if (*p == '\0')
			return (int)n;
		if (*p != ',')
			goto bad;
		p++;
	}
bad:
	snprintf(err, errlen, "invalid value for --cpus: '%s' (expected a list like 0 or 0-3,6)", s);
	return -1;
}

static int bad_value(char *err, size_t errlen, const char *flag, const char *val, const char *want)
{
	snprintf(err, errlen, "invalid value for %s: '%s' (expected %s)", flag, val, want);
	return -1;
}

static int check_header(const char *h)
{
	const char *colon = strchr(h, ':');
	if (!colon || colon == h)
		return -1;
	for (const char *p = h; p < colon; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return -1;
	for (const char *p = colon; *p; p++)
		if (*p == '\r' || *p == '\n')
			return -1;
	return 0;
}

/* The flag as the user spelled it, for messages naming it. */
static const char *flag_name(int opt, char *buf, size_t len)
{
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == opt) {
			if (opt < 256)
				snprintf(buf, len, "-%c", opt);
			else
				snprintf(buf, len, "--%s", o->name);
			return buf;
		}
	return "?";
}

static int one_option(struct config *cfg, int opt, const char *arg, unsigned ncpu,
		      bool *modes_seen, const char **urls_file, char *err, size_t errlen)
{
	char fb[32];
	const char *flag = flag_name(opt, fb, sizeof(fb));
	uint64_t u;
	double d;
	char *end;
	switch (opt) {
	case 't':
		if (parse_u64(arg, 1, MAX_THREADS, &u))
			return bad_value(err, errlen, flag, arg, "an integer 1..256");
		cfg->threads = (unsigned)u;
		return 0;
	case 'c':
		if (parse_u64(arg, 1, MAX_CONNS, &u))
			return bad_value(err, errlen, flag, arg, "an integer 1..1000000");
		cfg->conns = (unsigned)u;
		return 0;
	case 'd':
		if (args_parse_seconds(arg, &d) || d < 0.001 || d > 1e6)
			return bad_value(err, errlen, flag, arg, "seconds > 0, e.g. 10 or 500ms");
		cfg->duration_s = d;
		cfg->duration_set = true;
		return 0;
	case 'n':
		if (parse_u64(arg, 1, UINT64_MAX / 4, &u))
			return bad_value(err, errlen, flag, arg, "a positive integer");
		cfg->requests = u;
		return 0;
	case 'H':
		if (check_header(arg))
			return bad_value(err, errlen, flag, arg, "'Name: value'");
		if (cfg->nheaders == MAX_HEADERS)
			return bad_value(err, errlen, flag, arg, "at most 64 headers");
		cfg->headers[cfg->nheaders++] = arg;
		return 0;
	case OPT_WARMUP:
		if (args_parse_seconds(arg, &d) || d > 3600)
			return bad_value(err, errlen, flag, arg, "seconds 0..3600");
		cfg->warmup_s = d;
		return 0;
	case OPT_TIMEOUT:
		if (args_parse_seconds(arg, &d) || d < 0.001 || d > 3600)
			return bad_value(err, errlen, flag, arg, "seconds 0.001..3600");
		cfg->timeout_s = d;
		return 0;
	case OPT_CLOSE:
		modes_seen[MODE_CLOSE] = true;
		cfg->mode = MODE_CLOSE;
		return 0;
	case OPT_LINGER0:
		cfg->linger0 = true;
		return 0;
	case OPT_PIPELINE:
		if (parse_u64(arg, 1, MAX_PIPELINE, &u))
			return bad_value(err, errlen, flag, arg, "an integer 1..1024");
		cfg->pipeline = (unsigned)u;
		return 0;
	case OPT_RATE:
		if (parse_number(arg, &d, &end) || *end || d <= 0 || d > 1e8)
			return bad_value(err, errlen, flag, arg, "requests per second > 0");
		cfg->rate = d;
		return 0;
	case OPT_STORM:
	case OPT_IDLE:
		if (parse_u64(arg, 1, MAX_CONNS, &u))
			return bad_value(err, errlen, flag, arg, "an integer 1..1000000");
		cfg->mode = opt == OPT_STORM ? MODE_STORM : MODE_IDLE;
		modes_seen[cfg->mode] = true;
		cfg->conns = (unsigned)u;
		return 0;
	case OPT_PAYLOAD:
		if (parse_u64(arg, 1, MAX_PAYLOAD, &u))
			return bad_value(err, errlen, flag, arg, "bytes 1..1048576");
		cfg->payload = (unsigned)u;
		return 0;
	case OPT_CPUS: {
		int n = args_parse_cpus(arg, cfg->cpus, MAX_CPUS, ncpu, err, errlen);
		if (n < 0)
			return -1;
		cfg->ncpus = (unsigned)n;
		return 0;
	}
	case OPT_JSON:
		if (!*arg)
			return bad_value(err, errlen, flag, arg, "a file name");
		cfg->json_path = arg;
		return 0;
	case OPT_INSECURE:
		cfg->insecure = true;
		return 0;
	case OPT_CACERT:
		if (!*arg)
			return bad_value(err, errlen, flag, arg, "a file name");
		cfg->cacert = arg;
		return 0;
	case OPT_TLS_RESUME:
		cfg->tls_resume = true;
		return 0;
	case 'm':
		for (const char *p = arg; *p; p++)
			if (!isupper((unsigned char)*p) && *p != '-' && *p != '_')
				return bad_value(err, errlen, flag, arg, "a method such as POST");
		if (!*arg || strlen(arg) > 32)
			return bad_value(err, errlen, flag, arg, "a method such as POST");
		if (strcmp(arg, "HEAD") == 0)
			/* the response parser would wait for the body a HEAD answer announces */
			return bad_value(err, errlen, flag, arg, "a method other than HEAD");
		cfg->method = arg;
		return 0;
	case OPT_BODY:
		return body_load_file(cfg, arg, err, errlen);
	case OPT_BODY_STRING:
		return body_set_string(cfg, arg, err, errlen);
	case OPT_URLS:
		if (!*arg)
			return bad_value(err, errlen, flag, arg, "a file name");
		*urls_file = arg;
		return 0;
	case OPT_CONN_RATE:
		if (parse_number(arg, &d, &end) || *end || d <= 0 || d > 1e7)
			return bad_value(err, errlen, flag, arg, "connections per second > 0");
		cfg->conn_rate = d;
		return 0;
	case OPT_REQS_PER_CONN:
		if (parse_u64(arg, 1, 1000000, &u))
			return bad_value(err, errlen, flag, arg, "an integer 1..1000000");
		cfg->reqs_per_conn = (unsigned)u;
		return 0;
	case OPT_PROGRESS:
		cfg->progress = true;
		return 0;
	case OPT_TIMELINE:
		cfg->timeline = true;
		return 0;
	case OPT_LATENCY_DIST:
		if (!*arg)
			return bad_value(err, errlen, flag, arg, "a file name");
		cfg->latency_dist = arg;
		return 0;
	}
	snprintf(err, errlen, "internal: unhandled option %d", opt);
	return -1;
}

/* Cross-flag rules, checked once everything is known. */
static int check_combinations(struct config *cfg, const bool *modes_seen, bool conns_set,
			      bool payload_set, char *err, size_t errlen)
{
	int nmodes = modes_seen[MODE_CLOSE] + modes_seen[MODE_STORM] + modes_seen[MODE_IDLE];
	if (nmodes > 1) {
		snprintf(err, errlen, "--close, --storm and --idle are exclusive");
		return -1;
	}
	bool burst = cfg->mode == MODE_STORM || cfg->mode == MODE_IDLE;
	const char *bname = cfg->mode == MODE_STORM ? "--storm" : "--idle";
	if (burst && (conns_set || cfg->requests || cfg->rate > 0 || cfg->pipeline > 1 ||
		      cfg->warmup_s > 0)) {
		snprintf(err, errlen, "%s sets the connection count itself and cannot be combined "
			 "with -c, -n, --rate, --pipeline or --warmup", bname);
		return -1;
	}
	if (cfg->mode == MODE_STORM && cfg->duration_set) {
		snprintf(err, errlen, "--storm runs until every connection is answered; "
			 "use --timeout, not -d");
		return -1;
	}
	if (cfg->linger0 && cfg->mode != MODE_CLOSE) {
		snprintf(err, errlen, "--linger0 only applies to --close");
		return -1;
	}
	if (cfg->pipeline > 1 && (cfg->mode == MODE_CLOSE || cfg->rate > 0)) {
		snprintf(err, errlen, "--pipeline cannot be combined with %s",
			 cfg->mode == MODE_CLOSE ? "--close" : "--rate");
		return -1;
	}
	if (cfg->url.proto == PROTO_TCP && (cfg->nheaders || cfg->mode == MODE_CLOSE)) {
		snprintf(err, errlen, "%s only applies to http:// URLs",
			 cfg->nheaders ? "-H" : "--close");
		return -1;
	}
	bool rpc_set = cfg->reqs_per_conn != 0;
	if (!rpc_set)
		cfg->reqs_per_conn = 1;
	if (cfg->conn_rate > 0 && (cfg->mode != MODE_KEEPALIVE || cfg->rate > 0 ||
				   cfg->pipeline > 1 || cfg->requests)) {
		snprintf(err, errlen, "--conn-rate cannot be combined with --close, --storm, "
			 "--idle, --rate, --pipeline or -n");
		return -1;
	}
	if (rpc_set && cfg->conn_rate <= 0) {
		snprintf(err, errlen, "--reqs-per-conn only applies to --conn-rate");
		return -1;
	}
	if (cfg->url.proto == PROTO_TCP && (cfg->method || cfg->has_body || cfg->ntargets > 1 ||
					    cfg->conn_rate > 0)) {
		snprintf(err, errlen, "-m, --body, --body-string, several URLs and --conn-rate "
			 "only apply to http:// and https:// URLs");
		return -1;
	}
	if (!cfg->method)
		cfg->method = "GET";
	if (cfg->url.proto == PROTO_HTTP && payload_set) {
		snprintf(err, errlen, "--payload only applies to tcp:// URLs");
		return -1;
	}
	if (!cfg->url.tls && (cfg->insecure || cfg->cacert || cfg->tls_resume)) {
		snprintf(err, errlen, "%s only applies to https:// URLs",
			 cfg->insecure ? "--insecure" : cfg->cacert ? "--cacert" : "--tls-resume");
		return -1;
	}
	if (cfg->insecure && cfg->cacert) {
		snprintf(err, errlen, "--insecure and --cacert are exclusive (--cacert verifies)");
		return -1;
	}
	if (cfg->conns < cfg->threads) {
		if (burst) {
			cfg->threads = cfg->conns;
		} else {
			snprintf(err, errlen, "-c %u is less than -t %u: every thread needs a "
				 "connection", cfg->conns, cfg->threads);
			return -1;
		}
	}
	if ((uint64_t)cfg->payload * cfg->pipeline > (64u << 20)) {
		snprintf(err, errlen, "--payload times --pipeline exceeds 64 MiB");
		return -1;
	}
	if (!cfg->duration_set)
		cfg->duration_s = (cfg->requests || cfg->mode == MODE_STORM) ? 0 : 10;
	return 0;
}

static enum args_result parse_all(struct config *cfg, int argc, char **argv, char *err,
				  size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 1;
	cfg->conns = 64;
	cfg->pipeline = 1;
	cfg->payload = 64;
	cfg->timeout_s = 5;
	cfg->mode = MODE_KEEPALIVE;
	err[0] = '\0';

	long nconf = sysconf(_SC_NPROCESSORS_CONF);
	unsigned ncpu = nconf > 0 ? (unsigned)nconf : 1;
	bool modes_seen[4] = { false };
	bool conns_set = false, payload_set = false;
	const char *urls_file = NULL;

	optind = 0; /* GNU: full re-initialisation, so repeated calls work */
	opterr = 0;
	int opt;
	while ((opt = getopt_long(argc, argv, ":t:c:d:n:H:m:hV", longopts, NULL)) != -1) {
		if (opt == 'h')
			return ARGS_HELP;
		if (opt == 'V')
			return ARGS_VERSION;
		if (opt == ':') {
			char fb[32];
			snprintf(err, errlen, "option %s needs a value",
				 optopt ? flag_name(optopt, fb, sizeof(fb)) : argv[optind - 1]);
			return ARGS_ERROR;
		}
		if (opt == '?') {
			if (optopt)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return ARGS_ERROR;
		}
		if (opt == 'c')
			conns_set = true;
		if (opt == OPT_PAYLOAD)
			payload_set = true;
		if (one_option(cfg, opt, optarg, ncpu, modes_seen, &urls_file, err, errlen))
			return ARGS_ERROR;
	}
	if (optind >= argc && !urls_file) {
		snprintf(err, errlen, "missing URL");
		return ARGS_ERROR;
	}
	for (int i = optind; i < argc; i++)
		if (urls_add(cfg, argv[i], 1, err, errlen))
			return ARGS_ERROR;
	if (urls_file && urls_load(cfg, urls_file, err, errlen))
		return ARGS_ERROR;
	if (check_combinations(cfg, modes_seen, conns_set, payload_set, err, errlen))
		return ARGS_ERROR;
	return ARGS_OK;
}

void config_free(struct config *cfg)
{
	for (unsigned i = 0; i < cfg->ntargets; i++)
		if (cfg->targets[i].owned_arg)
			free((char *)cfg->targets[i].arg);
	free(cfg->body);
	cfg->body = NULL;
	cfg->has_body = false;
	cfg->ntargets = 0;
}

enum args_result args_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	enum args_result r = parse_all(cfg, argc, argv, err, errlen);
	/* only a configuration to run with holds anything to free */
	if (r != ARGS_OK)
		config_free(cfg);
	return r;
}
