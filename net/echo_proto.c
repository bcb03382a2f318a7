/* The echo protocol: every byte back.  Backpressure comes from the caller:
 * input the output buffer cannot take is left unconsumed, and a connection
 * with output pending is not read. */
#include "net/proto.h"

size_t echo_feed(struct proto_state *st, const char *in, size_t len, struct proto_env *env)
{
	size_t n = outbuf_room(env->out);
	if (n < len)
		st->flags |= PROTO_OUT_FULL;
	else
		n = len;
	outbuf_put(env->out, in, n);
	if (n)
		env->tally.requests++;
	return n;
}

const struct proto proto_echo = {
	.name = "echo",
	.feed = echo_feed,
	/* A byte stream has no request boundary to wait for. */
	.drain_waits_for_next = false,
};
