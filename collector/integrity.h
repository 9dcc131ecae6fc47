/* integrity: rule R9 (seq gaps, broken prev links, conflicting resends,
 * checkpoints that do not describe the record before them) and R10 (device
 * clock ahead of the collector).
 *
 * Runs inside the batch's transaction, after each record is put, so the
 * alerts commit with the records that prove them. One context serves one
 * message of one device: what it remembers (clock_ahead_closed) holds
 * only while the device's lock is held (store_lock_device). A checkpoint's signature
 * is not verified here: the checkpoint is queued in the same transaction
 * (integrity_queue_checkpoints, all of a message's at once) and verified
 * off the commit path (verifier.h; docs/collector.md, "Checkpoint
 * signatures"). */
#ifndef SMP_INTEGRITY_H
#define SMP_INTEGRITY_H

#include <stdbool.h>
#include <stdint.h>

#include "alert.h"
#include "message.h"
#include "store.h"

typedef struct integrity_limits {
    int64_t clock_skew_ms;     /* R10: device time this far ahead is flagged */
    int64_t gap_grace_ms;      /* R9: a gap unfilled this long is flagged */
} integrity_limits;

typedef struct integrity_ctx {
    store *s;
    const integrity_limits *limits;
    const char *device;
    const device_info *info;
    int64_t now_ms;
    const char *now_ts;
    alert_batch *out;
    int queued;                /* checkpoints queued for the verifier (out) */
    /* Where the links of the device's stored records are read: like
     * store_get_link (1 found, 0 not, -1 error). NULL: store_get_link.
     * Ingest answers from the links it read around the message at once. */
    int (*get_link)(void *ctx, uint64_t seq, char prev[RECORD_HASH_HEX],
                    char hash[RECORD_HASH_HEX]);
    void *link_ctx;
    /* R10 clock-ahead is known not open (cleared, or found not open, since
     * this context's last raise of it): the next clear has nothing to do. */
    bool clock_ahead_closed;
    /* R9 gap is known not open (store_device_view): closing it has
     * nothing to do. */
    bool gap_closed;
    /* Checkpoints checked and waiting for integrity_queue_checkpoints;
     * they point into the records checked. */
    store_ckpt_item ckpts[MESSAGE_MAX_RECORDS];
    size_t nckpts;
} integrity_ctx;

/* Checks one record just put (inserted, duplicate or conflicting). A
 * checkpoint that describes the record before it waits in c for
 * integrity_queue_checkpoints; r must live until then. */
int integrity_check_record(integrity_ctx *c, const record *r, const char *hash,
                           store_put_result put);
/* Queues the checkpoints checked since the last call for the verifier, in
 * one statement (store_queue_checkpoints), and counts them in c->queued.
 * Call it after the message's records, in the same transaction. */
int integrity_queue_checkpoints(integrity_ctx *c);
/* Checks the device's chain after the batch: raises or clears the gap
 * alert. top_seq: the highest seq of the device's stored records, this
 * batch's included; a head that reached it has nothing stored above it,
 * which then needs no reading. */
int integrity_check_gap(integrity_ctx *c, uint64_t head_seq, uint64_t top_seq);

/* Files a under this device and clinic and raises it (alerting.h). */
int integrity_raise(integrity_ctx *c, alert *a);
int integrity_clear(integrity_ctx *c, const char *rule, const char *cause);

#endif
