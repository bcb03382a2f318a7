/* The scaling policy: a pure function from what the workers did over the
 * last interval to grow / shrink / hold.  No clocks, no I/O: the caller
 * passes the time, so tables of samples test it completely. */
#ifndef HERD_POLICY_H
#define HERD_POLICY_H

#include <stddef.h>

#include "core/config.h"

/* One sample over all running workers. */
struct scale_view {
	int workers;             /* running (not retiring) */
	double busy_avg;         /* 0..1: share of time not waiting for events */
	double busy_max;
	double accepts_per_s;
	double requests_per_s;
	long conns_active;
	unsigned queue_len;      /* connections waiting in the accept queue */
	unsigned queue_max;      /* its backlog limit */
};

struct scale_policy {
	int min_workers, max_workers;
	double up_busy;         /* grow when the average worker is busier than this */
	double down_busy;       /* shrink when one fewer would still stay under this */
	unsigned queue_up;      /* a queue this long means the workers fall behind */
	int up_samples;         /* consecutive samples of pressure before growing */
	int down_samples;       /* consecutive calm samples before shrinking */
	double up_cooldown_s;   /* after any change, before the next growth */
	double down_cooldown_s; /* after any change, before the next shrink */
};

struct scale_state {
	int over, under;        /* consecutive samples of pressure / calm */
	double last_change_s;   /* negative: never */
};

enum scale_decision { SCALE_HOLD, SCALE_UP, SCALE_DOWN };

void scale_policy_defaults(struct scale_policy *p, int min_workers, int max_workers);
/* The defaults with the range and thresholds of the command line. */
void scale_policy_configure(struct scale_policy *p, const struct herd_config *cfg);
void scale_state_init(struct scale_state *st);

/* Decides for the sample v taken at now_s; `why` gets the reason in words
 * (for the log line of every decision). */
enum scale_decision scale_decide(const struct scale_policy *p, struct scale_state *st,
				 const struct scale_view *v, double now_s, char *why,
				 size_t whylen);

#endif
