#include "stats.h"

const char *const err_kind_name[ERR_KINDS] = {
	[ERR_CONNECT_REFUSED] = "connect_refused",
	[ERR_CONNECT_RESET] = "connect_reset",
	[ERR_CONNECT_TIMEOUT] = "connect_timeout",
	[ERR_CONNECT_OTHER] = "connect_other",
	[ERR_READ] = "read",
	[ERR_WRITE] = "write",
	[ERR_TIMEOUT] = "timeout",
	[ERR_PROTOCOL] = "protocol",
	[ERR_CLOSED] = "closed",
	[ERR_TLS_VERIFY] = "tls_verify",
	[ERR_TLS] = "tls",
};

void stats_add(struct stats *dst, const struct stats *src)
{
	dst->requests += src->requests;
	dst->bytes_read += src->bytes_read;
	dst->bytes_written += src->bytes_written;
	for (int i = 0; i < ERR_KINDS; i++)
		dst->errors[i] += src->errors[i];
	for (int i = 0; i < STATUS_MAX; i++)
		dst->status[i] += src->status[i];
	dst->answered += src->answered;
	dst->held += src->held;
	dst->closed_by_server += src->closed_by_server;
	dst->tls_handshakes += src->tls_handshakes;
	dst->tls_resumed += src->tls_resumed;
	dst->connected += src->connected;
	dst->disconnected += src->disconnected;
	dst->opened += src->opened;
}

uint64_t stats_errors(const struct stats *s)
{
	uint64_t n = 0;
	for (int i = 0; i < ERR_KINDS; i++)
		n += s->errors[i];
	return n;
}
