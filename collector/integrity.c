#include "integrity.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alerting.h"

/* R9/R10 alerts belong to the device whose records showed them. */
int integrity_raise(integrity_ctx *c, alert *a)
{
    alerting al = {c->s, c->now_ts, c->out};
    snprintf(a->device, sizeof a->device, "%s", c->device);
    snprintf(a->clinic, sizeof a->clinic, "%s", c->info->clinic);
    return alerting_raise(&al, a);
}

int integrity_clear(integrity_ctx *c, const char *rule, const char *cause)
{
    alerting al = {c->s, c->now_ts, c->out};
    return alerting_clear(&al, rule, c->device, cause);
}

/* The link of the device's record at seq, through the context's reader. */
static int get_link(integrity_ctx *c, uint64_t seq, char prev[RECORD_HASH_HEX],
                    char hash[RECORD_HASH_HEX])
{
    if (c->get_link)
        return c->get_link(c->link_ctx, seq, prev, hash);
    return store_get_link(c->s, c->device, seq, prev, hash);
}

static int raise_r9(integrity_ctx *c, const char *cause, const char *message, const char *evidence)
{
    alert a = {.rule = "R9", .severity = "integrity"};
    snprintf(a.cause, sizeof a.cause, "%s", cause);
    snprintf(a.message, sizeof a.message, "%s", message);
    snprintf(a.evidence, sizeof a.evidence, "%s", evidence);
    return integrity_raise(c, &a);
}

/* prev of r must be the hash of seq-1 (genesis for seq 1), and the stored
 * seq+1 must point at r: checking both catches a break whichever side
 * arrives second. */
static int check_links(integrity_ctx *c, const record *r, const char *hash)
{
    char prev[RECORD_HASH_HEX], stored[RECORD_HASH_HEX], cause[64], ev[400];
    int found;

    if (r->seq == 1) {
        if (strcmp(r->prev, RECORD_GENESIS_PREV) == 0)
            return 0;
        snprintf(ev, sizeof ev, "{\"seq\":1,\"prev\":\"%s\",\"expected\":\"%s\"}", r->prev,
                 RECORD_GENESIS_PREV);
        return raise_r9(c, "chain-break:seq=1", "seq 1 does not start a chain (prev is not zeros)", ev);
    }
    if ((found = get_link(c, r->seq - 1, prev, stored)) < 0)
        return -1;
    if (found && strcmp(stored, r->prev) != 0) {
        snprintf(cause, sizeof cause, "chain-break:seq=%" PRIu64, r->seq);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"prev\":\"%s\",\"hash_of_previous\":\"%s\"}",
                 r->seq, r->prev, stored);
        return raise_r9(c, cause, "record does not link to the record before it (prev mismatch)", ev);
    }
    if ((found = get_link(c, r->seq + 1, prev, stored)) < 0)
        return -1;
    if (found && strcmp(prev, hash) != 0) {
        snprintf(cause, sizeof cause, "chain-break:seq=%" PRIu64, r->seq + 1);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"prev\":\"%s\",\"hash_of_previous\":\"%s\"}",
                 r->seq + 1, prev, hash);
        return raise_r9(c, cause, "record does not link to the record before it (prev mismatch)", ev);
    }
    return 0;
}

/* The signature itself is the verifier's (verifier.c), off the commit
 * path: storing and acking a record needs its chain link checked, not its
 * checkpoint's signature. What is checked here costs no crypto: the
 * checkpoint must describe the record before it; then it is queued, in
 * this transaction (with the message's others, integrity_queue_checkpoints),
 * so that a crash never loses it. One that does not
 * describe the record before it is not queued: no signature can make it
 * right. */
static int check_checkpoint(integrity_ctx *c, const record *r)
{
    const char *head_hash = record_get_str(r, "head_hash"), *sig = record_get_str(r, "sig");
    char cause[64], ev[600];
    int64_t head_seq = 0;

    record_get_int(r, "head_seq", &head_seq);
    if ((uint64_t)head_seq + 1 != r->seq || strcmp(head_hash, r->prev) != 0) {
        snprintf(cause, sizeof cause, "checkpoint:seq=%" PRIu64, r->seq);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"head_seq\":%" PRId64 ",\"head_hash\":\"%s\",\"prev\":\"%s\"}",
                 r->seq, head_seq, head_hash, r->prev);
        return raise_r9(c, cause, "checkpoint does not describe the record before it", ev);
    }
    if (c->nckpts == MESSAGE_MAX_RECORDS && integrity_queue_checkpoints(c) != 0)
        return -1;     /* cannot happen for one message: room for each record */
    c->ckpts[c->nckpts++] = (store_ckpt_item){(uint64_t)head_seq, head_hash, sig};
    return 0;
}

int integrity_queue_checkpoints(integrity_ctx *c)
{
    if (c->nckpts == 0)
        return 0;
    if (store_queue_checkpoints(c->s, c->device, c->ckpts, c->nckpts, c->now_ts) != 0)
        return -1;
    c->queued += (int)c->nckpts;
    c->nckpts = 0;
    return 0;
}

/* R10 looks only ahead: a record far behind the receive time is usually a
 * backlog sent after an outage, not a wrong clock. */
static int check_clock(integrity_ctx *c, const record *r)
{
    alert a = {.rule = "R10", .severity = "warning", .cause = "clock-ahead"};
    int64_t ts_ms;

    record_ts_parse(r->ts, &ts_ms);
    if (ts_ms - c->now_ms <= c->limits->clock_skew_ms) {
        /* A record timed near the receive time shows the clock is right
         * again. Once cleared, the alert stays closed until this context
         * raises it again (the device's lock keeps everyone else out): a
         * message of 64 records clears it once, not 64 times. */
        if (c->now_ms - ts_ms > c->limits->clock_skew_ms || c->clock_ahead_closed)
            return 0;
        c->clock_ahead_closed = true;
        return integrity_clear(c, "R10", "clock-ahead");
    }
    c->clock_ahead_closed = false;
    snprintf(a.message, sizeof a.message, "device clock is %" PRId64 " s ahead of the collector",
             (ts_ms - c->now_ms) / 1000);
    snprintf(a.evidence, sizeof a.evidence, "{\"seq\":%" PRIu64 ",\"ts\":\"%s\",\"received_at\":\"%s\"}",
             r->seq, r->ts, c->now_ts);
    return integrity_raise(c, &a);
}

int integrity_check_record(integrity_ctx *c, const record *r, const char *hash,
                           store_put_result put)
{
    char prev[RECORD_HASH_HEX], stored[RECORD_HASH_HEX], cause[64], ev[400];

    if (put == STORE_DUPLICATE)
        return 0;
    if (put == STORE_CONFLICT) {
        if (get_link(c, r->seq, prev, stored) < 0)
            return -1;
        snprintf(cause, sizeof cause, "conflict:seq=%" PRIu64, r->seq);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"stored_hash\":\"%s\",\"received_hash\":\"%s\"}",
                 r->seq, stored, hash);
        return raise_r9(c, cause, "a record was resent with different content (tampered or reset device)", ev);
    }
    if (check_links(c, r, hash) != 0 || check_clock(c, r) != 0)
        return -1;
    return r->type == RT_CHECKPOINT ? check_checkpoint(c, r) : 0;
}

int integrity_check_gap(integrity_ctx *c, uint64_t head_seq, uint64_t top_seq)
{
    char oldest[RECORD_TS_LEN + 1] = "", ev[200];
    int64_t since_ms;
    alert a = {.rule = "R9", .severity = "integrity", .cause = "gap"};

    if (head_seq < top_seq && store_oldest_above(c->s, c->device, head_seq, oldest) != 0)
        return -1;
    if (!oldest[0])
        return c->gap_closed ? 0 : integrity_clear(c, "R9", "gap");
    if (record_ts_parse(oldest, &since_ms) != 0 || c->now_ms - since_ms < c->limits->gap_grace_ms)
        return 0;
    snprintf(a.message, sizeof a.message, "records after seq %" PRIu64 " arrived but seq %" PRIu64
             " is missing", head_seq, head_seq + 1);
    snprintf(ev, sizeof ev, "{\"missing_seq\":%" PRIu64 ",\"waiting_since\":\"%s\"}", head_seq + 1, oldest);
    snprintf(a.evidence, sizeof a.evidence, "%s", ev);
    return integrity_raise(c, &a);
}
