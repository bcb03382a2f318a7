#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"

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
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&cfg.listen.ss;
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
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&cfg.listen.ss;
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
	cr_assert_eq(cfg.listen.ss.ss_family, AF_INET6);
	cr_assert_eq(PARSE("--listen", "[::1]:0"), CONFIG_OK);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&cfg.listen.ss;
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
