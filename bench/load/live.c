#include "live.h"

#include "report.h"

void live_init(struct live *lv, FILE *out, bool tty, bool progress, double total_s)
{
	*lv = (struct live){ .out = out, .on = tty || progress, .tty = tty, .total = total_s };
}

void live_format(char *buf, size_t len, const struct live *lv, const struct series_row *row,
		 uint64_t err_total)
{
	char p50[32], p99[32], total[32] = "";
	report_fmt_ns(p50, sizeof(p50), row->p50_ns);
	report_fmt_ns(p99, sizeof(p99), row->p99_ns);
	if (lv->total > 0)
		snprintf(total, sizeof(total), "/%.0fs", lv->total);
	/* one second per row, so its request count is the rate */
	snprintf(buf, len, "%5.0fs%-6s %10llu req/s %8llu errors  p50 %-8s p99 %-8s %6llu open",
		 row->t, total, (unsigned long long)row->requests, (unsigned long long)err_total,
		 p50, p99, (unsigned long long)row->open);
}

void live_second(const struct live *lv, const struct series_row *row, uint64_t err_total)
{
	if (!lv->on)
		return;
	char line[192];
	live_format(line, sizeof(line), lv, row, err_total);
	if (lv->tty)
		fprintf(lv->out, "\r\033[K%s", line);
	else
		fprintf(lv->out, "%s\n", line);
	fflush(lv->out);
}

void live_warmup(const struct live *lv, double elapsed, double warmup_s)
{
	if (!lv->on)
		return;
	fprintf(lv->out, "%s%5.0fs/%.0fs warming up%s", lv->tty ? "\r\033[K" : "", elapsed,
		warmup_s, lv->tty ? "" : "\n");
	fflush(lv->out);
}

void live_end(const struct live *lv)
{
	if (lv->on && lv->tty)
		fputs("\r\033[K", lv->out);
}
