/* store_sql: store.h on the storage seam (sqldb.h), one text of SQL for
 * SQLite and PostgreSQL (rule state: store_rules_sql.c). */
#include "store.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "store_rules.h"
#include "store_sql_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum {
    Q_DEVICE, Q_DEVICE_ROW, Q_HEAD_SET, Q_REC_LINK,
    Q_QUAR_INSERT, Q_QUAR_COUNT, Q_QUAR_TRIM, Q_ALERT_RAISE, Q_ALERT_CLEAR, Q_OLDEST_ABOVE,
    Q_ALERT_ESCALATE, Q_ALERT_CLEAR_PREFIX, Q_CERT_HISTORY, Q_QREC_INSERT, Q_QREC_LINK,
    Q_CKPT_PENDING, Q_CKPT_MARK, Q_REC_LINKS, Q_ALERT_KNOWN, Q_COUNT
};
static_assert(Q_COUNT <= STORE_CORE_STMTS, "raise STORE_CORE_STMTS");

static const char *const sql[Q_COUNT] = {
    /* With the device's view (store_device_view): the chain head (NULL
     * before the device's first record), the top record (the primary key's
     * last entry of the device: its seq, link and time), the top seq of its
     * records quarantined alone, whether R8 silent, R9 gap and any R3 are
     * open, and the seqs of its newest session start and end. */
    [Q_DEVICE] = "SELECT d.clinic, CASE WHEN d.retired_at IS NULL THEN 0 ELSE 1 END, "
                 "COALESCE(d.cert_pem, ''), h.acked_seq, h.acked_hash, COALESCE(t.seq, 0), "
                 "CASE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.rule = 'R8' AND "
                 "a.device_id = d.device_id AND a.cause = 'silent' AND a.cleared_at IS NULL) "
                 "THEN 1 ELSE 0 END, "
                 "CASE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.rule = 'R9' AND "
                 "a.device_id = d.device_id AND a.cause = 'gap' AND a.cleared_at IS NULL) "
                 "THEN 1 ELSE 0 END, "
                 "CASE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.rule = 'R3' AND "
                 "a.device_id = d.device_id AND a.cleared_at IS NULL) THEN 1 ELSE 0 END, "
                 "(SELECT COALESCE(MAX(q.seq), 0) FROM quarantined_records q "
                 "WHERE q.device_id = d.device_id), "
                 "t.prev, t.hash, t.ts, COALESCE(rd.open_seq, 0), COALESCE(rd.closed_seq, 0) "
                 "FROM devices d LEFT JOIN device_state h ON h.device_id = d.device_id "
                 "LEFT JOIN rule_devices rd ON rd.device_id = d.device_id "
                 "LEFT JOIN records t ON t.device_id = d.device_id AND "
                 "t.seq = (SELECT MAX(m.seq) FROM records m WHERE m.device_id = ?1) "
                 "WHERE d.device_id = ?1",
    /* The registry row alone (store_device: the verifier, presence). */
    [Q_DEVICE_ROW] = "SELECT clinic, CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END, "
                     "COALESCE(cert_pem, '') FROM devices WHERE device_id = ?1",
    /* The head only moves forward, whoever writes it: a collector that
     * computed its head from an older view of the chain cannot lower it
     * (docs/collector.md, "Several collectors on PostgreSQL"). */
    [Q_HEAD_SET] = "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen) "
                   "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(device_id) DO UPDATE SET "
                   "acked_seq = excluded.acked_seq, acked_hash = excluded.acked_hash, "
                   "last_seen = excluded.last_seen "
                   "WHERE device_state.acked_seq <= excluded.acked_seq",
    [Q_REC_LINK] = "SELECT prev, hash FROM records WHERE device_id = ?1 AND seq = ?2",
    /* The quarantined ones come along: the chain head asks for the one
     * after a message's last record, which otherwise took a statement of
     * its own per message (a round trip on PostgreSQL). */
    [Q_REC_LINKS] = "SELECT seq, prev, hash, ts, 0 FROM records WHERE device_id = ?1 "
                    "AND seq BETWEEN ?2 AND ?3 UNION ALL "
                    "SELECT seq, prev, hash, '', 1 FROM quarantined_records WHERE device_id = ?1 "
                    "AND seq BETWEEN ?2 AND ?3 ORDER BY 1",
    [Q_QUAR_INSERT] = "INSERT INTO quarantine(received_at, device_id, topic, reason, payload) "
                      "VALUES (?1, ?2, ?3, ?4, ?5)",
    [Q_QUAR_COUNT] = "INSERT INTO quarantine_counts(reason, count) VALUES (?1, 1) "
                     "ON CONFLICT(reason) DO UPDATE SET count = quarantine_counts.count + 1",
    [Q_QUAR_TRIM] = "DELETE FROM quarantine WHERE id <= (SELECT MAX(id) FROM quarantine) - ?1",
    /* A new cause inserts; a cleared one is reopened; an open one is left
     * alone and returns no row, so each cause is raised once. */
    [Q_ALERT_RAISE] = "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, "
                      "evidence, raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
                      "ON CONFLICT(rule, device_id, cause) DO UPDATE SET "
                      "severity = excluded.severity, message = excluded.message, "
                      "evidence = excluded.evidence, raised_at = excluded.raised_at, "
                      "acked_at = NULL, acked_by = NULL, cleared_at = NULL "
                      "WHERE alerts.cleared_at IS NOT NULL RETURNING id",
    [Q_ALERT_CLEAR] = "UPDATE alerts SET cleared_at = ?4 WHERE rule = ?1 AND device_id = ?2 "
                      "AND cause = ?3 AND cleared_at IS NULL "
                      "RETURNING id, severity, clinic, message, evidence",
    [Q_ALERT_KNOWN] = "SELECT 1 FROM alerts WHERE rule = ?1 AND device_id = ?2 AND cause = ?3",
    [Q_OLDEST_ABOVE] = "SELECT COALESCE(MIN(received_at), '') FROM records "
                       "WHERE device_id = ?1 AND seq > ?2",
    /* A new severity is news: whoever acknowledged the old one has not
     * seen this one, so the acknowledgement is reset. */
    [Q_ALERT_ESCALATE] = "UPDATE alerts SET severity = ?4, message = ?5, evidence = ?6, "
                         "acked_at = NULL, acked_by = NULL WHERE rule = ?1 AND device_id = ?2 "
                         "AND cause = ?3 AND cleared_at IS NULL AND severity <> ?4 RETURNING id",
    /* substr, not LIKE: ids may hold '_' and '%'. */
    [Q_ALERT_CLEAR_PREFIX] = "UPDATE alerts SET cleared_at = ?4 WHERE rule = ?1 AND device_id = ?2 "
                             "AND substr(cause, 1, length(CAST(?3 AS TEXT))) = ?3 AND cleared_at IS NULL "
                             "RETURNING id, severity, clinic, message, evidence, cause",
    /* The LIMIT bounds what a stream of bad signatures can cost (each
     * certificate tried is one ~2 ms ECDSA verify). */
    [Q_CERT_HISTORY] = "SELECT cert_pem, registered_until FROM device_cert_history "
                       "WHERE device_id = ?1 AND registered_until > ?2 "
                       "ORDER BY registered_until DESC LIMIT " STR(STORE_CERT_HISTORY_MAX),
    [Q_QREC_INSERT] = "INSERT INTO quarantined_records(device_id, seq, received_at, reason, prev, "
                      "hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
    [Q_QREC_LINK] = "SELECT prev, hash FROM quarantined_records WHERE device_id = ?1 AND seq = ?2",
    /* The record gives the ts the certificate history is judged by; a row
     * whose checkpoint record is not stored (superseded, not yet resent;
     * ts NULL) waits, and takes no place in the LIMIT.
     * Written so that each store walks the partial index
     * checkpoints_pending in received_at order, looks each row's record up
     * by its key, and stops at the LIMIT: a batch costs ~1 ms however many
     * checkpoints are stored. As a join, SQLite walked every checkpoint
     * record (through the records' index by type, schema 5 and before) and
     * sorted them all for each batch (~0.5 s with 19,000 stored), and
     * PostgreSQL, planning with the statistics of a table filled faster
     * than autovacuum analyses it, ANDed that index into each key lookup
     * (37 s for one batch with 19,000 pending). The record's type is
     * tested in the CASE, not the WHERE, so that no planner brings an
     * index by type in. */
    [Q_CKPT_PENDING] = "SELECT device_id, head_seq, head_hash, sig, ts FROM ("
                       "SELECT c.device_id, c.head_seq, c.head_hash, c.sig, c.received_at, "
                       "(SELECT CASE WHEN r.type = 'checkpoint' THEN r.ts END FROM records r "
                       "WHERE r.device_id = c.device_id AND r.seq = c.head_seq + 1) AS ts "
                       "FROM checkpoints c WHERE c.state = 'pending') p "
                       "WHERE ts IS NOT NULL ORDER BY received_at, device_id, head_seq LIMIT ?1",
    [Q_CKPT_MARK] = "UPDATE checkpoints SET state = ?5, checked_at = ?6 "
                    "WHERE device_id = ?1 AND head_seq = ?2 AND head_hash = ?3 AND sig = ?4 "
                    "AND state = 'pending'",
};

const char *store_errmsg(store *s) { return s->err; }

int64_t store_statements(const store *s) { return sqldb_statements(s->db); }
int64_t store_round_trips(const store *s) { return sqldb_round_trips(s->db); }

bool store_retryable(const store *s) { return s->retryable; }

bool store_shared(const store *s) { return sqldb_kind_of(s->db) == SQLDB_POSTGRES; }

int store__failed(store *s, const char *what)
{
    snprintf(s->err, sizeof s->err, "%s: %s", what, sqldb_errmsg(s->db));
    s->retryable = s->retryable || sqldb_retryable(s->db);
    return -1;
}

void store__reset(sqldb_stmt *q) { sqldb_reset(q); }

int store__run(store *s, sqldb_stmt *q, const char *what)
{
    int rc = sqldb_step(q);
    sqldb_reset(q);
    return rc == 0 ? 0 : store__failed(s, what);
}

int store__deferred(store *s, sqldb_stmt *q, const char *what)
{
    return sqldb_run_deferred(q, -1) == 0 ? 0 : store__failed(s, what);
}

int store__step(store *s, sqldb_stmt *q, const char *what)
{
    int rc = sqldb_step(q);
    if (rc == 1)
        return 1;
    sqldb_reset(q);
    return rc == 0 ? 0 : store__failed(s, what);
}

void store__finish(sqldb_stmt *q)
{
    while (sqldb_step(q) == 1)
        ;
    sqldb_reset(q);
}

void store__copy_col(sqldb_stmt *q, int col, char *out, size_t cap)
{
    sqldb_column_copy(q, col, out, cap);
}

/* Binds texts v[0..n) to ?first.. of q; on failure resets q and fills
 * s->err. */
static int bind_texts(store *s, sqldb_stmt *q, int first, int n, const char *const *v,
                      const char *what)
{
    for (int i = 0; i < n; i++) {
        if (sqldb_bind_text(q, first + i, v[i]) != 0) {
            store__failed(s, what);
            sqldb_reset(q);
            return -1;
        }
    }
    return 0;
}

/* Binds (device, seq) to ?1, ?2. */
static int bind_device_seq(store *s, sqldb_stmt *q, const char *device, uint64_t seq,
                           const char *what)
{
    if (sqldb_bind_text(q, 1, device) != 0 || sqldb_bind_int64(q, 2, (int64_t)seq) != 0) {
        store__failed(s, what);
        sqldb_reset(q);
        return -1;
    }
    return 0;
}

int store_open(const char *target, store **out, char *err, size_t errlen)
{
    store *s = calloc(1, sizeof *s);

    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "store: out of memory");
        return -1;
    }
    if (db_open(target, &s->db, err, errlen) != 0)
        goto fail;
    for (int i = 0; i < Q_COUNT; i++) {
        if (sqldb_prepare(s->db, sql[i], &s->q[i]) != 0) {
            snprintf(err, errlen, "database %s: preparing statement %d: %s", sqldb_name(s->db), i,
                     sqldb_errmsg(s->db));
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
    for (int i = 0; i < STORE_CORE_STMTS; i++)
        sqldb_finalize(s->q[i]);
    for (int i = 0; i < STORE_RULE_STMTS; i++)
        sqldb_finalize(s->rq[i]);
    for (int i = 0; i < STORE_OUTBOX_STMTS; i++)
        sqldb_finalize(s->oq[i]);
    for (int i = 0; i < STORE_PUT_MAX; i++) {
        sqldb_finalize(s->put[i]);
        sqldb_finalize(s->ckpt[i]);
        sqldb_finalize(s->ckpt_new[i]);
        sqldb_finalize(s->verified[i]);
    }
    sqldb_close(s->db);
    free(s);
}

/* Runs a statement that returns no row; resets it for reuse either way. */
static int run(store *s, int q, const char *what)
{
    return store__run(s, s->q[q], what);
}

int store__ahead_send(store *s, store_ahead *a, sqldb_stmt *q, const char *key, const char *what)
{
    int rc = sqldb_send_ahead(q);

    if (rc < 0)
        return store__failed(s, what);
    if (rc == 0)
        sqldb_reset(q);
    else
        snprintf(a->key, sizeof a->key, "%s", key);
    return 0;
}

bool store__ahead_take(store_ahead *a, sqldb_stmt *q, const char *key)
{
    bool taken = a->key[0] && strcmp(a->key, key) == 0;

    if (!taken)
        store__ahead_drop(a, q);
    a->key[0] = '\0';
    return taken;
}

void store__ahead_drop(store_ahead *a, sqldb_stmt *q)
{
    if (a->key[0])
        sqldb_reset(q);
    a->key[0] = '\0';
}

/* A read sent ahead and not taken is dropped when its transaction ends
 * or is undone to a savepoint: the next one reads afresh. */
static void drop_ahead(store *s)
{
    store__ahead_drop(&s->view_ahead, s->q[Q_DEVICE]);
    store_load_ahead_drop(s);
}

int store_begin(store *s)
{
    s->retryable = false;
    drop_ahead(s);
    return sqldb_begin(s->db, SQLDB_WRITE) == 0 ? 0 : store__failed(s, "begin");
}

int store_commit(store *s)
{
    drop_ahead(s);
    return sqldb_commit(s->db) == 0 ? 0 : store__failed(s, "commit");
}

int store_savepoint(store *s)
{
    return sqldb_savepoint(s->db, "message") == 0 ? 0 : store__failed(s, "savepoint");
}

int store_release(store *s)
{
    return sqldb_release(s->db, "message") == 0 ? 0 : store__failed(s, "release savepoint");
}

int store_rollback_to(store *s)
{
    drop_ahead(s);
    /* ROLLBACK TO keeps the savepoint open; release it so savepoints never nest. */
    if (sqldb_rollback_to(s->db, "message") != 0)
        return store__failed(s, "rollback to savepoint");
    return store_release(s);
}

/* sqldb_rollback keeps the failure that led here as the message. */
void store_rollback(store *s)
{
    drop_ahead(s);
    sqldb_rollback(s->db);
}

int store_lock_device(store *s, const char *device)
{
    char key[IDS_DEVICE_ID_MAX + 8];

    snprintf(key, sizeof key, "device:%s", device);
    return sqldb_lock(s->db, key) == 0 ? 0 : store__failed(s, "device lock");
}

int store_device_view_ahead(store *s, const char *device)
{
    sqldb_stmt *q = s->q[Q_DEVICE];

    store__ahead_drop(&s->view_ahead, q);
    if (sqldb_kind_of(s->db) == SQLDB_SQLITE)
        return 0;
    /* Read under the device's lock, as store_device_view is: taken again
     * (at no cost) when the caller took it already. */
    if (store_lock_device(s, device) != 0 || bind_texts(s, q, 1, 1, &device, "device lookup") != 0)
        return -1;
    return store__ahead_send(s, &s->view_ahead, q, device, "device lookup");
}

int store_device_view(store *s, const char *device, device_info *out, device_view *view)
{
    sqldb_stmt *q = s->q[view ? Q_DEVICE : Q_DEVICE_ROW];
    bool answered = view && store__ahead_take(&s->view_ahead, q, device);
    int rc;

    memset(out, 0, sizeof *out);
    if (view) {
        *view = (device_view){.top.seq = 0};
        memcpy(view->head.acked_hash, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    }
    if (!answered && bind_texts(s, q, 1, 1, &device, "device lookup") != 0)
        return -1;
    if ((rc = store__step(s, q, "device lookup")) != 1)
        return rc;
    store__copy_col(q, 0, out->clinic, sizeof out->clinic);
    out->status = sqldb_column_int64(q, 1) ? DEVICE_RETIRED : DEVICE_ACTIVE;
    store__copy_col(q, 2, out->cert_pem, sizeof out->cert_pem);
    if (view) {
        if (!sqldb_column_null(q, 3)) {
            view->head.acked_seq = (uint64_t)sqldb_column_int64(q, 3);
            store__copy_col(q, 4, view->head.acked_hash, RECORD_HASH_HEX);
        }
        view->top.seq = (uint64_t)sqldb_column_int64(q, 5);
        if (view->top.seq > 0) {
            store__copy_col(q, 10, view->top.prev, sizeof view->top.prev);
            store__copy_col(q, 11, view->top.hash, sizeof view->top.hash);
            store__copy_col(q, 12, view->top.ts, sizeof view->top.ts);
        }
        view->silent_open = sqldb_column_int64(q, 6) != 0;
        view->gap_open = sqldb_column_int64(q, 7) != 0;
        view->wear_open = sqldb_column_int64(q, 8) != 0;
        view->top_quarantined = (uint64_t)sqldb_column_int64(q, 9);
        uint64_t opened = (uint64_t)sqldb_column_int64(q, 13),
                 closed = (uint64_t)sqldb_column_int64(q, 14);
        view->boundary_start = opened > closed;
        view->boundary_seq = opened > closed ? opened : closed;
    }
    sqldb_reset(q);
    return 0;
}

int store_device(store *s, const char *device, device_info *out)
{
    return store_device_view(s, device, out, NULL);
}

int store_cert_history(store *s, const char *device, const char *after, store_cert_fn fn,
                       void *ctx)
{
    sqldb_stmt *q = s->q[Q_CERT_HISTORY];
    int rc;

    if (bind_texts(s, q, 1, 2, (const char *[]){device, after}, "certificate history lookup") != 0)
        return -1;
    while ((rc = store__step(s, q, "certificate history lookup")) == 1) {
        const char *pem = sqldb_column_text(q, 0);
        const char *until = sqldb_column_text(q, 1);
        if (pem && until && fn(ctx, pem, until) != 0) {
            sqldb_reset(q);
            return 0;
        }
    }
    return rc;
}

int store_set_chain_head(store *s, const char *device, const chain_head *h, const char *now_ts)
{
    sqldb_stmt *q = s->q[Q_HEAD_SET];

    if (sqldb_bind_text(q, 1, device) != 0 || sqldb_bind_int64(q, 2, (int64_t)h->acked_seq) != 0 ||
        sqldb_bind_text(q, 3, h->acked_hash) != 0 || sqldb_bind_text(q, 4, now_ts) != 0) {
        sqldb_reset(q);
        return store__failed(s, "chain head update");
    }
    return store__deferred(s, q, "chain head update");
}

/* Reads (prev, hash) of the row q finds for (device, seq): 1, 0 or -1. */
static int get_link(store *s, sqldb_stmt *q, const char *device, uint64_t seq,
                    char prev[RECORD_HASH_HEX], char hash[RECORD_HASH_HEX], const char *what)
{
    int rc;

    if (bind_device_seq(s, q, device, seq, what) != 0)
        return -1;
    if ((rc = store__step(s, q, what)) != 1)
        return rc;
    store__copy_col(q, 0, prev, RECORD_HASH_HEX);
    store__copy_col(q, 1, hash, RECORD_HASH_HEX);
    sqldb_reset(q);
    return 1;
}

int store_get_link(store *s, const char *device, uint64_t seq, char prev[RECORD_HASH_HEX],
                   char hash[RECORD_HASH_HEX])
{
    return get_link(s, s->q[Q_REC_LINK], device, seq, prev, hash, "record lookup");
}

int store_links(store *s, const char *device, uint64_t lo, uint64_t hi, store_link_fn fn,
                void *ctx)
{
    sqldb_stmt *q = s->q[Q_REC_LINKS];
    store_link l;
    int rc;

    if (bind_device_seq(s, q, device, lo, "record range lookup") != 0)
        return -1;
    if (sqldb_bind_int64(q, 3, (int64_t)hi) != 0) {
        sqldb_reset(q);
        return store__failed(s, "record range lookup");
    }
    while ((rc = store__step(s, q, "record range lookup")) == 1) {
        l.seq = (uint64_t)sqldb_column_int64(q, 0);
        store__copy_col(q, 1, l.prev, sizeof l.prev);
        store__copy_col(q, 2, l.hash, sizeof l.hash);
        store__copy_col(q, 3, l.ts, sizeof l.ts);
        l.quarantined = sqldb_column_int64(q, 4) != 0;
        fn(ctx, &l);
    }
    return rc;
}

/* How rows_stmt writes a statement of n rows: head, then row_fmt for each
 * row (joined by sep), given the numbers of that row's own parameters
 * (first + cols * i onwards; those below first are shared by every row),
 * then tail. */
typedef struct rows_sql {
    const char *head, *row_fmt, *sep, *tail;
    int first, cols;
} rows_sql;

/* The statement of n rows, prepared into *slot the first time it is
 * needed and kept (a fleet sends a few sizes). */
static sqldb_stmt *rows_stmt(store *s, sqldb_stmt **slot, const char *what, const rows_sql *q,
                             size_t n)
{
    size_t len, cap = strlen(q->head) + strlen(q->tail) +
                      n * (strlen(q->row_fmt) + strlen(q->sep) + 40) + 1;
    char *text;

    if (*slot)
        return *slot;
    if (!(text = malloc(cap))) {
        snprintf(s->err, sizeof s->err, "%s: out of memory", what);
        return NULL;
    }
    len = (size_t)snprintf(text, cap, "%s", q->head);
    for (size_t i = 0; i < n; i++) {
        int p = q->first + q->cols * (int)i;
        len += (size_t)snprintf(text + len, cap - len, "%s", i ? q->sep : "");
        len += (size_t)snprintf(text + len, cap - len, q->row_fmt, p, p + 1, p + 2, p + 3, p + 4,
                                p + 5);
    }
    snprintf(text + len, cap - len, "%s", q->tail);
    if (sqldb_prepare(s->db, text, slot) != 0) {
        store__failed(s, what);
        *slot = NULL;
    }
    free(text);
    return *slot;
}

/* The INSERT of n records: the device and receive time once (?1, ?2), then
 * seq, ts, type, prev, hash, body of each. No RETURNING: store_put_records
 * knows beforehand which records are new (on SQLite a RETURNING clause
 * fills a temporary table for every statement).
 * On SQLite it is INSERT OR IGNORE: with no constraint left that could
 * abort it halfway, SQLite keeps no statement journal for it (a copy of
 * every page the insert touches, a tenth of the commit path's time). A
 * NOT NULL violation would then skip its row rather than fail the
 * statement: put_new counts the rows inserted and fails the message.
 * PostgreSQL gets a plain INSERT: every row was read as absent under the
 * device's lock, so a key conflict (a writer ignoring the lock) fails the
 * statement, as the count would; ON CONFLICT DO NOTHING's speculative
 * insertion cost 8 % of the commit path for that. */
static sqldb_stmt *put_stmt(store *s, size_t n)
{
#define PUT_COLS "records(device_id, seq, ts, received_at, type, prev, hash, body) VALUES "
#define PUT_ROW "(?1, ?%d, ?%d, ?2, ?%d, ?%d, ?%d, ?%d)"
    static const rows_sql put_sqlite = {"INSERT OR IGNORE INTO " PUT_COLS, PUT_ROW, ", ", "", 3, 6};
    static const rows_sql put_pg = {"INSERT INTO " PUT_COLS, PUT_ROW, ", ", "", 3, 6};
#undef PUT_COLS
#undef PUT_ROW
    return rows_stmt(s, &s->put[n - 1], "record insert",
                     sqldb_kind_of(s->db) == SQLDB_SQLITE ? &put_sqlite : &put_pg, n);
}

/* The item of seq among items[0..n), or NULL. */
static store_put_item *item_of(store_put_item *items, size_t n, uint64_t seq)
{
    for (size_t i = 0; i < n; i++)
        if (items[i].r->seq == seq)
            return &items[i];
    return NULL;
}

/* Inserts the new ones (STORE_INSERTED) among items[0..n) with one
 * statement of at most STORE_PUT_MAX rows; 0 or -1. */
static int put_new(store *s, const char *device, const store_put_item *items, size_t n,
                   const char *received_ts)
{
    size_t k = 0;
    sqldb_stmt *q;

    for (size_t i = 0; i < n; i++)
        k += items[i].result == STORE_INSERTED;
    if (k == 0)
        return 0;
    if (!(q = put_stmt(s, k)))
        return -1;
    if (sqldb_bind_text(q, 1, device) != 0 || sqldb_bind_text(q, 2, received_ts) != 0)
        goto bind_failed;
    for (size_t i = 0, row = 0; i < n; i++) {
        const record *r = items[i].r;
        int p = 3 + 6 * (int)row;
        if (items[i].result != STORE_INSERTED)
            continue;
        row++;
        /* Borrowed: the record and its bytes outlive the statement's run. */
        if (sqldb_bind_int64(q, p, (int64_t)r->seq) != 0 ||
            sqldb_bind_textn_borrowed(q, p + 1, r->ts, strlen(r->ts)) != 0 ||
            sqldb_bind_text(q, p + 2, record_type_name(r->type)) != 0 ||
            sqldb_bind_textn_borrowed(q, p + 3, r->prev, strlen(r->prev)) != 0 ||
            sqldb_bind_textn_borrowed(q, p + 4, items[i].hash, strlen(items[i].hash)) != 0 ||
            sqldb_bind_textn_borrowed(q, p + 5, items[i].canon, items[i].canon_len) != 0)
            goto bind_failed;
    }
    /* Under the device's lock (store_lock_device) nobody else stores this
     * device's records, so every row read as absent is inserted: fewer
     * would mean a writer that ignores the lock. Sent ahead on PostgreSQL:
     * nothing later in the message reads what it returns. */
    return sqldb_run_deferred(q, (int64_t)k) == 0 ? 0 : store__failed(s, "record insert");
bind_failed:
    store__failed(s, "record insert");
    sqldb_reset(q);
    return -1;
}

typedef struct put_judge {
    store_put_item *items;
    size_t n;
    store_link_fn seen;
    void *seen_ctx;
} put_judge;

/* A stored record of the range read against the item of its seq: the same
 * hash is a resend, another one a conflict. */
static void judge_stored(void *ctx, const store_link *l)
{
    put_judge *j = ctx;
    store_put_item *it = l->quarantined ? NULL : item_of(j->items, j->n, l->seq);

    if (it)
        it->result = strcmp(l->hash, it->hash) == 0 ? STORE_DUPLICATE : STORE_CONFLICT;
    if (j->seen)
        j->seen(j->seen_ctx, l);
}

int store_put_records(store *s, const char *device, store_put_item *items, size_t n,
                      const char *received_ts, const store_range *range, store_link_fn seen,
                      void *ctx)
{
    char prev[RECORD_HASH_HEX], stored[RECORD_HASH_HEX];
    put_judge j = {items, n, seen, ctx};

    for (size_t i = 0; i < n; i++)
        items[i].result = STORE_INSERTED;
    if (range) {
        if (store_links(s, device, range->lo, range->hi, judge_stored, &j) != 0)
            return -1;
    } else {
        for (size_t i = 0; i < n; i++) {
            int found = store_get_link(s, device, items[i].r->seq, prev, stored);
            if (found < 0)
                return -1;
            if (found)
                items[i].result = strcmp(stored, items[i].hash) == 0 ? STORE_DUPLICATE
                                                                      : STORE_CONFLICT;
        }
    }
    return store_insert_records(s, device, items, n, received_ts);
}

int store_insert_records(store *s, const char *device, const store_put_item *items, size_t n,
                         const char *received_ts)
{
    for (size_t i = 0; i < n; i += STORE_PUT_MAX) {
        size_t k = n - i < STORE_PUT_MAX ? n - i : STORE_PUT_MAX;
        if (put_new(s, device, items + i, k, received_ts) != 0)
            return -1;
    }
    return 0;
}

static int count_reason(store *s, const char *counter_key)
{
    if (bind_texts(s, s->q[Q_QUAR_COUNT], 1, 1, &counter_key, "quarantine count") != 0)
        return -1;
    return run(s, Q_QUAR_COUNT, "quarantine count");
}

int store_quarantine(store *s, const char *device, const char *topic, const char *reason,
                     const char *counter_key, const void *payload, size_t len,
                     size_t max_payload, int64_t max_rows, const char *now_ts)
{
    sqldb_stmt *q = s->q[Q_QUAR_INSERT];

    if (bind_texts(s, q, 1, 4, (const char *[]){now_ts, device, topic, reason},
                   "quarantine insert") != 0)
        return -1;
    if (sqldb_bind_blob(q, 5, payload, len < max_payload ? len : max_payload) != 0) {
        sqldb_reset(q);
        return store__failed(s, "quarantine insert");
    }
    if (run(s, Q_QUAR_INSERT, "quarantine insert") != 0 || count_reason(s, counter_key) != 0)
        return -1;
    if (sqldb_bind_int64(s->q[Q_QUAR_TRIM], 1, max_rows) != 0) {
        sqldb_reset(s->q[Q_QUAR_TRIM]);
        return store__failed(s, "quarantine trim");
    }
    return run(s, Q_QUAR_TRIM, "quarantine trim");
}

int store_quarantine_record(store *s, const char *device, uint64_t seq, const char *prev,
                            const char *hash, const void *body, size_t len, const char *reason,
                            const char *counter_key, const char *now_ts, bool *inserted)
{
    sqldb_stmt *q = s->q[Q_QREC_INSERT];

    *inserted = false;
    if (bind_device_seq(s, q, device, seq, "quarantined record insert") != 0 ||
        bind_texts(s, q, 3, 4, (const char *[]){now_ts, reason, prev, hash},
                   "quarantined record insert") != 0)
        return -1;
    if (sqldb_bind_blob(q, 7, body, len) != 0) {
        sqldb_reset(q);
        return store__failed(s, "quarantined record insert");
    }
    if (run(s, Q_QREC_INSERT, "quarantined record insert") != 0)
        return -1;
    if (sqldb_changes(s->db) != 1)
        return 0;   /* a resend: kept and counted the first time */
    *inserted = true;
    return count_reason(s, counter_key);
}

int store_get_quarantined_link(store *s, const char *device, uint64_t seq,
                               char prev[RECORD_HASH_HEX], char hash[RECORD_HASH_HEX])
{
    return get_link(s, s->q[Q_QREC_LINK], device, seq, prev, hash, "quarantined record lookup");
}

/* Two collectors raising one cause at once: the UNIQUE (rule, device_id,
 * cause) makes the second wait for the first's commit, then its DO UPDATE
 * finds the alert open and returns no row: raised once, by construction. */
int store_raise_alert(store *s, alert *a, const char *now_ts, bool *raised)
{
    sqldb_stmt *q = s->q[Q_ALERT_RAISE];
    int rc;

    if (bind_texts(s, q, 1, 8,
                   (const char *[]){a->rule, a->severity, a->device, a->clinic, a->cause,
                                    a->message, a->evidence, now_ts},
                   "alert raise") != 0)
        return -1;
    if ((rc = store__step(s, q, "alert raise")) < 0)
        return -1;
    *raised = rc == 1;
    if (rc == 1) {
        a->id = sqldb_column_int64(q, 0);
        store__finish(q);
    }
    return 0;
}

/* Fills a from a RETURNING id, severity, clinic, message, evidence row. */
static void read_cleared(sqldb_stmt *q, const char *rule, const char *device, alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqldb_column_int64(q, 0);
    snprintf(a->rule, sizeof a->rule, "%s", rule);
    snprintf(a->device, sizeof a->device, "%s", device);
    store__copy_col(q, 1, a->severity, sizeof a->severity);
    store__copy_col(q, 2, a->clinic, sizeof a->clinic);
    store__copy_col(q, 3, a->message, sizeof a->message);
    store__copy_col(q, 4, a->evidence, sizeof a->evidence);
}

int store_clear_alert(store *s, const char *rule, const char *device, const char *cause,
                      const char *now_ts, alert *out, bool *cleared)
{
    sqldb_stmt *q = s->q[Q_ALERT_CLEAR];
    int rc;

    if (bind_texts(s, q, 1, 4, (const char *[]){rule, device, cause, now_ts}, "alert clear") != 0)
        return -1;
    if ((rc = store__step(s, q, "alert clear")) < 0)
        return -1;
    *cleared = rc == 1;
    if (rc == 1) {
        read_cleared(q, rule, device, out);
        snprintf(out->cause, sizeof out->cause, "%s", cause);
        store__finish(q);
    }
    return 0;
}

int store_alert_known(store *s, const char *rule, const char *device, const char *cause,
                      bool *known)
{
    sqldb_stmt *q = s->q[Q_ALERT_KNOWN];
    int rc;

    *known = false;
    if (bind_texts(s, q, 1, 3, (const char *[]){rule, device, cause}, "alert lookup") != 0)
        return -1;
    if ((rc = store__step(s, q, "alert lookup")) < 0)
        return -1;
    *known = rc == 1;
    if (rc == 1)
        sqldb_reset(q);
    return 0;
}

int store_oldest_above(store *s, const char *device, uint64_t seq, char ts[RECORD_TS_LEN + 1])
{
    sqldb_stmt *q = s->q[Q_OLDEST_ABOVE];
    int rc;

    ts[0] = '\0';
    if (bind_device_seq(s, q, device, seq, "gap age lookup") != 0)
        return -1;
    if ((rc = store__step(s, q, "gap age lookup")) != 1)
        return rc < 0 ? -1 : 0;
    store__copy_col(q, 0, ts, RECORD_TS_LEN + 1);
    sqldb_reset(q);
    return 0;
}

int store_escalate_alert(store *s, alert *a, bool *escalated)
{
    sqldb_stmt *q = s->q[Q_ALERT_ESCALATE];
    int rc;

    if (bind_texts(s, q, 1, 6,
                   (const char *[]){a->rule, a->device, a->cause, a->severity, a->message,
                                    a->evidence},
                   "alert escalate") != 0)
        return -1;
    if ((rc = store__step(s, q, "alert escalate")) < 0)
        return -1;
    *escalated = rc == 1;
    if (rc == 1) {
        a->id = sqldb_column_int64(q, 0);
        store__finish(q);
    }
    return 0;
}

static int by_alert_id(const void *a, const void *b)
{
    int64_t x = ((const alert *)a)->id, y = ((const alert *)b)->id;
    return (x > y) - (x < y);
}

int store_clear_alerts_prefix(store *s, const char *rule, const char *device, const char *prefix,
                              const char *now_ts, store_alert_fn fn, void *ctx)
{
    sqldb_stmt *q = s->q[Q_ALERT_CLEAR_PREFIX];
    alert *cleared = NULL;
    size_t n = 0, cap = 0;
    int rc;

    if (bind_texts(s, q, 1, 4, (const char *[]){rule, device, prefix, now_ts}, "alert clear") != 0)
        return -1;
    /* UPDATE ... RETURNING gives its rows in no set order on PostgreSQL:
     * they are collected and handed out oldest first, as on SQLite, so the
     * events (and their notifications) come in the order the alerts were
     * raised on either store. */
    while ((rc = store__step(s, q, "alert clear")) == 1) {
        if (n == cap) {
            size_t want = cap ? cap * 2 : 8;
            alert *grown = realloc(cleared, want * sizeof *grown);
            if (!grown) {
                store__finish(q);
                free(cleared);
                snprintf(s->err, sizeof s->err, "alert clear: out of memory");
                return -1;
            }
            cleared = grown;
            cap = want;
        }
        read_cleared(q, rule, device, &cleared[n]);
        store__copy_col(q, 5, cleared[n].cause, sizeof cleared[n].cause);
        n++;
    }
    if (rc == 0) {
        qsort(cleared, n, sizeof *cleared, by_alert_id);
        for (size_t i = 0; i < n; i++)
            fn(ctx, &cleared[i]);
    }
    free(cleared);
    return rc < 0 ? -1 : 0;
}

/* ---- checkpoint signatures (checkpoints, collector/verifier.c) ------------- */

/* The queueing of n checkpoints: the device and receive time once (?1,
 * ?2), then head_seq, head_hash, sig of each. A row of the same key can
 * only be that of a record since superseded (a new one is queued only
 * when its record was inserted): replaced. */
#define CKPT_COLS "checkpoints(device_id, head_seq, head_hash, sig, received_at, state) VALUES "
#define CKPT_ROW "(?1, ?%d, ?%d, ?%d, ?2, 'pending')"
static sqldb_stmt *ckpt_stmt(store *s, size_t n)
{
    static const rows_sql ckpt_sql = {
        "INSERT INTO " CKPT_COLS, CKPT_ROW, ", ",
        " ON CONFLICT(device_id, head_seq) DO UPDATE SET head_hash = excluded.head_hash,"
        " sig = excluded.sig, received_at = excluded.received_at, state = 'pending',"
        " checked_at = NULL",
        3, 3};
    return rows_stmt(s, &s->ckpt[n - 1], "checkpoint queue", &ckpt_sql, n);
}

/* SQLite's first try: INSERT OR IGNORE, which (like the records' insert,
 * put_stmt) needs no statement journal, where the upsert above copies
 * every page it touches first (a tenth of the commit path's time). Only
 * when a row was already there (a superseded record's checkpoint: rare)
 * does the upsert run after it, over the same rows. */
static sqldb_stmt *ckpt_new_stmt(store *s, size_t n)
{
    static const rows_sql ckpt_new_sql = {"INSERT OR IGNORE INTO " CKPT_COLS, CKPT_ROW, ", ", "",
                                          3, 3};
    return rows_stmt(s, &s->ckpt_new[n - 1], "checkpoint queue", &ckpt_new_sql, n);
}
#undef CKPT_COLS
#undef CKPT_ROW

/* Queues items[0..n), n <= STORE_PUT_MAX, with one statement; 0 or -1. */
/* Runs q for items[0..n); deferred: sent ahead on PostgreSQL (for a
 * caller that reads nothing of it). */
static int queue_chunk(store *s, sqldb_stmt *q, const char *device, const store_ckpt_item *items,
                       size_t n, const char *received_ts, bool deferred)
{
    if (!q)
        return -1;
    if (sqldb_bind_text(q, 1, device) != 0 || sqldb_bind_text(q, 2, received_ts) != 0)
        goto bind_failed;
    for (size_t i = 0; i < n; i++) {
        int p = 3 + 3 * (int)i;
        if (sqldb_bind_int64(q, p, (int64_t)items[i].head_seq) != 0 ||
            sqldb_bind_text(q, p + 1, items[i].head_hash) != 0 ||
            sqldb_bind_text(q, p + 2, items[i].sig) != 0)
            goto bind_failed;
    }
    if (deferred)
        return store__deferred(s, q, "checkpoint queue");
    return store__run(s, q, "checkpoint queue");
bind_failed:
    store__failed(s, "checkpoint queue");
    sqldb_reset(q);
    return -1;
}

int store_queue_checkpoints(store *s, const char *device, const store_ckpt_item *items, size_t n,
                            const char *received_ts)
{
    for (size_t i = 0; i < n; i += STORE_PUT_MAX) {
        size_t k = n - i < STORE_PUT_MAX ? n - i : STORE_PUT_MAX;
        if (sqldb_kind_of(s->db) == SQLDB_SQLITE) {
            if (queue_chunk(s, ckpt_new_stmt(s, k), device, items + i, k, received_ts, false) != 0)
                return -1;
            if (sqldb_changes(s->db) == (int64_t)k)
                continue;
        }
        if (queue_chunk(s, ckpt_stmt(s, k), device, items + i, k, received_ts, true) != 0)
            return -1;
    }
    return 0;
}

int store_pending_checkpoints(store *s, store_checkpoint *out, size_t max, size_t *n)
{
    sqldb_stmt *q = s->q[Q_CKPT_PENDING];
    int rc;

    *n = 0;
    if (sqldb_bind_int64(q, 1, (int64_t)max) != 0) {
        sqldb_reset(q);
        return store__failed(s, "pending checkpoints");
    }
    while ((rc = store__step(s, q, "pending checkpoints")) == 1) {
        store_checkpoint *c = &out[(*n)++];
        store__copy_col(q, 0, c->device, sizeof c->device);
        c->head_seq = (uint64_t)sqldb_column_int64(q, 1);
        store__copy_col(q, 2, c->head_hash, sizeof c->head_hash);
        store__copy_col(q, 3, c->sig, sizeof c->sig);
        store__copy_col(q, 4, c->ts, sizeof c->ts);
        if (*n == max) {
            store__finish(q);
            return 0;
        }
    }
    return rc;
}

/* The marking of n checkpoints verified: ?1 the time, then device_id,
 * head_seq, head_hash, sig of each. Each row is a key lookup (the primary
 * key's two columns), OR'ed: SQLite and PostgreSQL each read the rows by
 * the key (test_verifier checks SQLite's plan). */
static sqldb_stmt *verified_stmt(store *s, size_t n)
{
    static const rows_sql verified_sql = {
        "UPDATE checkpoints SET state = 'verified', checked_at = ?1 WHERE state = 'pending' AND (",
        "(device_id = ?%d AND head_seq = ?%d AND head_hash = ?%d AND sig = ?%d)", " OR ",
        ") RETURNING device_id, head_seq", 2, 4};
    return rows_stmt(s, &s->verified[n - 1], "checkpoint mark", &verified_sql, n);
}

/* Marks rows[0..n), n <= STORE_PUT_MAX, with one statement. */
static int mark_chunk(store *s, const store_checkpoint *rows, size_t n, const char *now_ts,
                      bool *marked)
{
    sqldb_stmt *q = verified_stmt(s, n);
    int rc;

    if (!q)
        return -1;
    if (sqldb_bind_text(q, 1, now_ts) != 0)
        goto bind_failed;
    for (size_t i = 0; i < n; i++) {
        int p = 2 + 4 * (int)i;
        if (sqldb_bind_text(q, p, rows[i].device) != 0 ||
            sqldb_bind_int64(q, p + 1, (int64_t)rows[i].head_seq) != 0 ||
            sqldb_bind_text(q, p + 2, rows[i].head_hash) != 0 ||
            sqldb_bind_text(q, p + 3, rows[i].sig) != 0)
            goto bind_failed;
    }
    while ((rc = store__step(s, q, "checkpoint mark")) == 1) {
        char device[IDS_DEVICE_ID_MAX + 1];
        uint64_t head_seq = (uint64_t)sqldb_column_int64(q, 1);
        store__copy_col(q, 0, device, sizeof device);
        for (size_t i = 0; i < n; i++)
            if (rows[i].head_seq == head_seq && strcmp(rows[i].device, device) == 0)
                marked[i] = true;
    }
    return rc;
bind_failed:
    store__failed(s, "checkpoint mark");
    sqldb_reset(q);
    return -1;
}

int store_mark_verified(store *s, const store_checkpoint *rows, size_t n, const char *now_ts,
                        bool *marked)
{
    for (size_t i = 0; i < n; i++)
        marked[i] = false;
    for (size_t i = 0; i < n; i += STORE_PUT_MAX) {
        size_t k = n - i < STORE_PUT_MAX ? n - i : STORE_PUT_MAX;
        if (mark_chunk(s, rows + i, k, now_ts, marked + i) != 0)
            return -1;
    }
    return 0;
}

int store_mark_checkpoint(store *s, const store_checkpoint *c, bool ok, const char *now_ts,
                          bool *marked)
{
    sqldb_stmt *q = s->q[Q_CKPT_MARK];

    *marked = false;
    if (bind_device_seq(s, q, c->device, c->head_seq, "checkpoint mark") != 0 ||
        bind_texts(s, q, 3, 4,
                   (const char *[]){c->head_hash, c->sig, ok ? "verified" : "failed", now_ts},
                   "checkpoint mark") != 0)
        return -1;
    if (run(s, Q_CKPT_MARK, "checkpoint mark") != 0)
        return -1;
    *marked = sqldb_changes(s->db) == 1;
    return 0;
}

int store_try_lock_session(store *s, const char *key, bool *held)
{
    return sqldb_try_lock_session(s->db, key, held) == 0 ? 0 : store__failed(s, "session lock");
}

/* ---- presence (device_presence, collector/presence.c) ---------------------- */

static int bind_count(sqldb_stmt *q, int idx, int64_t v)
{
    return v < 0 ? sqldb_bind_null(q, idx) : sqldb_bind_int64(q, idx, v);
}

/* Prepared per call, outside the q[] table: status messages come at
 * connect and disconnect only, and the statement then never collides
 * with other additions to the table. The SET expressions name
 * device_presence for the old row (PostgreSQL requires it), so since
 * compares the old state. */
int store_put_presence(store *s, const char *device, const store_presence *p,
                       const char *now_ts)
{
    static const char sql_put[] =
        "INSERT INTO device_presence(device_id, state, since, heard_at, backlog, head_seq, "
        "agent_acked_seq, reported_at) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7) "
        "ON CONFLICT(device_id) DO UPDATE SET "
        "since = CASE WHEN device_presence.state = excluded.state THEN device_presence.since "
        "ELSE excluded.since END, "
        "state = excluded.state, heard_at = excluded.heard_at, backlog = excluded.backlog, "
        "head_seq = excluded.head_seq, agent_acked_seq = excluded.agent_acked_seq, "
        "reported_at = excluded.reported_at";
    sqldb_stmt *q = NULL;
    int rc;

    if (sqldb_prepare(s->db, sql_put, &q) != 0)
        return store__failed(s, "prepare presence");
    if (sqldb_bind_text(q, 1, device) != 0 ||
        sqldb_bind_text(q, 2, p->online ? "online" : "offline") != 0 ||
        sqldb_bind_text(q, 3, now_ts) != 0 || bind_count(q, 4, p->backlog) != 0 ||
        bind_count(q, 5, p->head_seq) != 0 || bind_count(q, 6, p->acked_seq) != 0 ||
        sqldb_bind_text(q, 7, p->at[0] ? p->at : NULL) != 0) {
        rc = store__failed(s, "bind presence");
        sqldb_finalize(q);
        return rc;
    }
    rc = sqldb_step(q) == 0 ? 0 : store__failed(s, "store presence");
    sqldb_finalize(q);
    return rc;
}
