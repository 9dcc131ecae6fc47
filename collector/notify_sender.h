/* notify_sender: delivers the notification outbox (store_outbox.h) to the
 * sinks (notify_sink.h), one thread per enabled sink, each on its own store
 * connection (SQLite WAL lets it write between the committer's groups).
 * Several collectors on one PostgreSQL database share the outbox: each
 * sink is sent from one of them, the holder of its lock
 * (store_outbox_lead); the others stand by and take over when it ends.
 *
 * Each thread takes its sink's oldest event not yet accepted, delivers it,
 * and marks it delivered (with when) only once the sink accepted it; a try
 * that fails is counted and retried after the sink's backoff
 * (notify_retry.h), so a sink that is down holds only its own queue. What
 * is not marked when the collector stops (or crashes) is sent again by the
 * next run: at least once, and the event id lets receivers drop repeats. */
#ifndef SMP_NOTIFY_SENDER_H
#define SMP_NOTIFY_SENDER_H

#include <stddef.h>
#include <stdint.h>

#include "notify_sink.h"

typedef struct notify_sender notify_sender;

typedef struct notify_sender_opts {
    int64_t retry_first_ms, retry_max_ms;   /* 0: NOTIFY_RETRY_FIRST_MS / _MAX_MS */
    int64_t poll_ms;                        /* idle look at the outbox; 0: 200 */
} notify_sender_opts;

/* Starts a thread per enabled sink of sinks (copied) on db_path. opts may
 * be NULL. *out is NULL when no sink is enabled. Returns 0, or -1 with err. */
int notify_sender_start(const char *db_path, const notify_sinks *sinks,
                        const notify_sender_opts *opts, notify_sender **out, char *err,
                        size_t errlen);
/* Aborts a delivery in progress (it stays queued), joins the threads,
 * closes their stores. NULL is a no-op. */
void notify_sender_stop(notify_sender *ns);

#endif
