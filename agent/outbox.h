/* outbox: gives an accepted event its place in the device's hash chain
 * (seq, ts, prev) and appends its canonical bytes to the journal. */
#ifndef SMP_OUTBOX_H
#define SMP_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "record.h"

/* event is completed in place: seq = head + 1, prev = head hash, ts = now_ms
 * when the producer gave none. Not durable until journal_sync. Returns 0,
 * JOURNAL_FULL or JOURNAL_NOSPACE (refused, nothing changed; err says why
 * for NOSPACE), -1 on error. */
int outbox_submit(journal *j, record *event, int64_t now_ms, char *err, size_t errlen);
/* The same, keeping the producer's event_id (NULL: none) with the record in
 * the journal (journal_append_id). */
int outbox_submit_id(journal *j, record *event, const char *event_id, int64_t now_ms, char *err,
                     size_t errlen);

#endif
