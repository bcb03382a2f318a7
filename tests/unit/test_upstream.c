/* Routes and upstream addresses (net/upstream.c), the shared upstream
 * state (core/upstream_state.c) and its metrics (core/upstream_metrics.c). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core/upstream_metrics.h"
#include "core/upstream_state.h"
#include "net/upstream.h"

static struct upstream_table t;
static char err[512];

static int add(const char *spec, bool strip)
{
	err[0] = 0;
	return upstream_table_add(&t, spec, strip, err, sizeof(err));
}

static void reset(void)
{
	memset(&t, 0, sizeof(t));
}

TestSuite(upstream, .init = reset);

Test(upstream, ipv4_with_and_without_port)
{
	cr_assert_eq(add("/api/=http://127.0.0.1:3000,http://10.0.0.2/", false), 0, "%s", err);
	cr_assert_eq(t.nroutes, 1);
	cr_assert_eq(t.naddrs, 2);
	const struct upstream_route *r = &t.routes[0];
	cr_assert_str_eq(r->prefix, "/api/");
	cr_assert_eq(r->prefix_len, 5);
	cr_assert_not(r->strip);
	cr_assert_eq(r->first, 0);
	cr_assert_eq(r->n, 2);
	const struct sockaddr_in *a = (const void *)&t.addrs[0].sa;
	cr_assert_eq(a->sin_family, AF_INET);
	cr_assert_eq(ntohs(a->sin_port), 3000);
	cr_assert_eq(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_eq(t.addrs[0].len, sizeof(*a));
	cr_assert_str_eq(t.addrs[0].name, "127.0.0.1:3000");
	cr_assert_str_eq(t.addrs[0].host, "127.0.0.1:3000");
	const struct sockaddr_in *b = (const void *)&t.addrs[1].sa;
	cr_assert_eq(ntohs(b->sin_port), 80, "port 80 by default");
	cr_assert_str_eq(t.addrs[1].name, "10.0.0.2:80");
	cr_assert_str_eq(t.addrs[1].host, "10.0.0.2", "no :80 in Host");
}

Test(upstream, localhost_is_loopback)
{
	cr_assert_eq(add("/=http://localhost:8080", false), 0, "%s", err);
	const struct sockaddr_in *a = (const void *)&t.addrs[0].sa;
	cr_assert_eq(a->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	cr_assert_str_eq(t.addrs[0].name, "127.0.0.1:8080");
	cr_assert_str_eq(t.addrs[0].host, "localhost:8080");
}

Test(upstream, ipv6)
{
	cr_assert_eq(add("/v6=http://[::1]:3000,http://[2001:db8:0::1]", false), 0, "%s", err);
	const struct sockaddr_in6 *a = (const void *)&t.addrs[0].sa;
	cr_assert_eq(a->sin6_family, AF_INET6);
	cr_assert_eq(ntohs(a->sin6_port), 3000);
	cr_assert(IN6_IS_ADDR_LOOPBACK(&a->sin6_addr));
	cr_assert_eq(t.addrs[0].len, sizeof(*a));
	cr_assert_str_eq(t.addrs[0].name, "[::1]:3000");
	cr_assert_str_eq(t.addrs[0].host, "[::1]:3000");
	cr_assert_str_eq(t.addrs[1].name, "[2001:db8::1]:80", "shown in canonical form");
	cr_assert_str_eq(t.addrs[1].host, "[2001:db8:0::1]");
}

Test(upstream, unix_socket)
{
	cr_assert_eq(add("/app=unix:/run/app.sock", true), 0, "%s", err);
	const struct sockaddr_un *a = (const void *)&t.addrs[0].sa;
	cr_assert_eq(a->sun_family, AF_UNIX);
	cr_assert_str_eq(a->sun_path, "/run/app.sock");
	cr_assert_str_eq(t.addrs[0].name, "unix:/run/app.sock");
	cr_assert_str_eq(t.addrs[0].host, "localhost");
	cr_assert(t.routes[0].strip);
	cr_assert_geq(t.addrs[0].len, offsetof(struct sockaddr_un, sun_path) + 14);
}

Test(upstream, unix_path_limits)
{
	char spec[256] = "/=unix:/";
	memset(spec + 8, 'a', 106); /* a 107-byte path: sun_path holds it */
	cr_assert_eq(add(spec, false), 0, "%s", err);
	reset();
	memset(spec + 8, 'a', 107); /* 108 bytes: no room for the NUL */
	cr_assert_eq(add(spec, false), -1);
	cr_assert(strstr(err, "too long"), "%s", err);
	cr_assert_eq(add("/=unix:relative.sock", false), -1);
	cr_assert(strstr(err, "absolute"), "%s", err);
}

Test(upstream, bad_urls_refused_with_a_reason)
{
	static const char *const bad[] = {
		"/=https://127.0.0.1:443",      "/=http://example.com:80",   "/=http://user@1.2.3.4",
		"/=http://1.2.3.4:80/app",      "/=http://1.2.3.4:0",        "/=http://1.2.3.4:65536",
		"/=http://1.2.3.4:",            "/=http://1.2.3.4:x",        "/=http://[::1",
		"/=http://[::1]x",              "/=http://[zz::1]:80",       "/=http://",
		"/=ftp://1.2.3.4",              "/=1.2.3.4:80",              "/=http://1.2.3.4?a=b",
		"/=http://1.2.3.4,",            "/=",                        "/=http://1.2.3.4,,http://1.2.3.5",
		"/=http://1.2.3.4:80,http://1.2.3.4", "/=http://01.2.3.4.5",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reset();
		cr_assert_eq(add(bad[i], false), -1, "%s accepted", bad[i]);
		cr_assert(strstr(err, "bad --proxy '"), "%s: %s", bad[i], err);
		cr_assert_null(strchr(err, '\n'), "one line");
		cr_assert_eq(t.nroutes, 0, "%s", bad[i]);
		cr_assert_eq(t.naddrs, 0, "%s", bad[i]);
	}
	reset();
	cr_assert_eq(add("/=http://example.com", true), -1);
	cr_assert(strstr(err, "bad --proxy-strip '/=http"), "%s", err);
	cr_assert(strstr(err, "DNS"), "%s", err);
}

Test(upstream, bad_prefixes)
{
	cr_assert_eq(add("api=http://1.2.3.4", false), -1);
	cr_assert(strstr(err, "start with '/'"), "%s", err);
	cr_assert_eq(add("=http://1.2.3.4", false), -1);
	cr_assert_eq(add("/a b=http://1.2.3.4", false), -1);
	cr_assert_eq(add("http://1.2.3.4", false), -1, "no '='");
	char spec[300] = "/";
	memset(spec + 1, 'p', 127);
	strcpy(spec + 128, "=http://1.2.3.4");
	cr_assert_eq(add(spec, false), -1);
	cr_assert(strstr(err, "127"), "%s", err);
	spec[127] = 0;
	strcat(spec, "=http://1.2.3.4");
	cr_assert_eq(add(spec, false), 0, "127 bytes fit: %s", err);
}

Test(upstream, duplicate_prefix_refused_same_url_twice_allowed)
{
	cr_assert_eq(add("/api/=http://127.0.0.1:1", false), 0, "%s", err);
	cr_assert_eq(add("/api/=http://127.0.0.1:2", true), -1);
	cr_assert(strstr(err, "already routed"), "%s", err);
	cr_assert_eq(t.naddrs, 1, "a refused value leaves nothing behind");
	cr_assert_eq(add("/b/=http://127.0.0.1:1", false), 0, "%s", err);
	cr_assert_eq(t.naddrs, 2, "one entry per route");
	cr_assert_eq(t.routes[1].first, 1);
}

Test(upstream, limits)
{
	char spec[64];
	for (int i = 0; i < HERD_MAX_ROUTES; i++) {
		snprintf(spec, sizeof(spec), "/r%d=http://127.0.0.1:%d,http://127.0.0.2:%d", i,
			 1000 + i, 1000 + i);
		cr_assert_eq(add(spec, false), 0, "%s", err);
	}
	cr_assert_eq(t.naddrs, HERD_MAX_UPSTREAMS);
	cr_assert_eq(add("/more=http://127.0.0.1:1", false), -1);
	cr_assert(strstr(err, "too many routes"), "%s", err);
	reset();
	for (int i = 0; i < 10; i++) {
		snprintf(spec, sizeof(spec), "/r%d=http://127.0.0.1:1,http://127.0.0.2:1,http://127.0.0.3:1", i);
		cr_assert_eq(add(spec, false), 0, "%s", err);
	}
	cr_assert_eq(add("/x=http://127.0.0.1:1,http://127.0.0.2:1,http://127.0.0.3:1", false), -1);
	cr_assert(strstr(err, "too many upstreams"), "%s", err);
	cr_assert_eq(t.naddrs, 30);
	cr_assert_eq(add("/x=http://127.0.0.1:1,http://127.0.0.2:1", false), 0, "%s", err);
}

Test(upstream, longest_prefix_wins)
{
	cr_assert_eq(add("/=http://127.0.0.1:1", false), 0, "%s", err);
	cr_assert_eq(add("/api/v2/=http://127.0.0.1:3", true), 0, "%s", err);
	cr_assert_eq(add("/api/=http://127.0.0.1:2", false), 0, "%s", err);
	static const struct {
		const char *path;
		int route;
	} cases[] = {
		{"/", 0},          {"/index.html", 0}, {"/api", 0},       {"/api/", 2},
		{"/api/users", 2}, {"/api/v2/", 1},    {"/api/v2/x?y", 1}, {"/api/v2", 2},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_assert_eq(upstream_route_match(&t, cases[i].path, (uint32_t)strlen(cases[i].path)),
			     cases[i].route, "%s", cases[i].path);
	cr_assert(t.routes[1].strip);
	cr_assert_not(t.routes[2].strip);
	/* The length given, not the NUL, ends the path. */
	cr_assert_eq(upstream_route_match(&t, "/api/v2/", 5), 2);
	reset();
	cr_assert_eq(add("/api/=http://127.0.0.1:2", false), 0, "%s", err);
	cr_assert_eq(upstream_route_match(&t, "/other", 6), -1);
}

/* The shared state. */

static struct upstream_shared *shared(void)
{
	void *p = NULL;
	cr_assert_eq(posix_memalign(&p, 128, upstream_shared_size()), 0);
	memset(p, 0, upstream_shared_size());
	return p;
}

Test(upstream_state, size_and_names)
{
	cr_assert_eq(upstream_shared_size(), sizeof(struct upstream_shared) * HERD_MAX_UPSTREAMS);
	cr_assert_eq(sizeof(struct upstream_shared) % 128, 0);
	cr_assert_str_eq(up_err_names[UP_ERR_CONNECT], "connect");
	cr_assert_str_eq(up_err_names[UP_ERR_TIMEOUT], "timeout");
	cr_assert_str_eq(up_err_names[UP_ERR_CLOSED], "closed");
	cr_assert_str_eq(up_err_names[UP_ERR_INVALID], "invalid");
	cr_assert_float_eq(up_hist_bounds[0], 0.001, 1e-12);
	cr_assert_float_eq(up_hist_bounds[UP_HIST_BUCKETS - 2], 2.5, 1e-12);
}

Test(upstream_state, passive_down_after_failures_then_back)
{
	struct upstream_shared *u = shared();
	snprintf(u->name, sizeof(u->name), "127.0.0.1:1");
	int64_t now = 1000000;
	upstream_note_fail(u, UP_ERR_CONNECT, now);
	upstream_note_fail(u, UP_ERR_TIMEOUT, now);
	cr_assert(upstream_usable(u, now), "two failures are not enough");
	upstream_note_ok(u);
	upstream_note_fail(u, UP_ERR_CONNECT, now);
	upstream_note_fail(u, UP_ERR_CONNECT, now);
	cr_assert(upstream_usable(u, now), "the count restarted after a response");
	upstream_note_fail(u, UP_ERR_CLOSED, now);
	cr_assert_not(upstream_usable(u, now));
	cr_assert_eq(u->down_until_ms, now + UP_BACKOFF_MS);
	/* In-flight failures while down neither extend the back-off. */
	upstream_note_fail(u, UP_ERR_CLOSED, now + 100);
	cr_assert_eq(u->down_until_ms, now + UP_BACKOFF_MS);
	cr_assert(upstream_usable(u, now + UP_BACKOFF_MS), "tried again after the back-off");
	/* The retry fails: down again at once. */
	upstream_note_fail(u, UP_ERR_CONNECT, now + UP_BACKOFF_MS + 1);
	cr_assert_not(upstream_usable(u, now + UP_BACKOFF_MS + 1));
	cr_assert_eq(u->errors[UP_ERR_CONNECT], 4);
	cr_assert_eq(u->errors[UP_ERR_TIMEOUT], 1);
	cr_assert_eq(u->errors[UP_ERR_CLOSED], 2);
	u->active_down = 1;
	cr_assert_not(upstream_usable(u, now + 100000), "active down wins");
	free(u);
}

Test(upstream_state, responses_and_histogram)
{
	struct upstream_shared *u = shared();
	upstream_note_response(u, 200, 500);     /* 0.5 ms: first bucket */
	upstream_note_response(u, 204, 1000);    /* exactly 1 ms: still the first */
	upstream_note_response(u, 302, 30000);   /* 30 ms: le 0.05 */
	upstream_note_response(u, 404, 3000000); /* 3 s: +Inf */
	upstream_note_response(u, 503, 100);
	upstream_note_response(u, 101, 100);
	upstream_note_response(u, 99, 100);      /* no class: only timed */
	cr_assert_eq(u->responses[0], 1);
	cr_assert_eq(u->responses[1], 2);
	cr_assert_eq(u->responses[2], 1);
	cr_assert_eq(u->responses[3], 1);
	cr_assert_eq(u->responses[4], 1);
	cr_assert_eq(u->hist[0], 5);
	cr_assert_eq(u->hist[5], 1);
	cr_assert_eq(u->hist[UP_HIST_BUCKETS - 1], 1);
	cr_assert_eq(u->time_sum_us, 500 + 1000 + 30000 + 3000000 + 300);
	free(u);
}

static char *render(const struct upstream_table *tab, const struct upstream_shared *u,
		    int64_t now)
{
	struct counters_sink s = {NULL, 0, 0};
	upstream_render(&s, tab, u, now);
	size_t need = s.len;
	char *buf = malloc(need + 1);
	s = (struct counters_sink){buf, need + 1, 0};
	upstream_render(&s, tab, u, now);
	cr_assert_eq(s.len, need, "measuring and writing agree");
	buf[need] = 0;
	return buf;
}

Test(upstream_metrics, series)
{
	cr_assert_eq(add("/api/=http://127.0.0.1:3000,unix:/run/a\"b.sock", false), 0, "%s", err);
	cr_assert_eq(add("/b/=http://127.0.0.1:3000", false), 0, "%s", err);
	struct upstream_shared *u = shared();
	upstream_shared_init(u, &t);
	cr_assert_str_eq(u[1].name, "unix:/run/a\"b.sock");
	u[0].requests = 3;
	u[2].requests = 4;
	upstream_note_response(&u[0], 200, 2000);
	upstream_note_response(&u[2], 502, 20000);
	upstream_note_fail(&u[2], UP_ERR_TIMEOUT, 0);
	u[1].idle = 2;
	u[1].active_down = 1;
	char *m = render(&t, u, 10);
	cr_assert(strstr(m, "# TYPE herd_upstream_requests_total counter\n"), "%s", m);
	cr_assert(strstr(m, "herd_upstream_requests_total{upstream=\"127.0.0.1:3000\"} 7\n"),
		  "entries of one name are one series: %s", m);
	const char *first = strstr(m, "herd_upstream_up{upstream=\"127.0.0.1:3000\"}");
	cr_assert(first && !strstr(first + 1, "herd_upstream_up{upstream=\"127.0.0.1:3000\"}"),
		  "once: %s", m);
	static const char *const series[] = {
		"herd_upstream_up{upstream=\"127.0.0.1:3000\"} 1\n",
		"herd_upstream_up{upstream=\"unix:/run/a\\\"b.sock\"} 0\n",
		"herd_upstream_idle_connections{upstream=\"unix:/run/a\\\"b.sock\"} 2\n",
		"herd_upstream_responses_total{upstream=\"127.0.0.1:3000\",class=\"2xx\"} 1\n",
		"herd_upstream_responses_total{upstream=\"127.0.0.1:3000\",class=\"5xx\"} 1\n",
		"herd_upstream_errors_total{upstream=\"127.0.0.1:3000\",kind=\"timeout\"} 1\n",
		"# TYPE herd_upstream_response_seconds histogram\n",
		"herd_upstream_response_seconds_bucket{upstream=\"127.0.0.1:3000\",le=\"0.001\"} 0\n",
		"herd_upstream_response_seconds_bucket{upstream=\"127.0.0.1:3000\",le=\"0.0025\"} 1\n",
		"herd_upstream_response_seconds_bucket{upstream=\"127.0.0.1:3000\",le=\"0.025\"} 2\n",
		"herd_upstream_response_seconds_bucket{upstream=\"127.0.0.1:3000\",le=\"+Inf\"} 2\n",
		"herd_upstream_response_seconds_sum{upstream=\"127.0.0.1:3000\"} 0.022000\n",
		"herd_upstream_response_seconds_count{upstream=\"127.0.0.1:3000\"} 2\n",
	};
	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
		cr_assert(strstr(m, series[i]), "no %s in: %s", series[i], m);
	const char *types[] = {"herd_upstream_requests_total", "herd_upstream_responses_total",
			       "herd_upstream_errors_total", "herd_upstream_up",
			       "herd_upstream_idle_connections", "herd_upstream_response_seconds"};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		char line[96];
		snprintf(line, sizeof(line), "# TYPE %s ", types[i]);
		const char *at = strstr(m, line);
		cr_assert(at && !strstr(at + 1, line), "one TYPE for %s", types[i]);
	}
	free(m);
	/* The passive back-off counts too. */
	upstream_note_fail(&u[0], UP_ERR_CONNECT, 10);
	upstream_note_fail(&u[0], UP_ERR_CONNECT, 10);
	upstream_note_fail(&u[0], UP_ERR_CONNECT, 10);
	m = render(&t, u, 20);
	cr_assert(strstr(m, "herd_upstream_up{upstream=\"127.0.0.1:3000\"} 0\n"), "%s", m);
	free(m);
	m = render(&t, u, 10 + UP_BACKOFF_MS);
	cr_assert(strstr(m, "herd_upstream_up{upstream=\"127.0.0.1:3000\"} 1\n"), "%s", m);
	free(m);
	free(u);
}

Test(upstream_metrics, nothing_without_routes)
{
	struct upstream_shared *u = shared();
	char *m = render(&t, u, 0);
	cr_assert_str_eq(m, "");
	free(m);
	free(u);
}
