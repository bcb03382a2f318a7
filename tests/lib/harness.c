/* The harness, process side: starting, watching and stopping servers.  The
 * sockets and HTTP client are in harness_http.c, the /metrics helpers in
 * harness_metrics.c, herd-load in harness_load.c. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SERVERS 8

static struct herd *servers[MAX_SERVERS];
static int nservers;
static bool test_passed;

static void herd_dump_stderr(const struct herd *h, const char *why);

static const char *herd_bin(void)
{
	const char *b = getenv("HERD_BIN");
	cr_assert(b && *b, "HERD_BIN is not set (run through meson test)");
	return b;
}

/* Whole content of a (temp) file through a descriptor, NUL-terminated. */
static char *slurp(int fd)
{
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	cr_assert(s);
	ssize_t n;
	while ((n = pread(fd, s + len, cap - len - 1, (off_t)len)) > 0) {
		len += (size_t)n;
		if (cap - len < 2048) {
			char *bigger = realloc(s, cap *= 2);
			cr_assert(bigger, "out of memory reading the server's stderr");
			s = bigger;
		}
	}
	s[len] = 0;
	return s;
}

/* An anonymous temp file: returns the child's write end, *rfd the read
 * end.  Unlinked at once so a killed test never leaves files behind. */
static int make_tmp(int *rfd)
{
	char path[] = "/tmp/herd-it-XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp: %s", strerror(errno));
	*rfd = open(path, O_RDONLY | O_CLOEXEC);
	unlink(path);
	cr_assert(*rfd >= 0);
	return fd;
}

/* Port of the first "TAG HOST:PORT" whose line is complete: -1 if there is
 * none yet, -2 if it is malformed; *at gets its offset in text. */
__attribute__((noinline)) /* GCC -O3 misreads the offset as a use after the caller's free */
static int find_port(const char *text, const char *tag, long *at)
{
	const char *p = strstr(text, tag);
	if (!p)
		return -1;
	const char *q = p + strlen(tag), *end = q + strcspn(q, " \n");
	if (!*end)
		return -1;
	const char *colon = memrchr(q, ':', (size_t)(end - q));
	char *stop = NULL;
	long port = colon ? strtol(colon + 1, &stop, 10) : 0;
	if (!colon || stop != end || port <= 0 || port > 65535)
		return -2;
	*at = p - text;
	return (int)port;
}

/* The server (or herd_run's herd) as a child; closes our copies of the
 * output descriptors. */
static pid_t spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t pid = h_spawn(argv, &(struct h_spawn_opts){H_SERVER, .out = out_fd, .err = err_fd});
	close(out_fd);
	if (err_fd != out_fd)
		close(err_fd);
	return pid;
}

static void kill_reap(struct herd *h)
{
	if (h->reaped)
		return;
	h_child_kill(h->pid, &h->status);
	h->reaped = true;
}

/* Builds the argv (see herd_start_accept) and starts the child; returns
 * whether the arguments contain an --admin. */
static bool spawn_server(struct herd *h, const char *accept, const char *const *args)
{
	const char *argv[96];
	int n = 0;
	bool has_listen = false, has_admin = false;
	/* $HERD_EXTRA_ARGS: space-separated, appended after everything else so
	 * they win over the test's own flags (the last occurrence counts). */
	char extra[512] = "";
	const char *extra_argv[24];
	int nextra = 0;
	const char *env_extra = getenv("HERD_EXTRA_ARGS");
	if (env_extra && *env_extra) {
		cr_assert(strlen(env_extra) < sizeof(extra), "HERD_EXTRA_ARGS too long");
		strcpy(extra, env_extra);
		char *save, *tok;
		for (tok = strtok_r(extra, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
			cr_assert(nextra < 24, "HERD_EXTRA_ARGS: too many words");
			extra_argv[nextra++] = tok;
		}
	}
	argv[n++] = herd_bin();
	for (const char *const *a = args; *a; a++) {
		if (!strncmp(*a, "--listen", 8))
			has_listen = true;
		if (!strncmp(*a, "--admin", 7))
			has_admin = true;
		cr_assert(n < 56);
		argv[n++] = *a;
	}
	for (int i = 0; i < nextra; i++) {
		if (!strncmp(extra_argv[i], "--listen", 8))
			has_listen = true;
		if (!strncmp(extra_argv[i], "--admin", 7))
			has_admin = true;
	}
	if (!has_listen) {
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
	}
	if (!accept)
		accept = getenv("HERD_ACCEPT");
	if (accept && *accept) {
		argv[n++] = "--accept";
		argv[n++] = accept;
	}
	for (int i = 0; i < nextra; i++)
		argv[n++] = extra_argv[i];
	argv[n] = NULL;

	memset(h, 0, sizeof(*h));
	int fd = make_tmp(&h->errfd);
	cr_assert(nservers < MAX_SERVERS);
	h->pid = spawn(argv, fd, fd);
	servers[nservers++] = h;
	return has_admin;
}

void herd_spawn_accept(struct herd *h, const char *accept, const char *const *args)
{
	spawn_server(h, accept, args);
}

int herd_wait_port(struct herd *h, const char *tag, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	for (;;) {
		char *text = herd_stderr(h);
		long at = 0;
		int port = find_port(text, tag, &at);
		free(text);
		if (port != -1)
			return port < 0 ? -1 : port;
		if (!herd_alive(h) || h_now_ms() > deadline)
			return -1;
		h_sleep_ms(10);
	}
}

int herd_ports(const struct herd *h, int *ports, int max)
{
	char *text = herd_stderr(h);
	const char *p = text;
	int n = 0;
	long at;
	while (n < max && (p = strstr(p, "listening on "))) {
		int port = find_port(p, "listening on ", &at);
		if (port > 0)
			ports[n++] = port;
		p += strlen("listening on ");
	}
	free(text);
	return n;
}

void herd_start_accept(struct herd *h, const char *accept, const char *const *args)
{
	bool has_admin = spawn_server(h, accept, args);

	/* Bounded poll of the stderr file for the readiness line(s). */
	long long deadline = h_now_ms() + 5000;
	for (;;) {
		char *text = herd_stderr(h);
		long lat = 0, aat = 0;
		int lport = find_port(text, "listening on ", &lat);
		int aport = has_admin ? find_port(text, "admin on ", &aat) : 0;
		free(text);
		if (lport == -2 || aport == -2) {
			herd_dump_stderr(h, "unparseable readiness line");
			cr_assert_fail("herd printed a readiness line without a valid port");
		}
		if (lport > 0 && (!has_admin || aport > 0)) {
			h->port = lport;
			h->admin_port = aport;
			h->admin_before_listen = has_admin && aat < lat;
			return;
		}
		if (!herd_alive(h)) {
			herd_dump_stderr(h, "server exited during startup");
			cr_assert_fail("herd exited before ready (status 0x%x)", h->status);
		}
		if (h_now_ms() > deadline) {
			herd_dump_stderr(h, "startup timeout");
			cr_assert_fail("herd did not print 'listening on'%s within 5 s",
				       has_admin ? " and 'admin on'" : "");
		}
		h_sleep_ms(10);
	}
}

bool herd_alive(struct herd *h)
{
	if (!h->reaped)
		h->reaped = h_child_exited(h->pid, 0, &h->status);
	return !h->reaped;
}

bool herd_wait_exit(struct herd *h, int timeout_ms)
{
	if (!h->reaped)
		h->reaped = h_child_exited(h->pid, timeout_ms, &h->status);
	return h->reaped;
}

void herd_signal(struct herd *h, int sig)
{
	if (!h->reaped)
		kill(h->pid, sig);
}

char *herd_stderr(const struct herd *h)
{
	return slurp(h->errfd);
}

size_t herd_stderr_len(const struct herd *h)
{
	struct stat st;
	return fstat(h->errfd, &st) == 0 ? (size_t)st.st_size : 0;
}

bool herd_wait_log(const struct herd *h, size_t from, const char *needle, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	for (;;) {
		char *t = herd_stderr(h);
		bool found = strlen(t) >= from && strstr(t + from, needle);
		free(t);
		if (found)
			return true;
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(20);
	}
}

static void herd_dump_stderr(const struct herd *h, const char *why)
{
	char *t = herd_stderr(h);
	fprintf(stderr, "---- herd pid %d stderr (%s) ----\n%s%s---- end ----\n",
		(int)h->pid, why, t, (*t && t[strlen(t) - 1] != '\n') ? "\n" : "");
	free(t);
}

bool h_server_sanitized(void)
{
	const char *bin = getenv("HERD_BIN");
	int fd = bin ? open(bin, O_RDONLY | O_CLOEXEC) : -1;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	char *img = malloc((size_t)st.st_size);
	bool san = false;
	if (img && read(fd, img, (size_t)st.st_size) == st.st_size)
		san = memmem(img, (size_t)st.st_size, "__asan_init", 11) ||
		      memmem(img, (size_t)st.st_size, "__tsan_init", 11);
	free(img);
	close(fd);
	return san;
}

/* Reports that sanitizer builds of the server print without necessarily
 * exiting. */
static const char *const sanitizer_marks[] = {
	"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
	"runtime error:",
};

static const char *sanitizer_report(const struct herd *h)
{
	char *text = herd_stderr(h);
	const char *mark = NULL;
	for (size_t m = 0; m < sizeof(sanitizer_marks) / sizeof(*sanitizer_marks); m++)
		if (strstr(text, sanitizer_marks[m]))
			mark = sanitizer_marks[m];
	free(text);
	return mark;
}

/* Runs at the end of a test body, where an assertion still fails the test
 * (Criterion only logs assertions made in .fini). */
void harness_passed(void)
{
	for (int i = 0; i < nservers; i++) {
		const char *mark = sanitizer_report(servers[i]);
		cr_assert(!mark, "herd pid %d printed a sanitizer report (%s)", (int)servers[i]->pid,
			  mark);
	}
	test_passed = true;
}

void herd_release(struct herd *h)
{
	const char *mark = sanitizer_report(h);
	if (mark)
		herd_dump_stderr(h, mark);
	cr_assert(!mark, "herd pid %d printed a sanitizer report (%s)", (int)h->pid, mark);
	kill_reap(h);
	close(h->errfd);
	for (int i = 0; i < nservers; i++)
		if (servers[i] == h)
			servers[i] = servers[--nservers];
}


void harness_fini(void)
{
	h_load_cleanup();
	for (int i = 0; i < nservers; i++) {
		struct herd *h = servers[i];
		kill_reap(h);
		if (!test_passed)
			herd_dump_stderr(h, "test failed");
		close(h->errfd);
	}
	nservers = 0;
}

int herd_run(const char *const *args, int timeout_ms, char **out, char **err)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = herd_bin();
	for (const char *const *a = args; *a && n < 63; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	int orfd, erfd;
	int ofd = make_tmp(&orfd), efd = make_tmp(&erfd);
	int st;
	int rc = h_child_wait(spawn(argv, ofd, efd), timeout_ms, &st) ? st : -1;
	*out = slurp(orfd);
	*err = slurp(erfd);
	close(orfd);
	close(erfd);
	return rc;
}

bool h_proc_stat(int pid, char *state, int *ppid, long long *cpu_ms)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the name may hold anything */
	unsigned long long ut = 0, st = 0;
	int pp = 0;
	char c;
	if (!p || sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &c, &pp,
			 &ut, &st) != 4)
		return false;
	if (state)
		*state = c;
	if (ppid)
		*ppid = pp;
	if (cpu_ms)
		*cpu_ms = (long long)(ut + st) * 1000 / sysconf(_SC_CLK_TCK);
	return true;
}

int h_run_shv(char **out, int timeout_s, const char *fmt, va_list ap)
{
	char cmd[4096];
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	char full[4200];
	/* cmd must not contain single quotes: the tests' commands do not. */
	snprintf(full, sizeof(full), "timeout -s KILL %d sh -c '%s' </dev/null 2>&1", timeout_s,
		 cmd);
	FILE *p = popen(full, "r");
	cr_assert(p, "popen %s", cmd);
	size_t cap = 4096, len = 0, r;
	char *buf = malloc(cap);
	while ((r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += r;
		if (cap - len < 2048)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = 0;
	*out = buf;
	int st = pclose(p);
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) == 137 ? -1 : WEXITSTATUS(st);
}
