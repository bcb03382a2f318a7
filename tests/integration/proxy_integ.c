/* Helpers of the reverse-proxy integration suites (see proxy_integ.h). */
#include "proxy_integ.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_UPS 8
#define MAX_DEAD 4

static struct px_up *ups[MAX_UPS];
static int nups;
static int dead_fds[MAX_DEAD];
static int ndead;
static char dir[64];

/* ---- upstreams ---- */

const char *px_dir(void)
{
	if (!dir[0]) {
		strcpy(dir, "/tmp/herd-px-XXXXXX");
		cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	return dir;
}

static const char *script(void)
{
	static char path[512];
	const char *d = getenv("HERD_TLS_PY_DIR");
	cr_assert(d && *d, "HERD_TLS_PY_DIR is not set (run through meson test)");
	snprintf(path, sizeof(path), "%s/proxy_upstream.py", d);
	return path;
}

void px_up_start(struct px_up *u, const char *const *args)
{
	memset(u, 0, sizeof(*u));
	const char *argv[24];
	int n = 0;
	bool v6 = false;
	argv[n++] = "python3";
	argv[n++] = script();
	for (const char *const *a = args; *a; a++) {
		cr_assert(n < 22);
		if (!strcmp(*a, "--unix") && a[1])
			snprintf(u->unix_path, sizeof(u->unix_path), "%s", a[1]);
		if (!strcmp(*a, "--ipv6"))
			v6 = true;
		argv[n++] = *a;
	}
	argv[n] = NULL;
	int p[2];
	cr_assert(pipe2(p, O_CLOEXEC) == 0);
	u->pid = h_spawn(argv, &(struct h_spawn_opts){.in = H_DEVNULL, .out = p[1], .path = true,
						      .own_group = true, .die_with_parent = true,
						      .pristine = true});
	close(p[1]);
	cr_assert(nups < MAX_UPS, "too many upstreams in one test");
	ups[nups++] = u;
	char line[64];
	size_t len = 0;
	long long deadline = h_now_ms() + 5000;
	while (!memchr(line, '\n', len)) {
		int left = (int)(deadline - h_now_ms());
		struct pollfd pf = {p[0], POLLIN, 0};
		cr_assert(left > 0 && poll(&pf, 1, left) == 1,
			  "proxy_upstream.py did not print its port within 5 s");
		ssize_t r = read(p[0], line + len, sizeof(line) - 1 - len);
		cr_assert(r > 0, "proxy_upstream.py exited before printing its port");
		len += (size_t)r;
		cr_assert(len < sizeof(line) - 1);
	}
	close(p[0]);
	line[len] = 0;
	u->port = atoi(line);
	if (u->unix_path[0]) {
		snprintf(u->url, sizeof(u->url), "unix:%s", u->unix_path);
		snprintf(u->label, sizeof(u->label), "unix:%s", u->unix_path);
	} else {
		cr_assert(u->port > 0, "proxy_upstream.py printed '%s'", line);
		snprintf(u->url, sizeof(u->url), v6 ? "http://[::1]:%d" : "http://127.0.0.1:%d",
			 u->port);
		snprintf(u->label, sizeof(u->label), v6 ? "[::1]:%d" : "127.0.0.1:%d", u->port);
	}
}

void px_up_stop(struct px_up *u)
{
	if (u->pid > 0)
		h_child_kill(u->pid, NULL);
	u->pid = 0;
}

int px_dead_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		  getsockname(fd, (struct sockaddr *)&a, &l) == 0);
	cr_assert(ndead < MAX_DEAD);
	dead_fds[ndead++] = fd;
	return ntohs(a.sin_port);
}

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		if (e->d_type == DT_DIR)
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

void px_fini(void)
{
	for (int i = 0; i < nups; i++)
		px_up_stop(ups[i]);
	nups = 0;
	for (int i = 0; i < ndead; i++)
		close(dead_fds[i]);
	ndead = 0;
	if (dir[0])
		rm_tree(dir);
	dir[0] = 0;
	harness_fini();
}

/* ---- responses ---- */

static int parse_head(struct px_resp *r, const char *p, size_t n)
{
	r->head = malloc(n + 1);
	memcpy(r->head, p, n);
	r->head[n] = 0;
	return h_split_head(r->head, &r->status, r->version, sizeof(r->version), r->names,
			    r->values, &r->nheaders);
}

/* Appends n bytes to the body. */
static void body_add(struct px_resp *r, size_t *cap, const char *p, size_t n)
{
	if (r->body_len + n + 1 > *cap) {
		while (r->body_len + n + 1 > *cap)
			*cap *= 2;
		r->body = realloc(r->body, *cap);
	}
	memcpy(r->body + r->body_len, p, n);
	r->body_len += n;
	r->body[r->body_len] = 0;
}

/* The chunked body: data into r->body; H_OK once the last chunk and the
 * trailers are in. */
static int read_chunked(struct h_conn *c, struct px_resp *r, size_t *cap, long long deadline)
{
	for (;;) {
		char *eol;
		int f;
		while (!(eol = memmem(c->buf, c->len, "\r\n", 2)))
			if ((f = h_conn_fill(c, deadline)) <= 0)
				return f < 0 ? H_TIMEOUT : H_PARTIAL;
		char *end;
		unsigned long long size = strtoull(c->buf, &end, 16);
		if (end == c->buf || (*end != '\r' && *end != ';'))
			return H_BAD;
		size_t line = (size_t)(eol - c->buf) + 2;
		if (size == 0) {
			/* Trailers up to the empty line. */
			for (;;) {
				char *t;
				while (!(t = memmem(c->buf + line, c->len - line, "\r\n", 2)))
					if ((f = h_conn_fill(c, deadline)) <= 0)
						return f < 0 ? H_TIMEOUT : H_PARTIAL;
				size_t tl = (size_t)(t - (c->buf + line));
				line += tl + 2;
				if (tl == 0)
					break;
			}
			h_conn_consume(c, line);
			r->last_chunk = true;
			return H_OK;
		}
		while (c->len < line + size + 2)
			if ((f = h_conn_fill(c, deadline)) <= 0) {
				if (c->len > line) /* what arrived of this chunk */
					body_add(r, cap, c->buf + line,
						 c->len - line < size ? c->len - line : size);
				h_conn_consume(c, c->len);
				return f < 0 ? H_TIMEOUT : H_PARTIAL;
			}
		if (memcmp(c->buf + line + size, "\r\n", 2))
			return H_BAD;
		body_add(r, cap, c->buf + line, size);
		h_conn_consume(c, line + size + 2);
	}
}

int px_read(struct h_conn *c, struct px_resp *r, bool head_request, int timeout_ms)
{
	long long deadline = h_now_ms() + timeout_ms;
	memset(r, 0, sizeof(*r));
	size_t cap = 4096;
	r->body = calloc(1, cap);
	char *end;
	int f;
	while (!(c->len >= 4 && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)))) {
		if ((f = h_conn_fill(c, deadline)) <= 0)
			return f < 0 ? H_TIMEOUT : c->len ? H_PARTIAL : H_EOF;
	}
	size_t hlen = (size_t)(end - c->buf) + 4;
	r->head_len = hlen;
	int rc = parse_head(r, c->buf, hlen - 2);
	h_conn_consume(c, hlen);
	if (rc != H_OK)
		return rc;
	const char *te = px_header(r, "Transfer-Encoding");
	const char *cl = px_header(r, "Content-Length");
	if (head_request || r->status < 200 || r->status == 204 || r->status == 304) {
		r->framing = PX_NONE;
		return H_OK;
	}
	if (te && strcasestr(te, "chunked")) {
		r->framing = PX_CHUNKED;
		return read_chunked(c, r, &cap, deadline);
	}
	if (cl) {
		r->framing = PX_LENGTH;
		r->content_length = strtoull(cl, NULL, 10);
		while (c->len < r->content_length)
			if ((f = h_conn_fill(c, deadline)) <= 0) {
				body_add(r, &cap, c->buf, c->len);
				h_conn_consume(c, c->len);
				return f < 0 ? H_TIMEOUT : H_PARTIAL;
			}
		body_add(r, &cap, c->buf, r->content_length);
		h_conn_consume(c, r->content_length);
		return H_OK;
	}
	r->framing = PX_CLOSE;
	while ((f = h_conn_fill(c, deadline)) > 0)
		if (c->len > (1u << 20)) {
			body_add(r, &cap, c->buf, c->len);
			h_conn_consume(c, c->len);
		}
	body_add(r, &cap, c->buf, c->len);
	h_conn_consume(c, c->len);
	return f < 0 ? H_TIMEOUT : H_OK;
}

void px_resp_free(struct px_resp *r)
{
	free(r->head);
	free(r->body);
	r->head = r->body = NULL;
}

const char *px_header(const struct px_resp *r, const char *name)
{
	for (int i = 0; i < r->nheaders; i++)
		if (!strcasecmp(r->names[i], name))
			return r->values[i];
	return NULL;
}

int px_header_count(const struct px_resp *r, const char *name)
{
	int n = 0;
	for (int i = 0; i < r->nheaders; i++)
		n += !strcasecmp(r->names[i], name);
	return n;
}

void px_open(struct h_conn *c, int port)
{
	int fd = h_connect(port);
	cr_assert(fd >= 0, "connect to %d: %s", port, strerror(errno));
	h_conn_init(c, fd);
}

int px_send_read(struct h_conn *c, const char *req, struct px_resp *r, int timeout_ms)
{
	cr_assert_eq(h_send(c->fd, req, strlen(req), H_TIMEOUT_MS), 0, "send failed: %.60s", req);
	return px_read(c, r, !strncmp(req, "HEAD ", 5), timeout_ms);
}

int px_exchange(int port, const char *req, struct px_resp *r, int timeout_ms)
{
	struct h_conn c;
	px_open(&c, port);
	int rc = px_send_read(&c, req, r, timeout_ms);
	h_conn_close(&c);
	return rc;
}

int px_status(int port, const char *path)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	struct px_resp r;
	int rc = px_exchange(port, req, &r, 10000);
	cr_assert_eq(rc, H_OK, "GET %s: %s", path, h_result_str(rc));
	int s = r.status;
	px_resp_free(&r);
	return s;
}

/* ---- upstream, directly ---- */

/* Sends req straight to the upstream u and reads the response into r. */
static int up_send_read(const struct px_up *u, const char *what, const char *req,
			struct px_resp *r)
{
	cr_assert(u->port > 0, "%s: not a TCP upstream", what);
	int fd = h_connect_host(strstr(u->url, "[::1]") ? "::1" : "127.0.0.1", u->port, 0);
	cr_assert(fd >= 0, "connect to the upstream %s: %s", u->label, strerror(errno));
	struct h_conn c;
	h_conn_init(&c, fd);
	int rc = px_send_read(&c, req, r, 10000);
	h_conn_close(&c);
	return rc;
}

void px_up_get(const struct px_up *u, const char *target)
{
	char req[512];
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
		 target);
	struct px_resp r;
	int rc = up_send_read(u, "px_up_get", req, &r);
	cr_assert(rc == H_OK && r.status == 200, "upstream GET %s: %s %d", target,
		  h_result_str(rc), r.status);
	px_resp_free(&r);
}

long px_up_stat(const struct px_up *u, const char *key)
{
	struct px_resp r;
	int rc = up_send_read(u, "px_up_stat",
			      "GET /count HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
	cr_assert(rc == H_OK && r.status == 200, "upstream /count: %s", h_result_str(rc));
	char want[256];
	snprintf(want, sizeof(want), "%s ", key);
	long v = 0;
	for (char *l = r.body; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
		if (!strncmp(l, want, strlen(want)))
			v = strtol(l + strlen(want), NULL, 10);
	px_resp_free(&r);
	return v;
}

long px_up_stat_wait(const struct px_up *u, const char *key, int within_ms, int step_ms)
{
	long long deadline = h_now_ms() + within_ms;
	while (px_up_stat(u, key) == 0 && h_now_ms() < deadline)
		h_sleep_ms(step_ms);
	return px_up_stat(u, key);
}

/* ---- the pattern ---- */

unsigned char px_pat(size_t i)
{
	return (unsigned char)(((i % 251) * 7 + 3) % 251);
}

unsigned char *px_pat_buf(size_t off, size_t n)
{
	unsigned char *b = malloc(n ? n : 1);
	cr_assert(b);
	for (size_t i = 0; i < n; i++)
		b[i] = px_pat(off + i);
	return b;
}

long px_pat_diff(const void *buf, size_t n, size_t off)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < n; i++)
		if (p[i] != px_pat(off + i))
			return (long)i;
	return -1;
}

size_t px_read_pat_response(int fd, char *buf, size_t chunk, size_t want, int within_ms,
			    const char *who)
{
	char head[4096];
	size_t hlen = 0, body = 0;
	bool in_body = false;
	long long deadline = h_now_ms() + within_ms;
	while (body < want && h_now_ms() < deadline) {
		struct pollfd pf = {fd, POLLIN, 0};
		if (poll(&pf, 1, 200) != 1)
			continue;
		ssize_t k = recv(fd, buf, in_body ? chunk : 1, 0);
		cr_assert(k > 0, "%s: closed after %zu body bytes", who, body);
		if (!in_body) {
			head[hlen++] = buf[0];
			cr_assert(hlen < sizeof(head));
			if (hlen >= 4 && !memcmp(head + hlen - 4, "\r\n\r\n", 4)) {
				head[hlen] = 0;
				in_body = true;
				cr_assert(!strncmp(head, "HTTP/1.1 200", 12), "%s: %s", who, head);
			}
			continue;
		}
		cr_assert_eq(px_pat_diff(buf, (size_t)k, body), -1, "%s: body differs near %zu", who,
			     body);
		body += (size_t)k;
	}
	return body;
}

/* ---- metrics ---- */

long long px_metric(int admin_port, const char *name, const char *label, const char *extra)
{
	char *text = h_metrics_assert(admin_port, __LINE__);
	char want[300];
	snprintf(want, sizeof(want), "upstream=\"%s\"", label);
	long long v = extra ? h_metric_l(text, name, want, extra) : h_metric_l(text, name, want);
	free(text);
	return v;
}

/* ---- misc ---- */

int px_run(char **out, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = h_run_shv(out, 30, fmt, ap);
	va_end(ap);
	return rc;
}

void px_write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

char *px_read_file(const char *path, size_t *n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	/* Read to EOF: /proc files show a size of 0. */
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	ssize_t r;
	while ((r = read(fd, b + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (cap - len < 1024)
			b = realloc(b, cap *= 2);
	}
	close(fd);
	b[len] = 0;
	if (n)
		*n = len;
	return b;
}

/* /proc/PID/name, malloc'd (NULL if absent). */
static char *proc_file(pid_t pid, const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	return px_read_file(path, NULL);
}

static long long rss_of(pid_t pid)
{
	char *s = proc_file(pid, "status");
	if (!s)
		return 0;
	const char *v = strstr(s, "VmRSS:");
	long kib = v ? strtol(v + 6, NULL, 10) : 0;
	free(s);
	return kib;
}

static long long ticks_of(pid_t pid)
{
	char *s = proc_file(pid, "stat");
	if (!s)
		return 0;
	const char *p = strrchr(s, ')'); /* the name may hold anything */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		ut = st = 0;
	free(s);
	return (long long)(ut + st);
}

/* of(pid) summed over pid and its descendants (/proc/PID/task/T/children). */
static long long tree_sum(pid_t pid, long long (*of)(pid_t))
{
	long long sum = of(pid);
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return sum;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char cp[320];
		snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		char *kids = px_read_file(cp, NULL);
		for (char *k = kids, *end; k && *k; k = end) {
			long child = strtol(k, &end, 10);
			if (end == k)
				break;
			sum += tree_sum((pid_t)child, of);
		}
		free(kids);
	}
	closedir(d);
	return sum;
}

long px_rss_kib(pid_t pid)
{
	return (long)tree_sum(pid, rss_of);
}

long long px_cpu_ticks(pid_t pid)
{
	return tree_sum(pid, ticks_of);
}

bool px_procs(void)
{
	const char *e = getenv("HERD_EXTRA_ARGS");
	return e && strstr(e, "--procs");
}

bool px_have_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	bool ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}
