/* The harness's herd-load runner (see harness.h). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* JSON files of herd-load runs not finished (a test failed meanwhile). */
static char load_files[4][40];

void h_load_cleanup(void)
{
	for (int i = 0; i < 4; i++)
		if (load_files[i][0])
			unlink(load_files[i]);
}

/* ---- herd-load ---- */

void h_load_start(struct h_load *l, const char *const *args)
{
	const char *bin = getenv("HERD_LOAD");
	cr_assert(bin && *bin, "HERD_LOAD is not set");
	strcpy(l->json, "/tmp/herd-load-XXXXXX");
	int jfd = mkstemp(l->json);
	cr_assert(jfd >= 0);
	close(jfd);
	const char *argv[32];
	int n = 0;
	argv[n++] = bin;
	for (int i = 0; args[i] && n < 28; i++)
		argv[n++] = args[i];
	argv[n++] = "--json";
	argv[n++] = l->json;
	argv[n] = NULL;
	for (int i = 0; i < 4; i++)
		if (!load_files[i][0]) {
			strcpy(load_files[i], l->json);
			break;
		}
	l->pid = h_spawn(argv, &(struct h_spawn_opts){.out = H_DEVNULL, .die_with_parent = true});
}

char *h_load_finish(struct h_load *l, int timeout_ms)
{
	int status = -1;
	if (!h_child_wait(l->pid, timeout_ms, &status)) {
		unlink(l->json);
		cr_assert_fail("herd-load did not finish in %d ms", timeout_ms);
	}
	for (int i = 0; i < 4; i++)
		if (!strcmp(load_files[i], l->json))
			load_files[i][0] = 0;
	FILE *f = fopen(l->json, "r");
	char *text = calloc(1, 1 << 20);
	size_t got = f ? fread(text, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	unlink(l->json);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "herd-load status 0x%x", status);
	cr_assert_gt(got, 0, "herd-load wrote no JSON");
	return text;
}

long long h_json_number(const char *json, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(json, pat);
	cr_assert(p, "no %s in herd-load's JSON", key);
	return atoll(p + strlen(pat));
}

void h_load_assert_clean(const char *json, const char *what)
{
	const char *codes = strstr(json, "\"status_codes\": {");
	cr_assert(codes, "%s: no status_codes in herd-load's JSON", what);
	codes += strlen("\"status_codes\": {");
	int clen = (int)strcspn(codes, "}");
	long long requests = h_json_number(json, "requests"), errors = h_json_number(json, "errors");
	cr_log_info("%s: %lld requests, %lld errors, status codes {%.*s}", what, requests, errors,
		    clen, codes);
	cr_assert_gt(requests, 100, "%s: only %lld requests", what, requests);
	cr_assert_eq(errors, 0, "%s: %lld errors: %.300s", what, errors,
		     strstr(json, "\"errors_by_kind\""));
	cr_assert(!strncmp(codes, "\"200\": ", 7) && clen < (int)strcspn(codes, ","),
		  "%s: status codes other than 200: {%.*s}", what, clen, codes);
}
