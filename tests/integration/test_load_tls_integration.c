/*
 * herd-load over TLS, end to end: against nginx with TLS and a certificate
 * made for the test with the openssl CLI (herd's own TLS is not needed), and
 * against tiny forked servers that break TLS on purpose.  The binary comes
 * from $HERD_LOAD; without nginx or openssl the nginx tests are skipped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness_spawn.h"

static char dir[64];         /* scratch: certificate, nginx prefix, JSON, stderr */
static char cert[128];
static int port;
static pid_t nginx_pid;

static bool have(const char *tool)
{
	const char *argv[] = { tool, "-v", NULL };
	pid_t pid = h_spawn(argv, &(struct h_spawn_opts){ .path = true, .out = H_DEVNULL,
							  .err = H_DEVNULL });
	int st;
	return h_child_wait(pid, 10000, &st) && WIFEXITED(st) && WEXITSTATUS(st) != 127;
}

static int run_tool(const char *const *argv, int limit_s, const char *out_path)
{
	int fd = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)
			  : H_DEVNULL;
	cr_assert(fd != -1 || !out_path, "cannot write %s: %s", out_path, strerror(errno));
	pid_t pid = h_spawn(argv, &(struct h_spawn_opts){ .path = true, .in = H_DEVNULL,
							  .out = fd, .err = fd,
							  .die_with_parent = true });
	if (fd >= 0)
		close(fd);
	int st;
	if (!h_child_wait(pid, limit_s * 1000, &st))
		cr_assert_fail("%s did not finish within %d s", argv[0], limit_s);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	if (!f)
		return strcpy(buf, "");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static bool accepts(int p)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Temp paths compiled into nginx may not be writable by the test: ours. */
static void temp_paths(FILE *conf)
{
	char vpath[128];
	snprintf(vpath, sizeof(vpath), "%s/nginx-V", dir);
	const char *argv[] = { "nginx", "-V", NULL };
	run_tool(argv, 10, vpath);
	const char *v = slurp(vpath);
	const char *mods[] = { "client_body", "proxy", "fastcgi", "uwsgi", "scgi" };
	for (size_t i = 0; i < sizeof(mods) / sizeof(mods[0]); i++) {
		char flag[64];
		snprintf(flag, sizeof(flag), "--http-%s-temp-path", mods[i]);
		if (i == 0 || strstr(v, flag))
			fprintf(conf, "  %s_temp_path %s/%s;\n", mods[i], dir, mods[i]);
	}
}

static void write_conf(const char *path)
{
	FILE *f = fopen(path, "w");
	cr_assert(f);
	/* the TLS peer of bench/compare --tls: one worker, tickets on */
	fprintf(f, "worker_processes 1;\ndaemon off;\nerror_log %s/error.log;\npid %s/nginx.pid;\n"
		"events { worker_connections 1024; }\nhttp {\n  access_log off;\n", dir, dir);
	temp_paths(f);
	fprintf(f, "  server {\n    listen 127.0.0.1:%d ssl;\n    ssl_certificate %s;\n"
		"    ssl_certificate_key %s/key.pem;\n    ssl_protocols TLSv1.2 TLSv1.3;\n"
		"    ssl_session_tickets on;\n    location / { default_type text/plain; "
		"return 200 \"Hello, World!\"; }\n  }\n}\n", port, cert, dir);
	fclose(f);
}

static void nginx_start(void)
{
	if (!have("nginx") || !have("openssl"))
		cr_skip_test("nginx or openssl is not installed (tests/setup)");
	strcpy(dir, "/tmp/herd-load-tls-XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	chmod(dir, 0755); /* nginx's workers may run as another user */
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	char key[128], log[128], conf[128];
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(log, sizeof(log), "%s/error.log", dir);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	const char *req[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			      "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
			      "/CN=localhost", "-addext",
			      "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key,
			      "-out", cert, NULL };
	cr_assert_eq(run_tool(req, 30, NULL), 0, "openssl req failed");
	/* a port free a moment ago may be taken by the time nginx binds it */
	for (int attempt = 0; attempt < 5; attempt++) {
		port = free_port();
		write_conf(conf);
		const char *argv[] = { "nginx", "-p", dir, "-e", log, "-c", conf, NULL };
		nginx_pid = h_spawn(argv, &(struct h_spawn_opts){ H_SERVER, .path = true,
								  .out = H_DEVNULL,
								  .err = H_DEVNULL });
		for (int i = 0; i < 100 && !h_child_exited(nginx_pid, 0, NULL); i++) {
			if (accepts(port))
				return;
			h_sleep_ms(50);
		}
		h_child_kill(nginx_pid, NULL);
	}
	cr_assert_fail("nginx did not start: %s", slurp(log));
}

static void cleanup(void)
{
	if (nginx_pid > 0)
		h_child_kill(nginx_pid, NULL);
	nginx_pid = 0;
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	dir[0] = '\0';
}

static const char *load_bin(void)
{
	const char *bin = getenv("HERD_LOAD");
	if (!bin || !*bin)
		cr_skip_test("HERD_LOAD is not set");
	return bin;
}

/* herd-load with ARGS..., JSON to dir/load.json and stderr to dir/load.err. */
#define LOAD(...) ({ \
	char json_[128], err_[128]; \
	snprintf(json_, sizeof(json_), "%s/load.json", dir); \
	snprintf(err_, sizeof(err_), "%s/load.err", dir); \
	unlink(json_); \
	const char *argv_[] = { load_bin(), "--json", json_, __VA_ARGS__, NULL }; \
	run_tool(argv_, 30, err_); })

/* The first number after "KEY": in the JSON report (top level or nested),
 * after "OBJ": when OBJ is given. */
static double jnum_in(const char *obj, const char *key)
{
	char path[128], pat[64];
	snprintf(path, sizeof(path), "%s/load.json", dir);
	const char *j = slurp(path);
	if (obj) {
		snprintf(pat, sizeof(pat), "\"%s\": ", obj);
		j = strstr(j, pat);
		cr_assert(j, "%s missing in the report", obj);
	}
	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	const char *p = strstr(j, pat);
	cr_assert(p, "key %s missing in the report: %s", key, j);
	return strtod(p + strlen(pat), NULL);
}

static double jnum(const char *key)
{
	return jnum_in(NULL, key);
}

static const char *load_stderr(void)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/load.err", dir);
	return slurp(path);
}

static const char *url(const char *path)
{
	static char u[128];
	snprintf(u, sizeof(u), "https://127.0.0.1:%d%s", port, path);
	return u;
}

TestSuite(load_tls, .init = nginx_start, .fini = cleanup, .timeout = 90);

Test(load_tls, cacert_keepalive_and_pipelining_without_errors)
{
	cr_assert_eq(LOAD("-n", "3000", "-c", "4", "--cacert", cert, url("/")), 0, "%s",
		     load_stderr());
	cr_expect_eq(jnum("requests"), 3000);
	cr_expect_eq(jnum("errors"), 0, "%s", load_stderr());
	cr_expect_eq(jnum("200"), 3000);
	/* every connection handshook once, and the report says how long it took */
	cr_expect_geq(jnum("tls_handshakes"), 4);
	cr_expect_gt(jnum_in("handshake_us", "p50"), 0);
	cr_expect_geq(jnum_in("handshake_us", "count"), 4);
	cr_expect(strstr(load_stderr(), "handshake "), "no handshake line: %s", load_stderr());

	cr_assert_eq(LOAD("-n", "4000", "-c", "2", "--pipeline", "16", "--cacert", cert,
			  url("/")), 0);
	cr_expect_eq(jnum("requests"), 4000);
	cr_expect_eq(jnum("errors"), 0, "%s", load_stderr());
}

Test(load_tls, self_signed_fails_verification_unless_told)
{
	cr_assert_eq(LOAD("-d", "1", "-c", "2", url("/")), 0,
		     "a failed verification is counted, not fatal: %s", load_stderr());
	cr_expect_eq(jnum("requests"), 0);
	cr_expect_gt(jnum("tls_verify"), 0);
	const char *e = load_stderr();
	cr_expect(strstr(e, "certificate verification failed: self-signed certificate"),
		  "the reason is given: %s", e);
	/* rate-limited: not a line per failed connection */
	int lines = 0;
	for (const char *p = e; (p = strstr(p, "verification failed")); p++)
		lines++;
	cr_expect_leq(lines, 3, "%d lines for %.0f failures", lines, jnum("tls_verify"));

	cr_assert_eq(LOAD("-n", "500", "-c", "2", "--insecure", url("/")), 0);
	cr_expect_eq(jnum("requests"), 500);
	cr_expect_eq(jnum("errors"), 0, "%s", load_stderr());
}

Test(load_tls, close_full_and_resumed_handshakes)
{
	cr_assert_eq(LOAD("-n", "400", "-c", "4", "--close", "--cacert", cert, url("/")), 0);
	cr_expect_eq(jnum("requests"), 400);
	cr_expect_eq(jnum("errors"), 0, "%s", load_stderr());
	cr_expect_geq(jnum("tls_handshakes"), 400, "a handshake per request");
	cr_expect_eq(jnum("tls_resumed"), 0, "no resumption without --tls-resume");

	cr_assert_eq(LOAD("-n", "400", "-c", "2", "--close", "--tls-resume", "--cacert", cert,
			  url("/")), 0);
	cr_expect_eq(jnum("requests"), 400);
	cr_expect_eq(jnum("errors"), 0, "%s", load_stderr());
	cr_expect_geq(jnum("tls_handshakes"), 400);
	/*
	 * All but the first connections could resume (nginx: tickets on); a
	 * ticket that two connections offer at once is now and then refused,
	 * the more so the slower the client (sanitizers), so the bound is loose.
	 */
	cr_expect_geq(jnum("tls_resumed"), 100, "%.0f resumed", jnum("tls_resumed"));
	cr_expect(strstr(load_stderr(), "resumed"), "%s", load_stderr());
}

/*
 * Servers that break TLS: GARBAGE answers the ClientHello with plain HTTP,
 * RESET sends half a TLS record and resets the connection.
 */
enum breaker { GARBAGE, RESET };

static pid_t breaker_start(enum breaker how, int *out_port)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 128), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	*out_port = ntohs(a.sin_port);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid > 0) {
		close(lfd);
		return pid;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	static const char http[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const unsigned char half[] = { 0x16, 0x03, 0x03, 0x40, 0x00, 2, 2, 2, 2 };
	for (;;) {
		int c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		char buf[2048];
		if (read(c, buf, sizeof(buf)) > 0) {
			if (how == GARBAGE) {
				if (write(c, http, sizeof(http) - 1) < 0)
					_exit(3);
			} else {
				if (write(c, half, sizeof(half)) < 0)
					_exit(3);
				struct linger lg = { 1, 0 };
				setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			}
		}
		close(c);
	}
}

static void breaker_run(enum breaker how, const char *kind)
{
	strcpy(dir, "/tmp/herd-load-tls-XXXXXX");
	cr_assert(mkdtemp(dir));
	int p;
	pid_t pid = breaker_start(how, &p);
	char u[64];
	snprintf(u, sizeof(u), "https://127.0.0.1:%d/", p);
	int rc = LOAD("-d", "1", "-c", "4", "--insecure", u);
	cr_expect_eq(rc, 0, "counted, not fatal (no crash): %s", load_stderr());
	cr_expect_eq(jnum("requests"), 0);
	cr_expect_gt(jnum(kind), 0, "%s errors: %s", kind, load_stderr());
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	cleanup(); /* the scratch directory */
}

Test(load_tls_broken, garbage_from_the_server_is_a_tls_error, .timeout = 60)
{
	load_bin();
	breaker_run(GARBAGE, "tls");
}

Test(load_tls_broken, reset_mid_record_is_counted, .timeout = 60)
{
	load_bin();
	breaker_run(RESET, "errors");
}
