#include "alert_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "rowlist.h"

static void read_row(sqldb_stmt *q, alert_row *r)
{
    r->id = sqldb_column_int64(q, 0);
    sqldb_column_copy(q, 1, r->rule, sizeof r->rule);
    sqldb_column_copy(q, 2, r->severity, sizeof r->severity);
    sqldb_column_copy(q, 3, r->device, sizeof r->device);
    sqldb_column_copy(q, 4, r->cause, sizeof r->cause);
    sqldb_column_copy(q, 5, r->message, sizeof r->message);
    sqldb_column_copy(q, 6, r->raised_at, sizeof r->raised_at);
    sqldb_column_copy(q, 7, r->acked_at, sizeof r->acked_at);
    sqldb_column_copy(q, 8, r->acked_by, sizeof r->acked_by);
    sqldb_column_copy(q, 9, r->cleared_at, sizeof r->cleared_at);
    sqldb_column_copy(q, 10, r->clinic, sizeof r->clinic);
    sqldb_column_copy(q, 11, r->state, sizeof r->state);
}

/* rowlist_fn */
static void list_row(sqldb_stmt *q, void *entry)
{
    read_row(q, entry);
}

int alert_admin_list(sqldb *db, const alert_filter *f, alert_row **out, size_t *count, char *err,
                     size_t errlen)
{
    /* raised_at is an RFC 3339 UTC text, so text order is time order and a
     * date compares as the start of that day. The CASTs give PostgreSQL
     * each optional parameter's type where it is first used. */
    static const char sql[] =
        "SELECT id, rule, severity, device_id, cause, message, raised_at, acked_at, acked_by, "
        "cleared_at, clinic, COALESCE(state, '') FROM alerts WHERE COALESCE(state, '') <> 'pending' "
        "AND (CAST(?1 AS TEXT) IS NULL OR clinic = ?1) "
        "AND (?2 = 0 OR cleared_at IS NULL) AND (CAST(?3 AS TEXT) IS NULL OR raised_at >= ?3) "
        "ORDER BY clinic, id";
    sqldb_stmt *q = NULL;
    void *rows = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqldb_prepare(db, sql, &q) != 0)
        return db_error(db, "listing alerts", err, errlen);
    if (sqldb_bind_text(q, 1, f->clinic) != 0 || sqldb_bind_int64(q, 2, f->open_only ? 1 : 0) != 0 ||
        sqldb_bind_text(q, 3, f->since) != 0) {
        sqldb_finalize(q);
        return db_error(db, "listing alerts", err, errlen);
    }
    rc = rowlist_collect(db, q, "listing alerts", sizeof **out, list_row, &rows, count, err, errlen);
    *out = rows;
    return rc;
}

/* Says why nothing was acknowledged: no such alert, or acknowledged already. */
static int explain_refusal(sqldb *db, int64_t id, char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    char at[ALERT_ADMIN_TS_LEN + 1], by[129];
    int rc;

    if (sqldb_prepare(db, "SELECT acked_at, acked_by FROM alerts WHERE id = ?1 "
                          "AND COALESCE(state, '') <> 'pending'", &q) != 0)
        return db_error(db, "looking up alert", err, errlen);
    rc = sqldb_bind_int64(q, 1, id) == 0 ? sqldb_step(q) : -1;
    if (rc == 1) {
        sqldb_column_copy(q, 0, at, sizeof at);
        sqldb_column_copy(q, 1, by, sizeof by);
        snprintf(err, errlen, "alert %lld was already acknowledged by %s at %s", (long long)id, by, at);
    } else if (rc == 0) {
        snprintf(err, errlen, "alert %lld does not exist; see smpctl alerts list", (long long)id);
    } else {
        db_error(db, "looking up alert", err, errlen);
    }
    sqldb_finalize(q);
    return -1;
}

/* The UPDATE of alert_admin_ack, inside its transaction. */
static int ack_tx(sqldb *db, int64_t id, const char *by, const char *now, char *err, size_t errlen)
{
    sqldb_stmt *q = NULL;
    int rc;

    /* One statement: two people acknowledging at once cannot both win (the
     * second one's WHERE sees the first one's acked_at). */
    if (sqldb_prepare(db,
                      "UPDATE alerts SET acked_at = ?2, acked_by = ?3 "
                      "WHERE id = ?1 AND acked_at IS NULL AND COALESCE(state, '') <> 'pending'",
                      &q) != 0)
        return db_error(db, "acknowledging alert", err, errlen);
    rc = sqldb_bind_int64(q, 1, id) == 0 && sqldb_bind_text(q, 2, now) == 0 &&
                 sqldb_bind_text(q, 3, by) == 0
             ? sqldb_step(q)
             : -1;
    if (rc != 0)
        db_error(db, "acknowledging alert", err, errlen);
    sqldb_finalize(q);
    if (rc != 0)
        return -1;
    return sqldb_changes(db) == 1 ? 0 : explain_refusal(db, id, err, errlen);
}

int alert_admin_ack(sqldb *db, int64_t id, const char *by, const char *now, char *err,
                    size_t errlen)
{
    if (db_begin_write(db, "acknowledging alert", err, errlen) != 0)
        return -1;
    return db_end_write(db, ack_tx(db, id, by, now, err, errlen), "acknowledging alert: commit",
                        err, errlen);
}
