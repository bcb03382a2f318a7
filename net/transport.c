/* The transports herd has today (see net/transport.h). */
#include "net/transport.h"

const struct transport transport_tcp = {.name = "tcp", .sendfile = true};
const struct transport transport_tcp_copy = {.name = "tcp (files copied)", .sendfile = false};
