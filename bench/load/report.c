#include "report.h"

#include <errno.h>

#include "hgrm.h"
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

/* --conn-rate runs keep-alive connections, but its arrivals are what a reader compares */
static const char *run_mode(const struct config *cfg)
{
	return cfg->conn_rate > 0 ? "conn-rate" : mode_name(cfg->mode);
}

static int first_sample(const struct err_samples *es)
{
	for (int k = 0; k < ERR_KINDS; k++)
		if (es->n[k])
			return k;
	return -1;
}

void report_table(FILE *out, const struct result *r)
{
	const struct config *cfg = r->cfg;
	const struct stats *st = &r->st;
	char a[64], b[64];
	double d = r->duration_s;

	fprintf(out, "herd-load %s  %s  (%s, %u thread%s, %u connection%s%s)\n",
		HERD_LOAD_VERSION, cfg->url_arg, run_mode(cfg), cfg->threads,
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

	if (cfg->conn_rate > 0)
		row(out, "connections", "%llu opened (%.1f/s), %u request%s each",
		    (unsigned long long)st->opened, d > 0 ? (double)st->opened / d : 0.0,
		    cfg->reqs_per_conn, cfg->reqs_per_conn == 1 ? "" : "s");
	row(out, "errors", "%llu", (unsigned long long)stats_errors(st));
	for (int k = 0; k < ERR_KINDS; k++)
		if (st->errors[k])
			row(out, "", "%-16s %llu", err_kind_name[k],
			    (unsigned long long)st->errors[k]);
	/* the first ones of each kind, once: where and what, not just how many */
	for (int k = 0; k < ERR_KINDS; k++)
		for (unsigned i = 0; i < r->errs.n[k]; i++)
			row(out, i == 0 && k == first_sample(&r->errs) ? "first errors" : "",
			    "%-16s %s", err_kind_name[k], r->errs.text[k][i]);
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

static void json_error_samples(FILE *f, const struct err_samples *es)
{
	fprintf(f, "  \"error_samples\": {");
	bool first = true;
	for (int k = 0; k < ERR_KINDS; k++) {
		if (!es->n[k])
			continue;
		fprintf(f, "%s\"%s\": [", first ? "" : ", ", err_kind_name[k]);
		for (unsigned i = 0; i < es->n[k]; i++) {
			char esc[2 * ERR_SAMPLE_LEN];
			errs_escape(esc, sizeof(esc), es->text[k][i], strlen(es->text[k][i]),
				    ERR_SAMPLE_LEN);
			fprintf(f, "%s\"%s\"", i ? ", " : "", esc);
		}
		fputc(']', f);
		first = false;
	}
	fprintf(f, "},\n");
}

/* A coarse percentile distribution (one row per halving of the distance to
 * 100 %), enough for bench/plot's log-percentile axis without the .hgrm. */
static void json_distribution(FILE *f, const struct hist *h)
{
	struct hgrm_iter it;
	hgrm_iter_init(&it, h, 2);
	fprintf(f, "  \"latency_dist_us\": [");
	bool first = true;
	while (hgrm_next(&it)) {
		fprintf(f, "%s[%.6f, %.3f]", first ? "" : ", ", it.percentile, us(it.value));
		first = false;
	}
	fprintf(f, "],\n");
}

int report_hgrm(const char *path, const struct result *r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		snprintf(err, errlen, "cannot write --latency-dist %s: %s", path, strerror(errno));
		return -1;
	}
	/* 5 ticks per half distance and milliseconds: what wrk2 --u_latency writes */
	int rc = hgrm_write(f, r->lat, 5, 1e6);
	if (fclose(f) != 0 || rc < 0) {
		snprintf(err, errlen, "cannot write --latency-dist %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
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
		run_mode(r->cfg), r->cfg->threads, r->cfg->conns);
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
	if (r->cfg->conn_rate > 0)
		fprintf(f, "  \"conn_rate\": {\"target\": %.3f, \"connections\": %llu, "
			"\"per_s\": %.3f, \"reqs_per_conn\": %u},\n", r->cfg->conn_rate,
			(unsigned long long)st->opened, d > 0 ? (double)st->opened / d : 0.0,
			r->cfg->reqs_per_conn);
	json_error_samples(f, &r->errs);
	json_distribution(f, r->lat);
	const struct timeline *tl = &r->tl;
	if (r->cfg->timeline) {
		fprintf(f, "  \"timeline\": [");
		for (size_t i = 0; i < tl->nrows; i++) {
			const struct series_row *s = &tl->rows[i];
			fprintf(f, "%s\n    {\"t\": %.3f, \"requests\": %llu, \"errors\": %llu, "
				"\"p50_us\": %.3f, \"p99_us\": %.3f, \"max_us\": %.3f, \"open\": %llu}",
				i ? "," : "", s->t, (unsigned long long)s->requests,
				(unsigned long long)s->errors, us(s->p50_ns), us(s->p99_ns),
				us(s->max_ns), (unsigned long long)s->open);
		}
		fprintf(f, "%s],\n", tl->nrows ? "\n  " : "");
	}
	fprintf(f, "  \"series\": [");
	for (size_t i = 0; i < tl->nrows; i++) {
		const struct series_row *s = &tl->rows[i];
		fprintf(f, "%s\n    {\"t\": %.3f, \"requests\": %llu, \"errors\": %llu, "
			"\"p99_us\": %.3f}", i ? "," : "", s->t, (unsigned long long)s->requests,
			(unsigned long long)s->errors, us(s->p99_ns));
	}
	fprintf(f, "%s]\n}\n", tl->nrows ? "\n  " : "");
	if (fclose(f) != 0) {
		snprintf(err, errlen, "cannot write --json %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
