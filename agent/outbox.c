#include "outbox.h"

#include <stdio.h>
#include <string.h>

int outbox_submit(journal *j, record *event, int64_t now_ms, char *err, size_t errlen)
{
    return outbox_submit_id(j, event, NULL, now_ms, err, errlen);
}

int outbox_submit_id(journal *j, record *event, const char *event_id, int64_t now_ms, char *err,
                     size_t errlen)
{
    char canon[RECORD_CANON_MAX];
    int len;

    event->seq = journal_head_seq(j) + 1;
    memcpy(event->prev, journal_head_hash(j), RECORD_HASH_HEX);
    if (!event->ts[0])
        record_ts_format(now_ms, event->ts);
    if ((len = record_canonical(event, canon, sizeof canon)) < 0) {
        snprintf(err, errlen, "record seq %llu: canonical form too large",
                 (unsigned long long)event->seq);
        return -1;
    }
    return journal_append_id(j, event->seq, canon, (size_t)len, event_id, err, errlen);
}
