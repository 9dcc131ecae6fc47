#include "store_alerts.h"

#include <stdio.h>
#include <string.h>

#include "store_sqlite_int.h"

/* Open = what `smpctl alerts list --open` shows: cleared_at NULL (a pending
 * R5 check and a withdrawn alert have it set). Acknowledged alerts stay
 * open until their cause ends: the chair still sees them. The statements
 * are prepared per call: this runs once per published alert event. */
int store_device_open_alerts(store *s, const char *device, store_open_alert *out, size_t cap,
                             size_t *n, size_t *total)
{
    static const char list_sql[] =
        "SELECT id, rule, severity, cause, message, raised_at FROM alerts "
        "WHERE device_id = ?1 AND cleared_at IS NULL AND state IS NULL ORDER BY id DESC LIMIT ?2";
    static const char count_sql[] =
        "SELECT count(*) FROM alerts WHERE device_id = ?1 AND cleared_at IS NULL AND state IS NULL";
    sqlite3_stmt *list = NULL, *count = NULL;
    int rc = -1, step;

    *n = 0;
    *total = 0;
    if (sqlite3_prepare_v2(s->db, list_sql, -1, &list, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, count_sql, -1, &count, NULL) != SQLITE_OK) {
        store__failed(s, "open alerts of a device: prepare");
        goto cleanup;
    }
    sqlite3_bind_text(list, 1, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(list, 2, (sqlite3_int64)cap);
    while ((step = sqlite3_step(list)) == SQLITE_ROW && *n < cap) {
        store_open_alert *a = &out[(*n)++];
        a->id = sqlite3_column_int64(list, 0);
        store__copy_col(list, 1, a->rule, sizeof a->rule);
        store__copy_col(list, 2, a->severity, sizeof a->severity);
        store__copy_col(list, 3, a->cause, sizeof a->cause);
        store__copy_col(list, 4, a->message, sizeof a->message);
        store__copy_col(list, 5, a->raised_at, sizeof a->raised_at);
    }
    if (step != SQLITE_DONE && step != SQLITE_ROW) {
        store__failed(s, "open alerts of a device");
        goto cleanup;
    }
    sqlite3_bind_text(count, 1, device, -1, SQLITE_STATIC);
    if (sqlite3_step(count) != SQLITE_ROW) {
        store__failed(s, "counting open alerts of a device");
        goto cleanup;
    }
    *total = (size_t)sqlite3_column_int64(count, 0);
    rc = 0;
cleanup:
    sqlite3_finalize(list);
    sqlite3_finalize(count);
    return rc;
}
