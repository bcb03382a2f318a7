#include "run.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "clock.h"
#include "live.h"
#include "worker.h"

volatile sig_atomic_t run_interrupted;

#define POLL_NS (20 * NS_PER_MS) /* main thread's check period */

struct load_sampler {
	struct load_worker *ws;
	unsigned n;
	struct hist *tick;     /* latencies of the current second */
};

/* Moves every worker's interval latencies into the total (and this tick's). */
static void collect(struct load_sampler *s, struct result *res, struct stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < s->n; i++) {
		struct load_worker *w = &s->ws[i];
		pthread_mutex_lock(&w->lock);
		hist_merge(res->lat, w->interval);
		hist_merge(s->tick, w->interval);
		hist_reset(w->interval);
		if (w->hs_interval) {
			hist_merge(res->hs, w->hs_interval);
			hist_reset(w->hs_interval);
		}
		stats_add(sum, &w->st);
		pthread_mutex_unlock(&w->lock);
	}
}

/* "ADDR:PORT" for error descriptions. */
static void format_addr(char *out, size_t len, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		port = ntohs(a->sin_port);
		snprintf(out, len, "%s:%u", ip, port);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		port = ntohs(a->sin6_port);
		snprintf(out, len, "[%s]:%u", ip, port);
	}
}

static void split_work(const struct config *cfg, struct load_worker *ws, uint64_t t_start)
{
	unsigned T = cfg->threads;
	uint64_t quota_left = cfg->requests;
	for (unsigned i = 0; i < T; i++) {
		struct load_worker *w = &ws[i];
		w->id = i;
		w->nconns = cfg->conns / T + (i < cfg->conns % T);
		/* -n and --rate are shared in proportion to connections */
		if (cfg->requests) {
			w->limited = true;
			w->quota = i + 1 == T ? quota_left
					      : cfg->requests * w->nconns / cfg->conns;
			quota_left -= w->quota;
		}
		if (cfg->rate > 0) {
			w->rate = cfg->rate * w->nconns / cfg->conns;
			w->rate_offset_ns = 1e9 / cfg->rate * i;
		}
		if (cfg->conn_rate > 0) {
			w->conn_rate = cfg->conn_rate * w->nconns / cfg->conns;
			w->rate_offset_ns = 1e9 / cfg->conn_rate * i;
		}
		w->cpu = cfg->ncpus ? cfg->cpus[i % cfg->ncpus] : -1;
		w->t_start = t_start;
	}
}

static void free_workers(struct load_worker *ws, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		hist_free(ws[i].interval);
		hist_free(ws[i].hs_interval);
		pthread_mutex_destroy(&ws[i].lock);
	}
	free(ws);
}

int run(const struct config *cfg, const struct sockaddr_storage *addr, socklen_t addrlen,
	const struct request *rq, SSL_CTX *tls, struct result *res, char *err, size_t errlen)
{
	memset(res, 0, sizeof(*res));
	res->cfg = cfg;
	res->lat = hist_new();
	res->hs = tls ? hist_new() : NULL;
	struct load_sampler s = { .n = cfg->threads, .tick = hist_new() };
	struct load_worker *ws = calloc(cfg->threads, sizeof(*ws));
	atomic_bool stop = false;
	if (!res->lat || !s.tick || !ws || (tls && !res->hs)) {
		snprintf(err, errlen, "out of memory");
		hist_free(s.tick);
		free(ws);
		return -1;
	}
	s.ws = ws;

	bool burst = cfg->mode == MODE_STORM || cfg->mode == MODE_IDLE;
	uint64_t t_start = now_ns();
	uint64_t t_stats = t_start + (uint64_t)(cfg->warmup_s * 1e9);
	uint64_t t_end = (cfg->duration_s > 0 && !burst)
				 ? t_stats + (uint64_t)(cfg->duration_s * 1e9) : UINT64_MAX;
	split_work(cfg, ws, t_start);
	unsigned started = 0;
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct load_worker *w = &ws[i];
		w->cfg = cfg;
		w->rq = rq;
		memcpy(&w->addr, addr, addrlen);
		w->addrlen = addrlen;
		format_addr(w->addr_str, sizeof(w->addr_str), addr);
		w->t_stats = t_stats;
		w->t_end = t_end;
		w->timeout_ns = (uint64_t)(cfg->timeout_s * 1e9);
		w->hold_ns = (uint64_t)(cfg->duration_s * 1e9);
		w->stop = &stop;
		w->tls = tls;
		w->ep = -1;
		w->interval = hist_new();
		w->hs_interval = tls ? hist_new() : NULL;
		pthread_mutex_init(&w->lock, NULL);
		if (!w->interval || (tls && !w->hs_interval)) {
			snprintf(err, errlen, "out of memory");
			break;
		}
		int e = pthread_create(&w->tid, NULL, load_worker_main, w);
		if (e) {
			snprintf(err, errlen, "cannot start thread %u: %s", i, strerror(e));
			break;
		}
		started++;
	}
	if (started < cfg->threads) {
		atomic_store(&stop, true);
		for (unsigned i = 0; i < started; i++)
			pthread_join(ws[i].tid, NULL);
		free_workers(ws, cfg->threads);
		hist_free(s.tick);
		return -1;
	}

	struct live lv;
	live_init(&lv, stdout, isatty(STDOUT_FILENO), cfg->progress, burst ? 0 : cfg->duration_s);
	uint64_t t0 = burst ? t_start : t_stats; /* series and progress count from here */
	uint64_t next_tick = t0 + NS_PER_SEC;
	uint64_t next_warm = t_start + NS_PER_SEC;
	/* -n without -d must still end if the server stops answering */
	bool stall_guard = cfg->requests && !cfg->duration_set && !burst;
	uint64_t stall_ns = (uint64_t)(cfg->timeout_s * 3e9);
	if (stall_ns < 10 * NS_PER_SEC)
		stall_ns = 10 * NS_PER_SEC;
	uint64_t last_progress = t0, last_count = 0;
	struct stats sum;
	for (;;) {
		struct timespec ts = { 0, (long)POLL_NS };
		nanosleep(&ts, NULL);
		uint64_t now = now_ns();
		if (run_interrupted) {
			res->interrupted = true;
			break;
		}
		bool all_done = true;
		for (unsigned i = 0; i < cfg->threads; i++)
			all_done &= atomic_load(&ws[i].done);
		if (all_done)
			break;
		if (now < t0) {
			if (now >= next_warm) {
				live_warmup(&lv, (double)(now - t_start) / 1e9, cfg->warmup_s);
				next_warm += NS_PER_SEC;
			}
			continue;
		}
		if (now >= next_tick) {
			collect(&s, res, &sum);
			double t = (double)(next_tick - t0) / 1e9;
			if (timeline_add(&res->tl, t, &sum, s.tick) < 0) {
				snprintf(err, errlen, "out of memory");
				res->interrupted = true;
				break;
			}
			hist_reset(s.tick);
			live_second(&lv, &res->tl.rows[res->tl.nrows - 1], stats_errors(&sum));
			next_tick += NS_PER_SEC;
			if (sum.requests != last_count) {
				last_count = sum.requests;
				last_progress = now;
			} else if (stall_guard && now - last_progress >= stall_ns) {
				fprintf(stderr, "herd-load: no response for %.0f s, stopping early\n",
					(double)stall_ns / 1e9);
				res->interrupted = true;
				break;
			}
		}
	}
	atomic_store(&stop, true);
	for (unsigned i = 0; i < cfg->threads; i++)
		pthread_join(ws[i].tid, NULL);
	live_end(&lv);

	uint64_t t_finish = 0;
	int rc = 0;
	for (unsigned i = 0; i < cfg->threads; i++) {
		if (ws[i].setup_error[0] && rc == 0) {
			snprintf(err, errlen, "%s", ws[i].setup_error);
			rc = -1;
		}
		if (ws[i].t_finish > t_finish)
			t_finish = ws[i].t_finish;
	}
	collect(&s, res, &sum);
	for (unsigned i = 0; i < cfg->threads; i++)
		errs_merge(&res->errs, &ws[i].errs);
	/* the last, partial second, or stragglers folded into the last row */
	if (timeline_finish(&res->tl, (double)(t_finish > t0 ? t_finish - t0 : 0) / 1e9, &sum,
			    s.tick) < 0 && rc == 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	res->st = sum;
	res->duration_s = t_finish > t0 ? (double)(t_finish - t0) / 1e9 : 0;
	free_workers(ws, cfg->threads);
	hist_free(s.tick);
	return rc;
}

void run_result_free(struct result *res)
{
	hist_free(res->lat);
	hist_free(res->hs);
	timeline_free(&res->tl);
	res->lat = NULL;
	res->hs = NULL;
}
