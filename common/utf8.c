#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t utf8_char_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0], need, min, cp;

    if (n == 0)
        return 0;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        need = 1, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        need = 2, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        need = 3, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n - 1 < need)
        return 0;
    for (unsigned i = 1; i <= need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need + 1;
}

/* Payloads are almost all ASCII: eight such bytes are checked at once. */
static bool ascii8(const char *s)
{
    uint64_t w;
    memcpy(&w, s, sizeof w);
    return (w & UINT64_C(0x8080808080808080)) == 0;
}

bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k) {
        if (n - i >= 8 && ascii8(s + i))
            k = 8;
        else if ((k = utf8_char_len(s + i, n - i)) == 0)
            return false;
    }
    return true;
}

bool utf8_has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return true;
        /* U+0080..U+009F; 0xC2 is always a lead byte, so this holds on any
         * bytes, well-formed or not. */
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

size_t utf8_escape(char *out, size_t cap, const char *s, size_t n, unsigned flags)
{
    size_t len = 0, i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = utf8_char_len(s + i, n - i);
        char esc[8];
        const char *src = esc;
        size_t m;

        if (k == 0 || c < 0x20 || c == 0x7f) {
            k = 1;
            if (c == '\n' || c == '\r' || c == '\t') {
                esc[0] = '\\';
                esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
                m = 2;
            } else {
                m = (size_t)snprintf(esc, sizeof esc, "\\x%02x", c);
            }
        } else if (k == 2 && c == 0xc2 && (unsigned char)s[i + 1] <= 0x9f) {
            m = (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)s[i + 1] & 0xffu);
        } else if ((c == '\\' && (flags & UTF8_ESC_BACKSLASH)) ||
                   (c == '"' && (flags & UTF8_ESC_QUOTE))) {
            esc[0] = '\\';
            esc[1] = (char)c;
            m = 2;
        } else {
            src = s + i;
            m = k;
        }
        if (len + m + 1 > cap)
            break;
        memcpy(out + len, src, m);
        len += m;
        i += k;
    }
    if (cap)
        out[len] = '\0';
    return i;
}
