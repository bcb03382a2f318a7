/* herd-load URL and command line parsing. */
#include <criterion/criterion.h>
#include <string.h>

#include "args.h"
#include "url.h"

static char err[512];

Test(load_url, http_with_path)
{
	struct url u;
	cr_assert_eq(url_parse(&u, "http://127.0.0.1:8080/a/b?x=1", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(u.proto, PROTO_HTTP);
	cr_expect_str_eq(u.host, "127.0.0.1");
	cr_expect_eq(u.port, 8080);
	cr_expect_str_eq(u.path, "/a/b?x=1");
	cr_expect_str_eq(u.hostport, "127.0.0.1:8080");
}

Test(load_url, default_path_is_slash)
{
	struct url u;
	cr_assert_eq(url_parse(&u, "http://localhost:80", err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(u.path, "/");
	cr_expect_str_eq(u.host, "localhost");
	cr_assert_eq(url_parse(&u, "http://localhost:80/#frag", err, sizeof(err)), 0);
	cr_expect_str_eq(u.path, "/");
}

Test(load_url, ipv6_literal)
{
	struct url u;
	cr_assert_eq(url_parse(&u, "http://[::1]:8081/x", err, sizeof(err)), 0, "%s", err);
	cr_expect(u.ipv6_literal);
	cr_expect_str_eq(u.host, "::1");
	cr_expect_eq(u.port, 8081);
	cr_expect_str_eq(u.hostport, "[::1]:8081");
	cr_expect_str_eq(u.path, "/x");
}

Test(load_url, tcp_echo)
{
	struct url u;
	cr_assert_eq(url_parse(&u, "tcp://127.0.0.1:9000", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(u.proto, PROTO_TCP);
	cr_expect_eq(u.port, 9000);
	cr_assert_eq(url_parse(&u, "tcp://127.0.0.1:9000/", err, sizeof(err)), 0);
	cr_expect_eq(url_parse(&u, "tcp://127.0.0.1:9000/path", err, sizeof(err)), -1);
}

Test(load_url, https)
{
	struct url u;
	cr_assert_eq(url_parse(&u, "https://localhost:8443/x", err, sizeof(err)), 0, "%s", err);
	cr_expect(u.tls);
	cr_expect_eq(u.proto, PROTO_HTTP);
	cr_expect_eq(u.port, 8443);
	cr_expect_str_eq(u.path, "/x");
	cr_assert_eq(url_parse(&u, "https://example.com/a", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(u.port, 443, "https has a default port");
	cr_expect_str_eq(u.port_str, "443");
	cr_expect_str_eq(u.hostport, "example.com:443");
	cr_expect_str_eq(u.path, "/a");
	cr_assert_eq(url_parse(&u, "https://[::1]", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(u.port, 443);
	cr_expect_str_eq(u.path, "/");
	cr_assert_eq(url_parse(&u, "http://h:80/", err, sizeof(err)), 0, "%s", err);
	cr_expect_not(u.tls);
	cr_expect_eq(url_parse(&u, "https://h?x", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "https://h:0/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "https://:443/", err, sizeof(err)), -1);
}

Test(load_url, errors)
{
	struct url u;
	cr_expect_eq(url_parse(&u, "ftp://h:21/", err, sizeof(err)), -1);
	cr_expect(strstr(err, "scheme"), "%s", err);
	cr_expect_eq(url_parse(&u, "127.0.0.1:80", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://host/", err, sizeof(err)), -1);
	cr_expect(strstr(err, "missing port"), "%s", err);
	cr_expect_eq(url_parse(&u, "http://host", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://host:/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://host:0/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://host:65536/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://host:80x/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://:80/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://[::1/", err, sizeof(err)), -1);
	cr_expect_eq(url_parse(&u, "http://h:80/a b", err, sizeof(err)), -1);
}

/* argv from a string literal list; args_parse keeps pointers into it */
#define PARSE(cfg, ...) ({ char *argv_[] = { "herd-load", __VA_ARGS__, NULL }; \
	args_parse(cfg, (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, err, sizeof(err)); })

Test(load_args, defaults)
{
	struct config c;
	cr_assert_eq(PARSE(&c, "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.threads, 1);
	cr_expect_eq(c.conns, 64);
	cr_expect_eq(c.duration_s, 10);
	cr_expect_eq(c.timeout_s, 5);
	cr_expect_eq(c.pipeline, 1);
	cr_expect_eq(c.payload, 64);
	cr_expect_eq(c.mode, MODE_KEEPALIVE);
	cr_expect_eq(c.requests, 0);
}

Test(load_args, good_values)
{
	struct config c;
	cr_assert_eq(PARSE(&c, "-t", "2", "-c", "10", "-d", "500ms", "--warmup", "1",
			   "-H", "X-A: 1", "--header", "X-B: 2", "--timeout", "2.5",
			   "--pipeline", "4", "--json", "/tmp/x.json", "http://127.0.0.1:1/"),
		  ARGS_OK, "%s", err);
	cr_expect_eq(c.threads, 2);
	cr_expect_eq(c.conns, 10);
	cr_expect_eq(c.duration_s, 0.5);
	cr_expect_eq(c.warmup_s, 1);
	cr_expect_eq(c.nheaders, 2);
	cr_expect_str_eq(c.headers[1], "X-B: 2");
	cr_expect_eq(c.timeout_s, 2.5);
	cr_expect_eq(c.pipeline, 4);
	cr_expect_str_eq(c.json_path, "/tmp/x.json");

	cr_assert_eq(PARSE(&c, "-n", "5000", "--close", "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.requests, 5000);
	cr_expect_eq(c.mode, MODE_CLOSE);
	cr_expect_eq(c.duration_s, 0, "-n alone sets no time limit");

	cr_assert_eq(PARSE(&c, "--rate", "2000", "-d", "3", "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.rate, 2000);
	cr_assert_eq(PARSE(&c, "--storm", "100", "-t", "4", "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.mode, MODE_STORM);
	cr_expect_eq(c.conns, 100);
	cr_assert_eq(PARSE(&c, "--idle", "3", "-t", "4", "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.threads, 3, "threads are capped at the connection count");
	cr_assert_eq(PARSE(&c, "--payload", "1000", "tcp://127.0.0.1:1"), ARGS_OK, "%s", err);
	cr_expect_eq(c.payload, 1000);
	cr_assert_eq(PARSE(&c, "--cpus", "0", "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.ncpus, 1);
	cr_expect_eq(PARSE(&c, "--help"), ARGS_HELP);
	cr_expect_eq(PARSE(&c, "--version"), ARGS_VERSION);
}

static void expect_bad(enum args_result r, const char *needle)
{
	cr_expect_eq(r, ARGS_ERROR);
	cr_expect(strstr(err, needle), "message '%s' should mention '%s'", err, needle);
}

Test(load_args, bad_values_name_the_flag)
{
	struct config c;
	expect_bad(PARSE(&c, "-t", "0", "http://127.0.0.1:1/"), "-t");
	expect_bad(PARSE(&c, "-t", "abc", "http://127.0.0.1:1/"), "'abc'");
	expect_bad(PARSE(&c, "-c", "-5", "http://127.0.0.1:1/"), "-c");
	expect_bad(PARSE(&c, "-c", "1", "-t", "2", "http://127.0.0.1:1/"), "-c 1");
	expect_bad(PARSE(&c, "-d", "soon", "http://127.0.0.1:1/"), "-d");
	expect_bad(PARSE(&c, "-d", "0", "http://127.0.0.1:1/"), "-d");
	expect_bad(PARSE(&c, "-n", "0", "http://127.0.0.1:1/"), "-n");
	expect_bad(PARSE(&c, "--pipeline", "0", "http://127.0.0.1:1/"), "--pipeline");
	expect_bad(PARSE(&c, "--rate", "fast", "http://127.0.0.1:1/"), "--rate");
	expect_bad(PARSE(&c, "--timeout", "0", "http://127.0.0.1:1/"), "--timeout");
	expect_bad(PARSE(&c, "-H", "novalue", "http://127.0.0.1:1/"), "-H");
	expect_bad(PARSE(&c, "--cpus", "1-0", "http://127.0.0.1:1/"), "--cpus");
	expect_bad(PARSE(&c, "--cpus", "99999", "http://127.0.0.1:1/"), "--cpus");
	expect_bad(PARSE(&c, "--bogus", "http://127.0.0.1:1/"), "--bogus");
	expect_bad(PARSE(&c, "http://127.0.0.1:1/", "-t"), "-t");
	expect_bad(PARSE(&c, "-t", "1"), "missing URL");
	expect_bad(PARSE(&c, "http://a:1/", "http://b:1/"), "not on");
	expect_bad(PARSE(&c, "--close", "--storm", "5", "http://127.0.0.1:1/"), "exclusive");
	expect_bad(PARSE(&c, "--close", "--pipeline", "2", "http://127.0.0.1:1/"), "--pipeline");
	expect_bad(PARSE(&c, "--rate", "10", "--pipeline", "2", "http://127.0.0.1:1/"), "--rate");
	expect_bad(PARSE(&c, "--storm", "5", "-n", "3", "http://127.0.0.1:1/"), "--storm");
	expect_bad(PARSE(&c, "--payload", "10", "http://127.0.0.1:1/"), "--payload");
	expect_bad(PARSE(&c, "--close", "tcp://127.0.0.1:1"), "--close");
	expect_bad(PARSE(&c, "--linger0", "http://127.0.0.1:1/"), "--linger0");
	expect_bad(PARSE(&c, "http://127.0.0.1/"), "missing port");
}

Test(load_args, tls_flags)
{
	struct config c;
	cr_assert_eq(PARSE(&c, "https://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_not(c.insecure);
	cr_expect_null(c.cacert);
	cr_expect_not(c.tls_resume, "default: full handshakes, verified by the system's CAs");
	cr_assert_eq(PARSE(&c, "--insecure", "https://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect(c.insecure);
	cr_assert_eq(PARSE(&c, "--cacert", "/tmp/ca.pem", "--close", "--tls-resume",
			   "https://localhost:1/"), ARGS_OK, "%s", err);
	cr_expect_str_eq(c.cacert, "/tmp/ca.pem");
	cr_expect(c.tls_resume);
	cr_expect_eq(c.mode, MODE_CLOSE);
	cr_assert_eq(PARSE(&c, "--tls-resume", "--storm", "10", "https://localhost/"), ARGS_OK,
		     "%s", err);
	cr_expect_eq(c.url.port, 443);

	expect_bad(PARSE(&c, "--insecure", "http://127.0.0.1:1/"), "--insecure");
	expect_bad(PARSE(&c, "--cacert", "x.pem", "http://127.0.0.1:1/"), "--cacert");
	expect_bad(PARSE(&c, "--tls-resume", "tcp://127.0.0.1:1"), "--tls-resume");
	expect_bad(PARSE(&c, "--insecure", "--cacert", "x.pem", "https://h:1/"), "exclusive");
	expect_bad(PARSE(&c, "--cacert", "", "https://h:1/"), "--cacert");
	expect_bad(PARSE(&c, "https://h:1/", "--cacert"), "--cacert");
	expect_bad(PARSE(&c, "ftp://h:1/"), "https://");
}

Test(load_args, cpu_lists)
{
	int cpus[16];
	cr_assert_eq(args_parse_cpus("0-3,6", cpus, 16, 8, err, sizeof(err)), 5, "%s", err);
	cr_expect_eq(cpus[0], 0);
	cr_expect_eq(cpus[3], 3);
	cr_expect_eq(cpus[4], 6);
	cr_expect_eq(args_parse_cpus("1", cpus, 16, 2, err, sizeof(err)), 1);
	cr_expect_eq(args_parse_cpus("2", cpus, 16, 2, err, sizeof(err)), -1);
	cr_expect_eq(args_parse_cpus("0,", cpus, 16, 8, err, sizeof(err)), -1);
	cr_expect_eq(args_parse_cpus("a", cpus, 16, 8, err, sizeof(err)), -1);
	cr_expect_eq(args_parse_cpus("", cpus, 16, 8, err, sizeof(err)), -1);
	cr_expect_eq(args_parse_cpus("0-7", cpus, 4, 8, err, sizeof(err)), -1);
}

Test(load_args, seconds)
{
	double d;
	cr_expect(args_parse_seconds("10", &d) == 0 && d == 10);
	cr_expect(args_parse_seconds("1.5", &d) == 0 && d == 1.5);
	cr_expect(args_parse_seconds("250ms", &d) == 0 && d == 0.25);
	cr_expect(args_parse_seconds("3s", &d) == 0 && d == 3);
	cr_expect(args_parse_seconds("2m", &d) == 0 && d == 120);
	cr_expect_eq(args_parse_seconds("-1", &d), -1);
	cr_expect_eq(args_parse_seconds("5h", &d), -1);
	cr_expect_eq(args_parse_seconds("", &d), -1);
	cr_expect_eq(args_parse_seconds("nan", &d), -1);
}
