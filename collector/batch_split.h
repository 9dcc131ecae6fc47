/* batch_split: an events message record by record, for a message that
 * message_parse_batch refused because of one of its records.
 *
 * A registered device's batch may hold a record this collector cannot
 * accept (a newer agent's type or field, a corrupted value). Refusing the
 * whole message would wedge the device: its agent resends the same batch
 * for ever. So the valid records go on to be stored, and each invalid one
 * whose seq can still be read is handed back with its seq, prev, reason and
 * its exact bytes in the payload (what the agent hashed into the chain)
 * to be quarantined alone (docs/collector.md, "Bad input"). */
#ifndef SMP_BATCH_SPLIT_H
#define SMP_BATCH_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "message.h"
#include "record.h"

typedef struct split_reject {
    size_t index;                     /* in records[] */
    uint64_t seq;
    char prev[RECORD_HASH_HEX];       /* "" when it has no valid prev */
    char hash[RECORD_HASH_HEX];       /* SHA-256 of body */
    char reason[256];                 /* "records[<i>].<field>: <why>" */
    const char *body;                 /* the record's bytes inside the payload */
    size_t len;
} split_reject;

typedef struct split_rejects {
    size_t count;
    split_reject r[MESSAGE_MAX_RECORDS];
} split_rejects;

/* payload must have passed message_parse_batch's text, JSON and envelope
 * checks (it failed on a record, err.field "records[..."). Fills valid with
 * the records that validate and out with the others. Returns 0; -1 when a
 * record's seq cannot be read (missing, duplicated, not 1..2^53-1, or the
 * element is no object) or its bytes cannot be located: then err says why
 * (that record's own validation error) and the whole message must be
 * quarantined. */
int batch_split(const char *payload, size_t len, message_batch *valid, split_rejects *out,
                record_error *err);

#endif
