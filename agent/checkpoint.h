/* checkpoint: the device's signed statements of its chain head.
 *
 * After every 100 records, or 10 minutes of device time with new records,
 * the agent appends a `checkpoint` record: head_seq and head_hash of the
 * record before it, signed with the device key (common/sign.h). A collector
 * or inspector holding the device's certificate can then prove that the
 * records up to head_seq are the ones the device wrote. */
#ifndef SMP_CHECKPOINT_H
#define SMP_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "sign.h"

#define CHECKPOINT_EVERY_RECORDS 100
#define CHECKPOINT_EVERY_MS      (10 * 60 * 1000LL)

typedef struct checkpointer {
    signer *key;                 /* borrowed */
    const char *device;          /* borrowed */
    uint64_t last_seq;           /* seq of the last checkpoint (or head at start) */
    int64_t last_ms;             /* device time of the last checkpoint */
} checkpointer;

void checkpoint_init(checkpointer *c, signer *key, const char *device, const journal *j,
                     int64_t now_ms);

/* Appends a signed checkpoint when one is due. Not synced. Returns 0 (also
 * when none was due or the journal or disk is full: it is tried again
 * later) or -1. */
int checkpoint_maybe(checkpointer *c, journal *j, int64_t now_ms, char *err, size_t errlen);

#endif
