/* Several URLs on one host (repeated URL arguments, --urls FILE), picked per request by weight. */
#ifndef HERD_LOAD_URLS_H
#define HERD_LOAD_URLS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Adds one URL; the first sets cfg->url, later ones must name the same
 * scheme, host and port (one address is resolved and connected to). */
int urls_add(struct config *cfg, const char *arg, double weight, char *err, size_t errlen);

/* One "URL [WEIGHT]" per line; blank lines and '#' comments skipped. */
int urls_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Splits a line in place: *url and *weight (1 when absent).  0 for a URL
 * line, 1 for a blank or comment line, -1 for a malformed one. */
int urls_parse_line(char *line, char **url, double *weight);

/* cum[i] = weight[0] + ... + weight[i], for urls_pick. */
void urls_cumulative(const struct config *cfg, double *cum);

/* Index i with probability weight[i] / total; *rng is the caller's state
 * (a worker's own, so picking takes no lock). */
unsigned urls_pick(const double *cum, unsigned n, uint64_t *rng);

static inline uint64_t urls_rng_next(uint64_t *s)
{
	/* xorshift64*: a few cycles, and good enough to spread a mix */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

#endif
