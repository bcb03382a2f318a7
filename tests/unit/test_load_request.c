/* herd-load requests: several URLs and their weights (--urls), bodies, methods. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "body.h"
#include "request.h"
#include "urls.h"

static char err[512];

#define PARSE(cfg, ...) ({ char *argv_[] = { "herd-load", __VA_ARGS__, NULL }; \
	args_parse(cfg, (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, err, sizeof(err)); })

/* A temp file holding text; the caller unlinks it. */
static char *tmpfile_with(const char *text, size_t len)
{
	static char path[64];
	strcpy(path, "/tmp/herd-load-test-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

Test(load_urls, parse_line)
{
	char a[] = "  http://h:1/a   2.5  ", b[] = "http://h:1/b", c[] = "# note", d[] = "   \n";
	char e[] = "http://h:1/e 0", f[] = "http://h:1/f x", g[] = "http://h:1/g 3 # why";
	char *u;
	double w;
	cr_expect_eq(urls_parse_line(a, &u, &w), 0);
	cr_expect_str_eq(u, "http://h:1/a");
	cr_expect_float_eq(w, 2.5, 1e-12);
	cr_expect_eq(urls_parse_line(b, &u, &w), 0);
	cr_expect_float_eq(w, 1.0, 1e-12, "no weight means 1");
	cr_expect_eq(urls_parse_line(c, &u, &w), 1);
	cr_expect_eq(urls_parse_line(d, &u, &w), 1);
	cr_expect_eq(urls_parse_line(e, &u, &w), -1, "a weight must be > 0");
	cr_expect_eq(urls_parse_line(f, &u, &w), -1);
	cr_expect_eq(urls_parse_line(g, &u, &w), 0);
	cr_expect_float_eq(w, 3.0, 1e-12);
}

Test(load_urls, file_and_arguments)
{
	const char text[] = "# mix\nhttp://127.0.0.1:1/b 3\n\nhttp://127.0.0.1:1/c\n";
	char *path = tmpfile_with(text, sizeof(text) - 1);
	struct config c;
	cr_assert_eq(PARSE(&c, "--urls", path, "http://127.0.0.1:1/a"), ARGS_OK, "%s", err);
	cr_assert_eq(c.ntargets, 3);
	cr_expect_str_eq(c.targets[0].path, "/a", "URL arguments come first");
	cr_expect_str_eq(c.targets[1].path, "/b");
	cr_expect_float_eq(c.targets[1].weight, 3.0, 1e-12);
	cr_expect_str_eq(c.targets[2].path, "/c");
	double cum[3];
	urls_cumulative(&c, cum);
	cr_expect_float_eq(cum[2], 5.0, 1e-12);
	config_free(&c);

	/* the file alone is enough */
	cr_assert_eq(PARSE(&c, "--urls", path), ARGS_OK, "%s", err);
	cr_expect_eq(c.ntargets, 2);
	cr_expect_str_eq(c.url.host, "127.0.0.1");
	config_free(&c);
	unlink(path);
}

Test(load_urls, file_errors)
{
	const char other[] = "http://127.0.0.1:1/a\nhttp://127.0.0.1:2/b\n";
	char *path = tmpfile_with(other, sizeof(other) - 1);
	struct config c;
	cr_expect_eq(PARSE(&c, "--urls", path), ARGS_ERROR);
	cr_expect(strstr(err, "line 2") && strstr(err, "not on"), "%s", err);
	unlink(path);

	const char bad[] = "http://127.0.0.1:1/a -1\n";
	path = tmpfile_with(bad, sizeof(bad) - 1);
	cr_expect_eq(PARSE(&c, "--urls", path), ARGS_ERROR);
	cr_expect(strstr(err, "line 1"), "%s", err);
	unlink(path);

	path = tmpfile_with("# nothing\n", 10);
	cr_expect_eq(PARSE(&c, "--urls", path), ARGS_ERROR);
	cr_expect(strstr(err, "no URL"), "%s", err);
	unlink(path);

	cr_expect_eq(PARSE(&c, "--urls", "/nonexistent/urls"), ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "http://127.0.0.1:1/", "https://127.0.0.1:1/"), ARGS_ERROR);
	cr_expect(strstr(err, "not on"), "%s", err);
}

Test(load_urls, pick_follows_weights)
{
	double cum[3] = { 1, 4, 10 }; /* weights 1, 3, 6 */
	unsigned n[3] = { 0 };
	uint64_t rng = 42;
	const unsigned draws = 200000;
	for (unsigned i = 0; i < draws; i++)
		n[urls_pick(cum, 3, &rng)]++;
	cr_expect_float_eq((double)n[0] / draws, 0.1, 0.005, "%u", n[0]);
	cr_expect_float_eq((double)n[1] / draws, 0.3, 0.005, "%u", n[1]);
	cr_expect_float_eq((double)n[2] / draws, 0.6, 0.005, "%u", n[2]);
	cr_expect_eq(urls_pick(cum, 1, &rng), 0);
}

Test(load_body, string_sets_length_and_method)
{
	struct config c;
	cr_assert_eq(PARSE(&c, "-m", "POST", "--body-string", "a=1&b=2", "-H", "X-A: 1",
			   "http://127.0.0.1:1/form"), ARGS_OK, "%s", err);
	struct request rq;
	cr_assert_eq(request_build(&rq, &c, err, sizeof(err)), 0, "%s", err);
	const char want[] = "POST /form HTTP/1.1\r\nHost: 127.0.0.1:1\r\nX-A: 1\r\n"
			    "Content-Length: 7\r\n\r\na=1&b=2";
	cr_expect_eq(rq.one_len, sizeof(want) - 1);
	cr_expect(memcmp(rq.batch, want, sizeof(want) - 1) == 0, "%.*s", (int)rq.one_len,
		  rq.batch);
	request_free(&rq);
	config_free(&c);
}

Test(load_body, file_is_sent_as_is)
{
	const char data[] = { 'x', '\0', '\r', '\n', (char)0xff, 'y' };
	char *path = tmpfile_with(data, sizeof(data));
	struct config c;
	cr_assert_eq(PARSE(&c, "-m", "PUT", "--body", path, "--pipeline", "2",
			   "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	cr_expect_eq(c.body_len, sizeof(data));
	struct request rq;
	cr_assert_eq(request_build(&rq, &c, err, sizeof(err)), 0, "%s", err);
	const char *cl = memmem(rq.batch, rq.one_len, "Content-Length: 6\r\n\r\n", 21);
	cr_assert(cl, "%.*s", (int)rq.one_len, rq.batch);
	cr_expect(memcmp(rq.batch + rq.one_len - sizeof(data), data, sizeof(data)) == 0);
	cr_expect_eq(rq.batch_len, 2 * rq.one_len);
	cr_expect(memcmp(rq.batch, rq.batch + rq.one_len, rq.one_len) == 0, "pipelined copy");
	request_free(&rq);
	config_free(&c);
	unlink(path);
}

Test(load_body, rules)
{
	struct config c;
	/* POST without a body still says how long it is (or servers answer 411) */
	cr_assert_eq(PARSE(&c, "-m", "POST", "http://127.0.0.1:1/"), ARGS_OK, "%s", err);
	struct request rq;
	cr_assert_eq(request_build(&rq, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(memmem(rq.batch, rq.one_len, "Content-Length: 0\r\n", 19));
	request_free(&rq);
	config_free(&c);
	cr_expect_eq(PARSE(&c, "--body-string", "a", "--body-string", "b", "http://127.0.0.1:1/"),
		     ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "--body", "/nonexistent/body", "http://127.0.0.1:1/"), ARGS_ERROR);
	cr_expect(strstr(err, "/nonexistent/body"), "%s", err);
	cr_expect_eq(PARSE(&c, "-m", "post", "http://127.0.0.1:1/"), ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "-m", "HEAD", "http://127.0.0.1:1/"), ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "--body-string", "a", "tcp://127.0.0.1:1"), ARGS_ERROR);
}

Test(load_conn_rate, last_request_closes)
{
	struct config c;
	cr_assert_eq(PARSE(&c, "--conn-rate", "100", "--reqs-per-conn", "3",
			   "http://127.0.0.1:1/a", "http://127.0.0.1:1/b"), ARGS_OK, "%s", err);
	struct request rq;
	cr_assert_eq(request_build(&rq, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(rq.nvar, 2);
	cr_assert(rq.last);
	for (unsigned i = 0; i < 2; i++) {
		cr_expect(!memmem(rq.var[i].batch, rq.var[i].one_len, "Connection: close", 17));
		cr_expect(memmem(rq.last[i].batch, rq.last[i].one_len, "Connection: close", 17));
	}
	cr_expect(memmem(rq.var[1].batch, rq.var[1].one_len, "GET /b ", 7));
	request_free(&rq);
	config_free(&c);
	cr_expect_eq(PARSE(&c, "--reqs-per-conn", "2", "http://127.0.0.1:1/"), ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "--conn-rate", "10", "--close", "http://127.0.0.1:1/"), ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "--conn-rate", "10", "--rate", "5", "http://127.0.0.1:1/"),
		     ARGS_ERROR);
	cr_expect_eq(PARSE(&c, "--conn-rate", "0", "http://127.0.0.1:1/"), ARGS_ERROR);
}

Test(load_urls, path_in_place)
{
	struct config c;
	cr_assert_eq(PARSE(&c, "http://127.0.0.1:1/p?q=1#frag", "http://127.0.0.1:1",
			   "http://127.0.0.1:1/#x"), ARGS_OK, "%s", err);
	struct request rq;
	cr_assert_eq(request_build(&rq, &c, err, sizeof(err)), 0, "%s", err);
	cr_expect(strncmp(rq.var[0].batch, "GET /p?q=1 HTTP/1.1\r\n", 21) == 0, "%s", rq.var[0].batch);
	cr_expect(strncmp(rq.var[1].batch, "GET / HTTP/1.1\r\n", 16) == 0, "%s", rq.var[1].batch);
	cr_expect(strncmp(rq.var[2].batch, "GET / HTTP/1.1\r\n", 16) == 0, "%s", rq.var[2].batch);
	request_free(&rq);
	config_free(&c);
}
