/* sqldb_target: what a database target is (sqldb.h): PostgreSQL or a
 * SQLite path, and its form safe to show. In a file of its own because
 * programs that only read a target from their configuration (config.c, so
 * every daemon) must not pull the implementations, and libpq with them,
 * into a binary that never opens a database (smp-agent). */
#include "sqldb.h"

#include <string.h>

bool sqldb_is_postgres(const char *target)
{
    return strncmp(target, "postgresql://", 13) == 0 || strncmp(target, "postgres://", 11) == 0;
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

    if (cap == 0)
        return;
    out[0] = '\0';
    if (!sqldb_is_postgres(target)) {
        put(out, cap, &len, target, strlen(target));
        return;
    }
    const char *auth = strstr(target, "://") + 3;
    /* The authority ends at the first '/', '?' or '#'; its userinfo at the
     * last '@' before that end (a password may itself hold '@' encoded
     * only by careless users, so the last one is the separator). */
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    put(out, cap, &len, target, (size_t)(auth - target));
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        put(out, cap, &len, auth, (size_t)(colon - auth) + 1);
        put(out, cap, &len, "***", 3);
        put(out, cap, &len, at, (size_t)(end - at));
    } else {
        put(out, cap, &len, auth, (size_t)(end - auth));
    }
    /* The query string: password=... among its parameters. */
    const char *p = end;
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

