#include "ingest.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkview.h"
#include "log.h"
#include "prepare.h"
#include "rules.h"
#include "store_rules.h"

struct ingest {
    store *s;
    ingest_limits limits;
    policy policy;
    bool rules_on;                /* ingest_set_policy was called */
    prepare_scratch *scratch;     /* for messages that come unprepared */
    const prepared_msg *msg;      /* the message being handled */
    bool oom;                     /* it failed for want of memory, not the store */
    bool careful;                 /* the open group: a savepoint per message */
    bool clinic_whole;            /* the open group: each message takes its clinic's lock whole */
    device_info device;           /* of the message being handled */
    device_view view;             /* its stored state, read with it */
    /* The device of the group's next message (ingest_expect_next); "":
     * none, or not known. */
    char next_device[IDS_DEVICE_ID_MAX + 1];
    /* The message's records as stored (store_put_records) and the links
     * around them. */
    store_put_item items[MESSAGE_MAX_RECORDS];
    linkview *links;
    rules_raised raised;          /* the message's rules raised these (rules.h) */
    alert_batch alerts;
    /* Checkpoints the open group queued for the verifier, and whom to
     * tell once it commits (ingest_set_checkpoint_hook). */
    int group_queued;
    void (*on_checkpoints)(void *ctx);
    void *on_checkpoints_ctx;
    /* A reloaded policy waiting for the next group (ingest_update_policy). */
    pthread_mutex_t update_mu;
    bool update_pending;
    bool mu_ready;                /* update_mu initialised */
    policy update_policy;
    integrity_limits update_integrity;
};

ingest *ingest_new(store *s, const ingest_limits *limits)
{
    ingest *in = calloc(1, sizeof *in);
    if (!in || !(in->scratch = prepare_scratch_new()) || !(in->links = linkview_new())) {
        ingest_free(in);
        return NULL;
    }
    in->s = s;
    in->limits = *limits;
    pthread_mutex_init(&in->update_mu, NULL);
    in->mu_ready = true;
    return in;
}

void ingest_set_policy(ingest *in, const policy *p)
{
    in->policy = *p;
    in->rules_on = true;
}

void ingest_set_checkpoint_hook(ingest *in, void (*fn)(void *ctx), void *ctx)
{
    in->on_checkpoints = fn;
    in->on_checkpoints_ctx = ctx;
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
    if (in->mu_ready)
        pthread_mutex_destroy(&in->update_mu);
    linkview_free(in->links);
    prepare_scratch_free(in->scratch);
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
    log_warn("quarantined device=%s topic=%s reason=%s bytes=%zu", device ? device : "-",
             LOG_Q(topic), LOG_Q(out->reason), len);
    return store_quarantine(in->s, device, topic, out->reason, key, payload, len,
                            in->limits.quarantine_payload_bytes, in->limits.quarantine_max_rows,
                            now_ts);
}

/* Checks everything about a message short of storing it. On failure fills
 * out->reason and returns -1: the message is not records of this device at
 * all (topic, registry, payload, envelope, or a record whose seq cannot be
 * read) and is quarantined whole. A record that breaks the schema but whose
 * seq can be read is among in->msg's rejects and is quarantined alone:
 * refusing the whole message would wedge the device, whose agent resends
 * it for ever. A record timed beyond future_skew_s is not refused either:
 * it is the device's record, stored and flagged (store_batch). */
static int check_message(ingest *in, const char *device, ingest_result *out)
{
    device_info *info = &in->device;
    const record_error *err = &in->msg->err;

    if (store_device_view(in->s, device, info, &in->view) != 0)
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
    if (in->msg->rc == 0)
        return 0;
    snprintf(out->reason, sizeof out->reason, "%s: %s", err->field, err->reason);
    return -1;
}

/* 1 when the record stored at seq+1 (if any) does not link to hash, the
 * hash of the record the head would take at seq: 0 when it links or none
 * is stored, -1 on a store error. */
static int successor_disowns(ingest *in, uint64_t seq, const char *hash)
{
    char prev[RECORD_HASH_HEX], next_hash[RECORD_HASH_HEX];
    bool quarantined;
    int found = linkview_chain_link(in->links, seq + 1, prev, next_hash, &quarantined);

    if (found != 1)
        return found;
    return strcmp(prev, hash) != 0 && !(quarantined && !prev[0]);
}

/* Moves the contiguous head over every stored record that links to it,
 * and over a record quarantined alone (store_quarantine_record) at the next
 * seq: the agent chained the record after it to the hash of its bytes, and
 * it will never send anything else for that seq. Such a record whose prev
 * is readable must link like any other; one whose prev is itself what was
 * wrong cannot be checked and is passed (its R9 rejected alert says so). A
 * stored record that does not link stops the head: acking past it would
 * tell the agent to delete its own record of that seq, which may be
 * another one (`smpctl device recover-chain`, docs/collector.md).
 * For the same reason the head never takes a record that links back but
 * whose stored successor does not link to it: a record that fills a gap
 * after the next one arrived may be a stray (a cloned certificate) and the
 * agent's own one is then the record the successor was chained to. Holding
 * the head keeps the agent resending it: a conflict, an R9 alert, and the
 * operator's recover-chain decide, and nothing genuine is deleted. */
static int advance_head(ingest *in, const char *device, chain_head *h)
{
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX];
    int found, disowned;

    linkview_at(in->links, LINKVIEW_ALL);
    for (;;) {
        bool quarantined;
        found = linkview_chain_link(in->links, h->acked_seq + 1, prev, hash, &quarantined);
        if (found != 1)
            break;
        if (strcmp(prev, h->acked_hash) != 0 && !(quarantined && !prev[0])) {
            log_warn("integrity chain break device=%s seq=%" PRIu64 " prev does not match"
                     " the hash of seq %" PRIu64,
                     device, h->acked_seq + 1, h->acked_seq);
            break;
        }
        if ((disowned = successor_disowns(in, h->acked_seq + 1, hash)) != 0) {
            if (disowned < 0)
                return -1;
            log_warn("integrity chain break device=%s seq=%" PRIu64 " the stored seq %" PRIu64
                     " does not link to it; holding the ack at %" PRIu64,
                     device, h->acked_seq + 1, h->acked_seq + 2, h->acked_seq);
            break;
        }
        h->acked_seq++;
        memcpy(h->acked_hash, hash, RECORD_HASH_HEX);
    }
    return found < 0 ? -1 : 0;
}

/* Evidence as a JSON object, built with cJSON so that text from the device
 * (a field name in a reason) is escaped. */
static void evidence_json(char *out, size_t cap, uint64_t seq, const char *k1, const char *v1,
                          const char *k2, const char *v2, const char *k3, int64_t n3)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;

    snprintf(out, cap, "{}");
    if (!o)
        return;
    if (cJSON_AddNumberToObject(o, "seq", (double)seq) && cJSON_AddStringToObject(o, k1, v1) &&
        cJSON_AddStringToObject(o, k2, v2) && (!k3 || cJSON_AddNumberToObject(o, k3, (double)n3)) &&
        (text = cJSON_PrintUnformatted(o)) != NULL && strlen(text) < cap)
        snprintf(out, cap, "%s", text);
    cJSON_free(text);
    cJSON_Delete(o);
}

/* R10 future-ts: a record timed more than future_skew_s ahead of the receive
 * time. It is the device's record, so it is stored, chained and acked like
 * any other (refusing it wedged the device for good); the alert says its
 * time is not to be trusted and keeps the device ts and the receive time.
 * One cause per device, raised once while open; cleared when a later record
 * (higher seq) is timed within clock_skew_s of its receive time. */
static int raise_future_ts(ingest *in, integrity_ctx *ic, const record *r, int64_t ts_ms)
{
    alert a = {.rule = "R10", .severity = "integrity", .cause = "future-ts"};
    int64_t ahead_s = (ts_ms - ic->now_ms) / 1000;

    snprintf(a.message, sizeof a.message, "record timed %" PRId64 " s ahead of the collector, "
             "beyond future_skew_s (%" PRId64 " s): stored and acked, its time is not trusted",
             ahead_s, in->limits.future_skew_ms / 1000);
    evidence_json(a.evidence, sizeof a.evidence, r->seq, "ts", r->ts, "received_at", ic->now_ts,
                  "ahead_s", ahead_s);
    log_warn("record beyond future_skew_s device=%s seq=%" PRIu64 " ts=%s received_at=%s; stored",
             ic->device, r->seq, r->ts, ic->now_ts);
    return integrity_raise(ic, &a);
}

/* A record quarantined alone: kept with its seq and bytes, counted, and
 * flagged R9 rejected:seq=N the first time it arrives. */
static int quarantine_record(ingest *in, integrity_ctx *ic, const split_reject *x,
                             ingest_result *out)
{
    alert a = {.rule = "R9", .severity = "integrity"};
    char key[256];
    bool inserted;

    out->rejected++;
    counter_key(x->reason, key, sizeof key);
    if (store_quarantine_record(in->s, ic->device, x->seq, x->prev, x->hash, x->body, x->len,
                                x->reason, key, ic->now_ts, &inserted) != 0)
        return -1;
    if (!inserted)
        return 0;
    linkview_quarantined(in->links, x->seq, x->prev, x->hash);
    log_warn("quarantined record device=%s seq=%" PRIu64 " reason=%s bytes=%zu; the rest of"
             " its message is stored", ic->device, x->seq, LOG_Q(x->reason), x->len);
    snprintf(a.cause, sizeof a.cause, "rejected:seq=%" PRIu64, x->seq);
    snprintf(a.message, sizeof a.message, "record does not match the record schema; kept in "
             "quarantined_records and acked past: upgrade the collector or fix the producer");
    evidence_json(a.evidence, sizeof a.evidence, x->seq, "reason", x->reason, "hash", x->hash,
                  NULL, 0);
    return integrity_raise(ic, &a);
}

/* Where the segment starting at index i of the message ends (exclusive).
 * A segment's records are stored at once and then checked one by one as
 * if each came alone (linkview.h): so their seqs ascend (a repeated or
 * lower seq starts a new segment, to be judged against the earlier one as
 * stored), and a record of a type that the rules of an earlier record of
 * the segment read (rules_types_read: other records than its neighbours
 * and the records below it) starts a new one, so that no record's rules
 * see a record that came after it in the message. */
static size_t segment_end(const ingest *in, size_t i)
{
    const record *const *r = in->msg->records;
    unsigned read = in->rules_on ? rules_types_read(&in->policy, r[i]) : 0;
    size_t j = i + 1;

    while (j < in->msg->count && r[j]->seq > r[j - 1]->seq && !(read & 1u << r[j]->type)) {
        if (in->rules_on)
            read |= rules_types_read(&in->policy, r[j]);
        j++;
    }
    return j;
}

/* Stores records [i, end) of the message in one go; 0 or -1. */
static int put_segment(ingest *in, size_t i, size_t end, const char *now_ts)
{
    const prepared_msg *m = in->msg;

    for (size_t k = i; k < end; k++)
        in->items[k] = (store_put_item){m->records[k], m->canon[k], m->canon_len[k], m->hash[k],
                                        STORE_INSERTED};
    return linkview_put(in->links, &in->items[i], end - i, i, now_ts);
}

static int store_batch(ingest *in, const char *device, int64_t now_ms, const char *now_ts,
                       ingest_result *out)
{
    integrity_ctx ic = {.s = in->s, .limits = &in->limits.integrity, .device = device,
                        .info = &in->device, .now_ms = now_ms, .now_ts = now_ts,
                        .out = &in->alerts, .get_link = linkview_link, .link_ctx = in->links,
                        .gap_closed = !in->view.gap_open};
    rules_boundary boundary = {in->view.boundary_seq, in->view.boundary_start};
    rules_ctx rc = {.s = in->s, .p = &in->policy, .device = device, .clinic = in->device.clinic,
                    .now_ms = now_ms, .now_ts = now_ts, .out = &in->alerts,
                    .record_ts = linkview_ts, .ts_ctx = in->links, .raised = &in->raised,
                    .silent_closed = !in->view.silent_open, .wear_closed = !in->view.wear_open,
                    .boundary = &boundary, .top_before = in->view.top.seq,
                    .optimistic = !in->careful};
    uint64_t future_seq = 0, sane_seq = 0;   /* highest of each kind inserted */
    uint64_t top_seq = in->view.top.seq;     /* highest stored, this message's included */
    chain_head head = in->view.head;   /* read with the device (check_message) */
    size_t end = 0;

    linkview_start(in->links, in->s, device, &in->view);
    in->raised.n = 0;
    in->raised.overflow = false;
    /* Where locks are shared, a message whose rules write its clinic's
     * state, or any message of a group that asked for it, takes the
     * clinic's lock whole before anything of it runs: a grip before its
     * cycle then never holds it shared first (store_lock_clinic_shared:
     * two transactions that did would deadlock). */
    if (in->rules_on && store_shared(in->s) &&
        (in->clinic_whole || rules_clinic_lock_of((const record *const *)in->msg->records,
                                                  in->msg->count) == RULES_CLINIC_WHOLE) &&
        store_lock_clinic(in->s, in->device.clinic) != 0)
        return -1;
    /* Not in a careful group, where a savepoint's rollback would drop it. */
    if (in->rules_on && !in->careful &&
        rules_read_ahead(&rc, (const record *const *)in->msg->records, in->msg->count) != 0)
        return -1;
    for (size_t i = 0; i < in->msg->count; i++) {
        const record *r = in->msg->records[i];
        store_put_result put;
        int64_t ts_ms = 0;
        if (i == end) {
            end = segment_end(in, i);
            if (put_segment(in, i, end, now_ts) != 0)
                return -1;
        }
        put = in->items[i].result;
        linkview_at(in->links, i);
        out->stored += put == STORE_INSERTED;
        if (put == STORE_INSERTED && r->seq > top_seq)
            top_seq = r->seq;
        out->duplicates += put == STORE_DUPLICATE;
        out->conflicts += put == STORE_CONFLICT;
        if (integrity_check_record(&ic, r, in->msg->hash[i], put) != 0)
            return -1;
        if (put == STORE_INSERTED && record_ts_parse(r->ts, &ts_ms) == 0) {
            if (ts_ms - now_ms > in->limits.future_skew_ms) {
                if (raise_future_ts(in, &ic, r, ts_ms) != 0)
                    return -1;
                future_seq = r->seq > future_seq ? r->seq : future_seq;
            } else if (llabs(ts_ms - now_ms) <= in->limits.integrity.clock_skew_ms) {
                sane_seq = r->seq > sane_seq ? r->seq : sane_seq;
            }
        }
        /* Only new records: a resend must not raise anything again. */
        if (in->rules_on && put == STORE_INSERTED && rules_on_record(&rc, r) != 0)
            return -1;
    }
    if (in->rules_on)
        rules_read_ahead_done(&rc);
    if (integrity_queue_checkpoints(&ic) != 0)
        return -1;
    /* Once per message, not per record: a clear is a write. */
    if (sane_seq > future_seq && integrity_clear(&ic, "R10", "future-ts") != 0)
        return -1;
    for (size_t i = 0; i < in->msg->nrejects; i++) {
        if (quarantine_record(in, &ic, &in->msg->rejects[i], out) != 0)
            return -1;
    }
    if (in->rules_on && out->stored > 0 && rules_after_batch(&rc) != 0)
        return -1;
    if (advance_head(in, device, &head) != 0 ||
        integrity_check_gap(&ic, head.acked_seq, top_seq) != 0 ||
        store_set_chain_head(in->s, device, &head, now_ts) != 0)
        return -1;
    out->ack_seq = head.acked_seq;
    in->group_queued += ic.queued;
    return 0;
}

int ingest_group_begin(ingest *in)
{
    take_update(in);
    in->alerts.count = in->alerts.dropped = 0;
    in->group_queued = 0;
    in->careful = false;
    in->clinic_whole = false;
    /* No log line here: the committer retries a failing group and says
     * once, with ingest_store_error, that storage is failing. */
    return store_begin(in->s) == 0 ? 0 : -1;
}

void ingest_group_careful(ingest *in) { in->careful = true; }

void ingest_group_clinic_whole(ingest *in) { in->clinic_whole = true; }

void ingest_expect_next(ingest *in, const char *topic)
{
    const char *leaf = topic ? message_topic_device(topic, in->next_device) : NULL;

    if (!leaf || strcmp(leaf, "events") != 0)
        in->next_device[0] = '\0';
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

int ingest_group_lock(ingest *in, const char *const *topics, size_t n)
{
    char (*ids)[IDS_DEVICE_ID_MAX + 1] = n ? malloc(n * sizeof *ids) : NULL;
    size_t k = 0;
    int rc = 0;

    if (n && !ids)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (message_topic_device(topics[i], ids[k]))
            k++;
    qsort(ids, k, sizeof *ids, compare_ids);
    for (size_t i = 0; i < k && rc == 0; i++)
        if (i == 0 || strcmp(ids[i], ids[i - 1]) != 0)
            rc = store_lock_device(in->s, ids[i]);
    free(ids);
    return rc;
}

/* Validates and stores (or quarantines) one message, inside the group. */
static int handle(ingest *in, const char *topic, const void *payload, size_t len,
                  const prepared_msg *pre, int64_t now_ms, const char *now_ts, ingest_result *out)
{
    const char *leaf = message_topic_device(topic, out->device);
    prepared_msg *own = NULL;
    int rc;

    if (!leaf || strcmp(leaf, "events") != 0) {
        snprintf(out->reason, sizeof out->reason, "topic: not smp/v1/dev/<device>/events");
        return quarantine(in, NULL, topic, payload, len, now_ts, out);
    }
    /* Before anything of the device is read: with several collectors on
     * one database, its chain head and links are read after the last
     * other transaction on the device committed, and none starts until
     * this one ends (store.h). */
    if (store_lock_device(in->s, out->device) != 0)
        return -1;
    if (!pre && !(pre = own = prepare_message(in->scratch, out->device, payload, len))) {
        in->oom = true;
        return -1;
    }
    in->msg = pre;
    rc = check_message(in, out->device, out);
    /* The next message's view, read while this one is judged and written
     * (PostgreSQL): none of this one's writes touch another device's view.
     * Not in a careful group, where a savepoint's rollback would drop it. */
    if (rc != -2 && !in->careful && in->next_device[0] &&
        strcmp(in->next_device, out->device) != 0 &&
        store_device_view_ahead(in->s, in->next_device) != 0)
        rc = -2;
    in->next_device[0] = '\0';
    if (rc == -1)
        rc = quarantine(in, out->device, topic, payload, len, now_ts, out);
    else if (rc == 0 && (rc = store_batch(in, out->device, now_ms, now_ts, out)) == 0)
        out->ack = true;
    in->msg = NULL;
    prepared_free(own);
    return rc == 0 ? 0 : -1;
}

int ingest_message(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                   ingest_result *out)
{
    return ingest_message_prepared(in, topic, payload, len, NULL, now_ms, out);
}

int ingest_message_prepared(ingest *in, const char *topic, const void *payload, size_t len,
                            const prepared_msg *pre, int64_t now_ms, ingest_result *out)
{
    char now_ts[RECORD_TS_LEN + 1];
    size_t alerts_before = in->alerts.count;

    memset(out, 0, sizeof *out);
    out->alerts = &in->alerts;
    in->oom = false;
    record_ts_format(now_ms, now_ts);
    if (!in->careful) {
        if (handle(in, topic, payload, len, pre, now_ms, now_ts, out) == 0)
            return 0;
    } else if (store_savepoint(in->s) == 0 &&
               handle(in, topic, payload, len, pre, now_ms, now_ts, out) == 0 &&
               store_release(in->s) == 0) {
        return 0;
    }
    out->ack = false;
    if (!in->oom && store_retryable(in->s)) {
        /* Not this message's fault: the group's transaction lost a
         * deadlock or its connection. The caller runs the group again. */
        log_debug("store failed device=%s error=%s; the group runs again",
                  out->device[0] ? out->device : "-", store_errmsg(in->s));
        return INGEST_RETRY_GROUP;
    }
    if (!in->careful) {
        /* Without a savepoint this message cannot be undone alone. */
        log_debug("store failed device=%s error=%s; the group runs again, a savepoint per message",
                  out->device[0] ? out->device : "-",
                  in->oom ? "out of memory" : store_errmsg(in->s));
        return INGEST_RETRY_CAREFULLY;
    }
    /* Undo this message alone; the others of the group still commit. */
    log_error("store failed device=%s error=%s; not acking, the agent will resend",
              out->device[0] ? out->device : "-", in->oom ? "out of memory" : store_errmsg(in->s));
    if (store_rollback_to(in->s) != 0)
        log_error("rollback to savepoint failed: %s", store_errmsg(in->s));
    in->alerts.count = alerts_before;
    return -1;
}

int ingest_group_commit(ingest *in)
{
    bool carefully;

    if (store_commit(in->s) == 0) {
        /* The queued checkpoints are durable: the verifier may take them.
         * The ack does not wait for it. */
        if (in->group_queued > 0 && in->on_checkpoints)
            in->on_checkpoints(in->on_checkpoints_ctx);
        return 0;
    }
    /* A write sent ahead that failed is found here, for any message of
     * the group; a careful run finds it at its message's release. */
    carefully = !in->careful && !store_retryable(in->s);
    if (carefully)
        log_debug("group commit failed: %s; the group runs again, a savepoint per message",
                  store_errmsg(in->s));
    /* Otherwise the committer keeps the group and retries it (and logs it once). */
    ingest_group_rollback(in);
    return carefully ? INGEST_RETRY_CAREFULLY : -1;
}

void ingest_group_rollback(ingest *in)
{
    store_rollback(in->s);
    in->alerts.count = 0; /* rolled back with the records */
}

const alert_batch *ingest_alerts(const ingest *in) { return &in->alerts; }

const char *ingest_store_error(const ingest *in) { return store_errmsg(in->s); }

store *ingest_store(ingest *in) { return in->s; }

int ingest_events(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                  ingest_result *out)
{
    /* Once more as a careful group when the message or the commit failed
     * outside one (a careful group never answers INGEST_RETRY_CAREFULLY). */
    for (bool careful = false;; careful = true) {
        int rc, committed;

        if (ingest_group_begin(in) != 0) {
            memset(out, 0, sizeof *out);
            out->alerts = &in->alerts;
            return -1;
        }
        if (careful)
            ingest_group_careful(in);
        rc = ingest_message(in, topic, payload, len, now_ms, out);
        if (rc == INGEST_RETRY_CAREFULLY) {
            ingest_group_rollback(in);
            continue;
        }
        if (rc == INGEST_RETRY_GROUP) {
            ingest_group_rollback(in);
            return -1;
        }
        if ((committed = ingest_group_commit(in)) == INGEST_RETRY_CAREFULLY)
            continue;
        if (committed != 0) {
            out->ack = false;
            return -1;
        }
        return rc;
    }
}
