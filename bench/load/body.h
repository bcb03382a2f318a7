/* The request body (--body FILE, --body-string S), sent with Content-Length. */
#ifndef HERD_LOAD_BODY_H
#define HERD_LOAD_BODY_H

#include <stddef.h>

#include "config.h"

int body_set_string(struct config *cfg, const char *s, char *err, size_t errlen);
/* Read whole, once: every request sends the same bytes. */
int body_load_file(struct config *cfg, const char *path, char *err, size_t errlen);

#endif
