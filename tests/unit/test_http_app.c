/* Application routes (net/http_app.c) through http_feed() with plain
 * buffers: which route a request reaches, 404/405/501, HEAD on a GET route,
 * what the response setters refuse, bodies read whole for a handler
 * (Content-Length, chunked, split byte by byte, over --max-body), a body
 * larger than the output's room leaving after its head (PROTO_BODY), a
 * deferred answer's stop; and herd_parse_args/herd_set (balance/herd_app.c).
 * The same over real sockets: tests/integration/test_app_integration.c. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/herd.h"
#include "net/http_app.h"
#include "net/http_response.h"
#include "net/proto.h"

#include "unit_util.h"

#define HOST "Host: t\r\n"

static struct {
	struct app_table table;
	struct app_worker aw;
	struct proto_state st;
	struct proto_env env;
	struct outbuf out;
	struct http_clock clk;
	char mem[65536];
	char seen[64];     /* what the last handler saw: "route:method:path:query:body" */
	size_t body_len;
	struct herd_response *deferred;
} fx;

static int h_name(struct herd_request *req, struct herd_response *res, void *user)
{
	struct herd_str m = herd_req_method(req), p = herd_req_path(req), q = herd_req_query(req);
	struct herd_str b = herd_req_body(req);
	fx.body_len = b.len;
	snprintf(fx.seen, sizeof(fx.seen), "%s:%.*s:%.*s:%.*s:%.*s", (const char *)user, (int)m.len,
		 m.p, (int)p.len, p.p, (int)q.len, q.p, (int)(b.len < 8 ? b.len : 8), b.p);
	herd_res_type(res, "text/plain");
	herd_res_body(res, user, strlen(user));
	return HERD_DONE;
}

static int h_echo(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)user;
	struct herd_str b = herd_req_body(req);
	fx.body_len = b.len;
	herd_res_body(res, b.p, b.len);
	return HERD_DONE;
}

static int h_defer(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	fx.deferred = herd_defer(res);
	return HERD_DEFER;
}

/* Defers, then completes at once (as a handler may, e.g. from a cache). */
static int h_defer_now(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	struct herd_response *h = herd_defer(res);
	herd_res_body(h, "now", 3);
	cr_assert_eq(herd_complete(h), 0);
	return HERD_DEFER;
}

static int h_bad(struct herd_request *req, struct herd_response *res, void *user)
{
	(void)req;
	(void)user;
	cr_expect_eq(herd_res_header(res, "X-Split", "a\r\nSet-Cookie: x"), -1);
	cr_expect_eq(herd_res_header(res, "Content-Length", "5"), -1);
	cr_expect_eq(herd_res_header(res, "Bad Name", "v"), -1);
	cr_expect_eq(herd_res_header(res, "X-Ok", "v"), 0);
	herd_res_status(res, 42); /* not a status: the answer is a 500 */
	return HERD_DONE;
}

static void fx_init(void)
{
	for (int i = 0; i < fx.table.n; i++) {
		free(fx.table.routes[i].method);
		free(fx.table.routes[i].path);
	}
	free(fx.aw.scratch.own);
	app_worker_spares_free(&fx.aw);
	memset(&fx, 0, sizeof(fx));
	fx.out = (struct outbuf){.p = fx.mem, .cap = sizeof(fx.mem)};
	http_clock_tick(&fx.clk, 1700000000);
	fx.env = (struct proto_env){.out = &fx.out, .clock = &fx.clk, .max_body = 1000,
				    .app = &fx.table, .aw = &fx.aw};
	struct app_table *t = &fx.table;
	cr_assert_eq(app_table_add(t, "GET", "/a", false, false, h_name, "exact-a"), 0);
	cr_assert_eq(app_table_add(t, "DELETE", "/a", false, false, h_name, "del-a"), 0);
	cr_assert_eq(app_table_add(t, "GET", "/api/", true, false, h_name, "api"), 0);
	cr_assert_eq(app_table_add(t, "GET", "/api/v2/", true, false, h_name, "api2"), 0);
	cr_assert_eq(app_table_add(t, NULL, "/any", false, false, h_name, "any"), 0);
	cr_assert_eq(app_table_add(t, "PURGE", "/cache", false, false, h_name, "purge"), 0);
	cr_assert_eq(app_table_add(t, "POST", "/echo", false, false, h_echo, NULL), 0);
	cr_assert_eq(app_table_add(t, "GET", "/later", false, false, h_defer, NULL), 0);
	cr_assert_eq(app_table_add(t, "GET", "/bad", false, false, h_bad, NULL), 0);
	cr_assert_eq(app_table_add(t, "GET", "/now", false, false, h_defer_now, NULL), 0);
	fx.aw.thread = (unsigned long)pthread_self();
}

static void fx_fini(void)
{
	app_drop(&fx.st);
}

TestSuite(http_app, .init = fx_init, .fini = fx_fini);

/* Feeds a whole stream in pieces of `piece` bytes, keeping what is not
 * consumed, as the engine does; returns the bytes left unconsumed. */
static size_t feed(const char *in, size_t len, size_t piece)
{
	static char kept[1 << 20];
	size_t kept_len = 0;
	for (size_t off = 0; off < len;) {
		size_t n = len - off < piece ? len - off : piece;
		memcpy(kept + kept_len, in + off, n);
		kept_len += n;
		off += n;
		size_t used = http_feed(&fx.st, kept, kept_len, &fx.env);
		memmove(kept, kept + used, kept_len - used);
		kept_len -= used;
	}
	return kept_len;
}

static const char *out_str(void)
{
	fx.mem[fx.out.len < sizeof(fx.mem) ? fx.out.len : sizeof(fx.mem) - 1] = 0;
	return fx.mem;
}

Test(http_app, routes_by_path_and_method)
{
	feed(L("GET /a HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "exact-a:GET:/a::");
	feed(L("DELETE /a HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "del-a:DELETE:/a::");
	feed(L("GET /api/x?q=1 HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "api:GET:/api/x:q=1:");
	feed(L("GET /api/v2/y HTTP/1.1\r\n" HOST "\r\n"), 4096); /* the longer prefix */
	cr_assert_str_eq(fx.seen, "api2:GET:/api/v2/y::");
	feed(L("PATCH /any HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "any:PATCH:/any::");
	feed(L("PURGE /cache HTTP/1.1\r\n" HOST "\r\n"), 4096); /* a method herd does not know */
	cr_assert_str_eq(fx.seen, "purge:PURGE:/cache::");
	cr_assert_eq(fx.env.tally.requests, 6);
	cr_assert_not_null(strstr(out_str(), "Content-Length: 5\r\nContent-Type: text/plain\r\n\r\npurge"),
			   "%s", out_str());
}

Test(http_app, head_on_a_get_route_has_no_body)
{
	feed(L("HEAD /a HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "exact-a:HEAD:/a::");
	const char *o = out_str();
	cr_assert(strstr(o, "Content-Length: 7\r\n"), "%s", o);
	cr_assert(!strstr(o, "exact-a"), "HEAD answered with a body: %s", o);
}

Test(http_app, not_found_not_allowed_not_implemented)
{
	feed(L("GET /nope HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert(strstr(out_str(), "HTTP/1.1 404 "), "%s", out_str());
	fx.out.len = 0;
	feed(L("PUT /a HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n"), 4096);
	cr_assert(strstr(out_str(), "HTTP/1.1 405 "), "%s", out_str());
	cr_assert(strstr(out_str(), "Allow: GET, HEAD, DELETE\r\n"), "%s", out_str());
	fx.out.len = 0;
	feed(L("FROB /a HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert(strstr(out_str(), "HTTP/1.1 501 "), "%s", out_str());
	cr_assert_str_eq(fx.seen, "");
}

Test(http_app, table_refuses_bad_routes)
{
	struct app_table *t = &fx.table;
	cr_expect_eq(app_table_add(t, "GET", "/a", false, false, h_name, "x"), -1); /* duplicate */
	cr_expect_eq(app_table_add(t, "G T", "/b", false, false, h_name, "x"), -1);
	cr_expect_eq(app_table_add(t, "GET", "b", false, false, h_name, "x"), -1);
	cr_expect_eq(app_table_add(t, "GET", "/b c", false, false, h_name, "x"), -1);
	cr_expect_eq(app_table_add(t, "GET", "/b?x", false, false, h_name, "x"), -1);
	cr_expect_eq(app_table_add(t, "GET", "/b", false, false, NULL, "x"), -1);
	cr_expect_eq(app_table_add(t, "GET", "/a", true, false, h_name, "x"), 0); /* a prefix is another route */
}

Test(http_app, setters_refuse_what_would_break_the_response)
{
	feed(L("GET /bad HTTP/1.1\r\n" HOST "\r\n"), 4096);
	const char *o = out_str();
	cr_assert(strstr(o, "HTTP/1.1 500 "), "%s", o);
	cr_assert(!strstr(o, "Set-Cookie"), "%s", o);
	cr_assert(!strstr(o, "X-Ok"), "a failed response keeps none of its fields: %s", o);
}

Test(http_app, body_read_whole_content_length_and_chunked_any_split)
{
	static const char req[] = "POST /echo HTTP/1.1\r\n" HOST "Content-Length: 10\r\n\r\n0123456789"
				  "POST /echo HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n"
				  "3;x=y\r\nabc\r\n4\r\ndefg\r\n0\r\nT: v\r\n\r\n"
				  "GET /a HTTP/1.1\r\n" HOST "\r\n";
	for (size_t piece = 1; piece <= sizeof(req); piece += piece < 8 ? 1 : 37) {
		fx.out.len = 0;
		memset(&fx.st, 0, sizeof(fx.st));
		cr_assert_eq(feed(req, sizeof(req) - 1, piece), 0, "piece %zu", piece);
		const char *o = out_str();
		const char *a = strstr(o, "\r\n\r\n0123456789HTTP/1.1 200");
		cr_assert(a, "piece %zu: %s", piece, o);
		cr_assert(strstr(a, "Content-Length: 7\r\n\r\nabcdefgHTTP/1.1 200"), "piece %zu: %s",
			  piece, o);
		cr_assert(strstr(o, "\r\n\r\nexact-a"), "piece %zu: %s", piece, o);
	}
}

Test(http_app, body_over_max_body_is_413_and_the_handler_is_not_called)
{
	fx.body_len = 12345;
	feed(L("POST /echo HTTP/1.1\r\n" HOST "Content-Length: 1001\r\n\r\n"), 4096);
	cr_assert(strstr(out_str(), "HTTP/1.1 413 "), "%s", out_str());
	cr_assert_eq(fx.body_len, 12345);
	fx.out.len = 0;
	memset(&fx.st, 0, sizeof(fx.st));
	static char big[2200];
	int n = snprintf(big, sizeof(big),
			 "POST /echo HTTP/1.1\r\n" HOST "Transfer-Encoding: chunked\r\n\r\n%x\r\n", 1001);
	memset(big + n, 'z', 1001);
	memcpy(big + n + 1001, "\r\n0\r\n\r\n", 7);
	feed(big, (size_t)n + 1008, 100);
	cr_assert(strstr(out_str(), "HTTP/1.1 413 "), "%s", out_str());
	cr_assert_eq(fx.body_len, 12345, "the handler saw %zu bytes", fx.body_len);
	cr_assert_null(fx.st.app_in, "the body's buffer was freed");
}

Test(http_app, a_body_larger_than_the_room_leaves_after_its_head)
{
	fx.env.max_body = 1 << 20;
	fx.out.cap = 8192; /* a small output buffer: the body cannot fit */
	static char req[8192];
	int n = snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\n" HOST "Content-Length: 6000\r\n\r\n");
	memset(req + n, 'q', 6000);
	feed(req, (size_t)n + 6000, 4096);
	cr_assert(fx.st.flags & PROTO_BODY);
	cr_assert_not_null(fx.st.app_out);
	cr_assert_eq(fx.st.app_out->len, 6000);
	cr_assert(strstr(out_str(), "Content-Length: 6000\r\n"), "%s", out_str());
	/* Nothing more is answered until the engine sent it. */
	cr_assert_eq(http_feed(&fx.st, L("GET /a HTTP/1.1\r\n" HOST "\r\n"), &fx.env), 0);
}

Test(http_app, a_deferred_answer_stops_the_protocol)
{
	size_t left = feed(L("GET /later HTTP/1.1\r\n" HOST "\r\nGET /a HTTP/1.1\r\n" HOST "\r\n"),
			   4096);
	cr_assert(fx.st.flags & PROTO_APP);
	cr_assert_not_null(fx.deferred);
	cr_assert_eq(fx.env.deferred, fx.deferred);
	cr_assert_gt(left, 0, "the pipelined request waits");
	cr_assert_eq(fx.out.len, 0);
	cr_assert_eq(herd_res_worker(fx.deferred), 0);
	/* What the engine does with it: core/app.c; here only freed. */
	free(fx.deferred);
}

Test(http_app, parse_args_takes_herds_flags_and_leaves_the_rest)
{
	struct herd *h = herd_new();
	cr_assert_not_null(h);
	char *argv[] = {"app", "--workers", "2", "--greeting", "hi", "--max-body=10", "x",
			"--redirect-https", "--", "--workers", NULL};
	int argc = 10;
	cr_assert_eq(herd_parse_args(h, &argc, argv), 0);
	cr_assert_eq(argc, 5);
	cr_assert_str_eq(argv[0], "app");
	cr_assert_str_eq(argv[1], "--greeting");
	cr_assert_str_eq(argv[2], "hi");
	cr_assert_str_eq(argv[3], "x");
	cr_assert_str_eq(argv[4], "--workers"); /* after "--": the program's */
	cr_assert_null(argv[5]);
	cr_expect_eq(herd_set(h, "--no-such-flag", "1"), -1);
	cr_expect_eq(herd_set(h, "--workers", NULL), -1);
	cr_expect_eq(herd_set(h, "--redirect-https", NULL), 0);
	cr_expect_eq(herd_set_workers(h, 3), 0);
	herd_free(h);
}

Test(http_app, parse_args_refuses_a_flag_without_its_value)
{
	struct herd *h = herd_new();
	char *argv[] = {"app", "--workers", NULL};
	int argc = 2;
	cr_assert_eq(herd_parse_args(h, &argc, argv), -1);
	herd_free(h);
}

/* A route for one method does not hide a less specific one for another. */
Test(http_app, a_method_finds_its_route_past_a_more_specific_path)
{
	cr_assert_eq(app_table_add(&fx.table, "DELETE", "/api/items", false, false, h_name, "del"), 0);
	feed(L("GET /api/items HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "api:GET:/api/items::");
	feed(L("DELETE /api/items HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_str_eq(fx.seen, "del:DELETE:/api/items::");
	fx.out.len = 0;
	feed(L("PUT /api/items HTTP/1.1\r\n" HOST "Content-Length: 0\r\n\r\n"), 4096);
	cr_assert(strstr(out_str(), "Allow: GET, HEAD, DELETE\r\n"), "%s", out_str());
}

/* A 405 to HEAD has the body's length and no body (a keep-alive client
 * would read it as the next response). */
Test(http_app, head_not_allowed_has_no_body)
{
	feed(L("HEAD /echo HTTP/1.1\r\n" HOST "\r\nGET /a HTTP/1.1\r\n" HOST "\r\n"), 4096);
	const char *o = out_str();
	cr_assert(strstr(o, "HTTP/1.1 405 "), "%s", o);
	cr_assert(strstr(o, "Allow: POST\r\n\r\nHTTP/1.1 200 OK"), "%s", o);
}

/* herd_complete() within the handler that deferred: sent at once, no wait,
 * nothing left to free. */
Test(http_app, completed_within_its_handler)
{
	feed(L("GET /now HTTP/1.1\r\n" HOST "\r\nGET /a HTTP/1.1\r\n" HOST "\r\n"), 4096);
	cr_assert_not(fx.st.flags & PROTO_APP);
	cr_assert_null(fx.env.deferred);
	const char *o = out_str();
	cr_assert(strstr(o, "Content-Length: 3\r\n\r\nnowHTTP/1.1 200 OK"), "%s", o);
}
