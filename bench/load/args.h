/* Command line parsing; never prints or exits, so tests can drive it. */
#ifndef HERD_LOAD_ARGS_H
#define HERD_LOAD_ARGS_H

#include <stddef.h>

#include "config.h"

enum args_result { ARGS_OK, ARGS_HELP, ARGS_VERSION, ARGS_ERROR };

enum args_result args_parse(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* "0", "0-3,6": CPU numbers below ncpu_conf. Returns count or -1 with err. */
int args_parse_cpus(const char *s, int *out, unsigned max_out, unsigned ncpu_conf,
		    char *err, size_t errlen);

/* Seconds with an optional unit suffix: "10", "1.5", "250ms", "2m". */
int args_parse_seconds(const char *s, double *out);

extern const char args_usage[];

#endif
