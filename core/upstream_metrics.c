/* The upstreams' series (see core/upstream_metrics.h).  Each series is
 * written per distinct upstream name, the figures of every entry with that
 * name added first into a plain snapshot. */
#include "core/upstream_metrics.h"

#include <stdbool.h>
#include <string.h>

#define RELAXED memory_order_relaxed

/* One upstream's figures, summed over its entries. */
struct up_snap {
	const char *name;
	bool up;
	uint64_t requests, responses[5], errors[UP_ERR_KINDS], hist[UP_HIST_BUCKETS], sum_us;
	int64_t idle;
};

static void add(struct up_snap *d, const struct upstream_shared *u, int64_t now_ms)
{
	d->up = d->up && upstream_usable(u, now_ms);
	d->requests += atomic_load_explicit(&u->requests, RELAXED);
	for (int k = 0; k < 5; k++)
		d->responses[k] += atomic_load_explicit(&u->responses[k], RELAXED);
	for (int k = 0; k < UP_ERR_KINDS; k++)
		d->errors[k] += atomic_load_explicit(&u->errors[k], RELAXED);
	for (int k = 0; k < UP_HIST_BUCKETS; k++)
		d->hist[k] += atomic_load_explicit(&u->hist[k], RELAXED);
	d->sum_us += atomic_load_explicit(&u->time_sum_us, RELAXED);
	d->idle += atomic_load_explicit(&u->idle, RELAXED);
}

/* The distinct upstreams of t, in the order first named. */
static int snapshot(struct up_snap *out, const struct upstream_table *t,
		    const struct upstream_shared *u, int64_t now_ms)
{
	int n = 0;
	for (int i = 0; i < t->naddrs; i++) {
		int k = 0;
		while (k < n && strcmp(out[k].name, t->addrs[i].name) != 0)
			k++;
		if (k == n) {
			memset(&out[n], 0, sizeof(out[n]));
			out[n].name = t->addrs[i].name;
			out[n].up = true;
			n++;
		}
		add(&out[k], &u[i], now_ms);
	}
	return n;
}

/* `NAME{upstream="..."` with the label value escaped as the text format
 * wants (backslash, quote, newline): a Unix path may hold any of them. */
static void open_series(struct counters_sink *s, const char *metric, const char *name)
{
	counters_put(s, "%s{upstream=\"", metric);
	for (const char *p = name; *p; p++) {
		if (*p == '\\' || *p == '"')
			counters_put(s, "\\%c", *p);
		else if (*p == '\n')
			counters_put(s, "\\n");
		else
			counters_put(s, "%c", *p);
	}
	counters_put(s, "\"");
}

static void head(struct counters_sink *s, const char *metric, const char *type, const char *help)
{
	counters_put(s, "# HELP %s %s\n# TYPE %s %s\n", metric, help, metric, type);
}

static void histogram(struct counters_sink *s, const struct up_snap *v, int n)
{
	static const char m[] = "herd_upstream_response_seconds";
	head(s, m, "histogram", "time from sending the request to the end of the response");
	for (int i = 0; i < n; i++) {
		uint64_t cum = 0;
		for (int b = 0; b < UP_HIST_BUCKETS; b++) {
			cum += v[i].hist[b];
			open_series(s, "herd_upstream_response_seconds_bucket", v[i].name);
			if (b < UP_HIST_BUCKETS - 1)
				counters_put(s, ",le=\"%g\"} %llu\n", up_hist_bounds[b],
					     (unsigned long long)cum);
			else
				counters_put(s, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		open_series(s, "herd_upstream_response_seconds_sum", v[i].name);
		counters_put(s, "} %.6f\n", (double)v[i].sum_us / 1e6);
		open_series(s, "herd_upstream_response_seconds_count", v[i].name);
		counters_put(s, "} %llu\n", (unsigned long long)cum);
	}
}

void upstream_render(struct counters_sink *s, const struct upstream_table *t,
		     const struct upstream_shared *u, int64_t now_ms)
{
	static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
	struct up_snap v[HERD_MAX_UPSTREAMS];
	int n = t && u ? snapshot(v, t, u, now_ms) : 0;
	if (n == 0)
		return;

	head(s, "herd_upstream_requests_total", "counter", "requests sent to the upstream");
	for (int i = 0; i < n; i++) {
		open_series(s, "herd_upstream_requests_total", v[i].name);
		counters_put(s, "} %llu\n", (unsigned long long)v[i].requests);
	}
	head(s, "herd_upstream_responses_total", "counter", "upstream responses by status class");
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 5; k++) {
			open_series(s, "herd_upstream_responses_total", v[i].name);
			counters_put(s, ",class=\"%s\"} %llu\n", classes[k],
				     (unsigned long long)v[i].responses[k]);
		}
	head(s, "herd_upstream_errors_total", "counter", "failed upstream exchanges by kind");
	for (int i = 0; i < n; i++)
		for (int k = 0; k < UP_ERR_KINDS; k++) {
			open_series(s, "herd_upstream_errors_total", v[i].name);
			counters_put(s, ",kind=\"%s\"} %llu\n", up_err_names[k],
				     (unsigned long long)v[i].errors[k]);
		}
	head(s, "herd_upstream_up", "gauge",
	     "1 when requests may go to the upstream (health check and passive back-off)");
	for (int i = 0; i < n; i++) {
		open_series(s, "herd_upstream_up", v[i].name);
		counters_put(s, "} %d\n", v[i].up ? 1 : 0);
	}
	head(s, "herd_upstream_idle_connections", "gauge",
	     "pooled idle connections to the upstream, all workers");
	for (int i = 0; i < n; i++) {
		open_series(s, "herd_upstream_idle_connections", v[i].name);
		counters_put(s, "} %lld\n", (long long)(v[i].idle > 0 ? v[i].idle : 0));
	}
	histogram(s, v, n);
}
