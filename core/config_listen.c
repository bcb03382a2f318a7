/* The flags that say where herd listens and how it speaks TLS there: parsed
 * and checked for consistency here; the certificates themselves are read
 * by the TLS transport, which can name the file that fails. */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

static const char *const value_flags[] = {"--listen", "--listen-tls", "--tls-cert", "--tls-key",
					  "--tls-ticket-rotate"};

bool config_listen_known(const char *name)
{
	for (size_t k = 0; k < sizeof(value_flags) / sizeof(value_flags[0]); k++)
		if (strcmp(name, value_flags[k]) == 0)
			return true;
	return false;
}

/* Same family, address and port.  Port 0 never clashes: the kernel gives
 * each such socket a port of its own. */
static bool same_addr(const struct herd_addr *a, const struct herd_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port && x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
	return x->sin_port && x->sin_port == y->sin_port &&
	       x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static enum config_result add_listen(struct herd_config *cfg, const char *name, const char *val,
				     bool tls, char *err, size_t errlen)
{
	struct herd_listen l = {.tls = tls};
	if (config_parse_addr(val, &l.addr) < 0)
		return config_fail(err, errlen, "bad %s '%s': want HOST:PORT", name, val);
	for (int i = 0; i < cfg->nlisten; i++)
		if (same_addr(&cfg->listens[i].addr, &l.addr))
			return config_fail(err, errlen, "bad %s '%s': %s is already a listener", name, val,
				    cfg->listens[i].addr.text);
	if (cfg->nlisten == HERD_MAX_LISTEN)
		return config_fail(err, errlen, "bad %s '%s': at most %d listeners (--listen and "
			    "--listen-tls together)", name, val, HERD_MAX_LISTEN);
	cfg->listens[cfg->nlisten++] = l;
	return CONFIG_OK;
}

/* Certificates and keys fill tls[] from the front, each in its own order,
 * so the i-th --tls-cert pairs with the i-th --tls-key. */
static int filled(const struct herd_config *cfg, bool key)
{
	int n = 0;
	while (n < HERD_MAX_CERTS && (key ? cfg->tls[n].key : cfg->tls[n].cert))
		n++;
	return n;
}

static enum config_result add_file(struct herd_config *cfg, const char *name, const char *val,
				   bool key, char *err, size_t errlen)
{
	int n = filled(cfg, key);
	if (!*val)
		return config_fail(err, errlen, "bad %s '': want a PEM file", name);
	if (n == HERD_MAX_CERTS)
		return config_fail(err, errlen, "bad %s '%s': at most %d certificates", name, val,
			    HERD_MAX_CERTS);
	*(key ? &cfg->tls[n].key : &cfg->tls[n].cert) = val;
	return CONFIG_OK;
}

enum config_result config_listen_flag(struct herd_config *cfg, const char *name, const char *val,
				      bool *handled, char *err, size_t errlen)
{
	*handled = true;
	if (strcmp(name, "--listen") == 0 || strcmp(name, "--listen-tls") == 0)
		return add_listen(cfg, name, val, name[8] == '-', err, errlen);
	if (strcmp(name, "--tls-cert") == 0 || strcmp(name, "--tls-key") == 0)
		return add_file(cfg, name, val, name[6] == 'k', err, errlen);
	if (strcmp(name, "--tls-ticket-rotate") == 0) {
		char *end;
		errno = 0;
		double v = strtod(val, &end);
		if (errno || end == val || *end || !(v > 0 && v <= 1e9))
			return config_fail(err, errlen, "bad --tls-ticket-rotate '%s': want seconds > 0",
				    val);
		cfg->tls_ticket_rotate_s = v;
		return CONFIG_OK;
	}
	*handled = false;
	return CONFIG_OK;
}

enum config_result config_listen_check(struct herd_config *cfg, char *err, size_t errlen)
{
	int ncert = filled(cfg, false), nkey = filled(cfg, true), ntls_listen = 0;
	/* The default address only when no listener was asked for at all: a
	 * server given only --listen-tls must not also serve plain HTTP. */
	if (cfg->nlisten == 0) {
		config_parse_addr("0.0.0.0:8080", &cfg->listens[0].addr);
		cfg->listens[0].tls = false;
		cfg->nlisten = 1;
	}
	for (int i = 0; i < cfg->nlisten; i++)
		ntls_listen += cfg->listens[i].tls;
	if (ncert != nkey)
		return config_fail(err, errlen, "%d --tls-cert but %d --tls-key: they pair up in order",
			    ncert, nkey);
	cfg->ntls = ncert;
	if (ntls_listen && !cfg->ntls)
		return config_fail(err, errlen, "--listen-tls needs a certificate: --tls-cert FILE "
			    "--tls-key FILE");
	if (cfg->ntls && !ntls_listen)
		return config_fail(err, errlen, "--tls-cert/--tls-key given but no --listen-tls to use "
			    "them on");
	if (cfg->redirect_https && !ntls_listen)
		return config_fail(err, errlen, "--redirect-https needs a --listen-tls to redirect to");
	return CONFIG_OK;
}
