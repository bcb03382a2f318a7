/* The harness's admin /metrics helpers (see harness.h). */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- admin ---- */

char *h_metrics(int admin_port)
{
	struct h_resp r;
	int rc = h_exchange(admin_port, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n", &r);
	if (rc != H_OK || r.status != 200) {
		h_resp_free(&r);
		return NULL;
	}
	return r.body;
}

/* Sums the samples "name[{labels}] value" of name (only those labelled
 * worker="W" when worker >= 0); returns how many there were. */
static int scan_metric(const char *text, const char *name, int worker, long long *out)
{
	size_t nl = strlen(name);
	int found = 0;
	*out = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (*l == '#' || strncmp(l, name, nl) || (l[nl] != '{' && l[nl] != ' '))
			continue;
		const char *v = l + nl;
		if (*v == '{') {
			const char *close = strchr(v, '}');
			if (!close)
				continue;
			if (worker >= 0) {
				char want[32];
				snprintf(want, sizeof(want), "worker=\"%d\"", worker);
				const char *w = strstr(v, want);
				if (!w || w > close)
					continue;
			}
			v = close + 1;
		} else if (worker >= 0) {
			continue;
		}
		char *end;
		double d = strtod(v, &end);
		if (end == v)
			continue;
		*out += (long long)d;
		found++;
	}
	return found;
}

int h_metric_sum(const char *text, const char *name, long long *sum)
{
	return scan_metric(text, name, -1, sum);
}

long long h_metric_worker(const char *text, const char *name, int worker)
{
	long long v;
	return scan_metric(text, name, worker, &v) ? v : -1;
}

long long h_metric_sel(const char *text, const char *name, const char *const *want)
{
	size_t nl = strlen(name);
	long long sum = 0;
	int found = 0;
	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		if (*l == '#' || strncmp(l, name, nl) || (l[nl] != '{' && l[nl] != ' '))
			continue;
		char labels[512] = "";
		const char *v = l + nl;
		if (*v == '{') {
			const char *close = strchr(v, '}');
			if (!close || close - v >= (long)sizeof(labels))
				continue;
			memcpy(labels, v, (size_t)(close - v));
			v = close + 1;
		}
		bool match = true;
		for (const char *const *w = want; *w; w++)
			match = match && strstr(labels, *w);
		if (match) {
			sum += (long long)strtod(v, NULL);
			found++;
		}
	}
	return found ? sum : -1;
}

char *h_metrics_assert(int admin_port, int line)
{
	int fd = h_connect(admin_port);
	cr_assert(fd >= 0, "line %d: connect to the admin port %d failed: %s", line, admin_port,
		  strerror(errno));
	struct h_conn c;
	h_conn_init(&c, fd);
	struct h_resp r;
	int sent = h_send_str(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
	int rc = sent ? H_EOF : h_read_response(&c, &r, false, H_TIMEOUT_MS);
	int err = c.error;
	h_conn_close(&c);
	cr_assert(rc == H_OK && r.status == 200, "line %d: GET /metrics: %s%s (%s), status %d",
		  line, sent ? "send failed, " : "", h_result_str(rc), strerror(err),
		  rc == H_OK ? r.status : 0);
	return r.body;
}
