#include "flatjson.h"

#include <string.h>

/* End of the string starting after its opening quote at s[i]; -1 if it
 * never closes. */
static long string_end(const char *s, size_t len, size_t i)
{
    for (; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return (long)i;
    }
    return -1;
}

int flatjson_parse(const char *s, size_t len, flatjson *out)
{
    size_t i = 1;
    long end;

    out->n = 0;
    if (len < 2 || s[0] != '{' || s[len - 1] != '}')
        return -1;
    if (len == 2)
        return 0;
    while (i < len) {
        flatjson_member *m;
        if (out->n == FLATJSON_MAX || s[i] != '"' || (end = string_end(s, len, i + 1)) < 0)
            return -1;
        m = &out->m[out->n++];
        m->key = s + i + 1;
        m->klen = (size_t)end - i - 1;
        i = (size_t)end + 1;
        if (i >= len || s[i++] != ':' || i >= len)
            return -1;
        m->string = s[i] == '"';
        if (m->string) {
            if ((end = string_end(s, len, i + 1)) < 0)
                return -1;
            m->val = s + i + 1;
            m->vlen = (size_t)end - i - 1;
            i = (size_t)end + 1;
        } else {
            size_t start = i;
            while (i < len && s[i] != ',' && s[i] != '}' && s[i] != '{' && s[i] != '[')
                i++;
            if (i == start || i >= len || s[i] == '{' || s[i] == '[')
                return -1;
            m->val = s + start;
            m->vlen = i - start;
        }
        if (s[i] == '}')
            return i == len - 1 ? 0 : -1;
        if (s[i++] != ',')
            return -1;
    }
    return -1;
}

const flatjson_member *flatjson_get(const flatjson *j, const char *key)
{
    size_t klen = strlen(key);

    for (int i = 0; i < j->n; i++)
        if (j->m[i].klen == klen && memcmp(j->m[i].key, key, klen) == 0)
            return &j->m[i];
    return NULL;
}

const char *flatjson_str(const flatjson *j, const char *key, char *buf, size_t cap)
{
    const flatjson_member *m = flatjson_get(j, key);
    size_t n = 0;

    if (cap == 0)
        return buf;
    if (m && m->string) {
        for (size_t i = 0; i < m->vlen && n + 1 < cap; i++) {
            if (m->val[i] == '\\' && i + 1 < m->vlen)
                i++;
            buf[n++] = m->val[i];
        }
    }
    buf[n] = '\0';
    return buf;
}

/* Digits of [p, end) into *v; the count read. */
static size_t digits(const char *p, const char *end, int64_t *v)
{
    size_t n = 0;

    for (; p + n < end && p[n] >= '0' && p[n] <= '9' && n < 18; n++)
        *v = *v * 10 + (p[n] - '0');
    return n;
}

int64_t flatjson_int(const flatjson *j, const char *key)
{
    const flatjson_member *m = flatjson_get(j, key);
    const char *p, *end;
    int64_t v = 0;
    bool neg;

    if (m == NULL || m->string)
        return 0;
    p = m->val;
    end = m->val + m->vlen;
    neg = *p == '-';
    p += neg;
    if (digits(p, end, &v) != (size_t)(end - p))
        return 0;
    return neg ? -v : v;
}

int64_t flatjson_tenths(const flatjson *j, const char *key)
{
    const flatjson_member *m = flatjson_get(j, key);
    const char *p, *end;
    int64_t v = 0, frac = 0;
    bool neg;

    if (m == NULL || m->string)
        return 0;
    p = m->val;
    end = m->val + m->vlen;
    neg = *p == '-';
    p += neg;
    p += digits(p, end, &v);
    if (p < end && *p == '.' && p + 1 < end && p[1] >= '0' && p[1] <= '9')
        frac = p[1] - '0';
    v = v * 10 + frac;
    return neg ? -v : v;
}
