#include "harness.h"

#include <netdb.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_SERVERS 8

static struct herd *servers[MAX_SERVERS];
static int nservers;
static bool test_passed;

static void herd_dump_stderr(const struct herd *h, const char *why);

long long h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

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
	ssize_t n;
	while ((n = pread(fd, s + len, cap - len - 1, (off_t)len)) > 0) {
		len += (size_t)n;
		if (cap - len < 2048)
			s = realloc(s, cap *= 2);
	}
	s[len] = 0;
	return s;
}

/* Child side of fork: own process group, killed if the test process dies
 * (e.g. a Criterion timeout SIGKILLs it), default signal dispositions so the
 * server's own SIGPIPE handling is what gets tested. */
static void exec_child(const char *const *argv, int out_fd, int err_fd, pid_t parent)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < 32; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	int devnull = open("/dev/null", O_RDONLY);
	dup2(devnull, 0);
	dup2(out_fd, 1);
	dup2(err_fd, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	execv(argv[0], (char *const *)argv);
	dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
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

static pid_t spawn(const char *const *argv, int out_fd, int err_fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		exec_child(argv, out_fd, err_fd, parent);
	close(out_fd);
	if (err_fd != out_fd)
		close(err_fd);
	return pid;
}

static void kill_reap(struct herd *h)
{
	if (h->reaped)
		return;
	kill(-h->pid, SIGKILL); /* its process group, in case it forked */
	kill(h->pid, SIGKILL);
	waitpid(h->pid, &h->status, 0);
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
	if (h->reaped)
		return false;
	int st;
	pid_t r = waitpid(h->pid, &st, WNOHANG);
	if (r == h->pid) {
		h->reaped = true;
		h->status = st;
		return false;
	}
	return true;
}

bool herd_wait_exit(struct herd *h, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	while (herd_alive(h)) {
		if (h_now_ms() > deadline)
			return false;
		h_sleep_ms(5);
	}
	return true;
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

/* JSON files of herd-load runs not finished (a test failed meanwhile). */
static char load_files[4][40];

void harness_fini(void)
{
	for (int i = 0; i < 4; i++)
		if (load_files[i][0])
			unlink(load_files[i]);
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
	struct herd h = {.pid = spawn(argv, ofd, efd)};
	int rc = herd_wait_exit(&h, timeout_ms) ? h.status : -1;
	kill_reap(&h);
	*out = slurp(orfd);
	*err = slurp(erfd);
	close(orfd);
	close(erfd);
	return rc;
}

/* ---- sockets ---- */

int h_connect_host(const char *host, int port, int rcvbuf)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
	struct addrinfo *ai;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	if (getaddrinfo(host, service, &hints, &ai) != 0)
		return -1;
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0 && rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (fd < 0)
		return -1;
	if (rc != 0) {
		struct pollfd p = {fd, POLLOUT, 0};
		int e = 0;
		socklen_t el = sizeof(e);
		if (errno != EINPROGRESS || poll(&p, 1, H_TIMEOUT_MS) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e != 0) {
			int saved = e ? e : errno == EINPROGRESS ? ETIMEDOUT : errno;
			close(fd);
			errno = saved; /* for the caller's message */
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int h_connect(int port)
{
	return h_connect_host("127.0.0.1", port, 0);
}

int h_send(int fd, const void *buf, size_t n, int timeout_ms)
{
	const char *p = buf;
	while (n > 0) {
		struct pollfd pf = {fd, POLLOUT, 0};
		int pr = poll(&pf, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr != 1)
			return -1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int h_send_str(int fd, const char *s)
{
	return h_send(fd, s, strlen(s), H_TIMEOUT_MS);
}

void h_close_rst(int fd)
{
	struct linger l = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

/* ---- HTTP client ---- */

void h_conn_init(struct h_conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->cap = 65536;
	c->buf = malloc(c->cap);
}

void h_conn_close(struct h_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

/* One bounded read into the buffer: 1 got bytes, 0 EOF/error, -1 timeout. */
static int fill(struct h_conn *c, long long deadline)
{
	if (c->eof || c->error)
		return 0;
	if (c->cap - c->len < 16384)
		c->buf = realloc(c->buf, c->cap *= 2);
	for (;;) {
		int left = (int)(deadline - h_now_ms());
		struct pollfd p = {c->fd, POLLIN, 0};
		int pr = poll(&p, 1, left > 0 ? left : 0);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr != 1)
			return -1;
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (r > 0) {
			c->len += (size_t)r;
			return 1;
		}
		if (r == 0) {
			c->eof = true;
			return 0;
		}
		if (errno == EAGAIN || errno == EINTR)
			continue;
		c->error = errno;
		return 0;
	}
}

static void consume(struct h_conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

static int parse_head(struct h_resp *r, const char *p, size_t n)
{
	if (n >= sizeof(r->head))
		return H_BAD;
	memcpy(r->head, p, n);
	r->head[n] = 0;
	char *save, *line = strtok_r(r->head, "\r\n", &save);
	int minor;
	if (!line || sscanf(line, "HTTP/1.%d %3d", &minor, &r->status) != 2 ||
	    r->status < 100 || r->status > 599 || line[12] != ' ')
		return H_BAD;
	snprintf(r->version, sizeof(r->version), "%.8s", line);
	while ((line = strtok_r(NULL, "\r\n", &save))) {
		char *colon = strchr(line, ':');
		if (!colon || r->nheaders == H_MAX_HEADERS)
			return H_BAD;
		*colon = 0;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		for (char *e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = 0;
		r->names[r->nheaders] = line;
		r->values[r->nheaders++] = v;
	}
	const char *cl = h_header(r, "Content-Length");
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(cl, &end, 10);
		if (errno || *end || end == cl || v > (1ull << 30))
			return H_BAD;
		r->has_length = true;
		r->content_length = (size_t)v;
	}
	return H_OK;
}

int h_read_response(struct h_conn *c, struct h_resp *r, bool head_request, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	memset(r, 0, offsetof(struct h_resp, head)); /* head[] is large: skip it */
	r->has_length = false;
	r->body = NULL;
	r->body_len = r->content_length = 0;
	char *end;
	int f;
	while (!(c->len >= 4 && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)))) {
		if ((f = fill(c, deadline)) <= 0)
			return f < 0 ? H_TIMEOUT : c->len ? H_PARTIAL : H_EOF;
	}
	size_t hlen = (size_t)(end - c->buf) + 4;
	int rc = parse_head(r, c->buf, hlen - 2);
	if (rc != H_OK)
		return rc;
	consume(c, hlen);

	bool bodyless = head_request || r->status < 200 || r->status == 204 || r->status == 304;
	if (bodyless) {
		r->body = calloc(1, 1);
		return H_OK;
	}
	if (r->has_length) {
		while (c->len < r->content_length)
			if ((f = fill(c, deadline)) <= 0)
				return f < 0 ? H_TIMEOUT : H_PARTIAL;
		r->body_len = r->content_length;
	} else { /* close-delimited */
		while ((f = fill(c, deadline)) > 0)
			;
		if (f < 0)
			return H_TIMEOUT;
		r->body_len = c->len;
	}
	r->body = malloc(r->body_len + 1);
	memcpy(r->body, c->buf, r->body_len);
	r->body[r->body_len] = 0;
	consume(c, r->body_len);
	return H_OK;
}

int h_conn_wait_eof(struct h_conn *c, int timeout_ms)
{
	if (c->len)
		return -1;
	long long deadline = h_now_ms() + timeout_ms;
	int f = fill(c, deadline);
	return f == 0 ? 1 : f < 0 ? 0 : -1;
}

void h_resp_free(struct h_resp *r)
{
	free(r->body);
	r->body = NULL;
}

const char *h_header(const struct h_resp *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->names[i], name))
			return r->values[i];
	return NULL;
}

const char *h_result_str(int rc)
{
	static const char *const text[] = {"ok", "EOF before a response", "timeout",
					   "connection closed mid-response", "malformed response"};
	return rc <= 0 && rc >= H_BAD ? text[-rc] : "?";
}

int h_exchange(int port, const char *request, struct h_resp *r)
{
	/* Freeable even if the connect fails (h_metrics frees it). */
	memset(r, 0, offsetof(struct h_resp, head));
	r->body = NULL;
	r->body_len = 0;
	int fd = h_connect(port);
	if (fd < 0)
		return H_EOF;
	struct h_conn c;
	h_conn_init(&c, fd);
	int rc = h_send_str(fd, request) == 0 ? H_OK : H_EOF;
	if (rc == H_OK)
		rc = h_read_response(&c, r, !strncmp(request, "HEAD ", 5), H_TIMEOUT_MS);
	h_conn_close(&c);
	return rc;
}

void h_assert_get(int port, const char *path, const char *body)
{
	char req[256];
	struct h_resp r;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	int rc = h_exchange(port, req, &r);
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
	cr_assert_eq(r.status, 200, "GET %s: status %d", path, r.status);
	cr_assert_str_eq(r.body, body, "GET %s: body", path);
	h_resp_free(&r);
}

/* ---- admin ---- */

char *h_metrics(int admin_port)
{
	struct h_resp r;
	int rc = h_exchange(admin_port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	if (rc != H_OK || r.status != 200) {
		h_resp_free(&r);
		return NULL;
	}
	return r.body;
}

/* Sums the samples "name[{labels}] value" of name (only those labelled
 * worker="W" when worker >= 0); returns how many there were. */
static int scan_metric(const char *text, const char *name, int worker, long long *out)
{
	size_t nl = strlen(name);
	int found = 0;
	*out = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (*l == '#' || strncmp(l, name, nl) || (l[nl] != '{' && l[nl] != ' '))
			continue;
		const char *v = l + nl;
		if (*v == '{') {
			const char *close = strchr(v, '}');
			if (!close)
				continue;
			if (worker >= 0) {
				char want[32];
				snprintf(want, sizeof(want), "worker=\"%d\"", worker);
				const char *w = strstr(v, want);
				if (!w || w > close)
					continue;
			}
			v = close + 1;
		} else if (worker >= 0) {
			continue;
		}
		char *end;
		double d = strtod(v, &end);
		if (end == v)
			continue;
		*out += (long long)d;
		found++;
	}
	return found;
}

int h_metric_sum(const char *text, const char *name, long long *sum)
{
	return scan_metric(text, name, -1, sum);
}

long long h_metric_worker(const char *text, const char *name, int worker)
{
	long long v;
	return scan_metric(text, name, worker, &v) ? v : -1;
}

long long h_metric_sel(const char *text, const char *name, const char *const *want)
{
	size_t nl = strlen(name);
	long long sum = 0;
	int found = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (*l == '#' || strncmp(l, name, nl) || (l[nl] != '{' && l[nl] != ' '))
			continue;
		char labels[512] = "";
		const char *v = l + nl;
		if (*v == '{') {
			const char *close = strchr(v, '}');
			if (!close || close - v >= (long)sizeof(labels))
				continue;
			memcpy(labels, v, (size_t)(close - v));
			v = close + 1;
		}
		bool match = true;
		for (const char *const *w = want; *w; w++)
			match = match && strstr(labels, *w);
		if (match) {
			sum += (long long)strtod(v, NULL);
			found++;
		}
	}
	return found ? sum : -1;
}

/* ---- herd-load ---- */

void h_load_start(struct h_load *l, const char *const *args)
{
	const char *bin = getenv("HERD_LOAD");
	cr_assert(bin && *bin, "HERD_LOAD is not set");
	strcpy(l->json, "/tmp/herd-load-XXXXXX");
	int jfd = mkstemp(l->json);
	cr_assert(jfd >= 0);
	close(jfd);
	const char *argv[32];
	int n = 0;
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 28; i++)
		argv[n++] = args[i];
	argv[n++] = "--json";
	argv[n++] = l->json;
	argv[n] = NULL;
	for (int i = 0; i < 4; i++)
		if (!load_files[i][0]) {
			strcpy(load_files[i], l->json);
			break;
		}
	pid_t parent = getpid();
	l->pid = fork();
	cr_assert(l->pid >= 0);
	if (l->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
}

char *h_load_finish(struct h_load *l, int timeout_ms)
{
	int status = -1;
	long long end = h_now_ms() + timeout_ms;
	while (waitpid(l->pid, &status, WNOHANG) == 0) {
		if (h_now_ms() > end) {
			kill(l->pid, SIGKILL);
			waitpid(l->pid, &status, 0);
			unlink(l->json);
			cr_assert_fail("herd-load did not finish in %d ms", timeout_ms);
		}
		h_sleep_ms(50);
	}
	for (int i = 0; i < 4; i++)
		if (!strcmp(load_files[i], l->json))
			load_files[i][0] = 0;
	FILE *f = fopen(l->json, "r");
	char *text = calloc(1, 1 << 20);
	size_t got = f ? fread(text, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	unlink(l->json);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "herd-load status 0x%x", status);
	cr_assert_gt(got, 0, "herd-load wrote no JSON");
	return text;
}

long long h_json_number(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(json, pat);
	cr_assert(p, "no %s in herd-load's JSON", key);
	return atoll(p + strlen(pat));
}

void h_load_assert_clean(const char *json, const char *what)
{
	const char *codes = strstr(json, "\"status_codes\": {");
	cr_assert(codes, "%s: no status_codes in herd-load's JSON", what);
	codes += strlen("\"status_codes\": {");
	int clen = (int)strcspn(codes, "}");
	long long requests = h_json_number(json, "requests"), errors = h_json_number(json, "errors");
	cr_log_info("%s: %lld requests, %lld errors, status codes {%.*s}", what, requests, errors,
		    clen, codes);
	cr_assert_gt(requests, 100, "%s: only %lld requests", what, requests);
	cr_assert_eq(errors, 0, "%s: %lld errors: %.300s", what, errors,
		     strstr(json, "\"errors_by_kind\""));
	cr_assert(!strncmp(codes, "\"200\": ", 7) && clen < (int)strcspn(codes, ","),
		  "%s: status codes other than 200: {%.*s}", what, clen, codes);
}

char *h_metrics_assert(int admin_port, int line)
{
	int fd = h_connect(admin_port);
	cr_assert(fd >= 0, "line %d: connect to the admin port %d failed: %s", line, admin_port,
		  strerror(errno));
	struct h_conn c;
	h_conn_init(&c, fd);
	struct h_resp r;
	int sent = h_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
	int rc = sent ? H_EOF : h_read_response(&c, &r, false, H_TIMEOUT_MS);
	int err = c.error;
	h_conn_close(&c);
	cr_assert(rc == H_OK && r.status == 200, "line %d: GET /metrics: %s%s (%s), status %d",
		  line, sent ? "send failed, " : "", h_result_str(rc), strerror(err),
		  rc == H_OK ? r.status : 0);
	return r.body;
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
