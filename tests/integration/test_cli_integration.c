/* Command line: flag syntax, exit codes, bind errors, IPv6 listen, the
 * listener and TLS flags. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN "Hello, World!"

TestSuite(cli, .fini = harness_fini, .timeout = 20);

static struct herd srv;

/* Runs herd with args, asserts exit code `code`, returns stderr. */
static char *run_expect(int code, const char *const *args, const char *what)
{
	char *out, *err;
	int st = herd_run(args, 5000, &out, &err);
	cr_assert_neq(st, -1, "%s: still running after 5 s", what);
	cr_assert(WIFEXITED(st), "%s: killed by signal %d\nstderr: %s", what,
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0, err);
	cr_assert_eq(WEXITSTATUS(st), code, "%s: exit %d, want %d\nstderr: %s", what,
		     WEXITSTATUS(st), code, err);
	if (code != 0)
		cr_assert_str_empty(out, "%s: error output went to stdout: %s", what, out);
	free(out);
	return err;
}

static void bad_flag(const char *const *args, const char *mention)
{
	char what[128] = "herd";
	for (const char *const *a = args; *a; a++)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " %s", *a);
	char *err = run_expect(2, args, what);
	cr_assert(strstr(err, mention), "%s: stderr does not mention '%s':\n%s", what, mention, err);
	cr_assert(strcasestr(err, "usage"), "%s: stderr has no usage:\n%s", what, err);
	free(err);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

HTEST(cli, workers_zero)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--workers", "0"), "workers");
}

HTEST(cli, workers_not_a_number)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--workers", "abc"), "workers");
}

HTEST(cli, unknown_flag)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--bogus"), "bogus");
}

HTEST(cli, bad_listen_address)
{
	bad_flag(ARGS("--listen", "nope"), "listen");
}

HTEST(cli, bad_proto)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--proto", "smtp"), "proto");
}

HTEST(cli, bad_accept_mode)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--accept", "nope"), "accept");
}

HTEST(cli, bad_cpu_list)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--cpus", "x-y"), "cpus");
}

HTEST(cli, bad_admin_address)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--admin", "127.0.0.1:99999"), "admin");
}

HTEST(cli, bad_flag_equals_form)
{
	bad_flag(ARGS("--listen=127.0.0.1:0", "--workers=-3"), "workers");
}

HTEST(cli, missing_value)
{
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--workers"), "workers");
}

HTEST(cli, help_exits_0)
{
	char *out, *err;
	int st = herd_run(ARGS("--help"), 5000, &out, &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "--help: status 0x%x", st);
	cr_assert(strcasestr(out, "usage") || strcasestr(err, "usage"), "--help prints no usage");
	cr_assert(strstr(out, "--listen") || strstr(err, "--listen"), "--help does not list --listen");
	free(out);
	free(err);
}

HTEST(cli, version_exits_0)
{
	char *out, *err;
	int st = herd_run(ARGS("--version"), 5000, &out, &err);
	cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "--version: status 0x%x", st);
	cr_assert(*out || *err, "--version printed nothing");
	free(out);
	free(err);
}

HTEST(cli, port_in_use_exits_1)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s, 8), 0);
	getsockname(s, (struct sockaddr *)&a, &len);
	char listen_arg[64], port[16];
	snprintf(port, sizeof(port), "%d", ntohs(a.sin_port));
	snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%s", port);
	char *err = run_expect(1, ARGS("--listen", listen_arg), "listen on a port in use");
	cr_assert(strstr(err, port) || strcasestr(err, "in use"),
		  "stderr does not say which address is in use:\n%s", err);
	char *nl = strchr(err, '\n');
	cr_assert(!nl || !nl[1], "want one line on stderr, got:\n%s", err);
	free(err);
	close(s);
}

/* Both syntaxes, and every flag that takes a value, accepted together. */
HTEST(cli, equals_and_space_forms)
{
	herd_start_accept(&srv, NULL,
			  ARGS("--listen=127.0.0.1:0", "--workers=3", "--backlog", "64",
			       "--proto=http", "--admin=127.0.0.1:0", "--grace=1", "--cpus=0"));
	h_assert_get(srv.port, "/plaintext", PLAIN);
	char *m = h_metrics(srv.admin_port);
	cr_assert(m);
	long long v;
	cr_assert_eq(h_metric_sum(m, "herd_workers", &v), 1);
	cr_assert_eq(v, 3, "--workers=3 gave herd_workers %lld", v);
	free(m);
}

HTEST(cli, default_workers_one_per_cpu)
{
	herd_start(&srv, "--admin", "127.0.0.1:0");
	char *m = h_metrics(srv.admin_port);
	cr_assert(m);
	long long v;
	cr_assert_eq(h_metric_sum(m, "herd_workers", &v), 1);
	cpu_set_t set;
	sched_getaffinity(0, sizeof(set), &set);
	cr_assert_eq(v, CPU_COUNT(&set), "herd_workers %lld without --workers, want one per CPU", v);
	free(m);
}

/* The listener and TLS flags: each bad combination exits 2 naming it. */
HTEST(cli, bad_listener_and_tls_flags)
{
	bad_flag(ARGS("--listen", "127.0.0.1:8080", "--listen", "127.0.0.1:8080"), "already");
	bad_flag(ARGS("--listen-tls", "127.0.0.1:0"), "--listen-tls needs a certificate");
	bad_flag(ARGS("--listen-tls", "127.0.0.1:0", "--tls-cert", "c.pem"),
		 "1 --tls-cert but 0 --tls-key");
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--tls-cert", "c.pem", "--tls-key", "k.pem"),
		 "no --listen-tls");
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--redirect-https"), "--redirect-https");
	bad_flag(ARGS("--listen", "127.0.0.1:0", "--tls-ticket-rotate", "0"),
		 "--tls-ticket-rotate");
	bad_flag(ARGS("--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--listen",
		      "127.0.0.1:3", "--listen", "127.0.0.1:4", "--listen", "127.0.0.1:5",
		      "--listen", "127.0.0.1:6", "--listen", "127.0.0.1:7", "--listen",
		      "127.0.0.1:8", "--listen", "127.0.0.1:9"),
		 "at most 8");
}

HTEST(cli, ipv6_listen)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool have_v6 = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	if (!have_v6) {
		harness_passed();
		cr_skip_test("::1 is not available");
	}
	herd_start(&srv, "--listen", "[::1]:0", "--workers", "1");
	int fd = h_connect_host("::1", srv.port, 0);
	cr_assert(fd >= 0, "connect to [::1]:%d", srv.port);
	struct h_conn c;
	h_conn_init(&c, fd);
	cr_assert_eq(h_send_str(fd, "GET /plaintext HTTP/1.1\r\nHost: [::1]\r\n\r\n"), 0);
	struct h_resp r;
	int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS);
	cr_assert_eq(rc, H_OK, "%s", h_result_str(rc));
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, PLAIN);
	h_resp_free(&r);
	h_conn_close(&c);
}
