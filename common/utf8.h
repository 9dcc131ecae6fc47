/* utf8: byte-level checks of text that crosses a trust boundary, and the
 * one escaper every sink of untrusted text (logs, error paths) uses. */
#ifndef SMP_UTF8_H
#define SMP_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t n);
/* Length (1..4) of the well-formed UTF-8 character at s (n bytes left), or
 * 0 when the bytes there are not one. */
size_t utf8_char_len(const char *s, size_t n);
/* Any control character: C0 (U+0000..U+001F), DEL (U+007F) or C1
 * (U+0080..U+009F, the two-byte sequences C2 80..C2 9F). C1 matters as
 * much as C0: U+009B is an 8-bit CSI that drives terminals. */
bool utf8_has_control(const char *s, size_t n);

/* What utf8_escape escapes besides control characters and invalid bytes. */
enum {
    UTF8_ESC_BACKSLASH = 1,  /* \ -> \\ (so every escape is unambiguous) */
    UTF8_ESC_QUOTE = 2       /* " -> \" (for a value inside "...") */
};

/* Writes s (n bytes) to out as one line of valid UTF-8: \n \r \t for those
 * three, \xNN for other C0 bytes, DEL and bytes that are not well-formed
 * UTF-8, \u00NN for C1 characters, plus what flags ask for. Never cuts a
 * character or an escape in two. out (cap >= 1) is NUL-terminated. Returns
 * how many bytes of s were written; fewer than n means out was too small. */
size_t utf8_escape(char *out, size_t cap, const char *s, size_t n, unsigned flags);

#endif
