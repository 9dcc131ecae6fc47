/* journal: the agent's crash-safe outbox on disk.
 *
 * Records are appended to segment files DIR/seg-<first seq>.log as frames
 *
 *     u32 length | u32 crc32c(seq, payload) | u64 seq | payload (length bytes)
 *
 * (little-endian). journal_sync() fsyncs, and only then may a producer be
 * told its record is kept. On open, every segment is scanned; a torn or
 * corrupt tail of the newest segment is truncated (it was never confirmed),
 * anything wrong earlier is an error. Segments whose records are all acked
 * by the collector are deleted, except the newest, so the head seq and chain
 * hash survive restarts. The acked seq is kept in DIR/acked.
 *
 * Memory use is one small struct per segment, whatever the backlog. */
#ifndef SMP_JOURNAL_H
#define SMP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define JOURNAL_MAX_PAYLOAD RECORD_CANON_MAX

typedef struct journal journal;

typedef struct journal_limits {
    uint64_t segment_bytes;   /* roll to a new segment past this size */
    uint64_t max_bytes;       /* journal_append refuses past this total */
} journal_limits;

/* An entry read back: payload points into the caller's buffer. */
typedef struct journal_entry {
    uint64_t seq;
    const char *payload;
    size_t len;
} journal_entry;

/* Opens (creating) the journal in dir and recovers it. *out is owned by the
 * caller (journal_close). Returns 0, or -1 with err naming file and offset. */
int journal_open(const char *dir, const journal_limits *limits, journal **out, char *err,
                 size_t errlen);
void journal_close(journal *j);

uint64_t journal_head_seq(const journal *j);
/* Hash of the newest record's payload (genesis when empty). Borrowed. */
const char *journal_head_hash(const journal *j);
uint64_t journal_acked_seq(const journal *j);
uint64_t journal_bytes(const journal *j);

/* Appends seq (must be head+1). Not durable until journal_sync. Returns 0,
 * 1 when the journal is full (max_bytes), or -1 on an I/O error. */
int journal_append(journal *j, uint64_t seq, const char *payload, size_t len, char *err,
                   size_t errlen);
int journal_sync(journal *j, char *err, size_t errlen);

/* Reads up to max entries starting at from_seq into out, copying payloads
 * into buf (cap bytes). *n is the count read (0 when from_seq > head).
 * Returns 0 or -1 on an I/O or corruption error. */
int journal_read(journal *j, uint64_t from_seq, size_t max, journal_entry *out, size_t *n,
                 char *buf, size_t cap, char *err, size_t errlen);

/* Records the collector's ack of every seq <= seq: persists it and deletes
 * segments no longer needed. Acks at or below the current one are ignored. */
int journal_ack(journal *j, uint64_t seq, char *err, size_t errlen);

#endif
