/* store_outbox: the notification outbox, part of the store interface
 * (store.h): store_outbox_sql.c, tables notify_events and notify_outbox of
 * common/db.c (docs/collector.md, "Notifications").
 *
 * Writers (ingest, the rules timer) add events in the transaction that
 * changed the alert; the sender threads (notify_sender.c), each on its own
 * store, read and mark them outside any group. Functions return 0 (1 / 0
 * where they say "found") or -1 on a store error (store_errmsg). */
#ifndef SMP_STORE_OUTBOX_H
#define SMP_STORE_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "alert.h"
#include "store.h"

/* Which sinks an event goes to: bit k for sink k (notify_kind), decided by
 * the sinks' filters. Called inside the writer's transaction; must not use
 * the store. */
typedef unsigned (*store_outbox_route_fn)(void *ctx, const alert *a, const char *event);

/* Names of the sinks, by bit; the outbox stores the name. */
#define STORE_OUTBOX_SINKS 3
void store_outbox_set_route(store *s, store_outbox_route_fn fn, void *ctx,
                            const char *const sink_names[STORE_OUTBOX_SINKS]);

/* Queues event (raised, escalated, cleared, withdrawn, reminder) of a for
 * every sink the route selects: one notify_events row (its id is the event
 * id, in the payload) and one notify_outbox row per sink. Nothing when no
 * route is set or none selects it. */
int store_outbox_add(store *s, const alert *a, const char *event, const char *now_ts);

typedef struct store_outbox_item {
    int64_t event_id;
    int64_t attempts;                /* tries so far, none accepted */
    char created_at[32];
    char *payload;                   /* malloc'd; the caller frees */
} store_outbox_item;

/* Whether this store's connection is the one that delivers sink's events:
 * several collectors on one PostgreSQL database share one outbox, and each
 * sink must be sent each event by one of them only. Tries, without
 * waiting, to take the session lock "notify:<sink>", which stays with the
 * connection until it ends (also when its process dies), and sets *held.
 * On SQLite (one collector) always held. */
int store_outbox_lead(store *s, const char *sink, bool *held);

/* The oldest event not yet accepted by sink: 1 and *out, 0 when none. */
int store_outbox_next(store *s, const char *sink, store_outbox_item *out);
/* The sink accepted the event at now_ts. */
int store_outbox_delivered(store *s, const char *sink, int64_t event_id, const char *now_ts);
/* A try that the sink did not accept: counted, with why (no secret in it). */
int store_outbox_failed(store *s, const char *sink, int64_t event_id, const char *why,
                        const char *now_ts);

/* Re-notification: queues a "reminder" for every open alert (not cleared,
 * not pending, not withdrawn) whose newest event was queued before
 * cutoff_ts, at most STORE_OUTBOX_REMIND_MAX per call (the rest follow
 * next time). An alert no sink ever selected has no event and is not
 * reminded. *queued counts them. */
#define STORE_OUTBOX_REMIND_MAX 64
int store_outbox_remind(store *s, const char *cutoff_ts, const char *now_ts, int *queued);

#endif
