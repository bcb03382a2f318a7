/* The byte classes of HTTP/1.1 heads (see net/http_lex.h). */
#include "net/http_lex.h"

#define T (HTTP_C_TCHAR | HTTP_C_TARGET | HTTP_C_VALUE)
#define V (HTTP_C_TARGET | HTTP_C_VALUE)
#define O HTTP_C_VALUE
/* clang-format off */
const uint8_t http_cls[256] = {
	0,0,0,0,0,0,0,0, 0,O,0,0,0,0,0,0,  0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0, /* HTAB */
	O,T,V,T,T,T,T,T, V,V,T,T,V,T,T,V,  T,T,T,T,T,T,T,T, T,T,V,V,V,V,V,V, /* SP-? */
	V,T,T,T,T,T,T,T, T,T,T,T,T,T,T,T,  T,T,T,T,T,T,T,T, T,T,T,V,V,V,T,T, /* @-_ */
	T,T,T,T,T,T,T,T, T,T,T,T,T,T,T,T,  T,T,T,T,T,T,T,T, T,T,T,V,T,V,T,0, /* `-DEL */
	/* 0x80-0xFF obs-text: allowed in field values only */
	O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,  O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,
	O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,  O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,
	O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,  O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,
	O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,  O,O,O,O,O,O,O,O, O,O,O,O,O,O,O,O,
};
/* clang-format on */
#undef T
#undef V
#undef O
