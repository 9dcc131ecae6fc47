#include "device_recover.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "ids.h"
#include "registry.h"

/* The parameters of one statement of the recovery: ?1 the device, then as
 * many of ?2 (n) and ?3 (text, or id when text is NULL) as count says. */
typedef struct params {
    int count;
    const char *device;
    int64_t n;
    const char *text;
    int64_t id;
} params;

static int bind_params(sqldb_stmt *q, const params *p)
{
    if (sqldb_bind_text(q, 1, p->device) != 0 || (p->count >= 2 && sqldb_bind_int64(q, 2, p->n) != 0))
        return -1;
    if (p->count >= 3)
        return p->text ? sqldb_bind_text(q, 3, p->text) : sqldb_bind_int64(q, 3, p->id);
    return 0;
}

/* Runs one statement with p; rows it returns are not read. *changes (may
 * be NULL) gets sqldb_changes. 0, or -1 with err naming what failed. */
static int run(sqldb *db, const char *what, const char *sql, const params *p, int64_t *changes,
               char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    int rc = -1;

    if (sqldb_prepare(db, sql, &q) == 0 && bind_params(q, p) == 0)
        while ((rc = sqldb_step(q)) == 1)
            ;
    if (rc != 0) {
        db_error(db, what, err, errlen);
        sqldb_finalize(q);
        return -1;
    }
    if (changes)
        *changes = sqldb_changes(db);
    sqldb_finalize(q);
    return 0;
}

/* The first column of the first row as an integer; *found says whether
 * there was a row. */
static int query_int(sqldb *db, const char *what, const char *sql, const params *p, int64_t *out,
                     bool *found, char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    int rc = -1;

    *found = false;
    if (sqldb_prepare(db, sql, &q) == 0 && bind_params(q, p) == 0)
        rc = sqldb_step(q);
    if (rc == 1) {
        *out = sqldb_column_int64(q, 0);
        *found = true;
    } else if (rc != 0) {
        db_error(db, what, err, errlen);
        sqldb_finalize(q);
        return -1;
    }
    sqldb_finalize(q);
    return 0;
}

static int check_args(const char *device_id, uint64_t from_seq, const char *by, const char *reason,
                      char *err, size_t errlen)
{
    char why[256];

    if (!ids_valid_device_id(device_id, why, sizeof why)) {
        snprintf(err, errlen, "device id '%s': %s", device_id, why);
        return -1;
    }
    if (from_seq < 1 || from_seq > (uint64_t)9007199254740991LL) {
        snprintf(err, errlen, "--from-seq: must be 1..2^53-1 (the first seq to take out of the chain)");
        return -1;
    }
    if (registry_check_text("--by", by, why, sizeof why) != 0 ||
        registry_check_text("--reason", reason, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s (who recovers the chain, and why, are recorded)", why);
        return -1;
    }
    return 0;
}

/* The device's ack, after checking that it is registered and that from is
 * above it. */
static int read_ack(sqldb *db, const char *device_id, int64_t from, int64_t *acked, char *err,
                    size_t errlen)
{
    const params dev = {1, device_id, 0, NULL, 0};
    int64_t one = 0;
    bool found;

    if (query_int(db, "device lookup", "SELECT 1 FROM devices WHERE device_id = ?1", &dev, &one,
                  &found, err, errlen) != 0)
        return -1;
    if (!found) {
        snprintf(err, errlen, "device %s is not registered; check the id (smpctl device list)", device_id);
        return -1;
    }
    *acked = 0;
    if (query_int(db, "chain head lookup", "SELECT acked_seq FROM device_state WHERE device_id = ?1",
                  &dev, acked, &found, err, errlen) != 0)
        return -1;
    /* What the agent was acked it has deleted: taking such a record out of
     * the chain would lose it for good. */
    if (from <= *acked) {
        snprintf(err, errlen, "--from-seq %" PRId64 ": device %s is acked up to seq %" PRId64
                 " and its agent no longer holds those records; give --from-seq %" PRId64
                 " or above", from, device_id, *acked, *acked + 1);
        return -1;
    }
    return 0;
}

/* Records who, when and why in chain_recoveries; *id is the new row's. */
static int insert_recovery(sqldb *db, const char *device_id, int64_t from, int64_t acked,
                           const char *by, const char *reason, const char *now_ts, int64_t *id,
                           char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    int rc = -1;

    if (sqldb_prepare(db, "INSERT INTO chain_recoveries(device_id, from_seq, acked_seq, "
                          "records_moved, recovered_by, reason, recovered_at) "
                          "VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6) RETURNING id", &q) == 0 &&
        sqldb_bind_text(q, 1, device_id) == 0 && sqldb_bind_int64(q, 2, from) == 0 &&
        sqldb_bind_int64(q, 3, acked) == 0 && sqldb_bind_text(q, 4, by) == 0 &&
        sqldb_bind_text(q, 5, reason) == 0 && sqldb_bind_text(q, 6, now_ts) == 0 &&
        sqldb_step(q) == 1) {
        *id = sqldb_column_int64(q, 0);
        rc = sqldb_step(q);     /* 0: the one row, and the statement is done */
    }
    if (rc != 0)
        db_error(db, "recording the recovery", err, errlen);
    sqldb_finalize(q);
    return rc == 0 ? 0 : -1;
}

/* Moves the records from from_seq on to superseded_records and drops the
 * rule state they set. */
static int move_records(sqldb *db, const char *device_id, int64_t from, device_recovery *out,
                        char *err, size_t errlen)
{
    const params moved = {3, device_id, from, NULL, out->id}, dev = {2, device_id, from, NULL, 0};
    int64_t n = 0;

    /* Kept, never deleted: the stray records are the evidence. */
    if (run(db, "keeping the superseded records",
            "INSERT INTO superseded_records(recovery_id, device_id, seq, ts, received_at, type, "
            "prev, hash, body) SELECT CAST(?3 AS BIGINT), device_id, seq, ts, received_at, type, "
            "prev, hash, body FROM records WHERE device_id = ?1 AND seq >= ?2",
            &moved, &out->records_moved, err, errlen) != 0 ||
        run(db, "taking them out of the chain", "DELETE FROM records WHERE device_id = ?1 AND seq >= ?2",
            &dev, &n, err, errlen) != 0)
        return -1;
    if (n != out->records_moved) {
        snprintf(err, errlen, "database %s: moved %" PRId64 " records but removed %" PRId64,
                 sqldb_name(db), out->records_moved, n);
        return -1;
    }
    /* Rule state named by a superseded record would keep the genuine one
     * out (both are keyed by the record): the resend rebuilds it. */
    if (run(db, "rule state", "DELETE FROM rule_grips WHERE device_id = ?1 AND seq >= ?2", &dev,
            NULL, err, errlen) != 0 ||
        run(db, "rule state", "DELETE FROM rule_cartridges WHERE device_id = ?1 AND seq >= ?2", &dev,
            NULL, err, errlen) != 0)
        return -1;
    return 0;
}

/* The whole recovery, inside the caller's transaction. */
static int recover(sqldb *db, const char *device_id, uint64_t from_seq, const char *by,
                   const char *reason, const char *now_ts, device_recovery *out, char *err,
                   size_t errlen)
{
    int64_t from = (int64_t)from_seq, acked = 0;

    if (read_ack(db, device_id, from, &acked, err, errlen) != 0)
        return -1;
    out->acked_seq = (uint64_t)acked;
    if (insert_recovery(db, device_id, from, acked, by, reason, now_ts, &out->id, err, errlen) != 0 ||
        move_records(db, device_id, from, out, err, errlen) != 0)
        return -1;
    const params total = {3, device_id, out->records_moved, NULL, out->id},
                 cleared = {3, device_id, from, now_ts, 0};
    if (run(db, "recording the recovery", "UPDATE chain_recoveries SET records_moved = ?2 WHERE "
            "device_id = ?1 AND id = ?3", &total, NULL, err, errlen) != 0)
        return -1;
    /* The causes this resolves; the alerts stay in the table as history.
     * CASE, not AND, guards each CAST: PostgreSQL may evaluate the terms of
     * an AND in any order, and CAST('' AS BIGINT) is an error there. */
    return run(db, "clearing the alerts it resolves",
               "UPDATE alerts SET cleared_at = ?3 WHERE rule = 'R9' AND device_id = ?1 AND "
               "cleared_at IS NULL AND CASE"
               " WHEN substr(cause, 1, 16) = 'chain-break:seq=' THEN CAST(substr(cause, 17) AS BIGINT)"
               " WHEN substr(cause, 1, 13) = 'conflict:seq=' THEN CAST(substr(cause, 14) AS BIGINT)"
               " END >= ?2",
               &cleared, &out->alerts_cleared, err, errlen);
}

/* Holds the device's lock until the transaction ends (see device_recover.h). */
static int lock_device(sqldb *db, const char *device_id, char *err, size_t errlen)
{
    char key[IDS_DEVICE_ID_MAX + 16];

    snprintf(key, sizeof key, "device:%s", device_id);
    return sqldb_lock(db, key) == 0 ? 0 : db_error(db, "locking the device", err, errlen);
}

int device_recover_chain(sqldb *db, const char *device_id, uint64_t from_seq, const char *by,
                         const char *reason, const char *now_ts, device_recovery *out, char *err,
                         size_t errlen)
{
    int rc;

    memset(out, 0, sizeof *out);
    if (check_args(device_id, from_seq, by, reason, err, errlen) != 0)
        return -1;
    /* No record of this device may be stored between our read of its ack
     * and the move: SQLDB_WRITE makes us the one writer on SQLite, the
     * device lock keeps every collector off this device on PostgreSQL. */
    if (db_begin_write(db, "begin", err, errlen) != 0)
        return -1;
    rc = lock_device(db, device_id, err, errlen);
    if (rc == 0)
        rc = recover(db, device_id, from_seq, by, reason, now_ts, out, err, errlen);
    if ((rc = db_end_write(db, rc, "commit", err, errlen)) != 0)
        out->id = 0;
    return rc;
}

int device_recover_history(sqldb *db, const char *device_id, device_recovery_fn fn, void *ctx,
                           char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    int rc = -1;

    if (sqldb_prepare(db, "SELECT id, recovered_at, recovered_by, from_seq, acked_seq, "
                          "records_moved, reason FROM chain_recoveries WHERE device_id = ?1 "
                          "ORDER BY id", &q) == 0 &&
        sqldb_bind_text(q, 1, device_id) == 0) {
        while ((rc = sqldb_step(q)) == 1) {
            device_recovery_row row = {0};
            row.id = sqldb_column_int64(q, 0);
            sqldb_column_copy(q, 1, row.at, sizeof row.at);
            sqldb_column_copy(q, 2, row.by, sizeof row.by);
            row.from_seq = (uint64_t)sqldb_column_int64(q, 3);
            row.acked_seq = (uint64_t)sqldb_column_int64(q, 4);
            row.records_moved = sqldb_column_int64(q, 5);
            sqldb_column_copy(q, 6, row.reason, sizeof row.reason);
            fn(ctx, &row);
        }
    }
    if (rc != 0)
        db_error(db, "reading chain_recoveries", err, errlen);
    sqldb_finalize(q);
    return rc == 0 ? 0 : -1;
}
