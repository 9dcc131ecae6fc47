#include "strpool.h"

#include <stdlib.h>
#include <string.h>

#define STRPOOL_CHUNK (64 * 1024)

/* A pool is its newest chunk; each chunk links to the one before. */
struct strpool {
    strpool *next;
    size_t used, cap;
    char data[];
};

const char *strpool_dup(strpool **pool, const char *s, size_t len)
{
    strpool *c = *pool;
    char *p;

    if (s == NULL)
        s = "", len = 0;
    if (c == NULL || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > STRPOOL_CHUNK ? len + 1 : STRPOOL_CHUNK;
        if ((c = malloc(sizeof *c + cap)) == NULL)
            return NULL;
        c->next = *pool;
        c->used = 0;
        c->cap = cap;
        *pool = c;
    }
    p = c->data + c->used;
    memcpy(p, s, len);
    p[len] = '\0';
    c->used += len + 1;
    return p;
}

const char *strpool_str(strpool **pool, const char *s)
{
    return strpool_dup(pool, s, s ? strlen(s) : 0);
}

void strpool_free(strpool **pool)
{
    strpool *c = *pool;

    while (c) {
        strpool *next = c->next;
        free(c);
        c = next;
    }
    *pool = NULL;
}
