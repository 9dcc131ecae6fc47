#include "checkpoint.h"

#include "outbox.h"
#include "record.h"

void checkpoint_init(checkpointer *c, signer *key, const char *device, const journal *j,
                     int64_t now_ms)
{
    c->key = key;
    c->device = device;
    c->last_seq = journal_head_seq(j);
    c->last_ms = now_ms;
}

int checkpoint_maybe(checkpointer *c, journal *j, int64_t now_ms, char *err, size_t errlen)
{
    uint64_t head = journal_head_seq(j);
    char msg[256], sig[SIGN_B64_MAX];
    record r;

    if (head == c->last_seq ||
        (head - c->last_seq < CHECKPOINT_EVERY_RECORDS && now_ms - c->last_ms < CHECKPOINT_EVERY_MS))
        return 0;
    int len = sign_checkpoint_message(c->device, head, journal_head_hash(j), msg, sizeof msg);
    if (signer_sign(c->key, msg, (size_t)len, sig, err, errlen) != 0)
        return -1;
    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)head);
    record_set_str(&r, "head_hash", journal_head_hash(j));
    record_set_str(&r, "sig", sig);
    record_ts_format(now_ms, r.ts);
    int rc = outbox_submit(j, &r, now_ms, err, errlen);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        c->last_seq = r.seq;
        c->last_ms = now_ms;
    }
    return 0;
}
