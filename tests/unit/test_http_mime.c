/* Tests for net/mime.c: file name to Content-Type.
 *
 * Inputs are handed over as heap copies of exactly their length, without a
 * NUL, so ASan catches any read past the end. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mime.h"

#include "unit_util.h"

/* ---------------------------------------------------------------- mime */

static const char *mime(const char *p, size_t len)
{
	char *copy = dup_exact(p, len);
	const char *r = mime_type_for(copy, len);
	free(copy);
	cr_assert_not_null(r);
	return r;
}

Test(mime, table)
{
	static const char octet[] = "application/octet-stream";
	static const struct {
		const char *p;
		size_t len;
		const char *type;
	} cases[] = {
		{L("index.html"), "text/html; charset=utf-8"},
		{L("a/b/page.htm"), "text/html; charset=utf-8"},
		{L("style.css"), "text/css; charset=utf-8"},
		{L("app.js"), "text/javascript; charset=utf-8"},
		{L("mod.mjs"), "text/javascript; charset=utf-8"},
		{L("data.json"), "application/json"},
		{L("logo.svg"), "image/svg+xml"},
		{L("a.png"), "image/png"},
		{L("a.jpg"), "image/jpeg"},
		{L("a.jpeg"), "image/jpeg"},
		{L("a.gif"), "image/gif"},
		{L("a.webp"), "image/webp"},
		{L("favicon.ico"), "image/x-icon"},
		{L("robots.txt"), "text/plain; charset=utf-8"},
		{L("m.wasm"), "application/wasm"},
		{L("doc.pdf"), "application/pdf"},
		{L("f.woff2"), "font/woff2"},
		{L("v.mp4"), "video/mp4"},
		/* Case-insensitive. */
		{L("INDEX.HTML"), "text/html; charset=utf-8"},
		{L("x.Htm"), "text/html; charset=utf-8"},
		{L("A.PnG"), "image/png"},
		{L("P.JPEG"), "image/jpeg"},
		{L("F.WOFF2"), "font/woff2"},
		{L("M.MJS"), "text/javascript; charset=utf-8"},
		/* Only the last extension counts. */
		{L("a.tar.gz"), octet},
		{L("a.html.gz"), octet},
		{L("a.gz.html"), "text/html; charset=utf-8"},
		{L("x..txt"), "text/plain; charset=utf-8"},
		/* Defaults. */
		{L(""), octet},
		{L("README"), octet},
		{L("a/b/Makefile"), octet},
		{L("a."), octet},
		{L("a/b."), octet},
		{L("."), octet},
		{L(".."), octet},
		{L("a.woff"), octet},
		{L("a.woff22"), octet},
		{L("a.jsx"), octet},
		{L("a.j"), octet},
		{L("a.json5"), octet},
		{L("a.htmlx"), octet},
		{L("a.xhtml"), octet},
		{L("a.averylongextension"), octet},
		{L("a.HTML "), octet},
		{L("a.h\xd4ml"), octet},
		{L("a.js\0"), octet},
		{L("a.j\0"), octet},
		/* Dotfiles: the leading dot is not an extension. */
		{L(".bashrc"), octet},
		{L("a/.bashrc"), octet},
		{L(".html"), octet},
		{L("a/.txt"), octet},
		{L(".bashrc.txt"), "text/plain; charset=utf-8"},
		{L("a/.x.css"), "text/css; charset=utf-8"},
		/* A dot in a directory name is not an extension. */
		{L("site.html/README"), octet},
		{L("a.png/"), octet},
		{L("a.png/b"), octet},
		{L("/abs/x.css"), "text/css; charset=utf-8"},
		{L("/.bashrc"), octet},
	};
	for (size_t i = 0; i < N(cases); i++) {
		const char *got = mime(cases[i].p, cases[i].len);
		cr_expect_str_eq(got, cases[i].type, "\"%s\": got %s", esc(cases[i].p, cases[i].len),
				 got);
	}
}

Test(mime, length_bounds_input)
{
	cr_assert_str_eq(mime("index.html.gz", 10), "text/html; charset=utf-8");
	cr_assert_str_eq(mime("a.png", 4), "application/octet-stream"); /* "a.pn" */
	cr_assert_str_eq(mime("a.css", 0), "application/octet-stream");
}
