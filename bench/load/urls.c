#include "urls.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int urls_add(struct config *cfg, const char *arg, double weight, char *err, size_t errlen)
{
	if (cfg->ntargets == MAX_URLS) {
		snprintf(err, errlen, "more than %u URLs", MAX_URLS);
		return -1;
	}
	struct url u;
	if (url_parse(&u, arg, err, errlen))
		return -1;
	if (cfg->ntargets == 0) {
		cfg->url = u;
		cfg->url_arg = arg;
	} else if (u.proto != cfg->url.proto || u.tls != cfg->url.tls || u.port != cfg->url.port ||
		   strcmp(u.host, cfg->url.host) != 0) {
		/* one resolved address and one Host header serve every request */
		snprintf(err, errlen, "URL '%s' is not on %s (all URLs share the first one's "
			 "scheme, host and port)", arg, cfg->url_arg);
		return -1;
	}
	/* the path as url_parse took it, but in place: no copy to own */
	const char *path = strstr(arg, "://");
	path = path ? strchr(path + 3, '/') : NULL;
	size_t len = path ? strcspn(path, "#") : 0;
	if (len == 0) {
		path = "/";
		len = 1;
	}
	cfg->targets[cfg->ntargets++] = (struct target){ .arg = arg, .path = path,
							 .path_len = len, .weight = weight };
	return 0;
}

int urls_parse_line(char *line, char **url, double *weight)
{
	char *p = line;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 1;
	*url = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	*weight = 1;
	if (*p == '\0')
		return 0;
	*p++ = '\0';
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	char *end;
	errno = 0;
	double w = strtod(p, &end);
	if (errno || end == p || !isfinite(w) || w <= 0)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end && *end != '#')
		return -1;
	*weight = w;
	return 0;
}

int urls_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot read --urls %s: %s", path, strerror(errno));
		return -1;
	}
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0, added = 0;
	int rc = 0;
	while (getline(&line, &cap, f) > 0) {
		lineno++;
		char *u;
		double w;
		int r = urls_parse_line(line, &u, &w);
		if (r == 1)
			continue;
		/* the URL is kept for messages past this loop's buffer */
		char *keep = r == 0 ? strdup(u) : NULL;
		if (r < 0 || !keep) {
			snprintf(err, errlen, "--urls %s line %u: %s", path, lineno,
				 r < 0 ? "expected 'URL [WEIGHT]' with a weight > 0" : "out of memory");
			rc = -1;
			break;
		}
		char e2[256];
		/* the target points into keep from here on */
		if (urls_add(cfg, keep, w, e2, sizeof(e2))) {
			snprintf(err, errlen, "--urls %s line %u: %s", path, lineno, e2);
			free(keep);
			rc = -1;
			break;
		}
		cfg->targets[cfg->ntargets - 1].owned_arg = true;
		added++;
	}
	free(line);
	fclose(f);
	if (rc == 0 && added == 0) {
		snprintf(err, errlen, "--urls %s has no URL", path);
		rc = -1;
	}
	return rc;
}

void urls_cumulative(const struct config *cfg, double *cum)
{
	double s = 0;
	for (unsigned i = 0; i < cfg->ntargets; i++) {
		s += cfg->targets[i].weight;
		cum[i] = s;
	}
}

unsigned urls_pick(const double *cum, unsigned n, uint64_t *rng)
{
	if (n <= 1)
		return 0;
	double x = (double)(urls_rng_next(rng) >> 11) / 9007199254740992.0 * cum[n - 1];
	unsigned lo = 0, hi = n - 1;
	while (lo < hi) { /* first i with x < cum[i] */
		unsigned mid = (lo + hi) / 2;
		if (x < cum[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}
