/* The upstreams' series in /metrics (Prometheus text), for the admin
 * endpoint of whichever process owns it. */
#ifndef HERD_UPSTREAM_METRICS_H
#define HERD_UPSTREAM_METRICS_H

#include <stdint.h>

#include "core/counters.h"
#include "core/upstream_state.h"

/* Appends, per upstream (label upstream="<name>"): requests, responses by
 * class, errors by kind, up (usable now), idle pooled connections, and the
 * response-time histogram.  Entries of t that share a name (one URL in two
 * routes) are one series: figures added, up only when all are usable.
 * Nothing when t has no upstreams.  now_ms: CLOCK_MONOTONIC. */
void upstream_render(struct counters_sink *s, const struct upstream_table *t,
		     const struct upstream_shared *u, int64_t now_ms);

#endif
