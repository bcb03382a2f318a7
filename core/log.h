/* Diagnostics on stderr, one line each, prefixed "herd: ". */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stdint.h>

void herd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Replaces "herd" in the prefix (handler processes: "herd[p1]"). */
void herd_log_tag(const char *tag);

/* Logs at most once per second per *last_sec slot, so a failure that repeats
 * on every loop turn (EMFILE, ENOMEM) cannot flood the log. */
void herd_log_ratelimited(int64_t *last_sec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
