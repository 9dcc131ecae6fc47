#include "quarantine_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

#define DEFAULT_LIMIT 50

/* The columns every query selects first, in this order. */
#define ROW_COLUMNS "id, received_at, coalesce(device_id, ''), topic, reason, length(payload)"

static void read_row(sqlite3_stmt *q, quarantine_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(q, 0);
    db_column_text(q, 1, r->received_at, sizeof r->received_at);
    db_column_text(q, 2, r->device, sizeof r->device);
    db_column_text(q, 3, r->topic, sizeof r->topic);
    db_column_text(q, 4, r->reason, sizeof r->reason);
    r->payload_len = (size_t)sqlite3_column_int64(q, 5);
}

int quarantine_admin_list(sqlite3 *db, const quarantine_filter *f, quarantine_row **out,
                          size_t *count, char *err, size_t errlen)
{
    /* received_at is RFC 3339 UTC text: text order is time order. */
    static const char sql[] = "SELECT " ROW_COLUMNS " FROM quarantine "
                              "WHERE (?1 IS NULL OR device_id = ?1) AND (?2 IS NULL OR received_at >= ?2) "
                              "ORDER BY id DESC LIMIT ?3";
    sqlite3_stmt *q = NULL;
    quarantine_row *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(db, "listing the quarantine", err, errlen);
    if (f->device)
        sqlite3_bind_text(q, 1, f->device, -1, SQLITE_STATIC);
    if (f->since)
        sqlite3_bind_text(q, 2, f->since, -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, f->limit > 0 ? f->limit : DEFAULT_LIMIT);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            quarantine_row *grown = realloc(rows, ncap * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory listing the quarantine");
                goto fail;
            }
            rows = grown;
            cap = ncap;
        }
        read_row(q, &rows[n++]);
    }
    if (rc != SQLITE_DONE) {
        db_error(db, "listing the quarantine", err, errlen);
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

int quarantine_admin_get(sqlite3 *db, int64_t id, quarantine_row *out, char *err, size_t errlen)
{
    static const char sql[] = "SELECT " ROW_COLUMNS ", payload FROM quarantine WHERE id = ?1";
    sqlite3_stmt *q = NULL;
    int rc, status = -1;

    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        return db_error(db, "reading the quarantine", err, errlen);
    sqlite3_bind_int64(q, 1, id);
    rc = sqlite3_step(q);
    if (rc == SQLITE_DONE) {
        snprintf(err, errlen, "quarantine entry %lld does not exist (the collector keeps the newest "
                 "quarantine_max_rows); see smpctl quarantine list", (long long)id);
        goto cleanup;
    }
    if (rc != SQLITE_ROW) {
        db_error(db, "reading the quarantine", err, errlen);
        goto cleanup;
    }
    read_row(q, out);
    const void *blob = sqlite3_column_blob(q, 6);
    out->payload_len = (size_t)sqlite3_column_bytes(q, 6);
    out->payload = malloc(out->payload_len + 1);
    if (!out->payload) {
        snprintf(err, errlen, "out of memory reading quarantine entry %lld", (long long)id);
        goto cleanup;
    }
    if (out->payload_len)
        memcpy(out->payload, blob, out->payload_len);
    status = 0;
cleanup:
    sqlite3_finalize(q);
    return status;
}
