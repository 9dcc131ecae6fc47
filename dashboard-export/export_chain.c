#include "export_chain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#include "db.h"
#include "sign.h"

/* A previous certificate verifies a checkpoint timed less than this after
 * it stopped being the registered one: the same rule and value as the
 * collector's (collector/verifier.h, CERT_HISTORY_GRACE_MS), so that an
 * export judges a checkpoint as the collector did. */
#define CERT_HISTORY_GRACE_MS (7 * 24 * 3600 * 1000LL)
#define CERT_HISTORY_MAX "8"

/* The period's seq span of a device. The PRIMARY KEY (device_id, seq)
 * gives the device's rows; ts is read from each (no index has device and
 * ts for every type). */
static const char range_sql[] =
    "SELECT min(seq), max(seq), count(*) FROM records"
    " WHERE device_id = ?1 AND ts >= ?2 AND ts < ?3";

static const char walk_sql[] =
    "SELECT seq, ts, type, prev, hash, body FROM records"
    " WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq";

/* A record refused on its own is walked with its exact bytes, so the chain
 * through it is checked; it is walked as type "rejected", which is no
 * record type, so it is never taken for a checkpoint. Its body is a blob
 * (bytea on PostgreSQL, where it cannot share a UNION with the text bodies
 * of records), so it is read apart and merged by seq (walk_chain). */
static const char rejected_sql[] =
    "SELECT seq, received_at, prev, hash, body FROM quarantined_records"
    " WHERE device_id = ?1 AND seq >= ?2 AND seq <= ?3 ORDER BY seq";

static const char cert_sql[] = "SELECT cert_pem FROM devices WHERE device_id = ?1";

/* Newest first (cert_pem breaks a tie the same way on either store); ?2 is
 * the checkpoint's ts less the grace. */
static const char history_sql[] =
    "SELECT cert_pem, registered_until FROM device_cert_history"
    " WHERE device_id = ?1 AND registered_until > ?2"
    " ORDER BY registered_until DESC, cert_pem DESC LIMIT " CERT_HISTORY_MAX;

/* What the collector's verifier recorded for the checkpoint records at
 * ?2 + 1 .. ?3 + 1 (checkpoints, keyed by head_seq): one query per device,
 * merged with the walk's checkpoints by seq. A row is a record's only when
 * its head_hash and sig are the record's. */
static const char ckpt_state_sql[] =
    "SELECT head_seq, state, head_hash, sig FROM checkpoints"
    " WHERE device_id = ?1 AND head_seq >= ?2 AND head_seq <= ?3 ORDER BY head_seq";

enum { ST_RANGE, ST_WALK, ST_REJECTED, ST_CERT, ST_HISTORY, ST_CKPT_STATE, ST_COUNT };

/* A checkpoint record of the period, as its body says. */
typedef struct ckpt_item {
    int64_t seq, head_seq;
    char ts[RECORD_TS_LEN + 1];
    char head_hash[RECORD_HASH_HEX];
    char sig[SIGN_B64_MAX];
    const char *state;          /* the collector's (collector_states) */
} ckpt_item;

/* One row of the walk, from records or quarantined_records. */
typedef struct walk_row {
    int64_t seq;
    const char *ts, *type, *prev, *hash, *body;
    size_t body_len;
} walk_row;

/* The quarantined records of the walk's span, copied (each one malloc'd
 * block: the row, then its strings). */
typedef struct rejected_rows {
    walk_row **rows;
    size_t n, next;
} rejected_rows;

typedef struct walk {
    chain_status *s;
    const char *from, *upper;
    bool have_prev;
    int64_t prev_seq;
    char prev_hash[RECORD_HASH_HEX];    /* SHA-256 of prev_seq's body, recomputed */
    char ckpt_sig[SIGN_B64_MAX];
    ckpt_item *ckpts;                   /* the period's checkpoints, in seq order */
    size_t nckpts, cap;
    bool oom;
} walk;

const char *chain_verdict(const chain_status *s)
{
    if (s->records == 0)
        return "no records";
    if (s->nbroken > 0 || s->nbad_hash > 0 || s->ninvalid > 0 ||
        strcmp(s->predecessor, "broken") == 0 ||
        strcmp(s->successor, "broken") == 0 ||
        (s->has_checkpoint && (!s->ckpt_head_ok || strcmp(s->ckpt_signature, "invalid") == 0)))
        return "broken";
    return s->missing > 0 ? "gaps" : "intact";
}

static void note_seq(int64_t *list, int64_t *n, int64_t seq)
{
    if (*n < CHAIN_LIST_MAX)
        list[*n] = seq;
    (*n)++;
}

static void note_gap(chain_status *s, int64_t from, int64_t to)
{
    if (s->ngaps < CHAIN_LIST_MAX)
        s->gaps[s->ngaps] = (chain_gap){from, to};
    s->ngaps++;
    s->missing += to - from + 1;
}

/* Keeps a checkpoint of the period (its signature is checked after the
 * walk: check_checkpoints) and makes it the latest. */
static void remember_checkpoint(walk *w, int64_t seq, const char *ts, const char *body)
{
    chain_status *s = w->s;
    cJSON *b = cJSON_Parse(body);
    const cJSON *head = cJSON_GetObjectItemCaseSensitive(b, "head_seq");
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(b, "head_hash");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(b, "sig");
    ckpt_item *c;

    if (w->nckpts == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        ckpt_item *grown = realloc(w->ckpts, cap * sizeof *grown);
        if (!grown) {
            w->oom = true;
            cJSON_Delete(b);
            return;
        }
        w->ckpts = grown;
        w->cap = cap;
    }
    c = &w->ckpts[w->nckpts++];
    c->seq = seq;
    snprintf(c->ts, sizeof c->ts, "%s", ts);
    c->head_seq = cJSON_IsNumber(head) ? (int64_t)head->valuedouble : 0;
    snprintf(c->head_hash, sizeof c->head_hash, "%s", cJSON_IsString(hash) ? hash->valuestring : "");
    snprintf(c->sig, sizeof c->sig, "%s", cJSON_IsString(sig) ? sig->valuestring : "");
    cJSON_Delete(b);

    s->has_checkpoint = true;
    s->ckpts++;
    s->ckpt_seq = seq;
    snprintf(s->ckpt_ts, sizeof s->ckpt_ts, "%s", c->ts);
    s->ckpt_head_seq = c->head_seq;
    snprintf(s->ckpt_head_hash, sizeof s->ckpt_head_hash, "%s", c->head_hash);
    snprintf(w->ckpt_sig, sizeof w->ckpt_sig, "%s", c->sig);
    /* It must describe exactly the record before it, as stored now. */
    s->ckpt_head_ok = s->ckpt_head_seq == seq - 1 && w->have_prev && w->prev_seq == seq - 1 &&
                      strcmp(s->ckpt_head_hash, w->prev_hash) == 0;
}

/* The link from the record before (if stored) to this one. */
static void check_link(walk *w, int64_t seq, const char *prev)
{
    chain_status *s = w->s;
    bool contiguous = w->have_prev && w->prev_seq == seq - 1;
    bool linked = contiguous && strcmp(prev, w->prev_hash) == 0;

    if (seq == s->first_seq) {
        if (seq == 1)
            s->predecessor = strcmp(prev, RECORD_GENESIS_PREV) == 0 ? "genesis" : "broken";
        else
            s->predecessor = !contiguous ? "not stored" : linked ? "linked" : "broken";
        s->links_checked += contiguous || seq == 1;
        if (strcmp(s->predecessor, "broken") == 0)
            note_seq(s->broken, &s->nbroken, seq);
        return;
    }
    if (!w->have_prev)
        return;
    if (!contiguous) {
        note_gap(s, w->prev_seq + 1, seq - 1);
        return;
    }
    s->links_checked++;
    if (seq == s->last_seq + 1)
        s->successor = linked ? "linked" : "broken";
    if (!linked)
        note_seq(s->broken, &s->nbroken, seq);
}

static void on_row(walk *w, const walk_row *r)
{
    chain_status *s = w->s;
    int64_t seq = r->seq;
    const char *ts = r->ts, *type = r->type, *prev = r->prev, *body = r->body;
    char computed[RECORD_HASH_HEX];

    if (!ts || !type || !prev || !r->hash || !body)
        return;
    record_sha256_hex(body, r->body_len, computed);
    if (strcmp(computed, r->hash) != 0)
        note_seq(s->bad_hash, &s->nbad_hash, seq);
    if (seq >= s->first_seq)
        check_link(w, seq, prev);
    if (strcmp(type, "rejected") == 0 && seq >= s->first_seq && seq <= s->last_seq)
        note_seq(s->rejected, &s->nrejected, seq);
    if (strcmp(type, "checkpoint") == 0 && seq <= s->last_seq && strcmp(ts, w->from) >= 0 &&
        strcmp(ts, w->upper) < 0)
        remember_checkpoint(w, seq, ts, body);
    w->have_prev = true;
    w->prev_seq = seq;
    memcpy(w->prev_hash, computed, sizeof computed);
}

static int bind_device(sqldb_stmt *st, const char *device)
{
    sqldb_reset(st);
    return sqldb_bind_text(st, 1, device);
}

static int find_range(sqldb_stmt *st, walk *w)
{
    chain_status *s = w->s;

    if (bind_device(st, s->device_id) != 0 || sqldb_bind_text(st, 2, w->from) != 0 ||
        sqldb_bind_text(st, 3, w->upper) != 0 || sqldb_step(st) != 1)
        return -1;
    s->first_seq = sqldb_column_int64(st, 0);
    s->last_seq = sqldb_column_int64(st, 1);
    s->records = sqldb_column_int64(st, 2);
    sqldb_reset(st);
    return 0;
}

/* Binds the walk's span: the record before the period's first to the one
 * after its last. */
static int bind_span(sqldb_stmt *st, const chain_status *s)
{
    return bind_device(st, s->device_id) != 0 ||
                   sqldb_bind_int64(st, 2, s->first_seq > 1 ? s->first_seq - 1 : 1) != 0 ||
                   sqldb_bind_int64(st, 3, s->last_seq + 1) != 0
               ? -1
               : 0;
}

static void rejected_free(rejected_rows *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->rows[i]);
    free(q->rows);
    memset(q, 0, sizeof *q);
}

/* Copies the current row of rejected_sql into q; -1 when out of memory. */
static int rejected_add(rejected_rows *q, sqldb_stmt *st)
{
    const char *ts = sqldb_column_text(st, 1), *prev = sqldb_column_text(st, 2);
    const char *hash = sqldb_column_text(st, 3);
    const void *body = sqldb_column_blob(st, 4);
    size_t body_len = sqldb_column_bytes(st, 4);
    size_t ts_len = strlen(ts ? ts : ""), prev_len = strlen(prev ? prev : "");
    size_t hash_len = strlen(hash ? hash : "");
    walk_row *r, **rows;
    char *p;

    if ((rows = realloc(q->rows, (q->n + 1) * sizeof *rows)) == NULL)
        return -1;
    q->rows = rows;
    if ((r = malloc(sizeof *r + ts_len + prev_len + hash_len + body_len + 4)) == NULL)
        return -1;
    p = (char *)(r + 1);
    *r = (walk_row){.seq = sqldb_column_int64(st, 0), .type = "rejected", .body_len = body_len};
    r->ts = memcpy(p, ts ? ts : "", ts_len + 1);
    p += ts_len + 1;
    r->prev = memcpy(p, prev ? prev : "", prev_len + 1);
    p += prev_len + 1;
    r->hash = memcpy(p, hash ? hash : "", hash_len + 1);
    p += hash_len + 1;
    if (body_len)
        memcpy(p, body, body_len);
    p[body_len] = '\0';
    r->body = p;
    q->rows[q->n++] = r;
    return 0;
}

static int read_rejected(sqldb_stmt *st, const chain_status *s, rejected_rows *q)
{
    int step;

    if (bind_span(st, s) != 0)
        return -1;
    while ((step = sqldb_step(st)) == 1) {
        if (rejected_add(q, st) != 0) {
            sqldb_reset(st);
            return -1;
        }
    }
    return step;
}

/* Walks the rejected rows with seq below seq (all of them: INT64_MAX). */
static void walk_rejected(walk *w, rejected_rows *q, int64_t seq)
{
    while (q->next < q->n && q->rows[q->next]->seq < seq)
        on_row(w, q->rows[q->next++]);
}

/* Every stored and every quarantined record of the span in seq order (a
 * stored record before a quarantined one of the same seq). */
static int walk_chain(sqldb_stmt *st, sqldb_stmt *rejected_st, walk *w)
{
    rejected_rows q = {0};
    int step;

    if (read_rejected(rejected_st, w->s, &q) != 0 || bind_span(st, w->s) != 0) {
        rejected_free(&q);
        return -1;
    }
    while ((step = sqldb_step(st)) == 1) {
        walk_row r = {.seq = sqldb_column_int64(st, 0), .ts = sqldb_column_text(st, 1),
                      .type = sqldb_column_text(st, 2), .prev = sqldb_column_text(st, 3),
                      .hash = sqldb_column_text(st, 4), .body = sqldb_column_text(st, 5),
                      .body_len = sqldb_column_bytes(st, 5)};
        walk_rejected(w, &q, r.seq);
        on_row(w, &r);
    }
    if (step == 0)
        walk_rejected(w, &q, INT64_MAX);
    rejected_free(&q);
    return step == 0 ? 0 : -1;
}

/* Names the certificate that verified the checkpoint in the manifest: its
 * serial (as `smpctl pki` lists and revokes it) and the SHA-256 of its DER
 * (`openssl x509 -outform DER | sha256sum`). One parse and one hash per
 * device: nothing next to the ECDSA verify. */
static void note_cert(chain_status *s, const char *pem, const char *registered, const char *until)
{
    mbedtls_x509_crt crt;
    unsigned char digest[32];

    s->ckpt_cert_registered = registered;
    snprintf(s->ckpt_cert_until, sizeof s->ckpt_cert_until, "%s", until ? until : "");
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) == 0) {
        sign_serial_hex(crt.serial.p, crt.serial.len, s->ckpt_cert_serial, sizeof s->ckpt_cert_serial);
        if (mbedtls_sha256_ret(crt.raw.p, crt.raw.len, digest, 0) == 0)
            for (size_t i = 0; i < sizeof digest; i++)
                snprintf(s->ckpt_cert_sha256 + 2 * i, 3, "%02x", digest[i]);
    }
    mbedtls_x509_crt_free(&crt);
}

/* Whether sig over msg verifies with the device's registered certificate:
 * 1 (noted in note, if given), 0, or -1 on a database error. */
static int verify_current(sqldb_stmt *cert_st, const char *device, const char *msg, size_t len,
                          const char *sig, chain_status *note, bool *have_cert)
{
    const char *cert;
    char why[256];
    int step, ok = 0;

    if (bind_device(cert_st, device) != 0 || (step = sqldb_step(cert_st)) < 0)
        return -1;
    cert = step == 1 ? sqldb_column_text(cert_st, 0) : NULL;
    if (cert != NULL && cert[0] != '\0') {
        *have_cert = true;
        if (sign_verify_cert(cert, msg, len, sig, why, sizeof why) == 0) {
            if (note)
                note_cert(note, cert, "current", NULL);
            ok = 1;
        }
    }
    sqldb_reset(cert_st);
    return ok;
}

/* The same with the previous certificates replaced less than the grace
 * before ts, newest first. */
static int verify_previous(sqldb_stmt *hist_st, const char *device, const char *msg, size_t len,
                           const char *sig, const char *ts, chain_status *note, bool *have_cert)
{
    char why[256], after[RECORD_TS_LEN + 1];
    int64_t ts_ms;
    int step;

    if (record_ts_parse(ts, &ts_ms) != 0)
        return 0;
    record_ts_format(ts_ms - CERT_HISTORY_GRACE_MS, after);
    if (bind_device(hist_st, device) != 0 || sqldb_bind_text(hist_st, 2, after) != 0)
        return -1;
    while ((step = sqldb_step(hist_st)) == 1) {
        const char *pem = sqldb_column_text(hist_st, 0);
        const char *until = sqldb_column_text(hist_st, 1);
        *have_cert = *have_cert || pem != NULL;
        if (pem && until && sign_verify_cert(pem, msg, len, sig, why, sizeof why) == 0) {
            if (note)
                note_cert(note, pem, "previous", until);
            sqldb_reset(hist_st);
            return 1;
        }
    }
    return step;
}

/* Whether sig over (device, head_seq, head_hash) verifies with the
 * registered certificate or a previous one the rule allows for a
 * checkpoint timed ts (CERT_HISTORY_GRACE_MS): 1 when one does (noted in
 * note, if given), 0 when none, -1 on a database error. *have_cert says
 * whether there was any certificate to try. */
static int verify_sig(sqldb_stmt *cert_st, sqldb_stmt *hist_st, const char *device,
                      int64_t head_seq, const char *head_hash, const char *sig, const char *ts,
                      chain_status *note, bool *have_cert)
{
    char msg[256];
    int len, ok;

    *have_cert = false;
    len = sign_checkpoint_message(device, (uint64_t)head_seq, head_hash, msg, sizeof msg);
    if (len <= 0 || (size_t)len >= sizeof msg)
        return 0;
    ok = verify_current(cert_st, device, msg, (size_t)len, sig, note, have_cert);
    if (ok != 0)
        return ok;
    return verify_previous(hist_st, device, msg, (size_t)len, sig, ts, note, have_cert);
}

/* The registered certificate first, then the previous ones the rule allows
 * (CERT_HISTORY_GRACE_MS); "valid" only when one of them verifies. Returns
 * -1 on a database error. */
static int check_signature(sqldb_stmt *cert_st, sqldb_stmt *hist_st, walk *w)
{
    chain_status *s = w->s;
    bool have_cert;
    int ok = verify_sig(cert_st, hist_st, s->device_id, s->ckpt_head_seq, s->ckpt_head_hash,
                        w->ckpt_sig, s->ckpt_ts, s, &have_cert);

    if (ok < 0)
        return -1;
    s->ckpt_signature = ok ? "valid" : have_cert ? "invalid" : "no certificate";
    return 0;
}

/* What the collector's verifier recorded for each checkpoint of the walk
 * (checkpoints, docs/collector.md "Checkpoint signatures") into its
 * state: "verified", "failed", "pending", or "not recorded": no row, or a
 * row that is not this record's. The collector queues every checkpoint
 * that describes the record before it when it stores it; one that does
 * not (R9 at ingest) is never queued, and one stored before schema
 * version 3 has none (its signature was verified at ingest, before the
 * ack). -1 on a database error. */
static int collector_states(sqldb_stmt *st, walk *w)
{
    static const char *const states[] = {"verified", "failed", "pending"};
    size_t next = 0;
    int step;

    for (size_t i = 0; i < w->nckpts; i++)
        w->ckpts[i].state = "not recorded";
    if (w->nckpts == 0)
        return 0;
    if (bind_device(st, w->s->device_id) != 0 ||
        sqldb_bind_int64(st, 2, w->ckpts[0].seq - 1) != 0 ||
        sqldb_bind_int64(st, 3, w->ckpts[w->nckpts - 1].seq - 1) != 0)
        return -1;
    while ((step = sqldb_step(st)) == 1) {
        int64_t head = sqldb_column_int64(st, 0);
        const char *v = sqldb_column_text(st, 1), *hash = sqldb_column_text(st, 2);
        const char *sig = sqldb_column_text(st, 3);
        while (next < w->nckpts && w->ckpts[next].seq - 1 < head)
            next++;
        if (next == w->nckpts)
            break;
        ckpt_item *c = &w->ckpts[next];
        if (c->seq - 1 != head || c->head_seq != head || !v || !hash || !sig ||
            strcmp(hash, c->head_hash) != 0 || strcmp(sig, c->sig) != 0)
            continue;
        for (size_t k = 0; k < sizeof states / sizeof states[0]; k++)
            if (strcmp(v, states[k]) == 0)
                c->state = states[k];
    }
    sqldb_reset(st);
    return step < 0 ? -1 : 0;
}

/* The collector verifies checkpoint signatures after it acks their
 * records, so an export may meet one it has not verified yet. Nothing is
 * called verified that nobody verified: the latest checkpoint is verified
 * here always (check_signature, for the manifest's last_checkpoint), and
 * so is every other one the collector has not verified: pending, or
 * failed (a certificate registered since may verify it now). One whose
 * signature no certificate verifies is listed, and makes the chain
 * broken. Returns -1 on a database error. */
static int check_checkpoints(sqldb_stmt *stmts[ST_COUNT], walk *w)
{
    chain_status *s = w->s;

    if (collector_states(stmts[ST_CKPT_STATE], w) != 0)
        return -1;
    for (size_t i = 0; i < w->nckpts; i++) {
        const ckpt_item *c = &w->ckpts[i];
        bool have_cert;
        int ok;

        s->ckpt_verified += strcmp(c->state, "verified") == 0;
        s->ckpt_failed += strcmp(c->state, "failed") == 0;
        s->ckpt_pending += strcmp(c->state, "pending") == 0;
        s->ckpt_unrecorded += strcmp(c->state, "not recorded") == 0;
        if (i + 1 == w->nckpts) {
            /* The latest: remember_checkpoint made it the manifest's. */
            s->ckpt_collector = c->state;
            if (check_signature(stmts[ST_CERT], stmts[ST_HISTORY], w) != 0)
                return -1;
            s->ckpt_export_checked++;
            if (strcmp(s->ckpt_signature, "invalid") == 0)
                note_seq(s->invalid, &s->ninvalid, c->seq);
            continue;
        }
        if (strcmp(c->state, "pending") != 0 && strcmp(c->state, "failed") != 0)
            continue;
        ok = verify_sig(stmts[ST_CERT], stmts[ST_HISTORY], s->device_id, c->head_seq,
                        c->head_hash, c->sig, c->ts, NULL, &have_cert);
        if (ok < 0)
            return -1;
        s->ckpt_export_checked++;
        if (ok == 0 && have_cert)
            note_seq(s->invalid, &s->ninvalid, c->seq);
    }
    return 0;
}

/* When the latest checkpoint does not verify (or does not match the
 * chain), its signature proves nothing: the records not covered by a
 * device signature are those after the head of the newest earlier
 * checkpoint that verifies, not just those after the bad one's head.
 * (A device using a second certificate with its CN shows this way:
 * docs/collector.md, "Checkpoint signatures".) Looks at the
 * UNVERIFIED_LOOKBACK newest earlier checkpoints; when none of them
 * verifies, every record up to last_seq counts as uncovered. *head is 0
 * then. Returns -1 on a database error. */
#define UNVERIFIED_LOOKBACK "16"
static const char earlier_ckpt_sql[] =
    "SELECT ts, body FROM records WHERE device_id = ?1 AND seq < ?2 AND type = 'checkpoint'"
    " ORDER BY seq DESC LIMIT " UNVERIFIED_LOOKBACK;

/* 1 when the checkpoint in the current row of st verifies (*head is its
 * head_seq), 0 when it does not, -1 on a database error. */
static int earlier_verifies(sqldb_stmt *st, sqldb_stmt *cert_st, sqldb_stmt *hist_st,
                            const chain_status *s, int64_t *head)
{
    const char *ts = sqldb_column_text(st, 0);
    cJSON *b = cJSON_Parse(sqldb_column_text(st, 1));
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(b, "head_seq");
    const cJSON *hh = cJSON_GetObjectItemCaseSensitive(b, "head_hash");
    const cJSON *sig = cJSON_GetObjectItemCaseSensitive(b, "sig");
    bool have_cert;
    int ok = 0;

    if (ts && cJSON_IsNumber(hs) && cJSON_IsString(hh) && cJSON_IsString(sig))
        ok = verify_sig(cert_st, hist_st, s->device_id, (int64_t)hs->valuedouble,
                        hh->valuestring, sig->valuestring, ts, NULL, &have_cert);
    if (ok == 1)
        *head = (int64_t)hs->valuedouble;
    cJSON_Delete(b);
    return ok;
}

static int last_verified_head(sqldb *db, sqldb_stmt *cert_st, sqldb_stmt *hist_st,
                              const chain_status *s, int64_t *head)
{
    sqldb_stmt *st = NULL;
    int step = -1, ok = 0;

    *head = 0;
    if (sqldb_prepare(db, earlier_ckpt_sql, &st) != 0 ||
        sqldb_bind_text(st, 1, s->device_id) != 0 || sqldb_bind_int64(st, 2, s->ckpt_seq) != 0)
        goto cleanup;
    while (ok == 0 && (step = sqldb_step(st)) == 1)
        ok = earlier_verifies(st, cert_st, hist_st, s, head);
cleanup:
    sqldb_finalize(st);
    return ok < 0 || step < 0 ? -1 : 0;
}

static int check_device(sqldb *db, sqldb_stmt *stmts[ST_COUNT], const report_data *d,
                        chain_status *s)
{
    /* The report's own bounds: the clinic's local midnights. */
    walk w = {.s = s, .from = d->from_ts, .upper = d->until_ts};

    s->predecessor = "not stored";
    s->successor = "none yet";
    s->ckpt_signature = "";
    s->ckpt_cert_registered = "";
    s->ckpt_collector = "";
    if (find_range(stmts[ST_RANGE], &w) != 0)
        return -1;
    if (s->records == 0)
        return 0;
    int rc = -1;
    if (walk_chain(stmts[ST_WALK], stmts[ST_REJECTED], &w) != 0 || w.oom ||
        check_checkpoints(stmts, &w) != 0)
        goto cleanup;
    if (s->has_checkpoint) {
        int64_t head = s->ckpt_head_seq;
        if ((!s->ckpt_head_ok || strcmp(s->ckpt_signature, "valid") != 0) &&
            last_verified_head(db, stmts[ST_CERT], stmts[ST_HISTORY], s, &head) != 0)
            goto cleanup;
        s->after_checkpoint = s->last_seq - head;
    }
    rc = 0;
cleanup:
    free(w.ckpts);
    return rc;
}

int chain_check(sqldb *db, const report_data *d, chain_status **out, char *err, size_t errlen)
{
    sqldb_stmt *stmts[ST_COUNT] = {NULL};
    const char *sql[ST_COUNT] = {
        [ST_RANGE] = range_sql, [ST_WALK] = walk_sql, [ST_REJECTED] = rejected_sql,
        [ST_CERT] = cert_sql, [ST_HISTORY] = history_sql, [ST_CKPT_STATE] = ckpt_state_sql,
    };
    chain_status *all = calloc(d->nrows ? d->nrows : 1, sizeof *all);
    int rc = -1;

    *out = NULL;
    if (all == NULL) {
        snprintf(err, errlen, "export: out of memory");
        return -1;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqldb_prepare(db, sql[i], &stmts[i]) != 0)
            goto db_error;
    for (size_t i = 0; i < d->nrows; i++) {
        snprintf(all[i].device_id, sizeof all[i].device_id, "%s", d->rows[i].device_id);
        if (check_device(db, stmts, d, &all[i]) != 0)
            goto db_error;
    }
    *out = all;
    all = NULL;
    rc = 0;
    goto cleanup;
db_error:
    db_error(db, "chain check", err, errlen);
cleanup:
    for (int i = 0; i < ST_COUNT; i++)
        sqldb_finalize(stmts[i]);
    free(all);
    return rc;
}

/* ---- manifest.json ------------------------------------------------------ */

static bool add_seqs(cJSON *o, const char *key, const int64_t *list, int64_t n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);

    for (int64_t i = 0; a && i < n && i < CHAIN_LIST_MAX; i++) {
        cJSON *v = cJSON_CreateNumber((double)list[i]);
        if (!v || !cJSON_AddItemToArray(a, v)) {
            cJSON_Delete(v);
            return false;
        }
    }
    return a != NULL;
}

static bool add_gaps(cJSON *o, const chain_status *s)
{
    cJSON *a = cJSON_AddArrayToObject(o, "gaps");

    for (int64_t i = 0; a && i < s->ngaps && i < CHAIN_LIST_MAX; i++) {
        cJSON *g = cJSON_CreateObject();
        if (!g || !cJSON_AddItemToArray(a, g)) {
            cJSON_Delete(g);
            return false;
        }
        if (!cJSON_AddNumberToObject(g, "from", (double)s->gaps[i].from) ||
            !cJSON_AddNumberToObject(g, "to", (double)s->gaps[i].to))
            return false;
    }
    return a != NULL;
}

/* Which certificate verified the signature; null when none did. */
static bool add_cert(cJSON *c, const chain_status *s)
{
    cJSON *o;

    if (strcmp(s->ckpt_signature, "valid") != 0)
        return cJSON_AddNullToObject(c, "certificate") != NULL;
    if (!(o = cJSON_AddObjectToObject(c, "certificate")) ||
        !cJSON_AddStringToObject(o, "registered", s->ckpt_cert_registered) ||
        !cJSON_AddStringToObject(o, "serial", s->ckpt_cert_serial) ||
        !cJSON_AddStringToObject(o, "sha256", s->ckpt_cert_sha256))
        return false;
    return s->ckpt_cert_until[0] == '\0' ||
           cJSON_AddStringToObject(o, "registered_until", s->ckpt_cert_until) != NULL;
}

static bool add_checkpoint(cJSON *o, const chain_status *s)
{
    cJSON *c;

    if (!s->has_checkpoint)
        return cJSON_AddNullToObject(o, "last_checkpoint") != NULL;
    return (c = cJSON_AddObjectToObject(o, "last_checkpoint")) != NULL &&
           cJSON_AddNumberToObject(c, "seq", (double)s->ckpt_seq) &&
           cJSON_AddStringToObject(c, "ts", s->ckpt_ts) &&
           cJSON_AddNumberToObject(c, "head_seq", (double)s->ckpt_head_seq) &&
           cJSON_AddStringToObject(c, "head_hash", s->ckpt_head_hash) &&
           cJSON_AddBoolToObject(c, "head_matches_chain", s->ckpt_head_ok) &&
           cJSON_AddStringToObject(c, "signature", s->ckpt_signature) &&
           cJSON_AddStringToObject(c, "signature_checked_by", "export") && add_cert(c, s) &&
           cJSON_AddStringToObject(c, "collector_state", s->ckpt_collector) &&
           cJSON_AddNumberToObject(c, "records_after_head", (double)s->after_checkpoint);
}

/* Every checkpoint of the period: who verified its signature. */
static bool add_checkpoints(cJSON *o, const chain_status *s)
{
    cJSON *c = cJSON_AddObjectToObject(o, "checkpoints"), *by;

    return c && cJSON_AddNumberToObject(c, "in_period", (double)s->ckpts) &&
           (by = cJSON_AddObjectToObject(c, "collector")) != NULL &&
           cJSON_AddNumberToObject(by, "verified", (double)s->ckpt_verified) &&
           cJSON_AddNumberToObject(by, "failed", (double)s->ckpt_failed) &&
           cJSON_AddNumberToObject(by, "pending", (double)s->ckpt_pending) &&
           cJSON_AddNumberToObject(by, "not_recorded", (double)s->ckpt_unrecorded) &&
           cJSON_AddNumberToObject(c, "checked_by_export", (double)s->ckpt_export_checked) &&
           add_seqs(c, "invalid_signatures", s->invalid, s->ninvalid) &&
           cJSON_AddNumberToObject(c, "invalid_signatures_total", (double)s->ninvalid);
}

cJSON *chain_json(const chain_status *s)
{
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "device_id", s->device_id) ||
        !cJSON_AddStringToObject(o, "chain", chain_verdict(s)) ||
        !cJSON_AddNumberToObject(o, "records_in_period", (double)s->records) ||
        !cJSON_AddNumberToObject(o, "first_seq", (double)s->first_seq) ||
        !cJSON_AddNumberToObject(o, "last_seq", (double)s->last_seq) ||
        !cJSON_AddNumberToObject(o, "links_checked", (double)s->links_checked) ||
        !cJSON_AddStringToObject(o, "predecessor", s->predecessor) ||
        !cJSON_AddStringToObject(o, "successor", s->successor) ||
        !add_seqs(o, "broken_links", s->broken, s->nbroken) ||
        !cJSON_AddNumberToObject(o, "broken_links_total", (double)s->nbroken) ||
        !add_seqs(o, "hash_mismatches", s->bad_hash, s->nbad_hash) ||
        !cJSON_AddNumberToObject(o, "hash_mismatches_total", (double)s->nbad_hash) ||
        !add_gaps(o, s) || !cJSON_AddNumberToObject(o, "gaps_total", (double)s->ngaps) ||
        !cJSON_AddNumberToObject(o, "missing_records", (double)s->missing) ||
        !add_seqs(o, "rejected_records", s->rejected, s->nrejected) ||
        !cJSON_AddNumberToObject(o, "rejected_records_total", (double)s->nrejected) ||
        !add_checkpoint(o, s) || !add_checkpoints(o, s)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
