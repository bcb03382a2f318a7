/* Hardening, round two (issue 15), against the real binary over loopback:
 *
 *   metrics_out_of_descriptors  a server with few descriptors, its clients
 *                        holding every one: three /metrics scrapes in a row
 *                        are answered at once
 *   tight_address_space  herd started under RLIMIT_AS from 8 to 72 MB, then
 *                        loaded with partial requests until its allocations
 *                        fail: it refuses to start (exit 1), or survives (it
 *                        serves, or drops connections with a log line) and
 *                        exits 0 on SIGTERM; never a signal
 *   rejected_logged      every kind of rejected request (400, 408, 413,
 *                        414, 431, 501, 505) gets its access log line, with
 *                        its request line as it arrived; then a burst of
 *                        them: as many lines as responses
 *
 * Helpers (the server's /proc, the probe) are attack_util.c's. */
#include "attack_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(hardening, .fini = attacks_fini, .timeout = 60);

/* ======================================================================== */
/* 3. /metrics while out of descriptors                                      */

static long long accept_errors(const char *m)
{
	long long n = h_metric_l(m, "herd_errors_total", "kind=\"accept\"");
	return n < 0 ? 0 : n;
}

/* One scrape on a fresh connection; its latency in ms, or -1 unanswered. */
static long long scrape(int admin_port, int timeout_ms, long long *acc_err)
{
	long long t0 = h_now_ms();
	int fd = h_connect(admin_port);
	if (fd < 0)
		return -1;
	struct h_conn c;
	h_conn_init(&c, fd);
	struct h_resp r;
	int rc = h_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n") == 0
			 ? h_read_response(&c, &r, false, timeout_ms)
			 : H_EOF;
	h_conn_close(&c);
	if (rc != H_OK)
		return -1;
	bool ok = r.status == 200 && r.body && strstr(r.body, "herd_accepted_total");
	if (ok)
		*acc_err = accept_errors(r.body);
	h_resp_free(&r);
	return ok ? h_now_ms() - t0 : -1;
}

/* Started with few descriptors and a --max-conns far above them, so the
 * workers' accepts fail with EMFILE.  (Lowering the limit of a running
 * server would do in epoll modes, but an io_uring multishot accept keeps
 * the limit it was armed with.) */
HTEST(hardening, metrics_out_of_descriptors, .timeout = 40)
{
	struct rlimit nf;
	getrlimit(RLIMIT_NOFILE, &nf);
	nf.rlim_cur = nf.rlim_max;
	setrlimit(RLIMIT_NOFILE, &nf);
	spawn_limited(&srv, &(struct h_spawn_opts){.nofile = 80}, (const char *const[]){"--workers", "2", "--admin",
			"127.0.0.1:0", "--max-conns", "1000", NULL});
	srv.port = herd_wait_port(&srv, "listening on ", 5000);
	srv.admin_port = herd_wait_port(&srv, "admin on ", 1000);
	cr_assert(srv.port > 0 && srv.admin_port > 0, "herd did not start");
	long long acc_err = 0;
	cr_assert_geq(scrape(srv.admin_port, 1500, &acc_err), 0, "/metrics before the clients");

	/* More clients than descriptors: the served ones keep theirs, the
	 * rest wait in the queue while the workers' accepts fail. */
	enum { N = 120 };
	int fds[N];
	connect_n(srv.port, fds, N, 0);
	for (int i = 0; i < N; i++)
		cr_assert_eq(h_send_str(fds[i], "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	int answered = 0;
	long long until = h_now_ms() + 600;
	for (int i = 0; i < N; i++) {
		struct pollfd p = {fds[i], POLLIN, 0};
		int left = (int)(until - h_now_ms());
		if (poll(&p, 1, left > 0 ? left : 0) == 1) {
			char buf[512];
			answered += recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) > 0;
		}
	}
	cr_assert_lt(answered, N, "the descriptor limit did not bite (%d of %d answered)", answered,
		     N);

	enum { SCRAPES = 3 };
	int ok = 0;
	long long worst = 0;
	for (int i = 0; i < SCRAPES; i++) {
		long long ms = scrape(srv.admin_port, 1500, &acc_err);
		if (ms >= 0) {
			ok++;
			worst = ms > worst ? ms : worst;
		}
	}
	fprintf(stderr, "METRICS_EMFILE answered=%d/%d worst=%lldms clients_served=%d/%d "
		"accept_errors=%lld\n", ok, SCRAPES, worst, answered, N, acc_err);
	cr_log_info("metrics_out_of_descriptors: %d of %d scrapes answered (slowest %lld ms) "
		    "while %d of %d clients were served; herd_errors_total{kind=\"accept\"} %lld",
		    ok, SCRAPES, worst, answered, N, acc_err);
	cr_assert_eq(ok, SCRAPES, "/metrics unreachable while out of descriptors: %d of %d "
		     "scrapes answered within 1.5 s", ok, SCRAPES);

	/* Once descriptors are free again, everyone waiting gets in, and the
	 * reserve is back: one more scrape. */
	for (int i = 0; i < N; i++)
		close(fds[i]);
	cr_assert_geq(scrape(srv.admin_port, 1500, &acc_err), 0, "/metrics after the clients left");
	h_assert_get(srv.port, "/plaintext", PLAIN);
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 12000) && WIFEXITED(srv.status) &&
		  WEXITSTATUS(srv.status) == 0, "herd did not exit 0 (status %#x)", srv.status);
	close(srv.errfd);
	own_srv = NULL;
}

/* ======================================================================== */
/* 5. start-up under a tight RLIMIT_AS                                       */

/* ASan and TSan reserve terabytes of address space: a sanitized server
 * cannot start under any RLIMIT_AS, so the test is for the plain build. */
/* Holds n connections, each with a head cut short (the server keeps each
 * in memory of its own), until allocations fail; returns those open. */
static int press(int port, int *fds, int n)
{
	static char head[7200];
	int len = snprintf(head, sizeof(head), "GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Pad: ");
	memset(head + len, 'a', sizeof(head) - (size_t)len);
	int open_n = 0;
	for (int i = 0; i < n; i++) {
		fds[i] = h_connect(port);
		if (fds[i] < 0)
			break;
		open_n++;
		if (h_send(fds[i], head, sizeof(head), 1000) != 0)
			continue; /* dropped: out of memory, as it may be */
	}
	return open_n;
}

/* What one start under a limit came to.  DROPPING: alive after the
 * pressure, but closing new connections for want of memory (logged):
 * survived, as the allocator may keep what was freed for a while. */
enum as_outcome { AS_REFUSED, AS_SERVED, AS_DROPPING, AS_CRASHED, AS_OUTCOMES };

static bool log_says(struct herd *h, const char *what)
{
	char *t = herd_stderr(h);
	bool yes = strstr(t, what) != NULL;
	free(t);
	return yes;
}

static enum as_outcome try_as(rlim_t as, char *why, size_t whylen)
{
	struct herd h;
	spawn_limited(&h, &(struct h_spawn_opts){.address_space = as}, (const char *const[]){"--workers", "2", "--cpus", "0,1",
						    "--max-conns", "4000", NULL});
	int port = herd_wait_port(&h, "listening on ", 5000);
	enum as_outcome out = AS_REFUSED;
	why[0] = 0;
	if (port > 0) {
		enum { P = 700 };
		static int fds[P];
		int held = press(port, fds, P);
		h_sleep_ms(100);
		close_all(fds, held);
		struct h_resp r;
		int rc = H_EOF;
		for (int i = 0; i < 20 && rc != H_OK && herd_alive(&h); i++) {
			rc = h_exchange(port, "GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n", &r);
			if (rc != H_OK)
				h_sleep_ms(50);
		}
		out = AS_SERVED;
		if (rc == H_OK) {
			if (r.status != 200)
				snprintf(why, whylen, "status %d after the pressure", r.status);
			h_resp_free(&r);
		} else if (herd_alive(&h) && rc == H_EOF && log_says(&h, "out of memory")) {
			out = AS_DROPPING;
		} else if (herd_alive(&h)) {
			snprintf(why, whylen, "no answer after the pressure, and no out-of-memory "
				 "line: %s", h_result_str(rc));
		}
		if (herd_alive(&h))
			kill(h.pid, SIGTERM);
		herd_wait_exit(&h, 12000);
	} else {
		herd_wait_exit(&h, 5000);
	}
	if (!h.reaped) { /* hung: a failure, and not left behind */
		kill(-h.pid, SIGKILL);
		kill(h.pid, SIGKILL);
		waitpid(h.pid, NULL, 0);
		snprintf(why, whylen, "did not exit");
	} else if (WIFSIGNALED(h.status)) {
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(h.status));
	} else if (out != AS_REFUSED && WEXITSTATUS(h.status) != 0) {
		snprintf(why, whylen, "exit %d on SIGTERM", WEXITSTATUS(h.status));
	} else if (out == AS_REFUSED && WEXITSTATUS(h.status) != 1 &&
		   WEXITSTATUS(h.status) != 127 /* the loader could not map a library */) {
		snprintf(why, whylen, "exit %d at start", WEXITSTATUS(h.status));
	}
	if (why[0]) {
		out = AS_CRASHED;
		char *t = herd_stderr(&h);
		fprintf(stderr, "---- herd under RLIMIT_AS %llu: %s ----\n%s---- end ----\n",
			(unsigned long long)as, why, t);
		free(t);
	}
	close(h.errfd);
	own_srv = NULL;
	return out;
}

HTEST(hardening, tight_address_space, .timeout = 200)
{
	if (h_server_sanitized()) {
		harness_passed();
		cr_skip_test("the server is sanitized: it cannot start under any RLIMIT_AS");
	}
	/* Enough descriptors here for the pressure's connections. */
	struct rlimit nf;
	getrlimit(RLIMIT_NOFILE, &nf);
	nf.rlim_cur = nf.rlim_max;
	setrlimit(RLIMIT_NOFILE, &nf);

	int n[AS_OUTCOMES] = {0}, crashed_at[64], nc = 0;
	char why[160], first_why[160] = "";
	/* From where nothing fits to where everything does (io_uring's rings
	 * need more): the failures move with the machine's layout, the sweep
	 * covers them, in 1 MB steps where herd starts to fit. */
	for (int mb = 8; mb <= 72; mb += mb < 48 ? 1 : 4) {
		enum as_outcome o = try_as((rlim_t)mb * 1000000, why, sizeof(why));
		n[o]++;
		if (o == AS_CRASHED) {
			if (!first_why[0])
				snprintf(first_why, sizeof(first_why), "%s", why);
			if (nc < 64)
				crashed_at[nc++] = mb;
		}
	}
	char list[256] = "";
	for (int i = 0; i < nc; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), " %d", crashed_at[i]);
	fprintf(stderr, "RLIMIT_AS sweep 8..72 MB: refused=%d served=%d dropping=%d crashed=%d%s%s\n",
		n[AS_REFUSED], n[AS_SERVED], n[AS_DROPPING], n[AS_CRASHED], nc ? " at MB:" : "",
		list);
	cr_log_info("tight_address_space: %d limits refused cleanly, %d served after the "
		    "pressure, %d alive but still dropping connections, %d crashed",
		    n[AS_REFUSED], n[AS_SERVED], n[AS_DROPPING], n[AS_CRASHED]);
	cr_assert_gt(n[AS_SERVED], 0, "herd served after the pressure under no limit up to 72 MB");
	cr_assert_eq(n[AS_CRASHED], 0, "herd crashed under RLIMIT_AS of%s MB (first: %s)", list,
		     first_why);
}

/* ======================================================================== */
/* 8. rejected requests in the access log                                    */

static char log_dir[64], log_path[128];

/* The log's lines, once it has `want` of them (written at least once a
 * second) and nothing more came for a while; returns the count. */
static int log_lines(char **text, int want)
{
	long long deadline = h_now_ms() + 3000;
	int n = 0;
	for (;;) {
		free(*text);
		*text = NULL;
		FILE *f = fopen(log_path, "r");
		size_t cap = 0;
		n = 0;
		if (f) {
			ssize_t len = getdelim(text, &cap, '\0', f);
			fclose(f);
			for (ssize_t i = 0; i < len; i++)
				n += (*text)[i] == '\n';
		}
		if (!*text)
			*text = strdup("");
		if (n >= want || h_now_ms() > deadline)
			break;
		h_sleep_ms(50);
	}
	h_sleep_ms(1200); /* one more flush: any extra line shows too */
	free(*text);
	*text = NULL;
	FILE *f = fopen(log_path, "r");
	size_t cap = 0;
	ssize_t len = f ? getdelim(text, &cap, '\0', f) : -1;
	if (f)
		fclose(f);
	if (!*text)
		*text = strdup("");
	n = 0;
	for (ssize_t i = 0; i < len; i++)
		n += (*text)[i] == '\n';
	return n;
}

/* Sends raw on a fresh connection, reads one response (a 408 takes the
 * header timeout); its status, 0 for none. */
static int rejected(const char *raw, size_t len, size_t *body_len)
{
	int fd = h_connect(srv.port);
	cr_assert(fd >= 0);
	cr_assert_eq(h_send(fd, raw, len, 2000), 0);
	struct h_conn c;
	h_conn_init(&c, fd);
	struct h_resp r;
	int status = 0;
	if (h_read_response(&c, &r, false, 4000) == H_OK) {
		status = r.status;
		*body_len = r.body_len;
		h_resp_free(&r);
	}
	h_conn_close(&c);
	return status;
}

struct rej {
	const char *raw;
	int status;
	const char *line; /* the log line's tail after the time, %zu: body bytes */
};

#define LONG_TARGET 5000

HTEST(hardening, rejected_logged, .timeout = 60)
{
	snprintf(log_dir, sizeof(log_dir), "/tmp/herd-rej-XXXXXX");
	cr_assert(mkdtemp(log_dir));
	snprintf(log_path, sizeof(log_path), "%s/access.log", log_dir);
	herd_start(&srv, "--workers", "2", "--access-log", log_path, "--header-timeout", "1",
		   "--max-body", "1000");

	static char long_req[LONG_TARGET + 64], many[4096], chunky[4096];
	int k = snprintf(long_req, sizeof(long_req), "GET /");
	memset(long_req + k, 'a', LONG_TARGET);
	snprintf(long_req + k + LONG_TARGET, sizeof(long_req) - (size_t)k - LONG_TARGET,
		 " HTTP/1.1\r\nHost: t\r\n\r\n");
	k = snprintf(many, sizeof(many), "GET /many HTTP/1.1\r\nHost: t\r\nUser-Agent: big\r\n");
	for (int i = 0; i < 70; i++)
		k += snprintf(many + k, sizeof(many) - (size_t)k, "X-A%d: b\r\n", i);
	snprintf(many + k, sizeof(many) - (size_t)k, "\r\n");
	k = snprintf(chunky, sizeof(chunky), "POST /plaintext HTTP/1.1\r\nHost: t\r\nUser-Agent: "
		     "chunky\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n");
	memset(chunky + k, 'z', 2048);
	snprintf(chunky + k + 2048, sizeof(chunky) - (size_t)k - 2048, "\r\n0\r\n\r\n");

	char long_line[1200];
	k = snprintf(long_line, sizeof(long_line), "\"GET /");
	memset(long_line + k, 'a', 1024 - 5); /* the field is cut at 1024 bytes */
	snprintf(long_line + k + 1019, sizeof(long_line) - (size_t)k - 1019,
		 "\" 414 %%zu \"-\" \"-\"");
	const struct rej rs[] = {
		{"GET / HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n", 400,
		 "\"GET / HTTP/1.1\" 400 %zu \"-\" \"no-host\""},
		{"GET /v2 HTTP/2.0\r\nHost: t\r\n\r\n", 505, "\"GET /v2 HTTP/2.0\" 505 %zu \"-\" \"-\""},
		{"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400,
		 "\"\\x16\\x03\\x01\\x00\\xa5\\x01\\x00\\x00\\xa1\\x03\\x03\" 400 %zu \"-\" \"-\""},
		{long_req, 414, long_line},
		{many, 431, "\"GET /many HTTP/1.1\" 431 %zu \"-\" \"big\""},
		{"POST /te HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\nTransfer-Encoding: gzip\r\n\r\n",
		 501, "\"POST /te HTTP/1.1\" 501 %zu \"http://r/\" \"-\""},
		{"GET /h HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", 400,
		 "\"GET /h HTTP/1.1\" 400 %zu \"-\" \"-\""},
		{"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n", 400, "\"-\" 400 %zu \"-\" \"-\""},
		{"POST /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413,
		 "\"POST /plaintext HTTP/1.1\" 413 %zu \"-\" \"-\""},
		{chunky, 413, "\"POST /plaintext HTTP/1.1\" 413 %zu \"-\" \"chunky\""},
		{"POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "5\r\nhello\r\n0\r\n\r\n", 405, "\"POST /plaintext HTTP/1.1\" 405 %zu \"-\" \"-\""},
		{"GET /slow HTTP/1.1\r\nHost: t\r\nUser-Agent: slowpoke\r\n", 408,
		 "\"GET /slow HTTP/1.1\" 408 %zu \"-\" \"slowpoke\""},
		{"GET /sl", 408, "\"GET /sl\" 408 %zu \"-\" \"-\""},
		{"BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n", 501, "\"BREW /pot HTTP/1.1\" 501 %zu \"-\" \"-\""},
	};
	enum { NR = sizeof(rs) / sizeof(rs[0]) };
	char want[NR][1300];
	for (int i = 0; i < NR; i++) {
		size_t raw_len = rs[i].raw == rs[2].raw ? 11 : strlen(rs[i].raw);
		size_t body = 0;
		int st = rejected(rs[i].raw, raw_len, &body);
		cr_assert_eq(st, rs[i].status, "request %d: status %d, want %d", i, st, rs[i].status);
		snprintf(want[i], sizeof(want[i]), rs[i].line, body);
	}
	char *text = NULL;
	int lines = log_lines(&text, NR), missing = -1;
	for (int i = 0; i < NR; i++)
		if (missing < 0 && !strstr(text, want[i]))
			missing = i;
	char *kinds_text = text;
	text = NULL;

	/* A burst of them, as a fuzzer would send: every response, one line. */
	enum { BURST = 240 };
	int responses = 0;
	for (int i = 0; i < BURST; i++) {
		int j = i % NR;
		if (rs[j].status == 408)
			j = 0; /* no need to wait for the timeout again */
		size_t raw_len = rs[j].raw == rs[2].raw ? 11 : strlen(rs[j].raw), body;
		responses += rejected(rs[j].raw, raw_len, &body) != 0;
	}
	int burst_lines = log_lines(&text, lines + responses) - lines;
	fprintf(stderr, "REJECTED_LOG kinds: responses=%d lines=%d; burst: responses=%d lines=%d\n",
		NR, lines, responses, burst_lines);
	cr_log_info("rejected_logged: %d kinds: %d log lines; a burst of %d malformed requests: "
		    "%d responses, %d log lines", NR, lines, BURST, responses, burst_lines);
	cr_assert_lt(missing, 0, "no access log line with\n  %s\nlog:\n%s", want[missing],
		     kinds_text);
	cr_assert_eq(lines, NR, "%d log lines for %d responses:\n%s", lines, NR, kinds_text);
	cr_assert_eq(responses, BURST, "%d of %d rejected requests answered", responses, BURST);
	cr_assert_eq(burst_lines, responses, "%d log lines for %d responses", burst_lines,
		     responses);
	free(kinds_text);
	free(text);
	unlink(log_path);
	rmdir(log_dir);
}
