#include "termtext.h"

#include <string.h>

static int plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '\\';
}

void termtext_write(FILE *out, const void *s, size_t len)
{
    const unsigned char *p = s;

    for (size_t i = 0; i < len; i++) {
        if (plain(p[i]))
            fputc(p[i], out);
        else
            fprintf(out, "\\x%02x", p[i]);
    }
}

char *termtext_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;

    if (cap == 0)
        return out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t need = plain(*p) ? 1 : 4;
        if (n + need >= cap)
            break;
        if (need == 1)
            out[n] = (char)*p;
        else
            snprintf(out + n, 5, "\\x%02x", *p);
        n += need;
    }
    out[n] = '\0';
    return out;
}
