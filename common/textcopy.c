#include "textcopy.h"

#include <string.h>

size_t text_copy(char *out, size_t cap, const char *s)
{
    size_t len = s ? strlen(s) : 0;

    if (cap == 0)
        return len;
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n)
        memcpy(out, s, n);
    out[n] = '\0';
    return len;
}
