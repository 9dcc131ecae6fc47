#include "json_arena.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* Big enough for a whole 256 KiB message's tree in one or two chunks. */
#define CHUNK_BYTES (512u * 1024)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
} chunk;

struct json_arena {
    chunk *first, *cur;
};

/* The arena cJSON allocates from on this thread; NULL: malloc. */
static _Thread_local json_arena *current;

static size_t aligned(size_t n)
{
    const size_t a = _Alignof(max_align_t);
    return (n + a - 1) / a * a;
}

static chunk *chunk_new(size_t at_least)
{
    size_t size = at_least > CHUNK_BYTES ? at_least : CHUNK_BYTES;
    chunk *c = malloc(sizeof *c + size);

    if (c)
        *c = (chunk){.size = size};
    return c;
}

static void *arena_malloc(size_t n)
{
    json_arena *a = current;

    if (!a)
        return malloc(n);
    n = aligned(n ? n : 1);
    while (a->cur->size - a->cur->used < n) {
        if (!a->cur->next && !(a->cur->next = chunk_new(n)))
            return NULL;
        a->cur = a->cur->next;
    }
    void *p = (char *)a->cur->data + a->cur->used;
    a->cur->used += n;
    return p;
}

static int owns(const json_arena *a, const void *p)
{
    for (const chunk *c = a->first; c; c = c->next)
        if ((const char *)p >= (const char *)c->data && (const char *)p < (const char *)c->data + c->size)
            return 1;
    return 0;
}

static void arena_free(void *p)
{
    if (current && owns(current, p))
        return;
    free(p);
}

static void install(void)
{
    cJSON_Hooks hooks = {arena_malloc, arena_free};
    cJSON_InitHooks(&hooks);
}

json_arena *json_arena_new(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    json_arena *a = calloc(1, sizeof *a);

    pthread_once(&once, install);
    if (!a || !(a->first = a->cur = chunk_new(CHUNK_BYTES))) {
        free(a);
        return NULL;
    }
    return a;
}

void json_arena_free(json_arena *a)
{
    if (!a)
        return;
    for (chunk *c = a->first, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

void json_arena_begin(json_arena *a) { current = a; }

void json_arena_end(json_arena *a)
{
    current = NULL;
    for (chunk *c = a->first; c; c = c->next)
        c->used = 0;
    a->cur = a->first;
}
