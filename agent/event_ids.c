#include "event_ids.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint64_t seq;
    int32_t next;                   /* next entry in the same bucket, -1: none */
    char id[EVENT_ID_MAX + 1];
} entry;

struct id_window {
    size_t cap, nbuckets;
    size_t start, count;            /* ring: oldest at start */
    entry *e;
    int32_t *bucket;                /* newest entry of each bucket first */
};

bool event_id_valid(const char *id)
{
    size_t n = 0;

    for (const char *p = id; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return n >= 1 && n <= EVENT_ID_MAX;
}

/* FNV-1a: ids are short tokens; nothing adversarial beyond local producers. */
static size_t bucket_of(const id_window *w, const char *id)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)(h % w->nbuckets);
}

id_window *id_window_new(size_t cap)
{
    id_window *w = calloc(1, sizeof *w);

    if (!w)
        return NULL;
    w->cap = cap ? cap : 1;
    w->nbuckets = w->cap * 2;
    w->e = malloc(w->cap * sizeof *w->e);
    w->bucket = malloc(w->nbuckets * sizeof *w->bucket);
    if (!w->e || !w->bucket) {
        id_window_free(w);
        return NULL;
    }
    for (size_t i = 0; i < w->nbuckets; i++)
        w->bucket[i] = -1;
    return w;
}

void id_window_free(id_window *w)
{
    if (!w)
        return;
    free(w->e);
    free(w->bucket);
    free(w);
}

static void unlink_entry(id_window *w, int32_t idx)
{
    int32_t *link = &w->bucket[bucket_of(w, w->e[idx].id)];
    while (*link >= 0 && *link != idx)
        link = &w->e[*link].next;
    if (*link == idx)
        *link = w->e[idx].next;
}

void id_window_add(id_window *w, uint64_t seq, const char *id)
{
    int32_t idx;

    if (w->count == w->cap) {
        idx = (int32_t)w->start;
        unlink_entry(w, idx);
        w->start = (w->start + 1) % w->cap;
        w->count--;
    } else {
        idx = (int32_t)((w->start + w->count) % w->cap);
    }
    size_t b = bucket_of(w, id);
    w->e[idx].seq = seq;
    strncpy(w->e[idx].id, id, EVENT_ID_MAX);
    w->e[idx].id[EVENT_ID_MAX] = '\0';
    w->e[idx].next = w->bucket[b];
    w->bucket[b] = idx;
    w->count++;
}

uint64_t id_window_find(const id_window *w, const char *id)
{
    /* Newest first: an id forgotten and then reused maps to its new seq. */
    for (int32_t i = w->bucket[bucket_of(w, id)]; i >= 0; i = w->e[i].next) {
        if (strcmp(w->e[i].id, id) == 0)
            return w->e[i].seq;
    }
    return 0;
}

size_t id_window_count(const id_window *w) { return w->count; }

void id_window_get(const id_window *w, size_t i, uint64_t *seq, const char **id)
{
    const entry *e = &w->e[(w->start + i) % w->cap];
    *seq = e->seq;
    *id = e->id;
}
