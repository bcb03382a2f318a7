/* Helpers shared by the Criterion unit tests (test_static_units.c,
 * test_http_*.c): exact heap copies, printable renderings, a growing buffer,
 * a seeded generator.  Header-only, so each unit test stays one source file
 * (tests/meson.build builds them from 'test_' + name + '.c'). */
#ifndef HERD_TESTS_UNIT_UTIL_H
#define HERD_TESTS_UNIT_UTIL_H

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Literal with its exact length, so embedded NULs count. */
#define L(s) s, sizeof(s) - 1
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A heap copy of exactly n bytes, without a NUL, so ASan catches any read
 * past the end. */
static inline char *dup_exact(const char *s, size_t n)
{
	char *p = malloc(n ? n : 1);
	cr_assert_not_null(p);
	memcpy(p, s, n);
	return p;
}

/* Printable rendering of s[0..n) for failure messages. */
static inline const char *esc(const char *s, size_t n)
{
	static _Thread_local char buf[4][256];
	static _Thread_local int k;
	char *b = buf[k++ & 3], *p = b;
	for (size_t i = 0; i < n && p < b + sizeof(buf[0]) - 8; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7F || c == '\\')
			p += sprintf(p, "\\x%02x", c);
		else
			*p++ = (char)c;
	}
	if (p >= b + sizeof(buf[0]) - 8)
		p += sprintf(p, "...");
	*p = '\0';
	return b;
}

/* The state of rnd(): a test seeds it. */
static uint64_t rng_state;

static inline uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Appends printf output to a growing heap buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static inline void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static inline void sb_puts(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static inline void sb_rep(struct sbuf *b, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sb_add(b, &c, 1);
}

#endif
