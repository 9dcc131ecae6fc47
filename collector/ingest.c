#include "ingest.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rules.h"

struct ingest {
    store *s;
    ingest_limits limits;
    policy policy;
    bool rules_on;                /* ingest_set_policy was called */
    message_batch *batch;
    device_info device;           /* of the message being handled */
    alert_batch alerts;
    /* A reloaded policy waiting for the next group (ingest_update_policy). */
    pthread_mutex_t update_mu;
    bool update_pending;
    policy update_policy;
    integrity_limits update_integrity;
};

ingest *ingest_new(store *s, const ingest_limits *limits)
{
    ingest *in = calloc(1, sizeof *in);
    if (!in || !(in->batch = malloc(sizeof *in->batch))) {
        free(in);
        return NULL;
    }
    in->s = s;
    in->limits = *limits;
    pthread_mutex_init(&in->update_mu, NULL);
    return in;
}

void ingest_set_policy(ingest *in, const policy *p)
{
    in->policy = *p;
    in->rules_on = true;
}

void ingest_update_policy(ingest *in, const policy *p, const integrity_limits *limits)
{
    pthread_mutex_lock(&in->update_mu);
    in->update_policy = *p;
    in->update_integrity = *limits;
    in->update_pending = true;
    pthread_mutex_unlock(&in->update_mu);
}

/* On the ingest thread, between groups: the only place in->policy changes
 * once messages flow. */
static void take_update(ingest *in)
{
    pthread_mutex_lock(&in->update_mu);
    if (in->update_pending) {
        in->policy = in->update_policy;
        in->limits.integrity = in->update_integrity;
        in->rules_on = true;
        in->update_pending = false;
    }
    pthread_mutex_unlock(&in->update_mu);
}

void ingest_free(ingest *in)
{
    if (!in)
        return;
    pthread_mutex_destroy(&in->update_mu);
    free(in->batch);
    free(in);
}

/* "records[12].strokes: must not be negative" counts as
 * "records[].strokes: must not be negative". */
static void counter_key(const char *reason, char *out, size_t cap)
{
    bool in_index = false;
    size_t n = 0;
    for (const char *p = reason; *p && n + 1 < cap; p++) {
        if (in_index && isdigit((unsigned char)*p))
            continue;
        in_index = *p == '[' || (in_index && *p != ']');
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* Keeps a rejected message, inside the group's transaction. */
static int quarantine(ingest *in, const char *device, const char *topic, const void *payload,
                      size_t len, const char *now_ts, ingest_result *out)
{
    char key[256];

    out->quarantined = true;
    counter_key(out->reason, key, sizeof key);
    log_warn("quarantined device=%s topic=%s reason=\"%s\" bytes=%zu", device ? device : "-",
             topic, out->reason, len);
    return store_quarantine(in->s, device, topic, out->reason, key, payload, len,
                            in->limits.quarantine_payload_bytes, in->limits.quarantine_max_rows,
                            now_ts);
}

/* Checks everything about a message short of storing it. On failure fills
 * out->reason and returns -1. */
static int check_message(ingest *in, const char *device, const void *payload, size_t len,
                         int64_t now_ms, ingest_result *out)
{
    device_info *info = &in->device;
    record_error err;

    if (store_device(in->s, device, info) != 0)
        return -2;
    if (info->status == DEVICE_UNKNOWN) {
        snprintf(out->reason, sizeof out->reason,
                 "device: %s is not registered; add it with smpctl device add", device);
        return -1;
    }
    if (info->status == DEVICE_RETIRED) {
        snprintf(out->reason, sizeof out->reason, "device: %s is retired", device);
        return -1;
    }
    if (message_parse_batch(payload, len, device, in->batch, &err) != 0) {
        snprintf(out->reason, sizeof out->reason, "%s: %s", err.field, err.reason);
        return -1;
    }
    for (size_t i = 0; i < in->batch->count; i++) {
        int64_t ts_ms;
        record_ts_parse(in->batch->records[i].ts, &ts_ms);
        if (ts_ms - now_ms > in->limits.future_skew_ms) {
            snprintf(out->reason, sizeof out->reason,
                     "records[%zu].ts: more than %" PRId64 " s ahead of the receive time", i,
                     in->limits.future_skew_ms / 1000);
            return -1;
        }
    }
    return 0;
}

/* Moves the contiguous head over every stored record that links to it. */
static int advance_head(ingest *in, const char *device, chain_head *h)
{
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX];
    int found;

    while ((found = store_get_link(in->s, device, h->acked_seq + 1, prev, hash)) == 1) {
        if (strcmp(prev, h->acked_hash) != 0) {
            log_warn("integrity chain break device=%s seq=%" PRIu64 " prev does not match"
                     " the hash of seq %" PRIu64,
                     device, h->acked_seq + 1, h->acked_seq);
            break;
        }
        h->acked_seq++;
        memcpy(h->acked_hash, hash, RECORD_HASH_HEX);
    }
    return found < 0 ? -1 : 0;
}

static int store_batch(ingest *in, const char *device, int64_t now_ms, const char *now_ts,
                       ingest_result *out)
{
    char canon[RECORD_CANON_MAX], hash[RECORD_HASH_HEX];
    integrity_ctx ic = {in->s, &in->limits.integrity, device, &in->device, now_ms, now_ts, &in->alerts, NULL};
    rules_ctx rc = {in->s, &in->policy, device, in->device.clinic, now_ms, now_ts, &in->alerts};
    chain_head head;

    if (store_chain_head(in->s, device, &head) != 0)
        return -1;
    for (size_t i = in->batch->count; i-- > 0 && !ic.signed_checkpoint;) {
        if (in->batch->records[i].type == RT_CHECKPOINT)
            ic.signed_checkpoint = &in->batch->records[i];
    }
    for (size_t i = 0; i < in->batch->count; i++) {
        const record *r = &in->batch->records[i];
        store_put_result put;
        int len = record_canonical(r, canon, sizeof canon);
        if (len < 0)
            return -1;
        record_sha256_hex(canon, (size_t)len, hash);
        if (store_put_record(in->s, device, r, canon, (size_t)len, hash, now_ts, &put) != 0)
            return -1;
        out->stored += put == STORE_INSERTED;
        out->duplicates += put == STORE_DUPLICATE;
        out->conflicts += put == STORE_CONFLICT;
        if (integrity_check_record(&ic, r, hash, put) != 0)
            return -1;
        /* Only new records: a resend must not raise anything again. */
        if (in->rules_on && put == STORE_INSERTED && rules_on_record(&rc, r) != 0)
            return -1;
    }
    if (in->rules_on && out->stored > 0 && rules_after_batch(&rc) != 0)
        return -1;
    if (advance_head(in, device, &head) != 0 || integrity_check_gap(&ic, head.acked_seq) != 0 ||
        store_set_chain_head(in->s, device, &head, now_ts) != 0)
        return -1;
    out->ack_seq = head.acked_seq;
    return 0;
}

int ingest_group_begin(ingest *in)
{
    take_update(in);
    in->alerts.count = in->alerts.dropped = 0;
    if (store_begin(in->s) != 0) {
        log_error("store failed to begin: %s", store_errmsg(in->s));
        return -1;
    }
    return 0;
}

/* Validates and stores (or quarantines) one message, inside the group. */
static int handle(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                  const char *now_ts, ingest_result *out)
{
    const char *leaf = message_topic_device(topic, out->device);
    int rc;

    if (!leaf || strcmp(leaf, "events") != 0) {
        snprintf(out->reason, sizeof out->reason, "topic: not smp/v1/dev/<device>/events");
        return quarantine(in, NULL, topic, payload, len, now_ts, out);
    }
    if ((rc = check_message(in, out->device, payload, len, now_ms, out)) == -1)
        return quarantine(in, out->device, topic, payload, len, now_ts, out);
    if (rc != 0 || store_batch(in, out->device, now_ms, now_ts, out) != 0)
        return -1;
    out->ack = true;
    return 0;
}

int ingest_message(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                   ingest_result *out)
{
    char now_ts[RECORD_TS_LEN + 1];
    size_t alerts_before = in->alerts.count;

    memset(out, 0, sizeof *out);
    out->alerts = &in->alerts;
    record_ts_format(now_ms, now_ts);
    if (store_savepoint(in->s) == 0 && handle(in, topic, payload, len, now_ms, now_ts, out) == 0 &&
        store_release(in->s) == 0)
        return 0;
    /* Undo this message alone; the others of the group still commit. */
    log_error("store failed device=%s error=%s; not acking, the agent will resend",
              out->device[0] ? out->device : "-", store_errmsg(in->s));
    if (store_rollback_to(in->s) != 0)
        log_error("rollback to savepoint failed: %s", store_errmsg(in->s));
    in->alerts.count = alerts_before;
    out->ack = false;
    return -1;
}

int ingest_group_commit(ingest *in)
{
    if (store_commit(in->s) == 0)
        return 0;
    log_error("store commit failed: %s; nothing of this group is acked, agents will resend",
              store_errmsg(in->s));
    store_rollback(in->s);
    in->alerts.count = 0; /* rolled back with the records */
    return -1;
}

const alert_batch *ingest_alerts(const ingest *in) { return &in->alerts; }

int ingest_events(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                  ingest_result *out)
{
    if (ingest_group_begin(in) != 0) {
        memset(out, 0, sizeof *out);
        out->alerts = &in->alerts;
        return -1;
    }
    int rc = ingest_message(in, topic, payload, len, now_ms, out);
    if (ingest_group_commit(in) != 0) {
        out->ack = false;
        return -1;
    }
    return rc;
}
