/* Mapping an HTTP request-target to a file name under the document root,
 * and the authority grammar of targets and Host fields.
 *
 * The result is meant for openat(rootfd, out, ...): it is relative, has no
 * "." or ".." segments and no empty segments, so it can only name something
 * below the root (symlinks are the caller's business, e.g. RESOLVE_BENEATH).
 * Anything that could be read two ways is refused with 400 rather than
 * silently repaired, so a logged 200 always matches the file a reader of the
 * URL would expect. */
#ifndef HERD_HTTP_PATH_H
#define HERD_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* Normalizes the origin-form request-target target[0..len) into out.
 *
 * Returns 0, or a negative HTTP status:
 *   -400  no leading '/'; a bad %-escape; %00; %2F (an encoded '/' would make
 *         the file name depend on whether a proxy decoded it); a control byte
 *         (< 0x20 or 0x7F, raw or decoded); or ".." climbing above the root
 *         (refused, never clamped, since it is only ever sent by scanners);
 *   -414  the normalized path needs more than outcap - 1 bytes.  Only the
 *         final length counts: "/<long>/../x" fits a small buffer.
 * The query and fragment (from the first '?' or '#') are ignored unchecked.
 *
 * Percent-decoding happens before dot-segment removal (RFC 3986 5.2.4), so
 * "%2e%2e" is "..".  Repeated slashes are collapsed before that removal, as
 * the kernel would read them: "/a//../b" is "b".  A backslash, raw or %5C,
 * is an ordinary byte because Linux does not separate on it; bytes >= 0x80
 * pass through (UTF-8 names).  No other validation is made on the name.
 *
 * On success out holds *outlen bytes plus a NUL, without leading or trailing
 * '/'; the root is "".  *trailing_slash is set when the target named a
 * directory: it ended in '/', "/." or "/.." (always the case for the root),
 * so the caller can redirect "/dir" to "/dir/" or serve an index.
 * On failure out is "" (when outcap > 0) and *outlen, *trailing_slash are not
 * written.  out must not overlap target.  Runs in O(len), no allocation. */
int http_path_normalize(const char *target, size_t len, char *out, size_t outcap, size_t *outlen,
			bool *trailing_slash);

/* True when some segment of path starts with '.', e.g. ".git/config" or
 * "a/.env".  The server answers 404 for those: dotfiles are version-control
 * data, credentials and editor state that end up in a web root by accident.
 * Works on normalized paths (and on ones with a leading '/'); "" is false.
 * Note that this also hides "/.well-known/"; a caller that serves ACME or
 * similar must allow that prefix itself. */
bool http_path_has_dotfile(const char *path);

/* True when s[0..n) is uri-host [ ":" port ] (RFC 3986 3.2.2, 3.2.3), the
 * grammar of the Host field and of the authority of a request-target:
 *   - uri-host: "[" IPv6address "]" (no zone id), "[" IPvFuture "]", or a
 *     non-empty reg-name of unreserved characters, %HH and sub-delims but
 *     ','.  A comma is legal in a reg-name, yet no DNS name has one, and in
 *     a Host field it means two values folded into one line, which proxies
 *     and servers may split differently.  The host may not be empty: an
 *     "http" URI must have one (RFC 9110 4.2.1);
 *   - port: at most 5 digits, at most 65535; may be empty (the scheme's
 *     default) unless need_port (the authority-form of CONNECT).
 * So spaces, '/', '@' (userinfo), quotes, a non-numeric port or an
 * unclosed '[' are all refused. */
bool http_authority_valid(const char *s, size_t n, bool need_port);

#endif
