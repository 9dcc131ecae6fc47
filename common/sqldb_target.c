/* sqldb_target: what a database target is (sqldb.h): PostgreSQL or a
 * SQLite path, and its form safe to show. In a file of its own because
 * programs that only read a target from their configuration (config.c, so
 * every daemon) must not pull the implementations, and libpq with them,
 * into a binary that never opens a database (smp-agent). */
#include "sqldb_int.h"

#include <string.h>

bool sqldb_is_postgres(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
}

bool sqldb__uri_parts(const char *target, sqldb_uri_parts *out)
{
    if (!target || !sqldb_is_postgres(target))
        return false;
    out->auth = strstr(target, "://") + 3;
    out->end = out->auth + strcspn(out->auth, "/?#");
    out->at = NULL;
    for (const char *p = out->auth; p < out->end; p++)
        if (*p == '@')
            out->at = p;
    out->colon = out->at ? memchr(out->auth, ':', (size_t)(out->at - out->auth)) : NULL;
    return true;
}

/* Appends s[0..n) to out at *len, cut to cap. */
static void put(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    while (n-- > 0 && *len + 1 < cap)
        out[(*len)++] = *s++;
    out[*len] = '\0';
}

void sqldb_mask(const char *target, char *out, size_t cap)
{
    size_t len = 0;
    sqldb_uri_parts u;

    if (cap == 0)
        return;
    out[0] = '\0';
    if (!sqldb__uri_parts(target, &u)) {
        put(out, cap, &len, target, strlen(target));
        return;
    }
    put(out, cap, &len, target, (size_t)(u.auth - target));
    if (u.colon) {
        put(out, cap, &len, u.auth, (size_t)(u.colon - u.auth) + 1);
        put(out, cap, &len, "***", 3);
        put(out, cap, &len, u.at, (size_t)(u.end - u.at));
    } else {
        put(out, cap, &len, u.auth, (size_t)(u.end - u.auth));
    }
    /* The query string: password=... among its parameters. */
    const char *p = u.end;
    while (*p) {
        const char *next = p + 1 + strcspn(p + 1, "?&#");
        if ((*p == '?' || *p == '&') && strncmp(p + 1, "password=", 9) == 0) {
            put(out, cap, &len, p, 10);
            put(out, cap, &len, "***", 3);
        } else {
            put(out, cap, &len, p, (size_t)(next - p));
        }
        p = next;
    }
}

