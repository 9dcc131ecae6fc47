/* journal: the agent's crash-safe outbox on disk.
 *
 * Records are appended to segment files DIR/seg-<first seq>.log as frames
 *
 *     u32 word | u32 crc32c(seq, payload, event_id) | u64 seq | payload | event_id
 *
 * (little-endian). word holds the payload length in its low 24 bits and the
 * length of the producer's event_id (0..64, usually 0) in its top 8 bits:
 * a frame without an event_id is byte for byte the original format. The
 * payload is the published record; the event_id stays on the device.
 * journal_sync() fsyncs, and only then may a producer be told its record is
 * kept. On open, every segment is scanned; a torn or corrupt tail of the
 * newest segment is truncated (it was never confirmed), anything wrong
 * earlier is an error. Segments whose records are all acked by the
 * collector are deleted, except the newest, so the head seq and chain hash
 * survive restarts — unless the disk is full and the newest is fully
 * acked: then the head seq and hash are saved in DIR/acked first and the
 * segment is deleted to make room. DIR/acked holds the acked seq (and the
 * head hash when it is the head); DIR/ids the recent event_ids whose
 * records were deleted.
 *
 * A full disk is not an error: an append that finds no space is undone and
 * refused (JOURNAL_NOSPACE), acks are applied even when they cannot be
 * saved (they are saved later; on restart the acked seq is at least the
 * one before the oldest segment left), and space is reclaimed from acked
 * records by itself.
 *
 * Memory use is one small struct per segment, whatever the backlog, plus
 * the event_id window (JOURNAL_IDS_WINDOW entries). */
#ifndef SMP_JOURNAL_H
#define SMP_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "event_ids.h"
#include "record.h"

#define JOURNAL_MAX_PAYLOAD RECORD_CANON_MAX
/* The most recent event_ids remembered, across restarts (docs/agent.md). */
#define JOURNAL_IDS_WINDOW  8192

/* journal_append's results besides -1. */
enum {
    JOURNAL_OK = 0,
    JOURNAL_FULL = 1,        /* journal_max_mb of unacked records: refused */
    JOURNAL_NOSPACE = 2      /* the disk refused the write; nothing changed */
};

typedef struct journal journal;

typedef struct journal_limits {
    uint64_t segment_bytes;   /* roll to a new segment past this size */
    uint64_t max_bytes;       /* journal_append refuses past this many unacked bytes */
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
/* Bytes of every segment on disk (acked records of kept segments included). */
uint64_t journal_bytes(const journal *j);
/* Bytes of the frames not yet acked: what max_bytes limits. */
uint64_t journal_unacked_bytes(const journal *j);

/* Appends seq (must be head+1). Not durable until journal_sync. Returns
 * JOURNAL_OK; JOURNAL_FULL when max_bytes of unacked records are kept;
 * JOURNAL_NOSPACE with err saying why when the write failed (disk full, or
 * any write error): the journal is as before, retry later; or -1 for a
 * wrong seq or length and errors after which the journal cannot go on. */
int journal_append(journal *j, uint64_t seq, const char *payload, size_t len, char *err,
                   size_t errlen);
/* The same, keeping event_id (NULL or "": none; else event_id_valid) in the
 * frame and in the window journal_find_event_id searches. */
int journal_append_id(journal *j, uint64_t seq, const char *payload, size_t len,
                      const char *event_id, char *err, size_t errlen);
/* The seq a record with this event_id was appended under, or 0 when it is
 * not among the JOURNAL_IDS_WINDOW most recent ids. */
uint64_t journal_find_event_id(const journal *j, const char *event_id);
int journal_sync(journal *j, char *err, size_t errlen);

/* Reads up to max entries starting at from_seq into out, copying payloads
 * into buf (cap bytes). *n is the count read (0 when from_seq > head).
 * Returns 0 or -1 on an I/O or corruption error. */
int journal_read(journal *j, uint64_t from_seq, size_t max, journal_entry *out, size_t *n,
                 char *buf, size_t cap, char *err, size_t errlen);

/* Records the collector's ack of every seq <= seq: persists it and deletes
 * segments no longer needed. Acks at or below the current one are ignored.
 * An ack that cannot be saved (disk full) is applied all the same and
 * saved with a later one; a warning says so. Returns 0 (-1 is reserved). */
int journal_ack(journal *j, uint64_t seq, char *err, size_t errlen);

#endif
