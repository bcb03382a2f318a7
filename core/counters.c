#include "core/counters.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *const herd_err_kind_names[HERD_ERR_KINDS] = {
	[HERD_ERR_ACCEPT] = "accept",
	[HERD_ERR_READ] = "read",
	[HERD_ERR_WRITE] = "write",
	[HERD_ERR_PROTOCOL] = "protocol",
	[HERD_ERR_NOMEM] = "nomem",
	[HERD_ERR_TLS] = "tls",
};

struct worker_counters *counters_alloc(int nworkers)
{
	void *p = NULL;
	size_t size = sizeof(struct worker_counters) * (size_t)nworkers;
	if (posix_memalign(&p, 128, size) != 0)
		return NULL;
	counters_reset(p, nworkers);
	return p;
}

void counters_free(struct worker_counters *c)
{
	free(c);
}

void counters_reset(struct worker_counters *c, int nblocks)
{
	memset(c, 0, sizeof(*c) * (size_t)nblocks);
	for (int i = 0; i < nblocks; i++)
		atomic_store_explicit(&c[i].cpu, -1, memory_order_relaxed);
}

#define ACC(f) CTR_ADD(dst, f, CTR_GET(src, f))
void counters_accumulate(struct worker_counters *dst, const struct worker_counters *src)
{
	ACC(wakeups);
	ACC(accepted);
	ACC(lost_races);
	ACC(requests);
	ACC(bytes_in);
	ACC(bytes_out);
	ACC(conns_active);
	ACC(step_outs);
	ACC(busy_ns);
	for (int k = 0; k < HERD_ERR_KINDS; k++)
		ACC(errors[k]);
	for (int k = 0; k < 3; k++)
		ACC(tls_handshakes[k]);
	for (int k = 0; k < 2; k++)
		ACC(tls_conns[k]);
	int cpu = atomic_load_explicit(&src->cpu, memory_order_relaxed);
	if (cpu >= 0 && (atomic_load_explicit(&src->running, memory_order_relaxed) ||
			 atomic_load_explicit(&dst->cpu, memory_order_relaxed) < 0))
		atomic_store_explicit(&dst->cpu, cpu, memory_order_relaxed);
	if (atomic_load_explicit(&src->running, memory_order_relaxed))
		atomic_store_explicit(&dst->running, 1, memory_order_relaxed);
}
#undef ACC

void counters_put(struct counters_sink *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = s->len < s->cap ? s->cap - s->len : 0;
	int n = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->len += (size_t)n;
}

struct series {
	const char *name, *type, *help;
	size_t offset;
};

#define SERIES(n, t, h, f) {n, t, h, offsetof(struct worker_counters, f)}
static const struct series per_worker[] = {
	SERIES("herd_wakeups_total", "counter", "epoll wake-ups that reported the listening socket", wakeups),
	SERIES("herd_accepted_total", "counter", "connections accepted", accepted),
	SERIES("herd_lost_races_total", "counter", "wake-ups whose first accept found the queue empty", lost_races),
	SERIES("herd_requests_total", "counter", "requests answered (echo: reads echoed)", requests),
	SERIES("herd_bytes_in_total", "counter", "bytes read from clients", bytes_in),
	SERIES("herd_bytes_out_total", "counter", "bytes written to clients", bytes_out),
	SERIES("herd_connections_active", "gauge", "connections currently open", conns_active),
	SERIES("herd_race_step_outs_total", "counter", "times the worker left the accept race holding over its share of connections", step_outs),
};

static uint64_t field(const struct worker_counters *c, size_t offset)
{
	const _Atomic uint64_t *p = (const _Atomic uint64_t *)((const char *)c + offset);
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* `{proc="k",worker="n"` or `{worker="n"`: the caller closes the brace. */
static void labels(struct counters_sink *s, const struct counters_row *r)
{
	if (r->proc >= 0)
		counters_put(s, "{proc=\"%d\",worker=\"%d\"", r->proc, r->worker);
	else
		counters_put(s, "{worker=\"%d\"", r->worker);
}

/* A counter with one series per worker and per value of a label: the
 * array of n counters at `offset` in each block, named by names[]. */
static void render_by_label(struct counters_sink *s, const struct counters_row *rows, int nrows,
			    const char *name, const char *help, const char *label,
			    const char *const *names, int n, size_t offset)
{
	counters_put(s, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int w = 0; w < nrows; w++)
		for (int k = 0; k < n; k++) {
			counters_put(s, "%s", name);
			labels(s, &rows[w]);
			counters_put(s, ",%s=\"%s\"} %llu\n", label, names[k],
				     (unsigned long long)field(rows[w].c,
							       offset + (size_t)k * sizeof(uint64_t)));
		}
}

size_t counters_render_prometheus(const struct counters_row *rows, int nrows,
				  const struct metrics_gauges *g, char *buf, size_t cap)
{
	struct counters_sink s = {buf, cap, 0};
	counters_put(&s, "# HELP herd_workers worker threads running\n"
			 "# TYPE herd_workers gauge\n");
	counters_put(&s, "herd_workers %d\n", g->workers);
	counters_put(&s, "# HELP herd_scale_events_total workers started or retired by the scaling "
		"policy\n# TYPE herd_scale_events_total counter\n");
	counters_put(&s, "herd_scale_events_total{direction=\"up\"} %llu\n",
	    (unsigned long long)g->scale_up);
	counters_put(&s, "herd_scale_events_total{direction=\"down\"} %llu\n",
	    (unsigned long long)g->scale_down);
	counters_put(&s, "# HELP herd_busy_seconds_total time spent handling events (not waiting)\n"
		"# TYPE herd_busy_seconds_total counter\n");
	for (int w = 0; w < nrows; w++) {
		counters_put(&s, "herd_busy_seconds_total");
		labels(&s, &rows[w]);
		counters_put(&s, "} %.6f\n", (double)CTR_GET(rows[w].c, busy_ns) / 1e9);
	}
	for (size_t k = 0; k < sizeof(per_worker) / sizeof(per_worker[0]); k++) {
		const struct series *sr = &per_worker[k];
		counters_put(&s, "# HELP %s %s\n# TYPE %s %s\n", sr->name, sr->help, sr->name,
			     sr->type);
		for (int w = 0; w < nrows; w++) {
			counters_put(&s, "%s", sr->name);
			labels(&s, &rows[w]);
			counters_put(&s, "} %llu\n", (unsigned long long)field(rows[w].c, sr->offset));
		}
	}
	static const char *const outcome[3] = {"full", "resumed", "failed"};
	static const char *const mode[2] = {"user", "kernel"};
	render_by_label(&s, rows, nrows, "herd_errors_total", "errors by kind", "kind",
			herd_err_kind_names, HERD_ERR_KINDS,
			offsetof(struct worker_counters, errors));
	render_by_label(&s, rows, nrows, "herd_tls_handshakes_total", "TLS handshakes by outcome",
			"result", outcome, 3, offsetof(struct worker_counters, tls_handshakes));
	render_by_label(&s, rows, nrows, "herd_tls_connections_total",
			"TLS connections established, by where records are encrypted", "mode",
			mode, 2, offsetof(struct worker_counters, tls_conns));
	if (s.len < cap)
		buf[s.len] = 0;
	return s.len;
}

void counters_dump(const struct counters_row *rows, int nrows, FILE *out)
{
	uint64_t tot[5] = {0};
	char line[512], who[32];
	for (int w = 0; w < nrows; w++) {
		const struct worker_counters *x = rows[w].c;
		if (rows[w].proc >= 0)
			snprintf(who, sizeof(who), "proc %d worker %d", rows[w].proc, rows[w].worker);
		else
			snprintf(who, sizeof(who), "worker %d", rows[w].worker);
		uint64_t v[5] = {CTR_GET(x, wakeups), CTR_GET(x, accepted), CTR_GET(x, lost_races),
				 CTR_GET(x, requests), CTR_GET(x, conns_active)};
		for (int i = 0; i < 5; i++)
			tot[i] += v[i];
		snprintf(line, sizeof(line),
			 "herd: %s cpu %d: wakeups=%llu accepted=%llu lost_races=%llu "
			 "requests=%llu active=%llu\n",
			 who, atomic_load_explicit(&x->cpu, memory_order_relaxed),
			 (unsigned long long)v[0], (unsigned long long)v[1],
			 (unsigned long long)v[2], (unsigned long long)v[3],
			 (unsigned long long)v[4]);
		fputs(line, out);
	}
	fprintf(out,
		"herd: total: wakeups=%llu accepted=%llu lost_races=%llu requests=%llu "
		"active=%llu\n",
		(unsigned long long)tot[0], (unsigned long long)tot[1], (unsigned long long)tot[2],
		(unsigned long long)tot[3], (unsigned long long)tot[4]);
	fflush(out);
}
