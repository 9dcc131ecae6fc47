/* prepare: the part of ingesting an events message that needs no store —
 * its text, JSON, envelope and records checked, each record's canonical
 * bytes and their SHA-256 — done once, into a compact result of its own.
 * A payload written as agents write it (message_parse_canonical) is read
 * without the JSON parser, its records' bytes taken as their canonical
 * bytes; any other goes through message_parse_batch (and batch_split when
 * one record is refused), which names what is wrong.
 *
 * The committer runs it on a thread of its own ahead of the thread that
 * stores (committer.h), so parsing and hashing one group overlaps with
 * storing the one before; ingest_message runs it inline when a message
 * comes without one. Its outcome is a pure function of (topic device,
 * payload): the registry, the policy and the store are consulted later,
 * in the transaction. */
#ifndef SMP_PREPARE_H
#define SMP_PREPARE_H

#include <stddef.h>

#include "batch_split.h"
#include "message.h"
#include "record.h"

typedef struct prepared_msg {
    int rc;                       /* 0: records to store; -1: refused whole (err) */
    record_error err;
    size_t count;                 /* records that validated, in message order */
    /* Each holds only its used part (record_used_size): never copy one
     * whole. */
    const record **records;
    const char **canon;           /* canonical bytes of records[i] (NUL-terminated) */
    size_t *canon_len;
    char (*hash)[RECORD_HASH_HEX];
    size_t nrejects;              /* records to quarantine alone (batch_split) */
    split_reject *rejects;        /* their bodies point into the payload */
    size_t bytes;                 /* memory this holds, for the queue's bound */
} prepared_msg;

/* The large buffers one preparing thread reuses. NULL when out of memory. */
typedef struct prepare_scratch prepare_scratch;
prepare_scratch *prepare_scratch_new(void);
void prepare_scratch_free(prepare_scratch *sc);

/* Prepares payload, an events message of device (the topic's, already
 * validated). The result borrows payload (rejects[].body) and must be freed
 * before it. NULL when out of memory: ingest then prepares it again. */
prepared_msg *prepare_message(prepare_scratch *sc, const char *device, const void *payload,
                              size_t len);
void prepared_free(prepared_msg *m);

#endif
