/* A file body after its head (PROTO_FILE), once for every mechanism: by
 * sendfile(2), or read into the output path under a transport that must
 * see its bytes (TLS without the kernel's record layer).  Part of the
 * engine (core/engine.h), in a file of its own. */
#include <errno.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/engine_seam.h"
#include "core/mech.h"
#include "core/worker.h"
#include "net/file_cache.h"
#include "net/tls.h"
#include "net/transport.h"

/* File bytes sent per event before yielding to other connections. */
#define FILE_SEND_BUDGET (512 * 1024)

void engine_drop_file(struct worker *w, struct conn *c)
{
	if (c->proto.file) {
		file_cache_put(w->files, c->proto.file);
		c->proto.file = NULL;
		c->proto.file_left = 0;
	}
	c->proto.flags &= (uint8_t)~PROTO_FILE;
}

static void file_done(struct worker *w, struct conn *c)
{
	engine_drop_file(w, c);
	engine_next(w, c);
}

/* A transport that must see every byte gets the file read into the output
 * buffer, a piece per hand-over. */
static void copy_file(struct worker *w, struct conn *c)
{
	struct proto_state *st = &c->proto;
	size_t budget = FILE_SEND_BUDGET;
	/* As for sendfile, so a file cut short ends the same way: at its new
	 * end, not after copies of what it held. */
	if (st->file_left > FILE_UNSENT_MAX)
		file_send_bound(c->fd);
	while (st->file_left) {
		if (!budget) {
			engine_wait_writable(w, c, true);
			return;
		}
		size_t n = st->file_left < w->out.cap ? (size_t)st->file_left : w->out.cap;
		ssize_t k = pread(st->file->fd, w->out.p, n, (off_t)st->file_off);
		if (k <= 0) {
			/* The file shrank under a promised length: the response
			 * cannot be completed, and nothing past the file's end
			 * may still reach the client. */
			if (k == 0)
				file_send_cut(st->file, st->file_off, c->fd);
			engine_fail(w, c, HERD_ERR_WRITE);
			return;
		}
		w->out.len = (size_t)k;
		st->file_off += (uint64_t)k;
		st->file_left -= (uint64_t)k;
		budget -= budget < (size_t)k ? budget : (size_t)k;
		int r = engine_transport_out(w, c);
		if (r <= 0)
			return; /* closed, or engine_output_done() comes back here */
	}
	file_done(w, c);
}

/* Sends the pending file body with sendfile(2) (io_uring has no sendfile,
 * and splicing would take a pipe per connection): a bounded step, then the
 * socket's room or the next turn brings the connection back. */
void engine_send_file(struct worker *w, struct conn *c)
{
	/* Under TLS only the kernel's record layer can take a file as it is. */
	bool by_sendfile = w->transport->sendfile && (!c->tls || tls_conn_kernel_tx(c->tls));
	if (!by_sendfile) {
		copy_file(w, c);
		return;
	}
	struct proto_state *st = &c->proto;
	size_t budget = FILE_SEND_BUDGET;
	/* Queued file bytes change with the file until they leave (see
	 * net/file_cache.h): keep few of them ahead of the client. */
	if (st->file_left > FILE_UNSENT_MAX)
		file_send_bound(c->fd);
	while (st->file_left && budget) {
		off_t off = (off_t)st->file_off;
		size_t n = st->file_left < budget ? (size_t)st->file_left : budget;
		ssize_t k = sendfile(c->fd, st->file->fd, &off, n);
		if (k < 0 && errno == EAGAIN)
			break;
		if (k <= 0) {
			/* An error, or the file shrank under a promised length:
			 * the response cannot be completed, and nothing past the
			 * file's end may still reach the client. */
			if (k == 0)
				file_send_cut(st->file, st->file_off, c->fd);
			engine_fail(w, c, HERD_ERR_WRITE);
			return;
		}
		CTR_ADD(w->ctr, bytes_out, (uint64_t)k);
		st->file_off += (uint64_t)k;
		st->file_left -= (uint64_t)k;
		budget -= (size_t)k;
	}
	if (!st->file_left)
		file_done(w, c);
	else
		engine_wait_writable(w, c, budget < FILE_SEND_BUDGET);
}

