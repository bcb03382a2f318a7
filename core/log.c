#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static void vlog(const char *fmt, va_list ap)
{
	/* One fprintf per line: stdio locks the stream, so lines from
	 * different threads do not interleave. */
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "herd: %s\n", line);
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
