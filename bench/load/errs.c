#include "errs.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void errs_escape(char *out, size_t cap, const char *data, size_t len, size_t max)
{
	size_t o = 0;
	size_t n = len < max ? len : max;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)data[i];
		if (ch == '\r' || ch == '\n') {
			out[o++] = '\\';
			out[o++] = ch == '\r' ? 'r' : 'n';
		} else if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch >= 0x20 && ch < 0x7f) {
			out[o++] = (char)ch;
		} else {
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
		}
	}
	if (n < len && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o < cap ? o : cap - 1] = '\0';
}

void errs_note(struct err_samples *es, enum err_kind kind, const char *addr, const char *phase,
	       const char *why, const char *data, size_t len)
{
	if (es->n[kind] >= ERR_SAMPLES)
		return;
	char t[ERR_SAMPLE_LEN];
	int w = snprintf(t, sizeof(t), "%s, %s%s%s", addr, phase, why ? ": " : "", why ? why : "");
	if (data && w > 0 && (size_t)w < sizeof(t)) {
		char esc[128];
		errs_escape(esc, sizeof(esc), data, len, 40);
		snprintf(t + w, sizeof(t) - (size_t)w, ", read %zu bytes: \"%s\"", len, esc);
	}
	/* described once: a server failing the same way every time gives one line */
	for (unsigned i = 0; i < es->n[kind]; i++)
		if (strcmp(es->text[kind][i], t) == 0)
			return;
	memcpy(es->text[kind][es->n[kind]++], t, sizeof(t));
}

void errs_merge(struct err_samples *dst, const struct err_samples *src)
{
	for (int k = 0; k < ERR_KINDS; k++)
		for (unsigned i = 0; i < src->n[k] && dst->n[k] < ERR_SAMPLES; i++) {
			bool dup = false;
			for (unsigned j = 0; j < dst->n[k]; j++)
				dup |= strcmp(dst->text[k][j], src->text[k][i]) == 0;
			if (!dup)
				memcpy(dst->text[k][dst->n[k]++], src->text[k][i], ERR_SAMPLE_LEN);
		}
}
