/* Ties the roles together: the one file that reaches every layer.  A
 * process is a handler (its supervisor set HERD_HANDLER), the supervisor of
 * handler processes (--procs 2 or more), or the whole server. */
#include <stdio.h>
#include <stdlib.h>

#include "balance/control.h"
#include "balance/handler.h"
#include "balance/server.h"
#include "balance/supervisor.h"
#include "core/config.h"
#include "core/cpus.h"

int main(int argc, char **argv)
{
	static struct herd_config cfg; /* large (CPU table): not on the stack */
	char err[256];

	switch (config_parse(&cfg, argc, argv, stdout, err, sizeof(err))) {
	case CONFIG_OK:
		break;
	case CONFIG_EXIT_HELP:
	case CONFIG_EXIT_VERSION:
		return 0;
	case CONFIG_ERROR:
		fprintf(stderr, "herd: %s\n", err);
		config_usage(stderr);
		return 2;
	}
	for (int i = 0; i < cfg.ncpus; i++) {
		if (!cpus_usable(cfg.cpus[i])) {
			fprintf(stderr, "herd: bad --cpus: CPU %d is not available to this process\n",
				cfg.cpus[i]);
			return 2;
		}
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	const char *he = getenv(HANDLER_ENV);
	if (he)
		return handler_main(&cfg, he);
	if (cfg.max_procs > 1)
		return supervisor_run(&cfg);
	return server_run(&cfg, NULL);
}
