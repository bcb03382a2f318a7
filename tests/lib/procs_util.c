/* Helpers shared by the multi-process (--procs) integration tests. */
#include "procs_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Sanitizer builds start and run the server several times slower
 * (tests/run raises $HERD_PROBE_MAX_MS for them): a factor for time bounds. */
int slack(void)
{
	const char *e = getenv("HERD_PROBE_MAX_MS");
	int f = e ? atoi(e) / 500 : 1;
	return f < 1 ? 1 : f > 8 ? 8 : f;
}

void sleep_until(long long t_ms)
{
	long long left = t_ms - h_now_ms();
	if (left > 0)
		h_sleep_ms((int)left);
}

/* ---- /metrics ---- */

int label_int(const char *labels, const char *key)
{
	char pat[32];
	snprintf(pat, sizeof(pat), "%s=\"", key);
	const char *p = strstr(labels, pat);
	return p ? atoi(p + strlen(pat)) : -1;
}

/* The herd_process_info series; returns how many. */
int proc_info(const char *text, struct pinfo *out, int max)
{
	int n = 0;
	for (const char *l = strstr(text, "\nherd_process_info{"); l && n < max;
	     l = strstr(l + 1, "\nherd_process_info{")) {
		char labels[512];
		const char *close = strchr(l, '}');
		if (!close || close - l >= (long)sizeof(labels))
			continue;
		memcpy(labels, l, (size_t)(close - l));
		labels[close - l] = 0;
		struct pinfo *p = &out[n++];
		p->proc = label_int(labels, "proc");
		p->pid = label_int(labels, "pid");
		p->gen = label_int(labels, "generation");
		const char *s = strstr(labels, "state=\"");
		snprintf(p->state, sizeof(p->state), "%.*s", s ? (int)strcspn(s + 7, "\"") : 1,
			 s ? s + 7 : "?");
	}
	return n;
}

bool in(int pid, const int *set, int n)
{
	for (int i = 0; i < n; i++)
		if (set[i] == pid)
			return true;
	return false;
}

/* Waits until generation `gen` has `nprocs` distinct running handlers in
 * slots 0..nprocs-1, none of them one of the nold pids in old[] (and, if
 * `only`, no other process is listed); pids[k] is slot k's. */
void wait_gen(const struct herd *h, int nprocs, int gen, int *pids, int timeout_ms,
		     bool only, const int *old, int nold)
{
	long long deadline = h_now_ms() + (long long)timeout_ms * slack();
	char *m = NULL;
	for (;;) {
		free(m);
		m = metrics(h);
		struct pinfo p[16];
		int n = proc_info(m, p, 16), ok = 0;
		for (int i = 0; i < n; i++) {
			bool dup = false;
			for (int j = 0; j < i; j++)
				dup = dup || p[j].pid == p[i].pid ||
				      (p[j].proc == p[i].proc && p[j].gen == p[i].gen);
			if (!dup && !in(p[i].pid, old, nold) && p[i].gen == gen &&
			    !strcmp(p[i].state, "running") && p[i].proc >= 0 && p[i].proc < nprocs &&
			    p[i].pid > 1) {
				pids[p[i].proc] = p[i].pid;
				ok++;
			}
		}
		if (ok == nprocs && (!only || n == nprocs))
			break;
		if (h_now_ms() > deadline) {
			const char *info = strstr(m, "herd_process_info");
			cr_assert_fail("no %d running handlers of generation %d within %d ms; "
				       "metrics from herd_process_info on:\n%.1500s",
				       nprocs, gen, timeout_ms * slack(), info ? info : "(none)");
		}
		h_sleep_ms(20);
	}
	free(m);
}

/* ---- processes ---- */

/* PID still exists as a child (running or unreaped) of `parent`. */
bool child_of(int pid, int parent)
{
	int pp;
	return h_proc_stat(pid, NULL, &pp, NULL) && pp == parent;
}

/* PID has exited (a zombie at most: its sockets are closed). */
bool exited(int pid)
{
	char st;
	return !h_proc_stat(pid, &st, NULL, NULL) || st == 'Z' || st == 'X';
}

/* The server's stderr after `from` shows `needle` within timeout_ms (scaled). */
bool wait_log(const struct herd *h, size_t from, const char *needle, int timeout_ms)
{
	return herd_wait_log(h, from, needle, timeout_ms * slack());
}

int count_str(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

void url_of(const struct herd *h, char *url, size_t len)
{
	snprintf(url, len, "http://127.0.0.1:%d/plaintext", h->port);
}

void copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	cr_assert(in >= 0 && out >= 0, "copy %s -> %s: %s", from, to, strerror(errno));
	char buf[65536];
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	close(in);
	cr_assert_eq(close(out), 0);
}


/* Whether a handler of a supervisor that is gone is gone too.  The test
 * process is a child subreaper, so a handler the supervisor did not reap
 * becomes our child: reaped here, it must have exited by itself (status 0);
 * killed by PR_SET_PDEATHSIG means it was still running at the end. */
bool handler_gone(int pid, char *why, size_t len)
{
	int st;
	if (h_child_exited(pid, 0, &st)) {
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			snprintf(why, len, "outlived the supervisor (then status 0x%x)", st);
		return true;
	}
	/* Still running, or not ours to reap: whether it exists at all decides. */
	char path[32];
	snprintf(path, sizeof(path), "/proc/%d", pid);
	if (access(path, F_OK) != 0)
		return true;
	snprintf(why, len, "still exists");
	return false;
}
