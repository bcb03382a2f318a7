/* Content-Type of a static file, from its name alone.
 *
 * Sniffing content would cost a read before the headers and lets an upload
 * be served as something its owner never named; the extension is what the
 * site author chose.  The table is deliberately small: unknown types go out
 * as application/octet-stream, which browsers download rather than render,
 * and with X-Content-Type-Options: nosniff that is the safe default. */
#ifndef HERD_MIME_H
#define HERD_MIME_H

#include <stddef.h>

/* The Content-Type for path[0..len), chosen by the text after the last '.'
 * of the last '/'-separated segment, compared case-insensitively ("A.PNG" is
 * image/png).  Text types carry "; charset=utf-8" so browsers do not guess
 * an encoding.  A name without a '.', ending in '.', or whose only '.' is
 * its first byte (".bashrc") gets application/octet-stream; ".bashrc.txt"
 * is text/plain.  Returns a static string; never NULL. */
const char *mime_type_for(const char *path, size_t len);

#endif
