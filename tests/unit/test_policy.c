/* The scaling policy, fed sequences of samples 250 ms apart. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "balance/policy.h"

#define STEP 0.25

struct sample {
	double busy_avg, busy_max;
	unsigned queue;
};

/* Runs `n` samples starting with `workers`, applying each decision to the
 * worker count; returns the count at the end and the decisions made. */
static int run(const struct scale_policy *p, int workers, const struct sample *s, int n,
	       int *ups, int *downs)
{
	struct scale_state st;
	char why[128];
	scale_state_init(&st);
	*ups = *downs = 0;
	for (int i = 0; i < n; i++) {
		struct scale_view v = {.workers = workers,
				       .busy_avg = s[i].busy_avg,
				       .busy_max = s[i].busy_max,
				       .queue_len = s[i].queue,
				       .queue_max = 4096};
		switch (scale_decide(p, &st, &v, i * STEP, why, sizeof(why))) {
		case SCALE_UP:
			workers++;
			(*ups)++;
			break;
		case SCALE_DOWN:
			workers--;
			(*downs)++;
			break;
		case SCALE_HOLD:
			break;
		}
	}
	return workers;
}

static struct scale_policy policy(int min, int max)
{
	struct scale_policy p;
	scale_policy_defaults(&p, min, max);
	return p;
}

static void fill(struct sample *s, int from, int to, double busy, unsigned queue)
{
	for (int i = from; i < to; i++)
		s[i] = (struct sample){busy, busy, queue};
}

Test(policy, steady_moderate_load_holds)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[200];
	fill(s, 0, 200, 0.5, 0);
	int up, down;
	cr_assert_eq(run(&p, 2, s, 200, &up, &down), 2);
	cr_assert_eq(up + down, 0, "a steady 50%% load must not flap (%d up, %d down)", up, down);
}

Test(policy, step_up_grows_to_max_then_holds)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[100];
	fill(s, 0, 100, 0.95, 100);
	int up, down;
	cr_assert_eq(run(&p, 1, s, 100, &up, &down), 4);
	cr_assert_eq(up, 3);
	cr_assert_eq(down, 0);
}

Test(policy, growth_waits_for_cooldown)
{
	struct scale_policy p = policy(1, 8);
	struct sample s[8]; /* 2 s of saturation: one growth, cool-down 1 s, a second */
	fill(s, 0, 8, 0.95, 0);
	int up, down;
	cr_assert_eq(run(&p, 1, s, 8, &up, &down), 3, "%d ups", up);
}

Test(policy, step_down_shrinks_to_min)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[400];
	fill(s, 0, 400, 0.02, 0);
	int up, down;
	cr_assert_eq(run(&p, 4, s, 400, &up, &down), 1);
	cr_assert_eq(up, 0);
	cr_assert_eq(down, 3);
}

Test(policy, shrink_needs_sustained_calm)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[200];
	/* Calm for 2 s, then a busy sample, over and over: never 3 s of calm. */
	for (int i = 0; i < 200; i++)
		s[i] = (struct sample){(i % 8 == 7) ? 0.9 : 0.05, 0.9, 0};
	int up, down;
	run(&p, 3, s, 200, &up, &down);
	cr_assert_eq(down, 0, "spiky load shrank %d times", down);
}

Test(policy, single_spikes_do_not_grow)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[200];
	for (int i = 0; i < 200; i++)
		s[i] = (struct sample){(i % 4 == 0) ? 0.99 : 0.3, 0.99, 0};
	int up, down;
	cr_assert_eq(run(&p, 2, s, 200, &up, &down), 2);
	cr_assert_eq(up, 0, "isolated spikes grew %d times", up);
}

Test(policy, queue_building_while_busy_is_low_grows)
{
	/* Workers report moderate busy but connections pile up in the
	 * backlog: they are not keeping up with arrivals. */
	struct scale_policy p = policy(1, 4);
	struct sample s[20];
	for (int i = 0; i < 20; i++)
		s[i] = (struct sample){0.45, 0.6, 200};
	int up, down;
	cr_assert_gt(run(&p, 1, s, 20, &up, &down), 1);
	cr_assert_eq(down, 0);
}

Test(policy, queue_with_idle_workers_is_a_burst_not_pressure)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[20];
	for (int i = 0; i < 20; i++)
		s[i] = (struct sample){0.05, 0.1, 200};
	int up, down;
	cr_assert_eq(run(&p, 2, s, 20, &up, &down), 2);
	cr_assert_eq(up, 0);
}

Test(policy, all_saturated_at_max_holds)
{
	struct scale_policy p = policy(1, 2);
	struct sample s[100];
	fill(s, 0, 100, 1.0, 4000);
	int up, down;
	cr_assert_eq(run(&p, 2, s, 100, &up, &down), 2);
	cr_assert_eq(up + down, 0);
}

Test(policy, static_when_min_equals_max)
{
	struct scale_policy p = policy(3, 3);
	struct sample s[100];
	fill(s, 0, 50, 1.0, 4000);
	fill(s, 50, 100, 0.0, 0);
	int up, down;
	cr_assert_eq(run(&p, 3, s, 100, &up, &down), 3);
	cr_assert_eq(up + down, 0);
}

Test(policy, below_min_grows_at_once)
{
	struct scale_policy p = policy(2, 4);
	struct sample s[1] = {{0.0, 0.0, 0}};
	int up, down;
	cr_assert_eq(run(&p, 1, s, 1, &up, &down), 2);
}

Test(policy, shrink_keeps_headroom)
{
	/* 2 workers at 30%: one would be at 60%, over down_busy: hold. */
	struct scale_policy p = policy(1, 4);
	struct sample s[200];
	fill(s, 0, 200, 0.30, 0);
	int up, down;
	cr_assert_eq(run(&p, 2, s, 200, &up, &down), 2);
}

Test(policy, step_up_then_down)
{
	struct scale_policy p = policy(1, 4);
	struct sample s[300];
	fill(s, 0, 40, 0.95, 50);
	fill(s, 40, 300, 0.01, 0);
	int up, down;
	cr_assert_eq(run(&p, 1, s, 300, &up, &down), 1);
	cr_assert_eq(up, 3);
	cr_assert_eq(down, 3);
}
