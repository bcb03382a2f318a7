/* A libherd program for the edge cases the example does not show (tests:
 * test_app_edge_integration.c): one connection's handler completing
 * another's deferred answer, a deferred answer completed within its own
 * handler, and one never completed (--handler-timeout).
 *
 *   GET  /wait     deferred until a /notify on the same worker
 *   POST /notify   completes every /wait of its worker: "notified N\n"
 *   GET  /now      deferred, then completed before the handler returns
 *   GET  /never    deferred and never completed (freed when orphaned)
 *   GET  /x        "x\n" */
#define _POSIX_C_SOURCE 200809L

#include <herd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WAIT 64

struct waits {
	struct herd_response *res[MAX_WAIT];
	int n;
	int nnever;
	struct herd_response *never[MAX_WAIT];
};

static void *start(int worker, void *user)
{
	(void)worker, (void)user;
	return calloc(1, sizeof(struct waits));
}

/* Orphaned by now (every connection closed): completing only frees. */
static void stop(int worker, void *data, void *user)
{
	(void)worker, (void)user;
	struct waits *w = data;
	for (int i = 0; i < w->n; i++)
		herd_complete(w->res[i]);
	for (int i = 0; i < w->nnever; i++)
		herd_complete(w->never[i]);
	free(w);
}

static int text(struct herd_response *res, const char *s)
{
	herd_res_type(res, "text/plain");
	return herd_res_body(res, s, strlen(s));
}

static int wait_(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct waits *w = herd_req_worker_data(req);
	struct herd_response *h = w->n < MAX_WAIT ? herd_defer(res) : NULL;
	if (!h) {
		herd_res_status(res, 503);
		return HERD_DONE;
	}
	w->res[w->n++] = h;
	return HERD_DEFER;
}

static int notify(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct waits *w = herd_req_worker_data(req);
	int done = 0;
	for (int i = 0; i < w->n; i++) {
		text(w->res[i], "notified\n");
		done += herd_complete(w->res[i]) == 0; /* -1: that client left */
	}
	w->n = 0;
	char body[32];
	snprintf(body, sizeof(body), "notified %d\n", done);
	return text(res, body) == 0 ? HERD_DONE : HERD_DONE;
}

static int now(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req, (void)user;
	struct herd_response *h = herd_defer(res);
	if (!h)
		return text(res, "no memory\n"), HERD_DONE;
	text(h, "now\n");
	herd_complete(h);
	return HERD_DEFER;
}

static int never(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct waits *w = herd_req_worker_data(req);
	struct herd_response *h = w->nnever < MAX_WAIT ? herd_defer(res) : NULL;
	if (!h) {
		herd_res_status(res, 503);
		return HERD_DONE;
	}
	w->never[w->nnever++] = h;
	return HERD_DEFER;
}

static int x(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req, (void)user;
	text(res, "x\n");
	return HERD_DONE;
}

int main(int argc, char **argv)
{
	struct herd *h = herd_new();
	if (!h)
		return 1;
	int rc = herd_parse_args(h, &argc, argv);
	if (rc != 0 || argc > 1) {
		herd_free(h);
		return rc > 0 ? 0 : 2;
	}
	if (herd_route(h, "GET", "/wait", HERD_EXACT, wait_, NULL) ||
	    herd_route(h, "POST", "/notify", HERD_EXACT, notify, NULL) ||
	    herd_route(h, "GET", "/now", HERD_EXACT, now, NULL) ||
	    herd_route(h, "GET", "/never", HERD_EXACT, never, NULL) ||
	    herd_route(h, "GET", "/x", HERD_EXACT, x, NULL)) {
		herd_free(h);
		return 1;
	}
	herd_on_worker(h, start, stop, NULL);
	rc = herd_run(h);
	herd_free(h);
	return rc;
}
