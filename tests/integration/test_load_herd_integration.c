/*
 * herd-load's request options against the real herd ($HERD_BIN, $HERD_LOAD):
 * POST bodies, a weighted URL mix, --conn-rate, --timeline and the .hgrm
 * file.  Each run is short (1-2 s) and bounded.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

TestSuite(load_herd, .fini = harness_fini, .timeout = 60);

static char *url(const struct herd *h, const char *path)
{
	char *u;
	cr_assert(asprintf(&u, "http://127.0.0.1:%d%s", h->port, path) > 0);
	return u;
}

static long long metric(const struct herd *h, const char *name)
{
	char *m = h_metrics_assert(h->admin_port, __LINE__);
	long long v = 0;
	cr_assert(h_metric_sum(m, name, &v) > 0, "%s missing", name);
	free(m);
	return v;
}

static char *run_load(const char *const *args)
{
	struct h_load l;
	h_load_start(&l, args);
	return h_load_finish(&l, 20000);
}

/* herd reads and discards a request's body and answers; the next request on
 * the same connection must then parse, so no error and no new connection. */
HTEST(load_herd, post_bodies_answered)
{
	struct herd srv;
	herd_start(&srv, "--workers", "1", "--admin", "127.0.0.1:0");
	char body[3000];
	memset(body, 'b', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	long long acc0 = metric(&srv, "herd_accepted_total");
	char *u = url(&srv, "/plaintext");
	char *json = run_load((const char *const[]){ "-c", "4", "-d", "1", "-m", "POST",
						     "--body-string", body, u, NULL });
	long long reqs = h_json_number(json, "requests");
	cr_expect_gt(reqs, 100, "%s", json);
	cr_expect_eq(h_json_number(json, "errors"), 0, "%s", json);
	/* every request got an answer, whatever its status */
	const char *codes = strstr(json, "\"status_codes\": {");
	cr_assert(codes);
	long long answered = 0;
	for (const char *p = codes + 17; *p && *p != '}'; ) {
		int code;
		long long n;
		int used;
		if (sscanf(p, " \"%d\": %lld%n", &code, &n, &used) != 2)
			break;
		answered += n;
		p += used;
		if (*p == ',')
			p++;
	}
	cr_expect_eq(answered, reqs, "%s", json);
	/* 4 connections and herd-load's reachability probe */
	cr_expect_leq(metric(&srv, "herd_accepted_total") - acc0, 5, "bodies broke keep-alive");
	free(json);
	free(u);
}

/* /plaintext weight 3, /json weight 1: herd's access log counts the paths. */
HTEST(load_herd, weighted_mix)
{
	char logpath[] = "/tmp/herd-load-mix-XXXXXX", urls[] = "/tmp/herd-load-urls-XXXXXX";
	int lfd = mkstemp(logpath), ufd = mkstemp(urls);
	cr_assert(lfd >= 0 && ufd >= 0);
	close(lfd);
	struct herd srv;
	herd_start(&srv, "--workers", "1", "--access-log", logpath);
	FILE *uf = fdopen(ufd, "w");
	fprintf(uf, "# the mix\nhttp://127.0.0.1:%d/plaintext 3\nhttp://127.0.0.1:%d/json 1\n",
		srv.port, srv.port);
	fclose(uf);
	char *json = run_load((const char *const[]){ "-c", "4", "-n", "8000", "--urls", urls,
						     NULL });
	cr_expect_eq(h_json_number(json, "requests"), 8000, "%s", json);
	cr_expect_eq(h_json_number(json, "errors"), 0, "%s", json);
	/* the log is written as requests finish; the server's exit flushes it */
	herd_signal(&srv, SIGTERM);
	cr_assert(herd_wait_exit(&srv, 10000));
	FILE *f = fopen(logpath, "r");
	cr_assert(f);
	char line[2048];
	long long plain = 0, js = 0;
	while (fgets(line, sizeof(line), f)) {
		plain += strstr(line, "\"GET /plaintext ") != NULL;
		js += strstr(line, "\"GET /json ") != NULL;
	}
	fclose(f);
	cr_expect_eq(plain + js, 8000, "%lld + %lld", plain, js);
	double share = (double)plain / (double)(plain + js);
	/* binomial sd is 0.5 %; 3 % is six of them */
	cr_expect(share > 0.72 && share < 0.78, "/plaintext share %.3f (%lld of %lld)", share,
		  plain, plain + js);
	unlink(logpath);
	unlink(urls);
	free(json);
}

/* 200 new connections a second for 2 s, 3 requests each: herd accepts 400
 * (and the probe), within 5 %. */
HTEST(load_herd, conn_rate_achieved)
{
	struct herd srv;
	herd_start(&srv, "--workers", "1", "--admin", "127.0.0.1:0");
	char *u = url(&srv, "/plaintext");
	long long acc0 = metric(&srv, "herd_accepted_total");
	char *json = run_load((const char *const[]){ "-c", "32", "-d", "2", "--conn-rate", "200",
						     "--reqs-per-conn", "3", u, NULL });
	long long accepted = metric(&srv, "herd_accepted_total") - acc0 - 1;
	cr_expect(accepted >= 380 && accepted <= 420, "herd accepted %lld, want 400 +- 5%%",
		  accepted);
	const char *cr = strstr(json, "\"conn_rate\"");
	cr_assert(cr, "%s", json);
	long long opened = h_json_number(cr, "connections");
	cr_expect(opened >= 380 && opened <= 420, "%lld", opened);
	/* connections still busy when the run ends (at most -c) did fewer than 3 */
	long long reqs = h_json_number(json, "requests");
	cr_expect(reqs <= 3 * opened && reqs >= 3 * (opened - 32), "%lld requests, %lld opened",
		  reqs, opened);
	cr_expect_eq(h_json_number(json, "errors"), 0, "%s", json);
	free(json);
	free(u);
}

static int count(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* --timeline has a row a second; --latency-dist writes a .hgrm whose rows
 * and footer agree with the JSON. */
HTEST(load_herd, timeline_and_hgrm)
{
	struct herd srv;
	herd_start(&srv, "--workers", "1");
	char *u = url(&srv, "/plaintext");
	char hgrm[] = "/tmp/herd-load-hgrm-XXXXXX";
	int hfd = mkstemp(hgrm);
	cr_assert(hfd >= 0);
	close(hfd);
	char *json = run_load((const char *const[]){ "-c", "4", "-d", "2", "--timeline",
						     "--latency-dist", hgrm, u, NULL });
	const char *tl = strstr(json, "\"timeline\": [");
	cr_assert(tl, "%s", json);
	const char *tl_end = strchr(tl, ']');
	char *rows = strndup(tl, (size_t)(tl_end - tl));
	cr_expect_eq(count(rows, "\"p50_us\""), 2, "one row per second of -d 2: %s", rows);
	cr_expect_eq(count(rows, "\"open\": 4"), 2, "%s", rows);
	free(rows);
	long long reqs = h_json_number(json, "requests");

	FILE *f = fopen(hgrm, "r");
	cr_assert(f);
	char line[256];
	cr_assert(fgets(line, sizeof(line), f));
	cr_expect(strstr(line, "Value") && strstr(line, "Percentile") &&
		  strstr(line, "TotalCount") && strstr(line, "1/(1-Percentile)"), "%s", line);
	double prev_v = 0, prev_p = -1, last_p = 0;
	long long last_n = 0, total = -1, nrows = 0;
	int buckets = 0, sub = 0;
	while (fgets(line, sizeof(line), f)) {
		double v, p, inv;
		long long n;
		if (line[0] == '\n')
			continue;
		if (line[0] == '#') {
			sscanf(line, "#[Max = %*f, Total count = %lld]", &total);
			sscanf(line, "#[Buckets = %d, SubBuckets = %d]", &buckets, &sub);
			continue;
		}
		cr_assert_eq(sscanf(line, "%lf %lf %lld %lf", &v, &p, &n, &inv), 4, "%s", line);
		cr_expect(v >= prev_v && p >= prev_p && n >= last_n, "not monotonic: %s", line);
		prev_v = v;
		prev_p = p;
		last_p = p;
		last_n = n;
		nrows++;
	}
	fclose(f);
	cr_expect_gt(nrows, 20);
	cr_expect_float_eq(last_p, 1.0, 1e-9);
	cr_expect_eq(last_n, reqs);
	cr_expect_eq(total, reqs);
	cr_expect(buckets > 0 && sub == 2048, "%d %d", buckets, sub);
	unlink(hgrm);
	free(json);
	free(u);
}
