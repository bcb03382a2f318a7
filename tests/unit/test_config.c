#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balance/control.h"
#include "core/config.h"
#include "net/listen.h"

static struct herd_config cfg;
static char err[256];

static enum config_result parse(int argc, char **argv)
{
	FILE *sink = fopen("/dev/null", "w");
	enum config_result r = config_parse(&cfg, argc, argv, sink, err, sizeof(err));
	fclose(sink);
	return r;
}

#define PARSE(...)                                                          \
	({                                                                  \
		char *argv_[] = {"herd", __VA_ARGS__};                      \
		parse((int)(sizeof(argv_) / sizeof(argv_[0])), argv_);      \
	})

Test(config, defaults)
{
	char *argv[] = {"herd"};
	cr_assert_eq(parse(1, argv), CONFIG_OK);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&cfg.listens[0].addr.ss;
	cr_assert_eq(sin->sin_family, AF_INET);
	cr_assert_eq(ntohs(sin->sin_port), 8080);
	cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	cr_assert_eq(cfg.backlog, 4096);
	cr_assert_eq(cfg.proto, HERD_PROTO_HTTP);
	cr_assert_eq(cfg.accept, HERD_ACCEPT_EXCLUSIVE);
	cr_assert_not(cfg.admin_enabled);
	cr_assert_float_eq(cfg.grace_s, 10.0, 1e-9);
	cr_assert_gt(cfg.ncpus, 0);
	cr_assert_eq(cfg.workers, cfg.ncpus, "one worker per CPU by default");
}

Test(config, all_flags_both_spellings)
{
	cr_assert_eq(PARSE("--listen", "127.0.0.1:9000", "--workers=3", "--cpus", "0",
			   "--accept=exclusive", "--backlog", "128", "--proto=echo", "--admin",
			   "127.0.0.1:9001", "--grace", "2.5"),
		     CONFIG_OK, "%s", err);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&cfg.listens[0].addr.ss;
	cr_assert_eq(ntohs(sin->sin_port), 9000);
	cr_assert_eq(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(cfg.workers, 3);
	cr_assert_eq(cfg.ncpus, 1);
	cr_assert_eq(cfg.cpus[0], 0);
	cr_assert_eq(cfg.backlog, 128);
	cr_assert_eq(cfg.proto, HERD_PROTO_ECHO);
	cr_assert(cfg.admin_enabled);
	cr_assert_float_eq(cfg.grace_s, 2.5, 1e-9);
}

Test(config, ipv6_listen)
{
	cr_assert_eq(PARSE("--listen", "[::]:8080"), CONFIG_OK);
	cr_assert_eq(cfg.listens[0].addr.ss.ss_family, AF_INET6);
	cr_assert_eq(PARSE("--listen", "[::1]:0"), CONFIG_OK);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&cfg.listens[0].addr.ss;
	cr_assert(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
}

Test(config, bad_values_name_the_flag)
{
	static const struct {
		const char *flag, *value;
	} bad[] = {
		{"--workers", "0"},     {"--workers", "abc"},     {"--workers", "100000"},
		{"--listen", "nope"},   {"--listen", "1.2.3.4"},  {"--listen", "1.2.3.4:70000"},
		{"--listen", "::1:80"}, {"--listen", "[::1]80"},  {"--admin", "host:1"},
		{"--cpus", "1-0"},      {"--cpus", "a"},          {"--cpus", "0,"},
		{"--cpus", "-1"},       {"--backlog", "0"},       {"--proto", "smtp"},
		{"--accept", "magic"},  {"--grace", "-1"},        {"--grace", "soon"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"herd", (char *)bad[i].flag, (char *)bad[i].value};
		cr_assert_eq(parse(3, argv), CONFIG_ERROR, "%s %s accepted", bad[i].flag,
			     bad[i].value);
		cr_assert_not_null(strstr(err, bad[i].flag), "error '%s' does not name %s", err,
				   bad[i].flag);
	}
}

Test(config, unknown_and_missing)
{
	cr_assert_eq(PARSE("--bogus"), CONFIG_ERROR);
	cr_assert_not_null(strstr(err, "--bogus"));
	cr_assert_eq(PARSE("--workers"), CONFIG_ERROR);
	cr_assert_not_null(strstr(err, "--workers"));
	cr_assert_eq(PARSE("stray"), CONFIG_ERROR);
}

Test(config, help_and_version)
{
	cr_assert_eq(PARSE("--help"), CONFIG_EXIT_HELP);
	cr_assert_eq(PARSE("--version"), CONFIG_EXIT_VERSION);
}

Test(config, cpulist)
{
	int cpus[HERD_MAX_CPUS];
	cr_assert_eq(config_parse_cpulist("0-3,6", cpus, HERD_MAX_CPUS), 5);
	int want[] = {0, 1, 2, 3, 6};
	for (int i = 0; i < 5; i++)
		cr_assert_eq(cpus[i], want[i]);
	cr_assert_eq(config_parse_cpulist("6,0-1,1", cpus, HERD_MAX_CPUS), 3, "sorted, deduped");
	cr_assert_eq(cpus[0], 0);
	cr_assert_eq(cpus[2], 6);
	cr_assert_eq(config_parse_cpulist("1", cpus, HERD_MAX_CPUS), 1);
	cr_assert_eq(config_parse_cpulist("", cpus, HERD_MAX_CPUS), -1);
	cr_assert_eq(config_parse_cpulist("3-", cpus, HERD_MAX_CPUS), -1);
	cr_assert_eq(config_parse_cpulist("1,,2", cpus, HERD_MAX_CPUS), -1);
	cr_assert_eq(config_parse_cpulist("4", cpus, 4), -1, "CPU beyond max");
	cr_assert_eq(config_parse_cpulist("0 1", cpus, HERD_MAX_CPUS), -1);
}

Test(config, workers_default_to_cpus)
{
	cr_assert_eq(PARSE("--cpus", "0,1"), CONFIG_OK);
	cr_assert_eq(cfg.workers, 2);
	cr_assert_eq(PARSE("--cpus", "0", "--workers", "4"), CONFIG_OK);
	cr_assert_eq(cfg.workers, 4, "more workers than CPUs is allowed");
}

Test(config, scaling_range)
{
	cr_assert_eq(PARSE("--cpus", "0,1"), CONFIG_OK);
	cr_assert_eq(cfg.min_workers, 2);
	cr_assert_eq(cfg.max_workers, 2, "static by default");
	cr_assert_eq(PARSE("--cpus", "0,1", "--min-workers", "1", "--max-workers", "4"), CONFIG_OK);
	cr_assert_eq(cfg.workers, 1, "starts at the minimum");
	cr_assert_eq(cfg.max_workers, 4);
	cr_assert_eq(PARSE("--workers", "3", "--min-workers", "1", "--max-workers", "4"), CONFIG_OK);
	cr_assert_eq(cfg.workers, 3);
	cr_assert_eq(PARSE("--workers", "5", "--max-workers", "4"), CONFIG_ERROR);
	cr_assert_not_null(strstr(err, "--workers"));
	cr_assert_eq(PARSE("--min-workers", "4", "--max-workers", "2"), CONFIG_ERROR);
	cr_assert_not_null(strstr(err, "--min-workers"));
	cr_assert_eq(PARSE("--scale-interval", "0"), CONFIG_ERROR);
	cr_assert_eq(PARSE("--scale-up-busy", "1.5"), CONFIG_ERROR);
	cr_assert_eq(PARSE("--scale-interval", "0.5", "--scale-up-busy", "0.5",
			   "--scale-down-busy", "0.2", "--scale-queue", "8"),
		     CONFIG_OK);
	cr_assert_float_eq(cfg.scale_interval_s, 0.5, 1e-9);
	cr_assert_eq(cfg.scale_queue, 8);
}

Test(config, procs)
{
	cr_assert_eq(PARSE("--cpus", "0"), CONFIG_OK);
	cr_assert_eq(cfg.procs, 1);
	cr_assert_eq(cfg.min_procs, 1);
	cr_assert_eq(cfg.max_procs, 1, "one process unless asked");

	cr_assert_eq(PARSE("--cpus", "0", "--workers", "4", "--procs", "2"), CONFIG_OK);
	cr_assert_eq(cfg.procs, 2);
	cr_assert_eq(cfg.min_procs, 2);
	cr_assert_eq(cfg.max_procs, 2);

	cr_assert_eq(PARSE("--cpus", "0", "--min-workers", "1", "--max-workers", "4",
			   "--min-procs", "1", "--max-procs=2"),
		     CONFIG_OK);
	cr_assert_eq(cfg.procs, 1, "starts at --min-procs");
	cr_assert_eq(cfg.max_procs, 2);

	cr_assert_eq(PARSE("--cpus", "0", "--workers", "2", "--procs", "3"), CONFIG_ERROR);
	cr_assert(strstr(err, "--procs 3 exceeds --workers 2"), "%s", err);
	cr_assert_eq(PARSE("--cpus", "0", "--workers", "2", "--procs", "2", "--accept",
			   "reuseport"),
		     CONFIG_ERROR);
	cr_assert(strstr(err, "reuseport"), "%s", err);
	cr_assert_eq(PARSE("--cpus", "0", "--workers", "2", "--procs", "2", "--accept",
			   "listener"),
		     CONFIG_OK, "listener works per process: %s", err);
	cr_assert_eq(PARSE("--cpus", "0", "--workers", "4", "--procs", "3", "--max-procs", "2"),
		     CONFIG_ERROR);
	cr_assert(strstr(err, "--procs 3"), "%s", err);
	cr_assert_eq(PARSE("--cpus", "0", "--max-workers", "2", "--max-procs", "3"), CONFIG_ERROR);
	cr_assert(strstr(err, "--max-procs 3 exceeds --max-workers 2"), "%s", err);
	cr_assert_eq(PARSE("--procs", "0"), CONFIG_ERROR);
	cr_assert(strstr(err, "--procs"), "%s", err);
	cr_assert_eq(PARSE("--procs", "65"), CONFIG_ERROR);
}

Test(config, sendfile_on_off)
{
	cr_assert_eq(PARSE("--root", "/srv"), CONFIG_OK);
	cr_assert_not(cfg.no_sendfile, "file bodies go by sendfile by default");
	cr_assert_eq(PARSE("--sendfile", "off"), CONFIG_OK);
	cr_assert(cfg.no_sendfile);
	cr_assert_eq(PARSE("--sendfile=on"), CONFIG_OK);
	cr_assert_not(cfg.no_sendfile);
	cr_assert_eq(PARSE("--sendfile", "maybe"), CONFIG_ERROR);
	cr_assert(strstr(err, "--sendfile") != NULL, "%s", err);
}

static int port_of(const struct herd_listen *l)
{
	return ntohs(((const struct sockaddr_in *)&l->addr.ss)->sin_port);
}

Test(config, listen_repeatable)
{
	cr_assert_eq(PARSE("--listen", "127.0.0.1:9000"), CONFIG_OK, "%s", err);
	cr_assert_eq(cfg.nlisten, 1, "the first --listen replaces the default");
	cr_assert_eq(port_of(&cfg.listens[0]), 9000);
	cr_assert_eq(PARSE("--listen", "127.0.0.1:9000", "--listen=[::1]:9000", "--listen",
			   "127.0.0.1:0", "--listen", "127.0.0.1:0"),
		     CONFIG_OK, "%s", err);
	cr_assert_eq(cfg.nlisten, 4, "port 0 twice is two ports");
	cr_assert_eq(cfg.listens[1].addr.ss.ss_family, AF_INET6);
	for (int i = 0; i < cfg.nlisten; i++)
		cr_assert_not(cfg.listens[i].tls);
	cr_assert_not(cfg.redirect_https);
	cr_assert_eq(cfg.ntls, 0);
	cr_assert_float_eq(cfg.tls_ticket_rotate_s, 3600, 1e-9);
}

Test(config, listen_duplicates_and_too_many)
{
	cr_assert_eq(PARSE("--listen", "127.0.0.1:9000", "--listen", "127.0.0.1:9000"),
		     CONFIG_ERROR);
	cr_assert(strstr(err, "--listen") && strstr(err, "already"), "%s", err);
	cr_assert_eq(PARSE("--listen", "[::1]:80", "--listen-tls", "[::1]:80", "--tls-cert", "c",
			   "--tls-key", "k"),
		     CONFIG_ERROR);
	cr_assert(strstr(err, "--listen-tls") && strstr(err, "already"), "%s", err);
	cr_assert_eq(PARSE("--listen", "127.0.0.1:1", "--listen", "127.0.0.2:1"), CONFIG_OK,
		     "same port, other address: %s", err);
	char *argv[2 + 2 * (HERD_MAX_LISTEN + 1)];
	char addrs[HERD_MAX_LISTEN + 1][32];
	int n = 0;
	argv[n++] = "herd";
	for (int i = 0; i <= HERD_MAX_LISTEN; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", 9000 + i);
		argv[n++] = "--listen";
		argv[n++] = addrs[i];
	}
	cr_assert_eq(parse(n - 2, argv), CONFIG_OK, "%d listeners: %s", HERD_MAX_LISTEN, err);
	cr_assert_eq(cfg.nlisten, HERD_MAX_LISTEN);
	cr_assert_eq(parse(n, argv), CONFIG_ERROR);
	cr_assert(strstr(err, "at most 8"), "%s", err);
}

Test(config, tls_listeners_and_pairs)
{
	cr_assert_eq(PARSE("--listen-tls", "127.0.0.1:8443", "--tls-cert", "a.pem", "--tls-key",
			   "a.key", "--tls-cert=b.pem", "--tls-key=b.key"),
		     CONFIG_OK, "%s", err);
	cr_assert_eq(cfg.nlisten, 1, "only --listen-tls: no plain default listener");
	cr_assert(cfg.listens[0].tls);
	cr_assert_eq(port_of(&cfg.listens[0]), 8443);
	cr_assert_eq(cfg.ntls, 2);
	cr_assert_str_eq(cfg.tls[0].cert, "a.pem");
	cr_assert_str_eq(cfg.tls[0].key, "a.key");
	cr_assert_str_eq(cfg.tls[1].cert, "b.pem");
	cr_assert_str_eq(cfg.tls[1].key, "b.key");

	cr_assert_eq(PARSE("--tls-key", "a.key", "--listen", "127.0.0.1:80", "--tls-cert",
			   "a.pem", "--listen-tls", "127.0.0.1:443", "--redirect-https",
			   "--tls-ticket-rotate", "60"),
		     CONFIG_OK, "pairs in order, whatever the flags between: %s", err);
	cr_assert_eq(cfg.nlisten, 2);
	cr_assert_not(cfg.listens[0].tls);
	cr_assert(cfg.listens[1].tls);
	cr_assert_eq(cfg.ntls, 1);
	cr_assert_str_eq(cfg.tls[0].cert, "a.pem");
	cr_assert_str_eq(cfg.tls[0].key, "a.key");
	cr_assert(cfg.redirect_https);
	cr_assert_float_eq(cfg.tls_ticket_rotate_s, 60, 1e-9);
}

Test(config, tls_bad_combinations)
{
	static const struct {
		const char *args[10];
		const char *says;
	} bad[] = {
		{{"--listen-tls", "127.0.0.1:443"}, "--listen-tls needs a certificate"},
		{{"--listen-tls", ":443", "--tls-cert", "a.pem"}, "1 --tls-cert but 0 --tls-key"},
		{{"--listen-tls", ":443", "--tls-cert", "a", "--tls-key", "k", "--tls-key", "k2"},
		 "1 --tls-cert but 2 --tls-key"},
		{{"--tls-cert", "a.pem", "--tls-key", "a.key"}, "no --listen-tls"},
		{{"--listen", ":80", "--tls-cert", "a", "--tls-key", "k"}, "no --listen-tls"},
		{{"--redirect-https"}, "--redirect-https needs a --listen-tls"},
		{{"--redirect-https=yes"}, "--redirect-https takes no value"},
		{{"--tls-ticket-rotate", "0"}, "--tls-ticket-rotate"},
		{{"--tls-ticket-rotate", "-5"}, "--tls-ticket-rotate"},
		{{"--tls-ticket-rotate", "soon"}, "--tls-ticket-rotate"},
		{{"--listen-tls", "nope"}, "bad --listen-tls 'nope'"},
		{{"--tls-cert", ""}, "bad --tls-cert ''"},
		{{"--listen-tls"}, "'--listen-tls' needs a value"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[12] = {"herd"};
		int n = 1;
		while (bad[i].args[n - 1])
			argv[n] = (char *)bad[i].args[n - 1], n++;
		cr_assert_eq(parse(n, argv), CONFIG_ERROR, "case %zu (%s) accepted", i, argv[1]);
		cr_assert(strstr(err, bad[i].says), "case %zu: '%s' does not say '%s'", i, err,
			  bad[i].says);
	}
}

Test(config, help_lists_the_listener_flags)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	config_usage(out);
	fclose(out);
	const char *flags[] = {"--listen HOST", "--listen-tls", "--tls-cert", "--tls-key",
			       "--redirect-https", "--tls-ticket-rotate"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		cr_assert(strstr(text, flags[i]), "--help lacks %s", flags[i]);
	free(text);
}

/* Socket activation: which LISTEN_FDNAMES names mark a TLS socket. */
Test(config, activation_names)
{
	static const struct {
		const char *name;
		bool tls;
	} cases[] = {{"tls", true},     {"https", true}, {"tls-alt", true}, {"https2", true},
		     {"http", false},   {"web", false},  {"", false},       {"tl", false},
		     {"xtls", false},   {"HTTPS", false}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(listen_name_is_tls(cases[i].name, strlen(cases[i].name)), cases[i].tls,
			     "'%s'", cases[i].name);
	/* A name is a slice of the colon-separated list. */
	cr_assert_not(listen_name_is_tls("tl:s", 2));
	cr_assert(listen_name_is_tls("https:web", 5));
}

/* What a handler process is told of its listeners survives the variable. */
Test(config, handler_env_listeners)
{
	struct handler_env he = {.slot = 1, .gen = 2, .bank = 1, .supervisor = 42, .nlisten = 3,
				 .shm_fd = 7, .ctl_fd = 8, .workers = 2, .cpus = "0-1"};
	he.listeners[0] = (struct herd_listener){.fd = 3};
	he.listeners[1] = (struct herd_listener){.fd = 4, .tls = true};
	he.listeners[2] = (struct herd_listener){.fd = 15};
	char buf[512];
	cr_assert_eq(handler_format(&he, buf, sizeof(buf)), 0);
	struct handler_env back;
	cr_assert_eq(handler_parse(buf, &back), 0, "%s", buf);
	cr_assert_eq(back.nlisten, 3, "%s", buf);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(back.listeners[i].fd, he.listeners[i].fd, "%s", buf);
		cr_assert_eq(back.listeners[i].tls, he.listeners[i].tls, "%s", buf);
	}
	cr_assert_eq(back.shm_fd, 7);
	cr_assert_eq(back.ctl_fd, 8);
	cr_assert_eq(back.workers, 2);
	cr_assert_str_eq(back.cpus, "0-1");
	cr_assert_eq(back.supervisor, 42);
	cr_assert_neq(handler_parse("1:2:1:42::7:8:2:0", &back), 0, "no listener");
	cr_assert_neq(handler_parse("1:2:1:42:3x:7:8:2:0", &back), 0, "bad listener");
}

Test(config, proxy_defaults)
{
	cr_assert_eq(PARSE("--listen", "127.0.0.1:0"), CONFIG_OK, "%s", err);
	cr_assert_eq(cfg.proxy.nroutes, 0);
	cr_assert_eq(cfg.proxy_idle, 64);
	cr_assert_float_eq(cfg.proxy_idle_timeout_s, 30, 1e-9);
	cr_assert_float_eq(cfg.proxy_connect_timeout_s, 5, 1e-9);
	cr_assert_float_eq(cfg.proxy_timeout_s, 60, 1e-9);
	cr_assert_float_eq(cfg.proxy_health_interval_s, 2, 1e-9);
	cr_assert_null(cfg.proxy_health);
}

Test(config, proxy_flags_both_spellings)
{
	cr_assert_eq(PARSE("--proxy", "/api/=http://127.0.0.1:3000,http://[::1]:3001",
			   "--proxy-strip=/app=unix:/run/app.sock", "--proxy-idle=0",
			   "--proxy-idle-timeout", "7.5", "--proxy-connect-timeout=0.5",
			   "--proxy-timeout", "120", "--proxy-health=/healthz",
			   "--proxy-health-interval", "0.1"),
		     CONFIG_OK, "%s", err);
	cr_assert_eq(cfg.proxy.nroutes, 2);
	cr_assert_eq(cfg.proxy.naddrs, 3);
	cr_assert_not(cfg.proxy.routes[0].strip);
	cr_assert(cfg.proxy.routes[1].strip);
	cr_assert_str_eq(cfg.proxy.addrs[2].name, "unix:/run/app.sock");
	cr_assert_eq(cfg.proxy_idle, 0);
	cr_assert_float_eq(cfg.proxy_idle_timeout_s, 7.5, 1e-9);
	cr_assert_float_eq(cfg.proxy_connect_timeout_s, 0.5, 1e-9);
	cr_assert_float_eq(cfg.proxy_timeout_s, 120, 1e-9);
	cr_assert_str_eq(cfg.proxy_health, "/healthz");
	cr_assert_float_eq(cfg.proxy_health_interval_s, 0.1, 1e-9);
	cr_assert_eq(config_ms(cfg.proxy_connect_timeout_s), 500);
}

Test(config, proxy_routes_do_not_leak_between_parses)
{
	cr_assert_eq(PARSE("--proxy", "/a=http://127.0.0.1:1"), CONFIG_OK, "%s", err);
	cr_assert_eq(PARSE("--proxy", "/a=http://127.0.0.1:1"), CONFIG_OK,
		     "a second parse starts from an empty table: %s", err);
	cr_assert_eq(cfg.proxy.nroutes, 1);
}

Test(config, proxy_bad_values)
{
	static const struct {
		const char *flag, *value, *says;
	} bad[] = {
		{"--proxy", "/=https://127.0.0.1:1", "https"},
		{"--proxy", "/=http://example.com", "DNS"},
		{"--proxy", "api=http://127.0.0.1:1", "'/'"},
		{"--proxy-strip", "/x=http://1.2.3.4/path", "path"},
		{"--proxy-idle", "-1", "0..1024"},
		{"--proxy-idle", "1025", "0..1024"},
		{"--proxy-idle", "x", "0..1024"},
		{"--proxy-idle-timeout", "0", "--proxy-idle-timeout"},
		{"--proxy-connect-timeout", "abc", "--proxy-connect-timeout"},
		{"--proxy-timeout", "-5", "--proxy-timeout"},
		{"--proxy-health", "health", "'/'"},
		{"--proxy-health", "/a b", "control"},
		{"--proxy-health-interval", "0.05", "0.1..3600"},
		{"--proxy-health-interval", "3601", "0.1..3600"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = {"herd", "--proxy", "/base/=http://127.0.0.1:9", (char *)bad[i].flag,
				(char *)bad[i].value};
		cr_assert_eq(parse(5, argv), CONFIG_ERROR, "%s %s", bad[i].flag, bad[i].value);
		cr_assert(strstr(err, bad[i].flag), "%s names the flag: %s", bad[i].flag, err);
		cr_assert(strstr(err, bad[i].says), "%s %s: %s", bad[i].flag, bad[i].value, err);
	}
	cr_assert_eq(PARSE("--proxy", "/=http://127.0.0.1:1", "--proxy", "/=http://127.0.0.1:2"),
		     CONFIG_ERROR);
	cr_assert(strstr(err, "already routed"), "%s", err);
}

Test(config, proxy_combinations)
{
	cr_assert_eq(PARSE("--proto", "echo", "--proxy", "/=http://127.0.0.1:1"), CONFIG_ERROR);
	cr_assert(strstr(err, "--proxy") && strstr(err, "echo"), "%s", err);
	cr_assert_eq(PARSE("--proxy-idle", "4", "--proto=echo"), CONFIG_ERROR);
	cr_assert(strstr(err, "--proxy-idle") && strstr(err, "echo"), "%s", err);
	cr_assert_eq(PARSE("--proxy-health", "/health"), CONFIG_ERROR);
	cr_assert(strstr(err, "--proxy-health needs"), "%s", err);
	cr_assert_eq(PARSE("--proxy-strip", "/s=http://127.0.0.1:1", "--proxy-health", "/h"),
		     CONFIG_OK, "%s", err);
	cr_assert_eq(PARSE("--proxy-timeout", "3"), CONFIG_OK,
		     "tuning alone is harmless with http: %s", err);
}

Test(config, proxy_in_usage)
{
	char buf[8192] = "";
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");
	config_usage(f);
	fclose(f);
	static const char *const flags[] = {"--proxy ", "--proxy-strip ", "--proxy-idle ",
		"--proxy-idle-timeout ", "--proxy-connect-timeout ", "--proxy-timeout ",
		"--proxy-health ", "--proxy-health-interval "};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		cr_assert(strstr(buf, flags[i]), "usage lists %s", flags[i]);
}
