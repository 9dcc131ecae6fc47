#include "device_recover.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "registry.h"

/* One statement with the device as ?1, an integer as ?2 and optional text
 * as ?3; rows it returns are not read. *changes (may be NULL) gets
 * sqlite3_changes. 0, or -1 with err naming what failed. */
static int run(sqlite3 *db, const char *what, const char *sql, const char *device, int64_t n,
               const char *text, int64_t *changes, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK ||
        (sqlite3_bind_parameter_count(q) >= 1 &&
         sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC) != SQLITE_OK) ||
        (sqlite3_bind_parameter_count(q) >= 2 && sqlite3_bind_int64(q, 2, n) != SQLITE_OK) ||
        (text && sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC) != SQLITE_OK))
        goto fail;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE)
        goto fail;
    if (changes)
        *changes = sqlite3_changes(db);
    sqlite3_finalize(q);
    return 0;
fail:
    snprintf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return -1;
}

/* The first column of the first row as an integer; *found says whether
 * there was a row. */
static int query_int(sqlite3 *db, const char *what, const char *sql, const char *device,
                     int64_t *out, bool *found, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc;

    *found = false;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, device, -1, SQLITE_STATIC) != SQLITE_OK)
        goto fail;
    if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        *out = sqlite3_column_int64(q, 0);
        *found = true;
    } else if (rc != SQLITE_DONE) {
        goto fail;
    }
    sqlite3_finalize(q);
    return 0;
fail:
    snprintf(err, errlen, "database: %s: %s", what, sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return -1;
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

/* The whole recovery, inside the caller's transaction. */
static int recover(sqlite3 *db, const char *device_id, uint64_t from_seq, const char *by,
                   const char *reason, const char *now_ts, device_recovery *out, char *err,
                   size_t errlen)
{
    int64_t n = 0, from = (int64_t)from_seq, acked = 0;
    bool found;
    sqlite3_stmt *q = NULL;

    if (query_int(db, "device lookup", "SELECT 1 FROM devices WHERE device_id = ?1", device_id, &n,
                  &found, err, errlen) != 0)
        return -1;
    if (!found) {
        snprintf(err, errlen, "device %s is not registered; check the id (smpctl device list)", device_id);
        return -1;
    }
    if (query_int(db, "chain head lookup", "SELECT acked_seq FROM device_state WHERE device_id = ?1",
                  device_id, &acked, &found, err, errlen) != 0)
        return -1;
    out->acked_seq = (uint64_t)acked;
    /* What the agent was acked it has deleted: taking such a record out of
     * the chain would lose it for good. */
    if (from <= acked) {
        snprintf(err, errlen, "--from-seq %" PRIu64 ": device %s is acked up to seq %" PRId64
                 " and its agent no longer holds those records; give --from-seq %" PRId64
                 " or above", from_seq, device_id, acked, acked + 1);
        return -1;
    }
    if (sqlite3_prepare_v2(db, "INSERT INTO chain_recoveries(device_id, from_seq, acked_seq, "
                               "records_moved, recovered_by, reason, recovered_at) "
                               "VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, device_id, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(q, 2, from) != SQLITE_OK || sqlite3_bind_int64(q, 3, acked) != SQLITE_OK ||
        sqlite3_bind_text(q, 4, by, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 5, reason, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(q, 6, now_ts, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(q) != SQLITE_DONE) {
        snprintf(err, errlen, "database: recording the recovery: %s", sqlite3_errmsg(db));
        sqlite3_finalize(q);
        return -1;
    }
    sqlite3_finalize(q);
    out->id = sqlite3_last_insert_rowid(db);

    char id_text[32];
    snprintf(id_text, sizeof id_text, "%" PRId64, out->id);
    /* Kept, never deleted: the stray records are the evidence. */
    if (run(db, "keeping the superseded records",
            "INSERT INTO superseded_records(recovery_id, device_id, seq, ts, received_at, type, "
            "prev, hash, body) SELECT CAST(?3 AS INTEGER), device_id, seq, ts, received_at, type, "
            "prev, hash, body FROM records WHERE device_id = ?1 AND seq >= ?2",
            device_id, from, id_text, &out->records_moved, err, errlen) != 0 ||
        run(db, "taking them out of the chain", "DELETE FROM records WHERE device_id = ?1 AND seq >= ?2",
            device_id, from, NULL, &n, err, errlen) != 0)
        return -1;
    if (n != out->records_moved) {
        snprintf(err, errlen, "database: moved %" PRId64 " records but removed %" PRId64,
                 out->records_moved, n);
        return -1;
    }
    /* Rule state named by a superseded record would keep the genuine one
     * out (both are keyed by the record): the resend rebuilds it. */
    if (run(db, "rule state", "DELETE FROM rule_grips WHERE device_id = ?1 AND seq >= ?2", device_id,
            from, NULL, NULL, err, errlen) != 0 ||
        run(db, "rule state", "DELETE FROM rule_cartridges WHERE device_id = ?1 AND seq >= ?2",
            device_id, from, NULL, NULL, err, errlen) != 0 ||
        run(db, "recording the recovery", "UPDATE chain_recoveries SET records_moved = ?2 WHERE "
            "device_id = ?1 AND id = CAST(?3 AS INTEGER)", device_id, out->records_moved, id_text,
            NULL, err, errlen) != 0)
        return -1;
    /* The causes this resolves; the alerts stay in the table as history. */
    return run(db, "clearing the alerts it resolves",
               "UPDATE alerts SET cleared_at = ?3 WHERE rule = 'R9' AND device_id = ?1 AND "
               "cleared_at IS NULL AND ((substr(cause, 1, 16) = 'chain-break:seq=' AND "
               "CAST(substr(cause, 17) AS INTEGER) >= ?2) OR (substr(cause, 1, 13) = "
               "'conflict:seq=' AND CAST(substr(cause, 14) AS INTEGER) >= ?2))",
               device_id, from, now_ts, &out->alerts_cleared, err, errlen);
}

int device_recover_chain(sqlite3 *db, const char *device_id, uint64_t from_seq, const char *by,
                         const char *reason, const char *now_ts, device_recovery *out, char *err,
                         size_t errlen)
{
    char ignored[64];

    memset(out, 0, sizeof *out);
    if (check_args(device_id, from_seq, by, reason, err, errlen) != 0)
        return -1;
    /* IMMEDIATE: the collector must not store a record of this device
     * between our read of its ack and the move. */
    if (run(db, "begin", "BEGIN IMMEDIATE", "", 0, NULL, NULL, err, errlen) != 0)
        return -1;
    if (recover(db, device_id, from_seq, by, reason, now_ts, out, err, errlen) != 0 ||
        run(db, "commit", "COMMIT", "", 0, NULL, NULL, err, errlen) != 0) {
        run(db, "rollback", "ROLLBACK", "", 0, NULL, NULL, ignored, sizeof ignored);
        out->id = 0;
        return -1;
    }
    return 0;
}

int device_recover_history(sqlite3 *db, const char *device_id, device_recovery_fn fn, void *ctx,
                           char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT id, recovered_at, recovered_by, from_seq, acked_seq, "
                               "records_moved, reason FROM chain_recoveries WHERE device_id = ?1 "
                               "ORDER BY id", -1, &q, NULL) != SQLITE_OK ||
        sqlite3_bind_text(q, 1, device_id, -1, SQLITE_STATIC) != SQLITE_OK)
        goto fail;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        device_recovery_row row = {0};
        row.id = sqlite3_column_int64(q, 0);
        snprintf(row.at, sizeof row.at, "%s", (const char *)sqlite3_column_text(q, 1));
        snprintf(row.by, sizeof row.by, "%s", (const char *)sqlite3_column_text(q, 2));
        row.from_seq = (uint64_t)sqlite3_column_int64(q, 3);
        row.acked_seq = (uint64_t)sqlite3_column_int64(q, 4);
        row.records_moved = sqlite3_column_int64(q, 5);
        snprintf(row.reason, sizeof row.reason, "%s", (const char *)sqlite3_column_text(q, 6));
        fn(ctx, &row);
    }
    if (rc != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(q);
    return 0;
fail:
    snprintf(err, errlen, "database: reading chain_recoveries: %s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    return -1;
}
