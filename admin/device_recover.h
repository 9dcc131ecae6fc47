/* device_recover: `smpctl device recover-chain`, the operator's way out of
 * a device chain the collector cannot move on by itself (docs/collector.md,
 * "Recovering a wedged chain").
 *
 * A stored record that does not link (R9 chain-break), or a stray record
 * that makes the genuine one a conflict (R9 conflict), holds the device's
 * ack below it for good: acking past it would tell the agent to delete its
 * own record of that seq, which the collector does not hold. Recovery moves
 * every stored record of the device from --from-seq on (all above the ack,
 * so all still in the agent's journal) to superseded_records, where they
 * stay as evidence, records who did it, when and why in chain_recoveries,
 * and clears the R9 chain-break/conflict alerts it resolves. The agent's
 * next resend (from its ack + 1) then stores its own records afresh. */
#ifndef SMP_DEVICE_RECOVER_H
#define SMP_DEVICE_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqldb.h"

typedef struct device_recovery {
    int64_t id;                 /* chain_recoveries.id */
    uint64_t acked_seq;         /* the device's ack, unchanged by the recovery */
    int64_t records_moved;      /* to superseded_records */
    int64_t alerts_cleared;     /* R9 chain-break / conflict at or above from_seq */
} device_recovery;

/* In one write transaction of its own that holds the lock "device:<id>"
 * (sqldb_lock), the one the collectors take for each device they store: on
 * PostgreSQL, where several collectors may write at once, no record of the
 * device is stored between the read of its ack and the move. from_seq must
 * be above the device's acked seq (the agent deleted what was acked: those
 * records could never come back).
 * by and reason are required text (1..128 bytes, no control characters).
 * Returns 0, or -1 with err naming the option or device and what to do. */
int device_recover_chain(sqldb *db, const char *device_id, uint64_t from_seq, const char *by,
                         const char *reason, const char *now_ts, device_recovery *out, char *err,
                         size_t errlen);

/* One row of chain_recoveries (smpctl device history). */
typedef struct device_recovery_row {
    int64_t id;
    char at[32];
    char by[160];
    uint64_t from_seq, acked_seq;
    int64_t records_moved;
    char reason[160];
} device_recovery_row;

typedef void (*device_recovery_fn)(void *ctx, const device_recovery_row *row);
/* Calls fn for each recovery of device_id, oldest first. 0, or -1 with err. */
int device_recover_history(sqldb *db, const char *device_id, device_recovery_fn fn, void *ctx,
                           char *err, size_t errlen);

#endif
