/* Reloads in multi-process mode (--procs): SIGHUP starts a new generation
 * of handler processes (fork + exec of the binary on disk) and drains the
 * old one once the new one accepts; a reload that fails keeps the old
 * generation serving. */
#include "procs_util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(reload, .fini = harness_fini, .timeout = 60);

static struct herd srv;

HTEST(reload, two_reloads_under_load_lose_nothing)
{
	herd_start(&srv, PROCS2, "--workers", "4");
	int gens[6]; /* generation g's pids at gens[2 * (g - 1)] */
	wait_running(&srv, 2, 1, gens, 3000);
	char url[64];
	url_of(&srv, url, sizeof(url));
	struct h_load ka, cl;
	h_load_start(&ka, (const char *const[]){"-c", "16", "-d", "8", url, NULL});
	h_load_start(&cl, (const char *const[]){"--close", "-c", "8", "-d", "8", url, NULL});
	h_sleep_ms(1500);
	long long t_hup = 0;
	for (int g = 2; g <= 3; g++) {
		if (g == 3)
			sleep_until(t_hup + 3000);
		size_t mark = herd_stderr_len(&srv);
		t_hup = h_now_ms();
		herd_signal(&srv, SIGHUP);
		char want[96];
		snprintf(want, sizeof(want), "reload: starting generation %d", g);
		cr_assert(wait_log(&srv, mark, want, 3000), "no '%s' line", want);
		snprintf(want, sizeof(want), "reload: generation %d is accepting; draining generation",
			 g);
		cr_assert(wait_log(&srv, mark, want, 5000), "no '%s' line", want);
		long long t_ready = h_now_ms();
		int *cur = gens + 2 * (g - 1), *prev = cur - 2;
		wait_gen(&srv, 2, g, cur, 3000, false, NULL, 0); /* the old one may be draining */
		for (int k = 0; k < 2; k++)
			cr_assert(!in(cur[k], gens, 2 * (g - 1)), "generation %d reuses pid %d", g,
				  cur[k]);
		/* The previous generation is gone (and reaped) within --grace 2. */
		for (int k = 0; k < 2; k++) {
			int pid = prev[k];
			while (child_of(pid, srv.pid) && h_now_ms() < t_ready + 2500L * slack())
				h_sleep_ms(20);
			cr_assert(!child_of(pid, srv.pid),
				  "generation %d's pid %d still there %lld ms after generation %d "
				  "was accepting", g - 1, pid, h_now_ms() - t_ready, g);
		}
	}
	wait_running(&srv, 2, 3, gens + 4, 1000); /* nothing else listed */
	char *a = h_load_finish(&ka, 20000), *b = h_load_finish(&cl, 20000);
	h_load_assert_clean(a, "keep-alive load");
	h_load_assert_clean(b, "--close load");
	char *m = metrics(&srv);
	cr_assert_eq(M(m, "herd_reloads_total", "result=\"ok\""), 2);
	cr_assert_leq(M(m, "herd_reloads_total", "result=\"failed\""), 0);
	cr_assert_eq(M(m, "herd_generation"), 3);
	cr_assert_eq(M(m, "herd_processes"), 2);
	cr_assert_eq(M(m, "herd_workers"), 4);
	free(m);
	free(a);
	free(b);
}

HTEST(reload, failed_reload_keeps_the_old_generation)
{
	char dir[] = "/tmp/herd-procs-bin-XXXXXX", bin[96], real[96], script[96];
	cr_assert(mkdtemp(dir));
	snprintf(bin, sizeof(bin), "%s/herd", dir);
	snprintf(real, sizeof(real), "%s/herd.real", dir);
	snprintf(script, sizeof(script), "%s/herd.new", dir);
	copy_file(getenv("HERD_BIN"), bin);
	copy_file(getenv("HERD_BIN"), real);
	setenv("HERD_BIN", bin, 1); /* this test's process only */
	herd_start(&srv, PROCS2, "--workers", "2");
	int old[2], now[2], fresh[2];
	wait_running(&srv, 2, 1, old, 3000);

	FILE *f = fopen(script, "w");
	cr_assert(f);
	fputs("#!/bin/sh\nexit 1\n", f);
	fclose(f);
	chmod(script, 0755);
	cr_assert_eq(rename(script, bin), 0);
	size_t mark = herd_stderr_len(&srv);
	herd_signal(&srv, SIGHUP);
	cr_assert(wait_log(&srv, mark, "reload failed", 5000), "no 'reload failed' line");
	cr_assert(wait_log(&srv, mark, "generation 1 keeps serving", 100));
	wait_running(&srv, 2, 1, now, 2000); /* only generation 1 listed */
	cr_assert(now[0] == old[0] && now[1] == old[1], "pids %d %d became %d %d", old[0], old[1],
		  now[0], now[1]);
	for (int i = 0; i < 10; i++)
		h_assert_get(srv.port, "/plaintext", PLAIN);
	char *m = metrics(&srv);
	cr_assert_eq(M(m, "herd_reloads_total", "result=\"failed\""), 1);
	cr_assert_leq(M(m, "herd_reloads_total", "result=\"ok\""), 0);
	cr_assert_eq(M(m, "herd_generation"), 1);
	free(m);

	cr_assert_eq(rename(real, bin), 0);
	mark = herd_stderr_len(&srv);
	herd_signal(&srv, SIGHUP);
	cr_assert(wait_log(&srv, mark, "is accepting; draining generation 1", 5000),
		  "the reload with the real binary back did not succeed");
	wait_running(&srv, 2, 2, fresh, 3000 + 2000);
	cr_assert(!in(fresh[0], old, 2) && !in(fresh[1], old, 2), "no new pids after the reload");
	h_assert_get(srv.port, "/json", JSON);
	m = metrics(&srv);
	cr_assert_eq(M(m, "herd_reloads_total", "result=\"ok\""), 1);
	cr_assert_eq(M(m, "herd_reloads_total", "result=\"failed\""), 1);
	cr_assert_eq(M(m, "herd_generation"), 2);
	free(m);
	unlink(bin);
	rmdir(dir);
}
