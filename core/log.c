#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Set once at start, before any thread: which process a line comes from. */
static char log_tag[16] = "herd";

void herd_log_tag(const char *tag)
{
	snprintf(log_tag, sizeof(log_tag), "%s", tag);
}

static void vlog(const char *fmt, va_list ap)
{
	/* One fprintf per line: stdio locks the stream, so lines from
	 * different threads do not interleave. */
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s\n", log_tag, line);
}

void herd_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void herd_log_ratelimited(int64_t *last_sec, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	if (*last_sec == (int64_t)ts.tv_sec)
		return;
	*last_sec = (int64_t)ts.tv_sec;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
