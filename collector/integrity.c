#include "integrity.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/x509_crt.h>

#include "alerting.h"
#include "log.h"
#include "sign.h"

/* How long after a certificate stopped being the device's registered one
 * (device_cert_history.registered_until) a checkpoint signed with its key
 * still verifies, judged by the checkpoint's own ts (the device's time when
 * it signed). `smpctl pki renew-device --db` registers the new certificate
 * at once while the machine signs with the old key until someone installs
 * the new pair, and a journal's backlog arrives later still: a week covers
 * both. Beyond it, an old key's signature is R9 (docs/collector.md,
 * "Certificate renewal and checkpoints"). dashboard-export/export_chain.c
 * uses the same value: an export must judge a checkpoint as ingest did. */
#define CERT_HISTORY_GRACE_MS (7 * 24 * 3600 * 1000LL)

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
    if ((found = store_get_link(c->s, c->device, r->seq - 1, prev, stored)) < 0)
        return -1;
    if (found && strcmp(stored, r->prev) != 0) {
        snprintf(cause, sizeof cause, "chain-break:seq=%" PRIu64, r->seq);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"prev\":\"%s\",\"hash_of_previous\":\"%s\"}",
                 r->seq, r->prev, stored);
        return raise_r9(c, cause, "record does not link to the record before it (prev mismatch)", ev);
    }
    if ((found = store_get_link(c->s, c->device, r->seq + 1, prev, stored)) < 0)
        return -1;
    if (found && strcmp(prev, hash) != 0) {
        snprintf(cause, sizeof cause, "chain-break:seq=%" PRIu64, r->seq + 1);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"prev\":\"%s\",\"hash_of_previous\":\"%s\"}",
                 r->seq + 1, prev, hash);
        return raise_r9(c, cause, "record does not link to the record before it (prev mismatch)", ev);
    }
    return 0;
}

/* The certificate's serial as the PKI index and `smpctl pki revoke
 * --serial` write it (upper-case hex, no leading zero octet); "?" when it
 * does not parse. Only for log lines: runs when a previous certificate
 * verified, which is rare. */
static void cert_serial(const char *pem, char *out, size_t cap)
{
    mbedtls_x509_crt crt;

    snprintf(out, cap, "?");
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) == 0)
        sign_serial_hex(crt.serial.p, crt.serial.len, out, cap);
    mbedtls_x509_crt_free(&crt);
}

/* One checkpoint tried against the device's previous certificates. */
typedef struct history_try {
    const char *msg, *sig;
    size_t len;
    int tried;
    bool verified;
    char until[RECORD_TS_LEN + 1];
    char serial[64];                 /* of the one that verified */
} history_try;

static int try_previous_cert(void *ctx, const char *pem, const char *until)
{
    history_try *t = ctx;
    char why[200];

    t->tried++;
    if (sign_verify_cert(pem, t->msg, t->len, t->sig, why, sizeof why) != 0)
        return 0;
    t->verified = true;
    snprintf(t->until, sizeof t->until, "%s", until);
    cert_serial(pem, t->serial, sizeof t->serial);
    return 1;
}

/* The current certificate first: it verifies everything but the switch's
 * stragglers, so the history costs nothing in the steady state. Then the
 * previous certificates replaced less than CERT_HISTORY_GRACE_MS before the
 * checkpoint's ts, newest first. 1 when one verified, 0 when none, -1 on a
 * store error. why says why the current one did not. */
static int verify_checkpoint(integrity_ctx *c, const record *r, const char *msg, size_t len,
                             const char *sig, char *why, size_t whylen, int *tried)
{
    history_try t = {.msg = msg, .sig = sig, .len = len};
    char after[RECORD_TS_LEN + 1];
    int64_t ts_ms;

    *tried = 0;
    if (sign_verify_cert(c->info->cert_pem, msg, len, sig, why, whylen) == 0)
        return 1;
    if (record_ts_parse(r->ts, &ts_ms) != 0)
        return 0;
    record_ts_format(ts_ms - CERT_HISTORY_GRACE_MS, after);
    if (store_cert_history(c->s, c->device, after, try_previous_cert, &t) != 0)
        return -1;
    *tried = t.tried;
    if (!t.verified)
        return 0;
    /* Accepted, and said so: an operator revoking a key for compromise can
     * see whether anything still arrives signed with it. */
    log_info("checkpoint verified with a previous certificate device=%s seq=%" PRIu64
             " ts=%s serial=%s registered_until=%s", c->device, r->seq, r->ts, t.serial, t.until);
    return 1;
}

/* r's rank among the message's checkpoints, newest 0: how many are newer.
 * r and c->signed_checkpoint (the newest) are in the same array, r not
 * after it; without signed_checkpoint every checkpoint ranks 0. */
static size_t newer_checkpoints(const integrity_ctx *c, const record *r)
{
    size_t n = 0;

    if (!c->signed_checkpoint || r >= c->signed_checkpoint)
        return 0;
    for (const record *p = r + 1; p <= c->signed_checkpoint; p++)
        n += p->type == RT_CHECKPOINT;
    return n;
}

static int check_checkpoint(integrity_ctx *c, const record *r)
{
    const char *head_hash = record_get_str(r, "head_hash"), *sig = record_get_str(r, "sig");
    char msg[256], why[200], cause[64], ev[600];
    int64_t head_seq = 0;

    record_get_int(r, "head_seq", &head_seq);
    snprintf(cause, sizeof cause, "checkpoint:seq=%" PRIu64, r->seq);
    if ((uint64_t)head_seq + 1 != r->seq || strcmp(head_hash, r->prev) != 0) {
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"head_seq\":%" PRId64 ",\"head_hash\":\"%s\",\"prev\":\"%s\"}",
                 r->seq, head_seq, head_hash, r->prev);
        return raise_r9(c, cause, "checkpoint does not describe the record before it", ev);
    }
    size_t rank = newer_checkpoints(c, r);
    if (rank > INTEGRITY_VERIFY_MAX)
        return 0;
    if (rank == INTEGRITY_VERIFY_MAX) {
        /* Once per message, on the newest checkpoint left unverified. */
        snprintf(cause, sizeof cause, "checkpoint-unverified:seq=%" PRIu64, r->seq);
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"checkpoints_verified\":%d,"
                 "\"unverified_through\":%" PRIu64 "}", r->seq, INTEGRITY_VERIFY_MAX, r->seq);
        return raise_r9(c, cause, "more checkpoints in one message than an agent writes: this one and"
                        " the older ones of the message were not verified", ev);
    }
    if (!c->info->cert_pem[0]) {
        snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 "}", r->seq);
        return raise_r9(c, "no-certificate",
                        "checkpoints cannot be verified: no certificate registered (smpctl device add --cert)", ev);
    }
    int len = sign_checkpoint_message(c->device, (uint64_t)head_seq, head_hash, msg, sizeof msg);
    int tried, ok = verify_checkpoint(c, r, msg, (size_t)len, sig, why, sizeof why, &tried);
    if (ok != 0)
        return ok > 0 ? 0 : -1;
    /* The signature was to prove every record up to head_seq; those after
     * the device's last checkpoint that verified are now proven by none. */
    snprintf(ev, sizeof ev, "{\"seq\":%" PRIu64 ",\"head_seq\":%" PRId64 ",\"reason\":\"%s\","
             "\"previous_certificates_tried\":%d,\"unverified_through\":%" PRIu64 "}",
             r->seq, head_seq, why, tried, r->seq);
    return raise_r9(c, cause, "checkpoint signature does not verify with the device's registered key", ev);
}

/* R10 looks only ahead: a record far behind the receive time is usually a
 * backlog sent after an outage, not a wrong clock. */
static int check_clock(integrity_ctx *c, const record *r)
{
    alert a = {.rule = "R10", .severity = "warning", .cause = "clock-ahead"};
    int64_t ts_ms;

    record_ts_parse(r->ts, &ts_ms);
    if (ts_ms - c->now_ms <= c->limits->clock_skew_ms) {
        /* A record timed near the receive time shows the clock is right again. */
        return c->now_ms - ts_ms <= c->limits->clock_skew_ms ? integrity_clear(c, "R10", "clock-ahead") : 0;
    }
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
        if (store_get_link(c->s, c->device, r->seq, prev, stored) < 0)
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

int integrity_check_gap(integrity_ctx *c, uint64_t head_seq)
{
    char oldest[RECORD_TS_LEN + 1] = "", ev[200];
    int64_t since_ms;
    alert a = {.rule = "R9", .severity = "integrity", .cause = "gap"};

    if (store_oldest_above(c->s, c->device, head_seq, oldest) != 0)
        return -1;
    if (!oldest[0])
        return integrity_clear(c, "R9", "gap");
    if (record_ts_parse(oldest, &since_ms) != 0 || c->now_ms - since_ms < c->limits->gap_grace_ms)
        return 0;
    snprintf(a.message, sizeof a.message, "records after seq %" PRIu64 " arrived but seq %" PRIu64
             " is missing", head_seq, head_seq + 1);
    snprintf(ev, sizeof ev, "{\"missing_seq\":%" PRIu64 ",\"waiting_since\":\"%s\"}", head_seq + 1, oldest);
    snprintf(a.evidence, sizeof a.evidence, "%s", ev);
    return integrity_raise(c, &a);
}
