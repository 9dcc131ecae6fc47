/* json_arena: cJSON's allocations for one parse taken from an arena of this
 * thread instead of malloc, and given back all at once.
 *
 * cJSON allocates every node, key and string of a document separately,
 * and frees each again: for a 64-record events message about 2,000 malloc
 * and free calls, a fifth of the collector's preparing thread. Between
 * json_arena_begin and json_arena_end, cJSON on this thread bumps a
 * pointer through the arena's chunks and its frees do nothing; outside,
 * and on every other thread, cJSON allocates with malloc as before (the
 * hooks it is given, once, fall back to malloc and free). */
#ifndef SMP_JSON_ARENA_H
#define SMP_JSON_ARENA_H

typedef struct json_arena json_arena;

/* NULL when out of memory. Installs the cJSON hooks on first use. */
json_arena *json_arena_new(void);
void json_arena_free(json_arena *a);

/* From now on this thread's cJSON allocations come from a. */
void json_arena_begin(json_arena *a);
/* Gives back everything allocated since json_arena_begin: no cJSON value
 * made in between may be used after this. */
void json_arena_end(json_arena *a);

#endif
