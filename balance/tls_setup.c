/* The HTTPS side of a process (see balance/tls_setup.h). */
#include "balance/tls_setup.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/worker.h"
#include "net/ktls.h"
#include "net/tls_ctx.h"
#include "net/tls_ticket.h"

bool tls_listeners(const struct listen_set *ls)
{
	for (int i = 0; i < ls->n; i++)
		if (ls->l[i].tls)
			return true;
	return false;
}

static uint16_t first_tls_port(const struct listen_set *ls)
{
	for (int i = 0; i < ls->n; i++) {
		if (!ls->l[i].tls)
			continue;
		const struct sockaddr_storage *ss = &ls->bound[i].ss;
		if (ss->ss_family == AF_INET6)
			return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	}
	return 0;
}

static struct tls_ctx *load(const struct herd_config *cfg, struct tls_tickets *keys, bool ktls,
			    char *err, size_t len)
{
	struct tls_keypair pairs[HERD_MAX_CERTS];
	for (int i = 0; i < cfg->ntls; i++)
		pairs[i] = (struct tls_keypair){cfg->tls[i].cert, cfg->tls[i].key};
	if (cfg->ntls == 0) {
		snprintf(err, len, "a TLS listener (--listen-tls, or a socket named tls/https) "
				   "needs --tls-cert and --tls-key");
		return NULL;
	}
	return tls_ctx_new(pairs, cfg->ntls, keys, ktls ? TLS_CTX_KTLS : 0, err, len);
}

void tls_log_kernel(void)
{
	char why[160];
	if (ktls_available(why, sizeof(why)))
		herd_log("tls: kernel TLS: the kernel encrypts after each handshake (tls ULP), "
			 "file bodies go by sendfile");
	else
		herd_log("tls: user-space TLS: no kernel TLS here (%s); OpenSSL encrypts, file "
			 "bodies are copied through it",
			 why);
}

int tls_rotation_start(struct tls_rotation *r, void *keys, double every_s)
{
	*r = (struct tls_rotation){.keys = keys, .every_ms = config_ms(every_s), .next_ms = -1};
	if (tls_tickets_init(keys) < 0) {
		herd_log("tls: cannot make the session-ticket keys");
		return -1;
	}
	return 0;
}

void tls_rotation_tick(struct tls_rotation *r, int64_t now_ms)
{
	if (!r->keys)
		return;
	if (r->next_ms < 0)
		r->next_ms = now_ms + r->every_ms;
	if (now_ms < r->next_ms)
		return;
	if (tls_tickets_rotate(r->keys) < 0)
		herd_log("tls: session-ticket key rotation failed; keeping the current key");
	r->next_ms = now_ms + r->every_ms;
}

int tls_setup_check(const struct herd_config *cfg, const char *when)
{
	char err[512];
	struct tls_ctx *ctx = load(cfg, NULL, false, err, sizeof(err));
	if (!ctx) {
		herd_log("%stls: %s", when, err);
		return -1;
	}
	tls_ctx_unref(ctx);
	return 0;
}

int tls_setup_init(struct tls_setup *ts, const struct herd_config *cfg,
		   const struct listen_set *ls, struct tls_tickets *keys, bool quiet)
{
	*ts = (struct tls_setup){0};
	if (!tls_listeners(ls))
		return 0;
	char why[160], err[512];
	ts->ktls = ktls_available(why, sizeof(why));
	if (!quiet)
		tls_log_kernel();
	if (!keys) {
		ts->own_keys = calloc(1, tls_tickets_size());
		if (!ts->own_keys || tls_rotation_start(&ts->rot, ts->own_keys,
							cfg->tls_ticket_rotate_s) < 0) {
			free(ts->own_keys);
			ts->own_keys = NULL;
			return -1;
		}
		keys = ts->own_keys;
	}
	struct tls_ctx *ctx = load(cfg, keys, ts->ktls, err, sizeof(err));
	if (!ctx) {
		herd_log("tls: %s", err);
		free(ts->own_keys);
		*ts = (struct tls_setup){0};
		return -1;
	}
	tls_slot_init(&ts->slot, ctx);
	ts->keys = keys;
	ts->on = true;
	ts->https_port = first_tls_port(ls);
	return 0;
}

void tls_setup_worker(const struct tls_setup *ts, struct worker *t)
{
	t->tls = ts->on ? (struct tls_slot *)&ts->slot : NULL;
	t->ktls = ts->ktls;
}

void tls_setup_reload(struct tls_setup *ts, const struct herd_config *cfg)
{
	char err[512];
	struct tls_ctx *ctx = load(cfg, ts->keys, ts->ktls, err, sizeof(err));
	if (!ctx) {
		herd_log("SIGHUP: tls: keeping the certificates in use: %s", err);
		return;
	}
	tls_slot_set(&ts->slot, ctx);
	herd_log("SIGHUP: tls: certificates re-read (%d pair%s); new handshakes use them",
		 cfg->ntls, cfg->ntls == 1 ? "" : "s");
}

void tls_setup_tick(struct tls_setup *ts, int64_t now_ms)
{
	tls_rotation_tick(&ts->rot, now_ms);
}

void tls_setup_destroy(struct tls_setup *ts)
{
	if (ts->on)
		tls_slot_destroy(&ts->slot);
	free(ts->own_keys);
	*ts = (struct tls_setup){0};
}
