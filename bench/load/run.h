/* Starts the workers (tls: the https:// context, else NULL), samples them once a second, gathers the result. */
#ifndef HERD_LOAD_RUN_H
#define HERD_LOAD_RUN_H

#include <signal.h>
#include <sys/socket.h>

#include <openssl/types.h>

#include "config.h"
#include "report.h"
#include "request.h"

/* Set from a signal handler: stop early and still report. */
extern volatile sig_atomic_t run_interrupted;

int run(const struct config *cfg, const struct sockaddr_storage *addr, socklen_t addrlen,
	const struct request *rq, SSL_CTX *tls, struct result *res, char *err, size_t errlen);
void run_result_free(struct result *res);

#endif
