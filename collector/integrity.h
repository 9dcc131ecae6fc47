/* integrity: rule R9 (seq gaps, broken prev links, conflicting resends,
 * bad checkpoint signatures) and R10 (device clock ahead of the collector).
 *
 * Runs inside the batch's transaction, after each record is put, so the
 * alerts commit with the records that prove them. */
#ifndef SMP_INTEGRITY_H
#define SMP_INTEGRITY_H

#include <stdint.h>

#include "alert.h"
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
    /* The newest checkpoint of the message, in the same array as the
     * records checked (ingest's batch). Every checkpoint's signature is
     * verified, newest first by rank, up to INTEGRITY_VERIFY_MAX per
     * message: the checkpoints older than that are flagged unverified
     * instead (docs/collector.md, "Checkpoint signatures"). NULL: no bound. */
    const record *signed_checkpoint;
} integrity_ctx;

/* Checkpoints verified per message, at most (~1.8 ms each with mbedTLS,
 * up to 8 more for a device whose certificate was replaced this week). An
 * agent writes a checkpoint only after at least one new record, so an
 * honest batch of MESSAGE_RECORDS_MAX (64) holds at most half as many:
 * beyond this a message did not come from an honest agent. */
#define INTEGRITY_VERIFY_MAX 32

/* Checks one record just put (inserted, duplicate or conflicting). */
int integrity_check_record(integrity_ctx *c, const record *r, const char *hash,
                           store_put_result put);
/* Checks the device's chain after the batch: raises or clears the gap alert. */
int integrity_check_gap(integrity_ctx *c, uint64_t head_seq);

/* Files a under this device and clinic and raises it (alerting.h). */
int integrity_raise(integrity_ctx *c, alert *a);
int integrity_clear(integrity_ctx *c, const char *rule, const char *cause);

#endif
