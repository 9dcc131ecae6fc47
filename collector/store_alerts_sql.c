#include "store_alerts.h"

#include <stdio.h>
#include <string.h>

#include "store_sql_int.h"

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
        "SELECT COUNT(*) FROM alerts WHERE device_id = ?1 AND cleared_at IS NULL AND state IS NULL";
    sqldb_stmt *list = NULL, *count = NULL;
    int rc = -1, step = 0;

    *n = 0;
    *total = 0;
    if (sqldb_prepare(s->db, list_sql, &list) != 0 || sqldb_prepare(s->db, count_sql, &count) != 0) {
        store__failed(s, "open alerts of a device: prepare");
        goto cleanup;
    }
    if (sqldb_bind_text(list, 1, device) != 0 || sqldb_bind_int64(list, 2, (int64_t)cap) != 0 ||
        sqldb_bind_text(count, 1, device) != 0) {
        store__failed(s, "open alerts of a device");
        goto cleanup;
    }
    while (*n < cap && (step = sqldb_step(list)) == 1) {
        store_open_alert *a = &out[(*n)++];
        a->id = sqldb_column_int64(list, 0);
        store__copy_col(list, 1, a->rule, sizeof a->rule);
        store__copy_col(list, 2, a->severity, sizeof a->severity);
        store__copy_col(list, 3, a->cause, sizeof a->cause);
        store__copy_col(list, 4, a->message, sizeof a->message);
        store__copy_col(list, 5, a->raised_at, sizeof a->raised_at);
    }
    if (*n < cap && step < 0) {
        store__failed(s, "open alerts of a device");
        goto cleanup;
    }
    if (sqldb_step(count) != 1) {
        store__failed(s, "counting open alerts of a device");
        goto cleanup;
    }
    *total = (size_t)sqldb_column_int64(count, 0);
    rc = 0;
cleanup:
    sqldb_finalize(list);
    sqldb_finalize(count);
    return rc;
}
