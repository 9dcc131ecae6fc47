/* textcopy: copying a NUL-terminated string into a fixed buffer.
 *
 * What snprintf(out, cap, "%s", s) does, cut at cap - 1 bytes and always
 * terminated, without the format machinery: the collector copies a few
 * ids and times per record, and snprintf was a measurable share of its
 * commit (docs/performance.md). */
#ifndef SMP_TEXTCOPY_H
#define SMP_TEXTCOPY_H

#include <stddef.h>

/* Copies s (NULL: "") into out[0..cap), cut to cap - 1 bytes; nothing
 * when cap is 0. Returns the length of s, as snprintf would. */
size_t text_copy(char *out, size_t cap, const char *s);

#endif
