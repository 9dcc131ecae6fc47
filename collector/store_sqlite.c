/* store_sqlite: the SQLite implementation of store.h (rule state:
 * store_rules_sqlite.c). */
#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_sqlite_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum {
    Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO, Q_DEVICE, Q_HEAD_GET, Q_HEAD_SET, Q_REC_INSERT, Q_REC_LINK,
    Q_QUAR_INSERT, Q_QUAR_COUNT, Q_QUAR_TRIM, Q_ALERT_RAISE, Q_ALERT_CLEAR, Q_OLDEST_ABOVE,
    Q_ALERT_ESCALATE, Q_ALERT_CLEAR_PREFIX, Q_CERT_HISTORY, Q_QREC_INSERT, Q_QREC_LINK, Q_COUNT
};
static_assert(Q_COUNT <= STORE_CORE_STMTS, "raise STORE_CORE_STMTS");

static const char *const sql[Q_COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SAVEPOINT] = "SAVEPOINT message",
    [Q_RELEASE] = "RELEASE message",
    [Q_ROLLBACK_TO] = "ROLLBACK TO message",
    [Q_DEVICE] = "SELECT clinic, retired_at IS NOT NULL, coalesce(cert_pem, '') FROM devices "
                 "WHERE device_id = ?1",
    [Q_HEAD_GET] = "SELECT acked_seq, acked_hash FROM device_state WHERE device_id = ?1",
    [Q_HEAD_SET] = "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen) "
                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(device_id) DO UPDATE SET "
                   "acked_seq = excluded.acked_seq, acked_hash = excluded.acked_hash, "
                   "last_seen = excluded.last_seen",
    [Q_REC_INSERT] = "INSERT INTO records(device_id, seq, ts, received_at, type, prev, hash, body) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
    [Q_REC_LINK] = "SELECT prev, hash FROM records WHERE device_id = ?1 AND seq = ?2",
    [Q_QUAR_INSERT] = "INSERT INTO quarantine(received_at, device_id, topic, reason, payload) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_QUAR_COUNT] = "INSERT INTO quarantine_counts(reason, count) VALUES (?1, 1) "
                     "ON CONFLICT(reason) DO UPDATE SET count = count + 1",
    [Q_QUAR_TRIM] = "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?1",
    /* A new cause inserts; a cleared one is reopened; an open one is left
     * alone and returns no row, so each cause is raised once. */
    [Q_ALERT_RAISE] = "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, "
                      "evidence, raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                      "ON CONFLICT(rule, device_id, cause) DO UPDATE SET "
                      "severity = excluded.severity, message = excluded.message, "
                      "evidence = excluded.evidence, raised_at = excluded.raised_at, "
                      "acked_at = NULL, acked_by = NULL, cleared_at = NULL "
                      "WHERE cleared_at IS NOT NULL RETURNING id",
    [Q_ALERT_CLEAR] = "UPDATE alerts SET cleared_at = ?4 WHERE rule = ?1 AND device_id = ?2 "
                      "AND cause = ?3 AND cleared_at IS NULL "
                      "RETURNING id, severity, clinic, message, evidence",
    [Q_OLDEST_ABOVE] = "SELECT coalesce(min(received_at), '') FROM records "
                       "WHERE device_id = ?1 AND seq > ?2",
    /* A new severity is news: whoever acknowledged the old one has not
     * seen this one, so the acknowledgement is reset. */
    [Q_ALERT_ESCALATE] = "UPDATE alerts SET severity = ?4, message = ?5, evidence = ?6, "
                         "acked_at = NULL, acked_by = NULL WHERE rule = ?1 AND device_id = ?2 "
                         "AND cause = ?3 AND cleared_at IS NULL AND severity <> ?4 RETURNING id",
    /* substr, not LIKE: ids may hold '_' and '%'. */
    [Q_ALERT_CLEAR_PREFIX] = "UPDATE alerts SET cleared_at = ?4 WHERE rule = ?1 AND device_id = ?2 "
                             "AND substr(cause, 1, length(?3)) = ?3 AND cleared_at IS NULL "
                             "RETURNING id, severity, clinic, message, evidence, cause",
    /* The LIMIT bounds what a stream of bad signatures can cost (each
     * certificate tried is one ~2 ms ECDSA verify). */
    [Q_CERT_HISTORY] = "SELECT cert_pem, registered_until FROM device_cert_history "
                       "WHERE device_id = ?1 AND registered_until > ?2 "
                       "ORDER BY registered_until DESC LIMIT " STR(STORE_CERT_HISTORY_MAX),
    [Q_QREC_INSERT] = "INSERT INTO quarantined_records(device_id, seq, received_at, reason, prev, "
                      "hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    [Q_QREC_LINK] = "SELECT prev, hash FROM quarantined_records WHERE device_id = ?1 AND seq = ?2",
};

const char *store_errmsg(store *s) { return s->err; }

int store__failed(store *s, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

void store__reset(sqlite3_stmt *q)
{
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
}

int store__run(store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    store__reset(q);
    return rc == SQLITE_DONE ? 0 : store__failed(s, what);
}

int store__step(store *s, sqlite3_stmt *q, const char *what)
{
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        return 1;
    store__reset(q);
    return rc == SQLITE_DONE ? 0 : store__failed(s, what);
}

void store__finish(sqlite3_stmt *q)
{
    while (sqlite3_step(q) == SQLITE_ROW)
        ;
    store__reset(q);
}

void store__copy_col(sqlite3_stmt *q, int col, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(q, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int store_open(const char *path, store **out, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s)
        return -1;
    if (db_open(path, &s->db, err, errlen) != 0)
        goto fail;
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, sql[i], -1, &s->q[i], NULL) != SQLITE_OK) {
            snprintf(err, errlen, "database %s: preparing statement %d: %s", path, i,
                     sqlite3_errmsg(s->db));
            goto fail;
        }
    }
    if (store__prepare_rules(s, err, errlen) != 0)
        goto fail;
    if (store__prepare_outbox(s, err, errlen) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

void store_close(store *s)
{
    if (!s)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(s->q[i]);
    for (int i = 0; i < STORE_RULE_STMTS; i++)
        sqlite3_finalize(s->rq[i]);
    for (int i = 0; i < STORE_OUTBOX_STMTS; i++)
        sqlite3_finalize(s->oq[i]);
    sqlite3_close(s->db);
    free(s);
}

/* Runs a statement that returns no row; resets it for reuse either way. */
static int run(store *s, int q, const char *what)
{
    return store__run(s, s->q[q], what);
}

int store_begin(store *s) { return run(s, Q_BEGIN, "begin"); }
int store_commit(store *s) { return run(s, Q_COMMIT, "commit"); }
int store_savepoint(store *s) { return run(s, Q_SAVEPOINT, "savepoint"); }
int store_release(store *s) { return run(s, Q_RELEASE, "release savepoint"); }

int store_rollback_to(store *s)
{
    /* ROLLBACK TO keeps the savepoint open; release it so savepoints never nest. */
    return run(s, Q_ROLLBACK_TO, "rollback to savepoint") == 0 ? store_release(s) : -1;
}

void store_rollback(store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        run(s, Q_ROLLBACK, "rollback");
}

int store_device(store *s, const char *device, device_info *out)
{
    sqlite3_stmt *q = s->q[Q_DEVICE];
    int rc;

    memset(out, 0, sizeof *out);
    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        snprintf(out->clinic, sizeof out->clinic, "%s", (const char *)sqlite3_column_text(q, 0));
        out->status = sqlite3_column_int(q, 1) ? DEVICE_RETIRED : DEVICE_ACTIVE;
        snprintf(out->cert_pem, sizeof out->cert_pem, "%s", (const char *)sqlite3_column_text(q, 2));
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__failed(s, "device lookup");
}

int store_cert_history(store *s, const char *device, const char *after, store_cert_fn fn,
                       void *ctx)
{
    sqlite3_stmt *q = s->q[Q_CERT_HISTORY];
    int rc;

    if (sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 2, after, -1, SQLITE_STATIC) != SQLITE_OK) {
        store__failed(s, "certificate history lookup");
        store__reset(q);
        return -1;
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *pem = (const char *)sqlite3_column_text(q, 0);
        const char *until = (const char *)sqlite3_column_text(q, 1);
        if (pem && until && fn(ctx, pem, until) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE)
        store__failed(s, "certificate history lookup");   /* before reset: keep SQLite's reason */
    store__reset(q);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_chain_head(store *s, const char *device, chain_head *out)
{
    sqlite3_stmt *q = s->q[Q_HEAD_GET];
    int rc;

    out->acked_seq = 0;
    memcpy(out->acked_hash, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        out->acked_seq = (uint64_t)sqlite3_column_int64(q, 0);
        snprintf(out->acked_hash, RECORD_HASH_HEX, "%s", (const char *)sqlite3_column_text(q, 1));
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store__failed(s, "chain head lookup");
}

int store_set_chain_head(store *s, const char *device, const chain_head *h, const char *now_ts)
{
    sqlite3_stmt *q = s->q[Q_HEAD_SET];
    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)h->acked_seq);
    sqlite3_bind_text(q, 3, h->acked_hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, now_ts, -1, SQLITE_STATIC);
    return run(s, Q_HEAD_SET, "chain head update");
}

int store_get_link(store *s, const char *device, uint64_t seq, char prev[RECORD_HASH_HEX],
                   char hash[RECORD_HASH_HEX])
{
    sqlite3_stmt *q = s->q[Q_REC_LINK];
    int rc;

    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)seq);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        snprintf(prev, RECORD_HASH_HEX, "%s", (const char *)sqlite3_column_text(q, 0));
        snprintf(hash, RECORD_HASH_HEX, "%s", (const char *)sqlite3_column_text(q, 1));
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store__failed(s, "record lookup");
    return rc == SQLITE_ROW;
}

int store_put_record(store *s, const char *device, const record *r, const char *canon,
                     size_t canon_len, const char *hash, const char *received_ts,
                     store_put_result *result)
{
    sqlite3_stmt *q = s->q[Q_REC_INSERT];
    char prev[RECORD_HASH_HEX], stored[RECORD_HASH_HEX];

    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)r->seq);
    sqlite3_bind_text(q, 3, r->ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, received_ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 5, record_type_name(r->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 6, r->prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 7, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 8, canon, (int)canon_len, SQLITE_STATIC);
    if (run(s, Q_REC_INSERT, "record insert") != 0)
        return -1;
    if (sqlite3_changes(s->db) == 1) {
        *result = STORE_INSERTED;
        return 0;
    }
    if (store_get_link(s, device, r->seq, prev, stored) != 1)
        return -1;
    *result = strcmp(stored, hash) == 0 ? STORE_DUPLICATE : STORE_CONFLICT;
    return 0;
}

int store_quarantine(store *s, const char *device, const char *topic, const char *reason,
                     const char *counter_key, const void *payload, size_t len,
                     size_t max_payload, int64_t max_rows, const char *now_ts)
{
    sqlite3_stmt *q = s->q[Q_QUAR_INSERT];

    sqlite3_bind_text(q, 1, now_ts, -1, SQLITE_STATIC);
    if (device)
        sqlite3_bind_text(q, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 5, payload, (int)(len < max_payload ? len : max_payload), SQLITE_STATIC);
    if (run(s, Q_QUAR_INSERT, "quarantine insert") != 0)
        return -1;
    sqlite3_bind_text(s->q[Q_QUAR_COUNT], 1, counter_key, -1, SQLITE_STATIC);
    if (run(s, Q_QUAR_COUNT, "quarantine count") != 0)
        return -1;
    sqlite3_bind_int64(s->q[Q_QUAR_TRIM], 1, max_rows);
    return run(s, Q_QUAR_TRIM, "quarantine trim");
}

int store_quarantine_record(store *s, const char *device, uint64_t seq, const char *prev,
                            const char *hash, const void *body, size_t len, const char *reason,
                            const char *counter_key, const char *now_ts, bool *inserted)
{
    sqlite3_stmt *q = s->q[Q_QREC_INSERT];

    *inserted = false;
    if (sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, (sqlite3_int64)seq) != SQLITE_OK ||
        sqlite3_bind_text(q, 3, now_ts, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 4, reason, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 5, prev, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 6, hash, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_blob(q, 7, body, (int)len, SQLITE_STATIC) != SQLITE_OK) {
        store__failed(s, "quarantined record insert");
        store__reset(q);
        return -1;
    }
    if (run(s, Q_QREC_INSERT, "quarantined record insert") != 0)
        return -1;
    if (sqlite3_changes(s->db) != 1)
        return 0;   /* a resend: kept and counted the first time */
    *inserted = true;
    sqlite3_bind_text(s->q[Q_QUAR_COUNT], 1, counter_key, -1, SQLITE_STATIC);
    return run(s, Q_QUAR_COUNT, "quarantine count");
}

int store_get_quarantined_link(store *s, const char *device, uint64_t seq,
                               char prev[RECORD_HASH_HEX], char hash[RECORD_HASH_HEX])
{
    sqlite3_stmt *q = s->q[Q_QREC_LINK];
    int rc;

    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)seq);
    if ((rc = store__step(s, q, "quarantined record lookup")) != 1)
        return rc;
    store__copy_col(q, 0, prev, RECORD_HASH_HEX);
    store__copy_col(q, 1, hash, RECORD_HASH_HEX);
    store__reset(q);
    return 1;
}

int store_raise_alert(store *s, alert *a, const char *now_ts, bool *raised)
{
    sqlite3_stmt *q = s->q[Q_ALERT_RAISE];
    const char *vals[] = {a->rule, a->severity, a->device, a->clinic, a->cause, a->message,
                          a->evidence, now_ts};
    int rc;

    for (int i = 0; i < 8; i++)
        sqlite3_bind_text(q, i + 1, vals[i], -1, SQLITE_STATIC);
    if ((rc = store__step(s, q, "alert raise")) < 0)
        return -1;
    *raised = rc == 1;
    if (rc == 1) {
        a->id = sqlite3_column_int64(q, 0);
        store__finish(q);
    }
    return 0;
}

int store_clear_alert(store *s, const char *rule, const char *device, const char *cause,
                      const char *now_ts, alert *out, bool *cleared)
{
    sqlite3_stmt *q = s->q[Q_ALERT_CLEAR];
    int rc;

    sqlite3_bind_text(q, 1, rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, cause, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, now_ts, -1, SQLITE_STATIC);
    if ((rc = store__step(s, q, "alert clear")) < 0)
        return -1;
    *cleared = rc == 1;
    if (rc == 1) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_column_int64(q, 0);
        snprintf(out->rule, sizeof out->rule, "%s", rule);
        snprintf(out->device, sizeof out->device, "%s", device);
        snprintf(out->cause, sizeof out->cause, "%s", cause);
        store__copy_col(q, 1, out->severity, sizeof out->severity);
        store__copy_col(q, 2, out->clinic, sizeof out->clinic);
        store__copy_col(q, 3, out->message, sizeof out->message);
        store__copy_col(q, 4, out->evidence, sizeof out->evidence);
        store__finish(q);
    }
    return 0;
}

int store_oldest_above(store *s, const char *device, uint64_t seq, char ts[RECORD_TS_LEN + 1])
{
    sqlite3_stmt *q = s->q[Q_OLDEST_ABOVE];
    int rc;

    sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, (sqlite3_int64)seq);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
        store__copy_col(q, 0, ts, RECORD_TS_LEN + 1);
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_ROW ? 0 : store__failed(s, "gap age lookup");
}

int store_escalate_alert(store *s, alert *a, bool *escalated)
{
    sqlite3_stmt *q = s->q[Q_ALERT_ESCALATE];
    const char *vals[] = {a->rule, a->device, a->cause, a->severity, a->message, a->evidence};
    int rc;

    for (int i = 0; i < 6; i++)
        sqlite3_bind_text(q, i + 1, vals[i], -1, SQLITE_STATIC);
    if ((rc = store__step(s, q, "alert escalate")) < 0)
        return -1;
    *escalated = rc == 1;
    if (rc == 1) {
        a->id = sqlite3_column_int64(q, 0);
        store__finish(q);
    }
    return 0;
}

int store_clear_alerts_prefix(store *s, const char *rule, const char *device, const char *prefix,
                              const char *now_ts, store_alert_fn fn, void *ctx)
{
    sqlite3_stmt *q = s->q[Q_ALERT_CLEAR_PREFIX];
    alert a;
    int rc;

    sqlite3_bind_text(q, 1, rule, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 4, now_ts, -1, SQLITE_STATIC);
    /* RETURNING rows are computed before the first is handed out, so the
     * callback sees every cleared alert even though it runs mid-statement. */
    while ((rc = store__step(s, q, "alert clear")) == 1) {
        memset(&a, 0, sizeof a);
        a.id = sqlite3_column_int64(q, 0);
        snprintf(a.rule, sizeof a.rule, "%s", rule);
        snprintf(a.device, sizeof a.device, "%s", device);
        store__copy_col(q, 1, a.severity, sizeof a.severity);
        store__copy_col(q, 2, a.clinic, sizeof a.clinic);
        store__copy_col(q, 3, a.message, sizeof a.message);
        store__copy_col(q, 4, a.evidence, sizeof a.evidence);
        store__copy_col(q, 5, a.cause, sizeof a.cause);
        fn(ctx, &a);
    }
    return rc < 0 ? -1 : 0;
}

/* ---- presence (device_presence, collector/presence.c) ---------------------- */

static int bind_count(sqlite3_stmt *q, int idx, int64_t v)
{
    return v < 0 ? sqlite3_bind_null(q, idx) : sqlite3_bind_int64(q, idx, v);
}

/* Prepared per call, outside the q[] table: status messages come at
 * connect and disconnect only, and the statement then never collides
 * with other additions to the table. In SQLite's upsert the SET
 * expressions read the old row, so since compares the old state. */
int store_put_presence(store *s, const char *device, const store_presence *p,
                       const char *now_ts)
{
    static const char sql_put[] =
        "INSERT INTO device_presence(device_id, state, since, heard_at, backlog, head_seq, "
        "agent_acked_seq, reported_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT(device_id) DO UPDATE SET "
        "since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END, "
        "state = excluded.state, heard_at = excluded.heard_at, backlog = excluded.backlog, "
        "head_seq = excluded.head_seq, agent_acked_seq = excluded.agent_acked_seq, "
        "reported_at = excluded.reported_at";
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(s->db, sql_put, -1, &q, NULL) != SQLITE_OK)
        return store__failed(s, "prepare presence");
    if (sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 2, p->online ? "online" : "offline", -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 3, now_ts, -1, SQLITE_STATIC) != SQLITE_OK ||
        bind_count(q, 4, p->backlog) != SQLITE_OK || bind_count(q, 5, p->head_seq) != SQLITE_OK ||
        bind_count(q, 6, p->acked_seq) != SQLITE_OK ||
        (p->at[0] ? sqlite3_bind_text(q, 7, p->at, -1, SQLITE_STATIC)
                  : sqlite3_bind_null(q, 7)) != SQLITE_OK) {
        rc = store__failed(s, "bind presence");
        sqlite3_finalize(q);
        return rc;
    }
    rc = sqlite3_step(q) == SQLITE_DONE ? 0 : store__failed(s, "store presence");
    sqlite3_finalize(q);
    return rc;
}
