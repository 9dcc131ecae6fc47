/* strpool: many small strings with one owner. Strings are copied into
 * 64 KiB chunks and all freed together, so a report of a clinic-year
 * (tens of thousands of log lines) costs a few hundred allocations, not a
 * million. */
#ifndef SMP_STRPOOL_H
#define SMP_STRPOOL_H

#include <stddef.h>

typedef struct strpool strpool;

/* Copies len bytes of s (NULL: "") into *pool, creating it on first use,
 * and NUL-terminates the copy. The copy lives until strpool_free. Returns
 * NULL only when out of memory. */
const char *strpool_dup(strpool **pool, const char *s, size_t len);

/* strpool_dup of a NUL-terminated string. */
const char *strpool_str(strpool **pool, const char *s);

/* Frees every string of the pool; *pool becomes NULL. */
void strpool_free(strpool **pool);

#endif
