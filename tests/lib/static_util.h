/* Helpers shared by the static-file integration tests of the real binary
 * (test_static*_integration.c): the tree, the server, requests, assertions.
 *
 * Every test builds its own tree with mkdtemp:
 *
 *   BASE/secret.txt         outside the root: no byte of it may ever be served
 *   BASE/root/              --root
 *     index.html, empty.bin (0 B), f1.bin (1 B), f4k.bin, f16k.bin (the
 *     in-memory limit), f16k1.bin (one byte over), f100k.bin, f10m.bin
 *     (only for the tests that need it), small.txt, typed files (.css .js
 *     .json .png .html, no extension), plaintext and json (shadowed by the
 *     built-ins), sub/ (no index, with sub/deeper/ and sub/.hidden), site/
 *     (with index.html), .hidden, .git/config, a FIFO, a character device
 *     (when mknod is permitted), symlinks in and out of the root, a/ (for
 *     /a/../../x)
 *
 * Random contents come from a fixed seed.  Each test file declares the
 * suite: TestSuite(static_files, .fini = static_fini, .timeout = 30). */
#ifndef HERD_TESTS_STATIC_UTIL_H
#define HERD_TESTS_STATIC_UTIL_H

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define PLAIN "Hello, World!"
#define JSON "{\"message\":\"Hello, World!\"}"
#define SECRET "HERD-SECRET-5eed-do-not-serve-this\n"
#define SECRET_MARK "HERD-SECRET"
#define BIG_SIZE (10u * 1024 * 1024)
#define INDEX_HTML "<!doctype html><title>root index</title>\n"
#define SITE_INDEX "<!doctype html><title>site index</title>\n"
#define SMALL_TXT "hello, small file\n"
#define OCTET "application/octet-stream"

/* File scope, not the test's stack: harness_fini() reaches the server after
 * the test body returned (each Criterion test runs in its own process). */
extern struct herd srv;
extern char base_dir[64];  /* BASE, "" when no tree */
extern char root_dir[96];  /* BASE/root */
extern pid_t act_pid;      /* socket-activated server, 0 when none */
extern int act_errfd;      /* its stderr, -1 when none */
extern bool act_passed;
#define NSTALL 8
extern int stall_fd[NSTALL]; /* stalled readers' sockets, -1 when closed */

/* The suites' .fini: closes what a test left open, kills its servers,
 * removes its tree. */
void static_fini(void);

/* ---- the tree ---- */

struct tfile {
	const char *name;
	size_t size;
	uint64_t seed;
	unsigned char *data; /* filled by make_tree */
};

/* The random files of the root (the initializer in static_util.c must
 * match this size). */
extern struct tfile files[7];
#define NFILES (sizeof(files) / sizeof(files[0]))

/* n pseudo-random bytes from seed (the same for the same seed). */
void fill_random(unsigned char *p, size_t n, uint64_t seed);
/* The file called name; fails the test if make_tree did not create it. */
const struct tfile *tf(const char *name);
/* dir/rel into out[cap]; fails the test if it does not fit. */
void path_in(char *out, size_t cap, const char *dir, const char *rel);
/* Creates (or truncates) dir/rel with data[0..len). */
void write_at(const char *dir, const char *rel, const void *data, size_t len);
/* Creates (or truncates) root_dir/rel with s. */
void write_str(const char *rel, const char *s);
/* Builds the tree; f10m.bin only when big. */
void make_tree(bool big);
/* Starts srv with --workers workers --root root_dir. */
void start(const char *workers);

/* ---- requests ---- */

/* method path on a fresh connection with extra header lines (each ending
 * in \r\n); asserts a complete response arrived and returns its status. */
int req(const char *method, const char *path, const char *hdrs, struct h_resp *r);
void expect_status(const char *method, const char *path, const char *hdrs, int status);
/* A keep-alive connection to srv. */
struct h_conn open_conn(void);
void conn_req(struct h_conn *c, const char *method, const char *path, const char *hdrs);
void conn_read(struct h_conn *c, struct h_resp *r, bool head, const char *what);
/* The next response on c is GET /plaintext's: proves that nothing stray
 * (a body after HEAD or 304) was sent before it. */
void conn_expect_plaintext(struct h_conn *c, const char *after);

void assert_body(const struct h_resp *r, const void *want, size_t len, const char *what);
void assert_header(const struct h_resp *r, const char *name, const char *want,
		   const char *what);
/* Exactly one Content-Length, of want. */
void assert_length(const struct h_resp *r, size_t want, const char *what);
/* An IMF-fixdate to a time, or (time_t)-1. */
time_t parse_imf(const char *s);
void format_imf(time_t t, char *out, size_t cap);
/* The headers every 200 file response carries. */
void assert_file_headers(const struct h_resp *r, const char *rel, size_t size,
			 const char *type, const char *what);

#endif
