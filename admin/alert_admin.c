#include "alert_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static void read_row(sqlite3_stmt *q, alert_row *r)
{
    r->id = sqlite3_column_int64(q, 0);
    db_column_text(q, 1, r->rule, sizeof r->rule);
    db_column_text(q, 2, r->severity, sizeof r->severity);
    db_column_text(q, 3, r->device, sizeof r->device);
    db_column_text(q, 4, r->cause, sizeof r->cause);
    db_column_text(q, 5, r->message, sizeof r->message);
    db_column_text(q, 6, r->raised_at, sizeof r->raised_at);
    db_column_text(q, 7, r->acked_at, sizeof r->acked_at);
    db_column_text(q, 8, r->acked_by, sizeof r->acked_by);
    db_column_text(q, 9, r->cleared_at, sizeof r->cleared_at);
    db_column_text(q, 10, r->clinic, sizeof r->clinic);
    db_column_text(q, 11, r->state, sizeof r->state);
}

/* Appends one row, doubling the array as needed. */
static int push(alert_row **rows, size_t *n, size_t *cap, sqlite3_stmt *q)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        alert_row *grown = realloc(*rows, ncap * sizeof *grown);
        if (!grown)
            return -1;
        *rows = grown;
        *cap = ncap;
    }
    read_row(q, &(*rows)[(*n)++]);
    return 0;
}

int alert_admin_list(sqlite3 *db, const alert_filter *f, alert_row **out, size_t *count, char *err,
                     size_t errlen)
{
    /* raised_at is an RFC 3339 UTC text, so text order is time order and a
     * date compares as the start of that day. */
    static const char sql[] =
        "SELECT id, rule, severity, device_id, cause, message, raised_at, acked_at, acked_by, "
        "cleared_at, clinic, coalesce(state, '') FROM alerts WHERE coalesce(state, '') <> 'pending' "
        "AND (?1 IS NULL OR clinic = ?1) "
        "AND (?2 = 0 OR cleared_at IS NULL) AND (?3 IS NULL OR raised_at >= ?3) "
        "ORDER BY clinic, id";
    sqlite3_stmt *q = NULL;
    alert_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(db, "listing alerts", err, errlen);
    if (f->clinic)
        sqlite3_bind_text(q, 1, f->clinic, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 2, f->open_only);
    if (f->since)
        sqlite3_bind_text(q, 3, f->since, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (push(&rows, &n, &cap, q) != 0) {
            snprintf(err, errlen, "out of memory listing alerts");
            goto fail;
        }
    }
    if (rc != SQLITE_DONE) {
        db_error(db, "listing alerts", err, errlen);
        goto fail;
    }
    sqlite3_finalize(q);
    *out = rows;
    *count = n;
    return 0;

fail:
    sqlite3_finalize(q);
    free(rows);
    return -1;
}

/* Says why nothing was acknowledged: no such alert, or acknowledged already. */
static int explain_refusal(sqlite3 *db, int64_t id, char *err, size_t errlen)
{
    sqlite3_stmt *q = NULL;
    char at[ALERT_ADMIN_TS_LEN + 1], by[129];
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT acked_at, acked_by FROM alerts WHERE id = ?1 "
                               "AND coalesce(state, '') <> 'pending'", -1, &q, NULL) != SQLITE_OK)
        return db_error(db, "looking up alert", err, errlen);
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        db_column_text(q, 0, at, sizeof at);
        db_column_text(q, 1, by, sizeof by);
        snprintf(err, errlen, "alert %lld was already acknowledged by %s at %s", (long long)id, by, at);
    } else if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "alert %lld does not exist; see smpctl alerts list", (long long)id);
    } else {
        db_error(db, "looking up alert", err, errlen);
    }
    sqlite3_finalize(q);
    return -1;
}

int alert_admin_ack(sqlite3 *db, int64_t id, const char *by, const char *now, char *err,
                    size_t errlen)
{
    sqlite3_stmt *q = NULL;
    int rc, changed;

    /* One statement: two people acknowledging at once cannot both win. */
    if (sqlite3_prepare_v2(db,
                           "UPDATE alerts SET acked_at = ?2, acked_by = ?3 "
                           "WHERE id = ?1 AND acked_at IS NULL AND coalesce(state, '') <> 'pending'",
                           -1, &q, NULL) != SQLITE_OK)
        return db_error(db, "acknowledging alert", err, errlen);
    sqlite3_bind_int64(q, 1, id);
    sqlite3_bind_text(q, 2, now, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, by, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    changed = sqlite3_changes(db);
    if (rc != SQLITE_DONE)
        db_error(db, "acknowledging alert", err, errlen);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return -1;
    return changed == 1 ? 0 : explain_refusal(db, id, err, errlen);
}
