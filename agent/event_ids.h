/* event_ids: producers' idempotency keys (docs/agent.md, "event_id").
 *
 * A producer may give an event an `event_id`; a retry with the same id is
 * answered with the seq the first one got instead of being stored again.
 * The id is agent-local: it is kept in the journal frame next to the
 * record (journal.c), never in the published record, so the collector and
 * the record schema do not change.
 *
 * id_window remembers the most recent `cap` ids with their seq, in seq
 * order, for lookups in O(1): a ring of entries plus hash buckets. Memory
 * is bounded by cap whatever the backlog. */
#ifndef SMP_EVENT_IDS_H
#define SMP_EVENT_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_ID_MAX 64
#define EVENT_ID_SYNTAX "1 to 64 characters of A-Z a-z 0-9 . _ : -"

/* True when id is [A-Za-z0-9._:-]{1,64}: a token that needs no escaping in
 * logs, JSON or the window file. */
bool event_id_valid(const char *id);

typedef struct id_window id_window;

/* NULL when out of memory. */
id_window *id_window_new(size_t cap);
void id_window_free(id_window *w);

/* Remembers id under seq; seqs must be added in increasing order. When the
 * window is full the oldest entry is forgotten. */
void id_window_add(id_window *w, uint64_t seq, const char *id);
/* The seq id was stored under, or 0 when it is not (or no longer) known. */
uint64_t id_window_find(const id_window *w, const char *id);

size_t id_window_count(const id_window *w);
/* The i-th entry, oldest first (i < count). */
void id_window_get(const id_window *w, size_t i, uint64_t *seq, const char **id);

#endif
