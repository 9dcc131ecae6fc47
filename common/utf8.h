/* utf8: byte-level checks of text that crosses a trust boundary. */
#ifndef SMP_UTF8_H
#define SMP_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* Any C0 control character or DEL. */
bool utf8_has_control(const char *s, size_t n);

#endif
