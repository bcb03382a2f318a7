/* The HTTPS side of a process: its certificates (loaded at start, re-read
 * on SIGHUP), the session-ticket keys every worker and every handler
 * process shares (rotated by the one process that owns them), and whether
 * the kernel takes the record layer.  Workers see it through w->tls and
 * w->ktls. */
#ifndef HERD_TLS_SETUP_H
#define HERD_TLS_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "balance/listen_socket.h"
#include "core/config.h"
#include "net/tls_slot.h"

struct tls_tickets;
struct worker;

/* The ticket keys' schedule, kept by their owner: the single process, or
 * the supervisor of handler processes. */
struct tls_rotation {
	struct tls_tickets *keys;
	int64_t every_ms, next_ms;
};

struct tls_setup {
	bool on;   /* the process has TLS listeners */
	bool ktls; /* the kernel has the tls ULP */
	uint16_t https_port; /* the first TLS listener's, for --redirect-https */
	struct tls_slot slot;
	struct tls_tickets *keys;     /* the supervisor's, or own_keys */
	struct tls_tickets *own_keys; /* made here when no supervisor's are given */
	struct tls_rotation rot;
};

bool tls_listeners(const struct listen_set *ls);

/* A process with TLS listeners loads cfg's certificate pairs.  keys: the
 * supervisor's ticket keys (a handler process), or NULL to make and rotate
 * them here.  quiet: the supervisor already said which TLS it uses.  0, or
 * -1 after logging the file and the reason. */
int tls_setup_init(struct tls_setup *ts, const struct herd_config *cfg,
		   const struct listen_set *ls, struct tls_tickets *keys, bool quiet);
void tls_setup_worker(const struct tls_setup *ts, struct worker *t);
/* SIGHUP: new handshakes use the files as they are now; on failure the
 * old certificates stay, and why is logged. */
void tls_setup_reload(struct tls_setup *ts, const struct herd_config *cfg);
void tls_setup_tick(struct tls_setup *ts, int64_t now_ms);
void tls_setup_destroy(struct tls_setup *ts);

/* A supervisor: whether cfg's pairs load (logs why not), the kernel-TLS
 * line, and the keys it owns in keys (SHM_SHARED_SIZE bytes it shares). */
int tls_setup_check(const struct herd_config *cfg, const char *when);
int tls_rotation_start(struct tls_rotation *r, void *keys, double every_s);
void tls_rotation_tick(struct tls_rotation *r, int64_t now_ms);
void tls_log_kernel(void);

#endif
