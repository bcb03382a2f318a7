/* Static files: which request targets reach which file (directories and
 * 301s, 404s, traversal, symlinks, methods).
 *
 * Each test builds its own tree (see static_util.h).  The tests:
 *
 *   directories      301 with Location (query kept), index.html, 404
 *   not_found        missing files, FIFO, device, dotfiles
 *   traversal        every escape attempt 400/404, never a secret byte
 *   symlinks         out of the root 404, inside served
 *   method           405 with Allow: GET, HEAD on files
 *
 * Runs once per accept mode ($HERD_ACCEPT), like the other integration
 * tests. */
#include "static_util.h"

#include <stdio.h>
#include <string.h>

TestSuite(static_files, .fini = static_fini, .timeout = 30);

/* ---- directories and 404s ------------------------------------------------- */

static void expect_redirect(const char *target, const char *location)
{
	struct h_resp r;
	int st = req("GET", target, NULL, &r);
	cr_assert_eq(st, 301, "GET %s: status %d, want 301", target, st);
	assert_header(&r, "Location", location, target);
	h_resp_free(&r);
}

HTEST(static_files, directories)
{
	make_tree(false);
	start("2");
	expect_redirect("/sub", "/sub/");
	expect_redirect("/sub?a=1&b=%2F", "/sub/?a=1&b=%2F");
	expect_redirect("/sub/deeper", "/sub/deeper/");
	expect_redirect("/site", "/site/");
	expect_redirect("/site?x", "/site/?x");

	struct h_resp r;
	cr_assert_eq(req("GET", "/site/", NULL, &r), 200, "GET /site/: %d", r.status);
	assert_body(&r, SITE_INDEX, strlen(SITE_INDEX), "GET /site/");
	assert_file_headers(&r, "site/index.html", strlen(SITE_INDEX), "text/html; charset=utf-8",
			    "GET /site/");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/site/?q=1", NULL, &r), 200, "GET /site/?q=1: %d", r.status);
	assert_body(&r, SITE_INDEX, strlen(SITE_INDEX), "GET /site/?q=1");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/site/index.html", NULL, &r), 200);
	assert_body(&r, SITE_INDEX, strlen(SITE_INDEX), "GET /site/index.html");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/", NULL, &r), 200, "GET /: %d", r.status);
	assert_body(&r, INDEX_HTML, strlen(INDEX_HTML), "GET /");
	h_resp_free(&r);

	/* A directory without index.html. */
	expect_status("GET", "/sub/", NULL, 404);
	expect_status("GET", "/sub/deeper/", NULL, 404);
	expect_status("GET", "/a/", NULL, 404);
	/* A file inside a directory. */
	cr_assert_eq(req("GET", "/sub/inner.txt", NULL, &r), 200);
	assert_body(&r, "inner\n", 6, "GET /sub/inner.txt");
	h_resp_free(&r);
}

HTEST(static_files, not_found)
{
	make_tree(false);
	start("2");
	static const char *const paths[] = {
		"/nope", "/nope.txt", "/sub/nope.txt", "/nope/", "/nope/deeper.txt",
		"/fifo", "/fifo/", "/null.dev", "/.hidden", "/%2ehidden", "/.git/config", "/.git/", "/.git",
		"/sub/.hidden", "/.", "/sub/...", "/...", "/sub/.nope",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct h_resp r;
		int st = req("GET", paths[i], NULL, &r);
		/* "/." normalizes to the root: served as "/" is fine too. */
		if (!strcmp(paths[i], "/.") && st == 200) {
			h_resp_free(&r);
			continue;
		}
		cr_assert_eq(st, 404, "GET %s: status %d, want 404", paths[i], st);
		cr_assert(!memmem(r.body, r.body_len, "hidden", 6), "GET %s: leaked a dotfile",
			  paths[i]);
		h_resp_free(&r);
	}
	/* The FIFO did not block anything: the server still answers. */
	h_assert_get(srv.port, "/plaintext", PLAIN);
}

/* ---- traversal ------------------------------------------------------------ */

/* No byte of the secret anywhere in the response. */
static void assert_no_secret(const struct h_resp *r, const char *what)
{
	cr_assert(!memmem(r->body, r->body_len, SECRET_MARK, strlen(SECRET_MARK)),
		  "%s: THE SECRET OUTSIDE THE ROOT WAS SERVED: %.80s", what, r->body);
	cr_assert(!memmem(r->body, r->body_len, SECRET, strlen(SECRET)), "%s: secret", what);
	for (int i = 0; i < r->nheaders; i++)
		cr_assert(!strstr(r->values[i], SECRET_MARK), "%s: secret in header %s", what,
			  r->names[i]);
}

HTEST(static_files, traversal)
{
	make_tree(false);
	start("2");
	/* Exactly 400, from the contract. */
	static const char *const bad[] = {
		"/../secret.txt",
		"/%2e%2e/secret.txt",
		"/%2E%2e%2fsecret.txt",
		"/a/../../secret.txt",
		"/..",
		"/../",
		"/a/b/../../../secret.txt",
		"/./../secret.txt",
		"/%2e%2E/%2e%2e/secret.txt",
		"/.%2e/secret.txt",
		"/%2e./secret.txt",
		"/sub/%2e%2e/%2e%2e/secret.txt",
		"/..%2fsecret.txt",
		"/%2fsecret.txt",
		"/sub%2Finner.txt",
		"/sub%2finner.txt",
		"/small.txt%00",
		"/%00",
		"/small%00.txt",
		"/bad%zz",
		"/bad%2",
		"/bad%",
		"/bad%g0.txt",
		"/%%32%65%%32%65/secret.txt",
		"/../root/small.txt",
		"/a/../../root/small.txt",
		"/../../../../../../../../etc/passwd",
		"/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/a/..%2F..%2Fsecret.txt",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct h_resp r;
		int st = req("GET", bad[i], NULL, &r);
		assert_no_secret(&r, bad[i]);
		cr_assert_eq(st, 400, "GET %s: status %d, want 400", bad[i], st);
		h_resp_free(&r);
		st = req("HEAD", bad[i], NULL, &r);
		cr_assert_eq(st, 400, "HEAD %s: status %d, want 400", bad[i], st);
		h_resp_free(&r);
	}
	/* Not escapes (or not well-formed ones): refused with 400 or 404,
	 * never the secret. */
	static const char *const refused[] = {
		"/%252e%252e/secret.txt", /* double encoding: a literal name */
		"/..\\secret.txt",
		"/..%5csecret.txt",
		"/link-dir-out/secret.txt",
		"/link-dir-out/root/../secret.txt",
		"/link-etc/passwd",
		"/link-out.txt",
		"/link-abs.txt",
		"/%2e%2e%5csecret.txt",
		"/...../secret.txt",
		"/sub/../../secret.txt?x",
		"//../secret.txt",
		"/.%00./secret.txt",
		"/%c0%ae%c0%ae/secret.txt", /* overlong UTF-8 dots: just bytes */
		"/secret.txt",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct h_resp r;
		int st = req("GET", refused[i], NULL, &r);
		assert_no_secret(&r, refused[i]);
		cr_assert(st == 400 || st == 404, "GET %s: status %d, want 400 or 404", refused[i],
			  st);
		h_resp_free(&r);
	}
	/* Targets that are not origin-form paths. */
	static const char *const raw[] = {
		"GET ../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET http://t/../secret.txt HTTP/1.1\r\nHost: t\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		struct h_resp r;
		int rc = h_exchange(srv.port, raw[i], &r);
		cr_assert_eq(rc, H_OK, "%.30s: %s", raw[i], h_result_str(rc));
		assert_no_secret(&r, raw[i]);
		cr_assert(r.status == 400 || r.status == 404, "%.30s: status %d", raw[i], r.status);
		h_resp_free(&r);
	}
	/* The same escapes pipelined on one connection after a good request:
	 * every answer in order, none of them the secret. */
	struct h_conn c = open_conn();
	char batch[4096] = "";
	for (size_t i = 0; i < 6; i++) {
		char one[256];
		snprintf(one, sizeof(one), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", bad[i]);
		strcat(batch, one);
	}
	strcat(batch, "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
	cr_assert_eq(h_send_str(c.fd, batch), 0);
	for (size_t i = 0; i < 6; i++) {
		struct h_resp r;
		int rc = h_read_response(&c, &r, false, H_TIMEOUT_MS);
		if (rc != H_OK) /* a 400 may close the connection: fine */
			break;
		assert_no_secret(&r, bad[i]);
		cr_assert_eq(r.status, 400, "pipelined GET %s: %d", bad[i], r.status);
		h_resp_free(&r);
	}
	h_conn_close(&c);
	h_assert_get(srv.port, "/small.txt", SMALL_TXT);
}

HTEST(static_files, symlinks)
{
	make_tree(false);
	start("2");
	const struct tfile *f = tf("f4k.bin");
	struct h_resp r;
	cr_assert_eq(req("GET", "/link-in.bin", NULL, &r), 200, "symlink inside the root: %d",
		     r.status);
	assert_body(&r, f->data, f->size, "GET /link-in.bin");
	h_resp_free(&r);
	cr_assert_eq(req("GET", "/sub/link-up.bin", NULL, &r), 200,
		     "symlink to ../f4k.bin (inside the root): %d", r.status);
	assert_body(&r, f->data, f->size, "GET /sub/link-up.bin");
	h_resp_free(&r);
	static const char *const out[] = {"/link-out.txt", "/link-abs.txt",
					  "/link-dir-out/secret.txt", "/link-etc/passwd",
					  "/link-etc/hostname"};
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		for (int k = 0; k < 2; k++) { /* the second time from the cache */
			int st = req("GET", out[i], NULL, &r);
			assert_no_secret(&r, out[i]);
			cr_assert_eq(st, 404, "GET %s (symlink out of the root): %d, want 404",
				     out[i], st);
			cr_assert(!memmem(r.body, r.body_len, "root:", 5), "GET %s: /etc leaked",
				  out[i]);
			h_resp_free(&r);
		}
	}
	/* The directory symlink out of the root without a slash: no redirect
	 * into it either (a 301 would reveal it is a directory; 404 wanted). */
	expect_status("GET", "/link-dir-out", NULL, 404);
}

HTEST(static_files, method)
{
	make_tree(false);
	start("2");
	static const char *const methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf),
			 "%s /f4k.bin HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc",
			 methods[i]);
		struct h_resp r;
		int rc = h_exchange(srv.port, buf, &r);
		cr_assert_eq(rc, H_OK, "%s /f4k.bin: %s", methods[i], h_result_str(rc));
		cr_assert_eq(r.status, 405, "%s /f4k.bin: %d, want 405", methods[i], r.status);
		assert_header(&r, "Allow", "GET, HEAD", methods[i]);
		h_resp_free(&r);
	}
	/* On a keep-alive connection the body is skipped and the next request
	 * is served. */
	struct h_conn c = open_conn();
	cr_assert_eq(h_send_str(c.fd, "POST /small.txt HTTP/1.1\r\nHost: t\r\n"
				      "Content-Length: 5\r\n\r\nhello"
				      "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
		     0);
	struct h_resp r;
	conn_read(&c, &r, false, "POST /small.txt");
	cr_assert_eq(r.status, 405, "POST /small.txt: %d", r.status);
	assert_header(&r, "Allow", "GET, HEAD", "POST /small.txt");
	h_resp_free(&r);
	conn_read(&c, &r, false, "GET after POST");
	cr_assert_eq(r.status, 200);
	assert_body(&r, SMALL_TXT, strlen(SMALL_TXT), "GET after POST");
	h_resp_free(&r);
	h_conn_close(&c);
	/* A directory and a missing file answer POST with 405 or 404. */
	struct h_resp d;
	cr_assert_eq(h_exchange(srv.port, "POST /nope HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
				&d),
		     H_OK);
	cr_assert(d.status == 404 || d.status == 405, "POST /nope: %d", d.status);
	h_resp_free(&d);
}
