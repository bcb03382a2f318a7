#include "balance/control.h"

#include <errno.h>
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

int handler_format(const struct handler_env *he, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%d:%d:%d:%d:%d:%d:%d:%d:%s", he->slot, he->gen, he->bank,
			 (int)he->supervisor, he->listen_fd, he->shm_fd, he->ctl_fd, he->workers,
			 he->cpus);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

int handler_parse(const char *s, struct handler_env *he)
{
	int sup, used = 0;
	memset(he, 0, sizeof(*he));
	if (sscanf(s, "%d:%d:%d:%d:%d:%d:%d:%d:%n", &he->slot, &he->gen, &he->bank, &sup,
		   &he->listen_fd, &he->shm_fd, &he->ctl_fd, &he->workers, &used) != 8 ||
	    !used || strlen(s + used) >= sizeof(he->cpus))
		return -1;
	he->supervisor = (pid_t)sup;
	strcpy(he->cpus, s + used);
	return he->slot >= 0 && he->workers > 0 && he->listen_fd >= 0 && he->shm_fd >= 0 &&
			       he->ctl_fd >= 0
		       ? 0
		       : -1;
}
