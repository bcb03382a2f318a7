#include "balance/control.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

struct ctl_frame {
	char kind;
	int value;
};

int ctl_send(int fd, enum ctl_kind kind, int value)
{
	struct ctl_frame f = {(char)kind, value};
	return send(fd, &f, sizeof(f), MSG_NOSIGNAL | MSG_DONTWAIT) == (ssize_t)sizeof(f) ? 0 : -1;
}

int ctl_recv(int fd, enum ctl_kind *kind, int *value)
{
	struct ctl_frame f;
	ssize_t n = recv(fd, &f, sizeof(f), MSG_DONTWAIT);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(f))
		return n < 0 && errno != EAGAIN && errno != EINTR ? 0 : -1;
	*kind = (enum ctl_kind)f.kind;
	*value = f.value;
	return 1;
}

/* The listeners as "3,4t,5": each fd, 't' after a TLS one. */
static int format_listeners(const struct handler_env *he, char *buf, size_t len)
{
	size_t at = 0;
	for (int i = 0; i < he->nlisten; i++) {
		int n = snprintf(buf + at, len - at, "%s%d%s", i ? "," : "", he->listeners[i].fd,
				 he->listeners[i].tls ? "t" : "");
		if (n < 0 || (size_t)n >= len - at)
			return -1;
		at += (size_t)n;
	}
	return 0;
}

int handler_format(const struct handler_env *he, char *buf, size_t len)
{
	char ls[16 * HERD_MAX_LISTEN];
	if (format_listeners(he, ls, sizeof(ls)) < 0)
		return -1;
	int n = snprintf(buf, len, "%d:%d:%d:%d:%s:%d:%d:%d:%s", he->slot, he->gen, he->bank,
			 (int)he->supervisor, ls, he->shm_fd, he->ctl_fd, he->workers, he->cpus);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* Reads what format_listeners wrote, up to the ':' after it.  The rest of
 * s, or NULL. */
static const char *parse_listeners(const char *s, struct handler_env *he)
{
	for (;;) {
		char *end;
		long fd = strtol(s, &end, 10);
		if (end == s || fd < 0 || fd > INT_MAX || he->nlisten == HERD_MAX_LISTEN)
			return NULL;
		struct herd_listener *l = &he->listeners[he->nlisten++];
		l->fd = (int)fd;
		l->tls = *end == 't';
		s = end + l->tls;
		if (*s == ':')
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

int handler_parse(const char *s, struct handler_env *he)
{
	int sup, used = 0;
	memset(he, 0, sizeof(*he));
	if (sscanf(s, "%d:%d:%d:%d:%n", &he->slot, &he->gen, &he->bank, &sup, &used) != 4 ||
	    !used || !(s = parse_listeners(s + used, he)))
		return -1;
	used = 0;
	if (sscanf(s, "%d:%d:%d:%n", &he->shm_fd, &he->ctl_fd, &he->workers, &used) != 3 ||
	    !used || strlen(s + used) >= sizeof(he->cpus))
		return -1;
	he->supervisor = (pid_t)sup;
	strcpy(he->cpus, s + used);
	return he->slot >= 0 && he->workers > 0 && he->shm_fd >= 0 && he->ctl_fd >= 0 ? 0 : -1;
}
