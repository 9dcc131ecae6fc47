/* ingest: events messages in, committed transactions out.
 *
 * Validates the message (topic, registry, schema, time), stores each record
 * once per (device, seq), checks integrity (R9/R10) and the compliance
 * rules (rules.h) on what it stored, queues each new checkpoint's signature
 * for the verifier (verifier.h: checked after the commit, never before the
 * ack), advances the device's contiguous chain
 * head and tells the caller which ack and alerts to publish. A message that
 * is not records of a registered device is quarantined whole with its reason;
 * a record of one that cannot be accepted is stored and flagged (R9, R10) or,
 * when it breaks the schema, quarantined alone with its seq, so a genuine
 * device is never wedged (docs/collector.md, "Bad input"). Nothing is
 * silently dropped. No MQTT here, so every path is
 * testable with a database alone. */
#ifndef SMP_INGEST_H
#define SMP_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "integrity.h"
#include "message.h"
#include "policy.h"
#include "prepare.h"
#include "store.h"

typedef struct ingest_limits {
    int64_t quarantine_max_rows;
    size_t quarantine_payload_bytes;
    int64_t future_skew_ms;       /* ts further ahead of receive time: stored, R10 future-ts */
    integrity_limits integrity;
} ingest_limits;

typedef struct ingest_result {
    bool ack;                     /* publish ack_seq for device after this call */
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t ack_seq;
    int stored, duplicates, conflicts;
    int rejected;                 /* records quarantined alone (quarantined_records) */
    bool quarantined;             /* the whole message (not records of this device) */
    char reason[256];             /* why it was quarantined */
    const alert_batch *alerts;    /* raised/cleared by this message; valid until the next call */
} ingest_result;

/* Context reused across messages (the batch buffer is large). */
typedef struct ingest ingest;

/* Borrows s; copies limits. NULL when out of memory. Until
 * ingest_set_policy, only integrity (R9/R10) is checked: storage and
 * integrity stay testable on their own. */
ingest *ingest_new(store *s, const ingest_limits *limits);
/* Turns the compliance rules (rules.h) on for later messages, with a copy
 * of p. smp-collector always calls it. */
void ingest_set_policy(ingest *in, const policy *p);
/* Replaces the policy and the integrity limits while another thread runs
 * messages through in (SIGHUP reload): copies them under a lock, and the
 * ingest thread takes them at the start of its next group, so no group
 * ever sees two policies. */
void ingest_update_policy(ingest *in, const policy *p, const integrity_limits *limits);
void ingest_free(ingest *in);

/* fn(ctx) is called on the ingest thread after each group commit that
 * queued checkpoints for the verifier (verifier_kick); it must not block.
 * Set it before messages flow. NULL: nobody is told (the verifier's poll
 * finds them). */
void ingest_set_checkpoint_hook(ingest *in, void (*fn)(void *ctx), void *ctx);

/* Group commit: ingest_group_begin, any number of ingest_message, then
 * ingest_group_commit — one transaction and one fsync for the group. Acks
 * (result.ack) and the group's alerts (ingest_alerts) may be published
 * only after ingest_group_commit returned 0.
 * A group runs its messages without savepoints (two statements, on
 * PostgreSQL two round trips, per message saved): a message the store
 * fails on then cannot be undone alone, and ingest_message says
 * INGEST_RETRY_CAREFULLY. The caller rolls the group back and runs it
 * again from its first message with ingest_group_careful: each message
 * under its own savepoint, so the one that fails is undone alone and the
 * others commit. On PostgreSQL the writes nothing later reads are sent
 * without waiting for their answers (sqldb_run_deferred): a failure of one
 * is found by a later message's statement or by the commit, which then
 * says INGEST_RETRY_CAREFULLY too; in a careful group each message's
 * savepoint release finds its own. */
int ingest_group_begin(ingest *in);
/* Right after ingest_group_begin: this group runs each message under a
 * savepoint of its own. */
void ingest_group_careful(ingest *in);
/* Right after ingest_group_begin, where the store's locks are shared: each
 * message of this group takes its clinic's lock whole before it runs (the
 * messages of a device that logs a sterilization cycle or test:
 * group_order.h). A message whose rules write its clinic's state takes it
 * so in any group. */
void ingest_group_clinic_whole(ingest *in);
/* Optional, right after ingest_group_begin: takes the device locks
 * (store_lock_device) of the messages' topics at once, in sorted order.
 * Each message takes its device's lock anyway; taking a group's locks up
 * front in one order is what keeps two collectors' groups from waiting on
 * each other in a cycle (a deadlock, which PostgreSQL breaks by failing
 * one of them). Topics that name no device are skipped. 0 or -1. */
int ingest_group_lock(ingest *in, const char *const *topics, size_t n);

/* Optional, before each ingest_message of a group: the topic of the
 * message the group runs after it (NULL: none). On PostgreSQL its
 * device's stored state is then read while this one is stored (one wait
 * for the server per message less: docs/collector.md, "Threads"). */
void ingest_expect_next(ingest *in, const char *topic);

/* ingest_message's answer when the store failed in a way that the whole
 * group may pass if run again (store_retryable: a deadlock with another
 * collector, a lost connection): the group must be rolled back
 * (ingest_group_rollback) and run again from its first message. */
#define INGEST_RETRY_GROUP (-2)
/* ingest_message's answer, outside a careful group, when the store failed
 * on the message for a reason of its own (a full disk, say) or memory ran
 * out: the group must be rolled back and run again from its first message
 * as a careful group (ingest_group_careful). */
#define INGEST_RETRY_CAREFULLY (-3)

/* Returns 0 when the message was stored or quarantined, -1 when the store
 * failed on it in a careful group (it is undone and not acked; the agent
 * resends), INGEST_RETRY_GROUP or INGEST_RETRY_CAREFULLY. */
int ingest_message(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                   ingest_result *out);
/* The same for a message prepared beforehand (prepare.h; pre was made for
 * this topic's device and payload and is only read). pre NULL: prepared
 * here. */
int ingest_message_prepared(ingest *in, const char *topic, const void *payload, size_t len,
                            const prepared_msg *pre, int64_t now_ms, ingest_result *out);
/* Returns 0 when the group is durable; otherwise it was rolled back, and
 * the answer is INGEST_RETRY_CAREFULLY for a group without savepoints that
 * failed for a reason of its own (nobody can tell which message's write
 * it was), else -1 (store_retryable(ingest_store(in)) says whether running
 * it again may pass at once). */
int ingest_group_commit(ingest *in);
/* Undoes the whole open group; nothing of it is durable or to publish. */
void ingest_group_rollback(ingest *in);

/* The store in borrows: the committer stores status messages
 * (presence.h) in the same group transaction. */
store *ingest_store(ingest *in);

/* The store's message for its last failure (the database's words), for the
 * committer's one "storage failing" line. Borrowed until the next call. */
const char *ingest_store_error(const ingest *in);
/* Alerts raised or cleared by the group so far. */
const alert_batch *ingest_alerts(const ingest *in);

/* One message as its own group (tests, fuzzing). Returns 0 when the message
 * was stored or quarantined and committed, -1 otherwise (also when the
 * group would have to be run again: it is rolled back). */
int ingest_events(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                  ingest_result *out);

#endif
