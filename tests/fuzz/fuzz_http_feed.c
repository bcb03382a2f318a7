/* libFuzzer target: the HTTP framing state machine (http_feed) fed the
 * input in pieces whose sizes the input itself chooses, as a connection
 * would see it: kept input, bodies across reads, errors, output limits,
 * and the timeout answer for what is left. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>

#include "net/access_log.h"
#include "net/http_app.h"
#include "net/http_response.h"
#include "net/proto.h"

#include "app_routes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char outmem[65536]; /* a worker's output buffer */
	static char kept[2 * HTTP_MAX_HEADER_BYTES + 256];
	struct http_clock clk;
	struct proto_state st;
	struct outbuf out = {.p = outmem, .cap = sizeof(outmem)};

	if (size < 2)
		return 0;
	memset(&clk, 0, sizeof(clk));
	memset(&st, 0, sizeof(st));
	http_clock_tick(&clk, 1700000000);
	/* The access log formats attacker-chosen fields: fuzz it too. */
	static struct access_log log;
	static struct peer_addr peer;
	if (!log.buf && access_log_init(&log, open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
		abort();
	struct proto_env env = {.out = &out, .clock = &clk, .max_body = 4096,
				.log = &log, .peer = &peer};
	/* The binary's routes and POST /echo, whose bodies are read whole. */
	static struct proto_env routes;
	if (!routes.app)
		app_routes_attach(&routes, false);
	env.app = routes.app;
	env.aw = routes.aw;

	/* First byte: piece size; the rest is the stream. */
	size_t piece = (size_t)(data[0] % 64) + 1;
	const char *in = (const char *)data + 1;
	size_t left = size - 1, kept_len = 0;
	while (left) {
		size_t take = left < piece ? left : piece;
		if (kept_len + take > sizeof(kept))
			return 0; /* the server would have answered 431 long before */
		memcpy(kept + kept_len, in, take);
		kept_len += take;
		in += take;
		left -= take;
		do {
			st.flags &= (uint8_t)~PROTO_OUT_FULL;
			size_t used = http_feed(&st, kept, kept_len, &env);
			if (used > kept_len || out.len > out.cap)
				abort();
			memmove(kept, kept + used, kept_len - used);
			kept_len -= used;
			out.len = 0; /* "sent" */
			if (st.flags & PROTO_BODY) { /* a handler's body: "sent" */
				app_drop(&st);
				st.flags |= PROTO_OUT_FULL;
			}
		} while ((st.flags & PROTO_OUT_FULL) && kept_len);
		if (st.flags & (PROTO_CLOSE | PROTO_LINGER)) {
			app_drop(&st);
			return 0;
		}
		/* A kept head never grows past the limit without an answer. */
		if (st.body_kind == HTTP_BODY_NONE && kept_len > HTTP_MAX_HEADER_BYTES + 64)
			abort();
	}
	/* The stream stopped here: what the engine does on a head timeout
	 * (the 408 and its log line from the kept input). */
	if (kept_len) {
		proto_http.timeout_answer(&st, kept, kept_len, &env);
		if (out.len > out.cap)
			abort();
	}
	app_drop(&st); /* the connection closes */
	return 0;
}
