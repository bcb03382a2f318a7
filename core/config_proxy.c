/* The reverse-proxy flags: routes (--proxy, --proxy-strip), the pool, the
 * timeouts and the active health check.  The routes' URLs are parsed by
 * net/upstream.c, which names what is wrong with each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

/* Every flag of the family: the first one given is remembered, so a
 * combination refused later can name it. */
static const char *const value_flags[] = {
	"--proxy",         "--proxy-strip",           "--proxy-idle",   "--proxy-idle-timeout",
	"--proxy-connect-timeout", "--proxy-timeout", "--proxy-health", "--proxy-health-interval",
};
#define NFLAGS (sizeof(value_flags) / sizeof(value_flags[0]))

/* A health path goes into a request line as is. */
#define MAX_HEALTH_PATH 1024

bool config_proxy_known(const char *name)
{
	for (size_t k = 0; k < NFLAGS; k++)
		if (strcmp(name, value_flags[k]) == 0)
			return true;
	return false;
}

void config_proxy_defaults(struct herd_config *cfg)
{
	cfg->proxy_idle = 64;
	cfg->proxy_idle_timeout_s = 30;
	cfg->proxy_connect_timeout_s = 5;
	cfg->proxy_timeout_s = 60;
	cfg->proxy_health_interval_s = 2;
}

static enum config_result timeout(const char *name, const char *val, double min, double max,
				  double *out, char *err, size_t errlen)
{
	if (config_parse_seconds(val, min, max, out) < 0)
		return config_fail(err, errlen, "bad %s '%s': want %g..%g seconds", name, val, min,
				   max);
	return CONFIG_OK;
}

static enum config_result health_path(struct herd_config *cfg, const char *val, char *err,
				      size_t errlen)
{
	size_t len = strlen(val);
	if (val[0] != '/')
		return config_fail(err, errlen, "bad --proxy-health '%s': the path must start with '/'",
				   val);
	if (len > MAX_HEALTH_PATH)
		return config_fail(err, errlen, "bad --proxy-health: longer than %d bytes",
				   MAX_HEALTH_PATH);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)val[i] <= ' ' || val[i] == 0x7f)
			return config_fail(err, errlen, "bad --proxy-health '%s': spaces and control "
					   "characters must be percent-encoded", val);
	cfg->proxy_health = val;
	return CONFIG_OK;
}

enum config_result config_proxy_flag(struct herd_config *cfg, const char *name, const char *val,
				     bool *handled, char *err, size_t errlen)
{
	size_t k = 0;
	while (k < NFLAGS && strcmp(name, value_flags[k]) != 0)
		k++;
	*handled = k < NFLAGS;
	if (!*handled)
		return CONFIG_OK;
	if (!cfg->proxy_flag)
		cfg->proxy_flag = value_flags[k];

	if (strcmp(name, "--proxy") == 0 || strcmp(name, "--proxy-strip") == 0) {
		if (upstream_table_add(&cfg->proxy, val, name[7] == '-', err, errlen) < 0)
			return CONFIG_ERROR;
		return CONFIG_OK;
	}
	if (strcmp(name, "--proxy-idle") == 0) {
		char *end;
		errno = 0;
		long n = strtol(val, &end, 10);
		if (errno || end == val || *end || n < 0 || n > 1024)
			return config_fail(err, errlen, "bad --proxy-idle '%s': want 0..1024 "
					   "(0: no pooling)", val);
		cfg->proxy_idle = (int)n;
		return CONFIG_OK;
	}
	if (strcmp(name, "--proxy-idle-timeout") == 0)
		return timeout(name, val, 0.01, 86400, &cfg->proxy_idle_timeout_s, err, errlen);
	if (strcmp(name, "--proxy-connect-timeout") == 0)
		return timeout(name, val, 0.01, 3600, &cfg->proxy_connect_timeout_s, err, errlen);
	if (strcmp(name, "--proxy-timeout") == 0)
		return timeout(name, val, 0.01, 86400, &cfg->proxy_timeout_s, err, errlen);
	if (strcmp(name, "--proxy-health-interval") == 0)
		return timeout(name, val, 0.1, 3600, &cfg->proxy_health_interval_s, err, errlen);
	return health_path(cfg, val, err, errlen);
}

enum config_result config_proxy_check(const struct herd_config *cfg, char *err, size_t errlen)
{
	if (cfg->proxy_flag && cfg->proto == HERD_PROTO_ECHO)
		return config_fail(err, errlen, "%s needs --proto http: echo does not proxy",
				   cfg->proxy_flag);
	if (cfg->proxy_health && cfg->proxy.nroutes == 0)
		return config_fail(err, errlen, "--proxy-health needs a --proxy or --proxy-strip "
				   "route to check");
	return CONFIG_OK;
}
