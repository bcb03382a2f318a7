/* Extension -> Content-Type lookup over a small fixed table. */
#include "net/mime.h"

#include <string.h>

/* Longest extension in the table; longer ones cannot match. */
#define EXT_MAX 5

static const struct {
	char ext[EXT_MAX + 1];
	const char *type;
} types[] = {
	{"html", "text/html; charset=utf-8"},
	{"htm", "text/html; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"json", "application/json"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"jpg", "image/jpeg"},
	{"jpeg", "image/jpeg"},
	{"gif", "image/gif"},
	{"webp", "image/webp"},
	{"ico", "image/x-icon"},
	{"txt", "text/plain; charset=utf-8"},
	{"wasm", "application/wasm"},
	{"pdf", "application/pdf"},
	{"woff2", "font/woff2"},
	{"mp4", "video/mp4"},
};

static const char default_type[] = "application/octet-stream";

const char *mime_type_for(const char *path, size_t len)
{
	/* Walk back to the last '.' of the last segment. */
	size_t i = len;
	while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
		i--;
	/* i == 0 or path[i-1] is '/': no dot.  i-1 is the segment start: dotfile. */
	if (i == 0 || path[i - 1] == '/' || i == 1 || path[i - 2] == '/')
		return default_type;
	size_t n = len - i;
	if (n == 0 || n > EXT_MAX)
		return default_type;
	char ext[EXT_MAX + 1] = {0};
	for (size_t k = 0; k < n; k++) {
		char c = path[i + k];
		if (c == '\0') /* would compare equal to the table's padding */
			return default_type;
		ext[k] = c >= 'A' && c <= 'Z' ? (char)(c | 0x20) : c;
	}
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++)
		if (memcmp(types[t].ext, ext, EXT_MAX + 1) == 0)
			return types[t].type;
	return default_type;
}
