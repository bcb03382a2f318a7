#include "body.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int body_take(struct config *cfg, char *buf, size_t len, char *err, size_t errlen)
{
	if (cfg->has_body) {
		free(buf);
		snprintf(err, errlen, "--body and --body-string are exclusive and given once");
		return -1;
	}
	cfg->body = buf;
	cfg->body_len = len;
	cfg->has_body = true;
	return 0;
}

int body_set_string(struct config *cfg, const char *s, char *err, size_t errlen)
{
	char *b = strdup(s);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return body_take(cfg, b, strlen(s), err, errlen);
}

int body_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot read --body %s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	while (b) {
		size_t n = fread(b + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len > MAX_BODY) {
			free(b);
			fclose(f);
			snprintf(err, errlen, "--body %s is larger than %u MiB", path, MAX_BODY >> 20);
			return -1;
		}
		if (len == cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	bool bad = !b || ferror(f);
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "cannot read --body %s: %s", path,
			 b ? "read error" : "out of memory");
		free(b);
		return -1;
	}
	return body_take(cfg, b, len, err, errlen);
}
