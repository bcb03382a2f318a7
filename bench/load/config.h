/* Run configuration, filled by args_parse and read-only afterwards. */
#ifndef HERD_LOAD_CONFIG_H
#define HERD_LOAD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "url.h"

#define HERD_LOAD_VERSION "0.1.0"

#define MAX_THREADS 256
#define MAX_HEADERS 64
#define MAX_CPUS 1024
#define MAX_CONNS 1000000u
#define MAX_PIPELINE 1024u
#define MAX_PAYLOAD (1u << 20)
#define MAX_URLS 1024
#define MAX_BODY (64u << 20)

/* One of the URLs a run picks from; all share the first one's host and port. */
struct target {
	const char *arg;  /* as given, for messages */
	const char *path; /* request target: into arg, or "/" when the URL has none */
	size_t path_len;  /* up to a '#': the fragment is never sent */
	double weight;    /* > 0; picked with probability weight / sum */
	bool owned_arg;   /* arg read from --urls, freed with the config */
};

enum mode {
	MODE_KEEPALIVE, /* closed loop over persistent connections (default) */
	MODE_CLOSE,     /* one TCP connection per request */
	MODE_STORM,     /* N connections at once, one request each */
	MODE_IDLE,      /* N connections, one request each, then held idle */
};

struct config {
	struct url url;
	enum mode mode;
	unsigned threads;
	unsigned conns;         /* for storm/idle: their N */
	unsigned pipeline;
	unsigned payload;       /* tcp:// only */
	double duration_s;      /* 0 = no time limit (-n without -d) */
	bool duration_set;
	uint64_t requests;      /* -n, 0 = unlimited */
	double warmup_s;
	double timeout_s;
	double rate;            /* requests/s overall, 0 = closed loop */
	bool linger0;
	/* https:// */
	bool insecure;          /* no certificate verification */
	const char *cacert;     /* verify against this file, not the system's CAs */
	bool tls_resume;        /* offer the thread's last session on a new connection */
	const char *headers[MAX_HEADERS];
	unsigned nheaders;
	int cpus[MAX_CPUS];
	unsigned ncpus;
	const char *json_path;
	const char *url_arg;
	/* requests: every URL on url's host, picked per request by weight */
	const char *method;     /* "GET" unless -m */
	char *body;             /* --body / --body-string, sent with Content-Length */
	size_t body_len;
	bool has_body;
	struct target targets[MAX_URLS]; /* [0] is url_arg */
	unsigned ntargets;
	/* --conn-rate: new connections per second (open loop), each doing reqs_per_conn */
	double conn_rate;
	unsigned reqs_per_conn;
	/* output */
	bool progress;          /* plain line per second even off a terminal */
	bool timeline;          /* per-second p50/p99/max/open in the JSON */
	const char *latency_dist; /* .hgrm file */
};

/* Frees what --body and --urls read; args_parse does it itself when it fails. */
void config_free(struct config *cfg);

const char *mode_name(enum mode m);

#endif
