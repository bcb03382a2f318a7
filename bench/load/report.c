#include "report.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

void report_fmt_ns(char *buf, size_t len, uint64_t ns)
{
	double us = (double)ns / 1e3;
	if (us < 10)
		snprintf(buf, len, "%.2fus", us);
	else if (us < 100)
		snprintf(buf, len, "%.1fus", us);
	else if (us < 1000)
		snprintf(buf, len, "%.0fus", us);
	else if (us < 1e6)
		snprintf(buf, len, us < 1e4 ? "%.2fms" : us < 1e5 ? "%.1fms" : "%.0fms", us / 1e3);
	else
		snprintf(buf, len, "%.2fs", us / 1e6);
}

static void fmt_bytes(char *buf, size_t len, double b)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.2f %s" : "%.0f %s", b, unit[i]);
}

static const double pcts[] = { 50, 90, 99, 99.9, 99.99 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99.9", "p99.99" };
static const char *const pct_keys[] = { "p50", "p90", "p99", "p999", "p9999" };
#define NPCT (sizeof(pcts) / sizeof(pcts[0]))

void report_progress(FILE *out, double elapsed, double rps, uint64_t errors, uint64_t p99_ns,
		     bool warmup)
{
	char p99[32];
	report_fmt_ns(p99, sizeof(p99), p99_ns);
	if (warmup)
		fprintf(out, "\r\033[K  %6.0fs  warming up", elapsed);
	else
		fprintf(out, "\r\033[K  %6.0fs  %12.1f req/s  %8llu errors  p99 %s", elapsed, rps,
			(unsigned long long)errors, p99);
	fflush(out);
}

static void row(FILE *out, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void row(FILE *out, const char *label, const char *fmt, ...)
{
	va_list ap;
	fprintf(out, "  %-16s", label);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
}

static void percentile_row(FILE *out, const char *label, const struct hist *h, const char *none)
{
	char a[64], b[64];
	fprintf(out, "  %-16s", label);
	if (h->count == 0) {
		fprintf(out, "%s\n", none);
		return;
	}
	for (size_t i = 0; i < NPCT; i++) {
		report_fmt_ns(a, sizeof(a), hist_percentile(h, pcts[i]));
		fprintf(out, "%-10s", a);
	}
	report_fmt_ns(a, sizeof(a), h->max);
	report_fmt_ns(b, sizeof(b), (uint64_t)hist_mean(h));
	fprintf(out, "%-10s%-10s\n", a, b);
}

void report_table(FILE *out, const struct result *r)
{
	const struct config *cfg = r->cfg;
	const struct stats *st = &r->st;
	char a[64], b[64];
	double d = r->duration_s;

	fprintf(out, "herd-load %s  %s  (%s, %u thread%s, %u connection%s%s)\n",
		HERD_LOAD_VERSION, cfg->url_arg, mode_name(cfg->mode), cfg->threads,
		cfg->threads == 1 ? "" : "s", cfg->conns, cfg->conns == 1 ? "" : "s",
		r->interrupted ? ", interrupted" : "");
	row(out, "requests", "%llu", (unsigned long long)st->requests);
	row(out, "duration", "%.3f s", d);
	row(out, "req/s", "%.1f", d > 0 ? (double)st->requests / d : 0.0);
	fmt_bytes(a, sizeof(a), (double)st->bytes_read);
	fmt_bytes(b, sizeof(b), d > 0 ? (double)st->bytes_read / d : 0.0);
	row(out, "transfer", "%s read (%s/s)", a, b);
	fmt_bytes(a, sizeof(a), (double)st->bytes_written);
	row(out, "", "%s written", a);

	if (cfg->mode == MODE_STORM)
		row(out, "storm", "%llu of %u connections answered in %.3f s",
		    (unsigned long long)st->answered, cfg->conns, d);
	if (cfg->mode == MODE_IDLE)
		row(out, "idle", "%llu of %u connections stayed open for %.1f s "
		    "(%llu closed by the server)", (unsigned long long)st->held, cfg->conns,
		    cfg->duration_s, (unsigned long long)st->closed_by_server);

	fprintf(out, "  %-16s", "latency");
	for (size_t i = 0; i < NPCT; i++)
		fprintf(out, "%-10s", pct_names[i]);
	fprintf(out, "%-10s%-10s\n", "max", "mean");
	percentile_row(out, "", r->lat, "no responses");
	if (r->hs) {
		/* apart from the request latency: a --close run would otherwise
		 * mix two costs in one figure */
		percentile_row(out, "handshake", r->hs, "no completed handshakes");
		uint64_t n = st->tls_handshakes;
		row(out, "tls", "%llu handshakes, %llu resumed (%.1f%%)", (unsigned long long)n,
		    (unsigned long long)st->tls_resumed,
		    n ? 100.0 * (double)st->tls_resumed / (double)n : 0.0);
	}

	row(out, "errors", "%llu", (unsigned long long)stats_errors(st));
	for (int k = 0; k < ERR_KINDS; k++)
		if (st->errors[k])
			row(out, "", "%-16s %llu", err_kind_name[k],
			    (unsigned long long)st->errors[k]);
	if (cfg->url.proto == PROTO_HTTP) {
		bool any = false;
		for (int s = 0; s < STATUS_MAX; s++) {
			if (!st->status[s])
				continue;
			row(out, any ? "" : "status codes", "%-16d %llu", s,
			    (unsigned long long)st->status[s]);
			any = true;
		}
		if (!any)
			row(out, "status codes", "none");
	}
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static void json_percentiles(FILE *f, const char *key, const struct hist *h)
{
	fprintf(f, "  \"%s\": {", key);
	for (size_t i = 0; i < NPCT; i++)
		fprintf(f, "\"%s\": %.3f, ", pct_keys[i], us(hist_percentile(h, pcts[i])));
	fprintf(f, "\"max\": %.3f, \"mean\": %.3f, \"count\": %llu},\n",
		us(h->count ? h->max : 0), hist_mean(h) / 1e3, (unsigned long long)h->count);
}

int report_json(const char *path, const struct result *r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write --json %s: %s", path, strerror(errno));
		return -1;
	}
	const struct stats *st = &r->st;
	double d = r->duration_s;
	fprintf(f, "{\n  \"requests\": %llu,\n  \"errors\": %llu,\n  \"duration_s\": %.6f,\n"
		"  \"rps\": %.3f,\n", (unsigned long long)st->requests,
		(unsigned long long)stats_errors(st), d,
		d > 0 ? (double)st->requests / d : 0.0);
	fprintf(f, "  \"mode\": \"%s\",\n  \"threads\": %u,\n  \"connections\": %u,\n",
		mode_name(r->cfg->mode), r->cfg->threads, r->cfg->conns);
	fprintf(f, "  \"interrupted\": %s,\n", r->interrupted ? "true" : "false");
	fprintf(f, "  \"bytes_read\": %llu,\n  \"bytes_written\": %llu,\n",
		(unsigned long long)st->bytes_read, (unsigned long long)st->bytes_written);
	json_percentiles(f, "latency_us", r->lat);
	/* after latency_us: readers that take a key's first occurrence keep
	 * getting the request latency */
	if (r->hs) {
		json_percentiles(f, "handshake_us", r->hs);
		fprintf(f, "  \"tls_handshakes\": %llu,\n  \"tls_resumed\": %llu,\n",
			(unsigned long long)st->tls_handshakes,
			(unsigned long long)st->tls_resumed);
	}

	fprintf(f, "  \"errors_by_kind\": {");
	for (int k = 0; k < ERR_KINDS; k++)
		fprintf(f, "%s\"%s\": %llu", k ? ", " : "", err_kind_name[k],
			(unsigned long long)st->errors[k]);
	fprintf(f, "},\n  \"status_codes\": {");
	bool first = true;
	for (int s = 0; s < STATUS_MAX; s++) {
		if (!st->status[s])
			continue;
		fprintf(f, "%s\"%d\": %llu", first ? "" : ", ", s,
			(unsigned long long)st->status[s]);
		first = false;
	}
	fprintf(f, "},\n");
	if (r->cfg->mode == MODE_STORM)
		fprintf(f, "  \"storm\": {\"connections\": %u, \"answered\": %llu, "
			"\"time_s\": %.6f},\n", r->cfg->conns,
			(unsigned long long)st->answered, d);
	if (r->cfg->mode == MODE_IDLE)
		fprintf(f, "  \"idle\": {\"connections\": %u, \"answered\": %llu, "
			"\"stayed_open\": %llu, \"closed_by_server\": %llu, \"hold_s\": %.3f},\n",
			r->cfg->conns, (unsigned long long)st->answered,
			(unsigned long long)st->held, (unsigned long long)st->closed_by_server,
			r->cfg->duration_s);
	fprintf(f, "  \"series\": [");
	for (size_t i = 0; i < r->nrows; i++) {
		const struct series_row *s = &r->rows[i];
		fprintf(f, "%s\n    {\"t\": %.3f, \"requests\": %llu, \"errors\": %llu, "
			"\"p99_us\": %.3f}", i ? "," : "", s->t, (unsigned long long)s->requests,
			(unsigned long long)s->errors, us(s->p99_ns));
	}
	fprintf(f, "%s]\n}\n", r->nrows ? "\n  " : "");
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write --json %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
