/* The herd binary's own routes (core/main.c: /plaintext and /json, and
 * --root's files under "/") for tests that drive http_feed() with plain
 * buffers, as the binary's workers have them.  Header-only. */
#ifndef HERD_TESTS_APP_ROUTES_H
#define HERD_TESTS_APP_ROUTES_H

#include <stdbool.h>
#include <string.h>

#include "net/http_app.h"
#include "net/proto.h"

static int app_routes_plaintext(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	herd_res_type(res, "text/plain");
	herd_res_body_borrow(res, "Hello, World!", 13, NULL, NULL);
	return HERD_DONE;
}

static int app_routes_json(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	static const char body[] = "{\"message\":\"Hello, World!\"}";
	herd_res_type(res, "application/json");
	herd_res_body_borrow(res, body, sizeof(body) - 1, NULL, NULL);
	return HERD_DONE;
}

/* POST /echo: the request's body back, copied (a body collected by the
 * protocol, and one larger than the output buffer's room leaving after its
 * head). */
static int app_routes_echo(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct herd_str b = herd_req_body(req);
	herd_res_type(res, "application/octet-stream");
	herd_res_body(res, b.p, b.len);
	return HERD_DONE;
}

/* Static: the table is large and lives as long as the test process. */
static inline void app_routes_attach(struct proto_env *env, bool files)
{
	static struct app_table table;
	static struct app_worker aw;
	for (int i = 0; i < table.n; i++) {
		free(table.routes[i].method);
		free(table.routes[i].path);
	}
	memset(&table, 0, sizeof(table));
	app_table_add(&table, "GET", "/plaintext", false, false, app_routes_plaintext, NULL);
	app_table_add(&table, "GET", "/json", false, false, app_routes_json, NULL);
	app_table_add(&table, "POST", "/echo", false, false, app_routes_echo, NULL);
	if (files)
		app_table_add(&table, "GET", "/", true, true, NULL, NULL);
	free(aw.scratch.own);
	app_worker_spares_free(&aw);
	memset(&aw, 0, sizeof(aw));
	env->app = &table;
	env->aw = &aw;
}

#endif
