#include "quarantine_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "rowlist.h"

#define DEFAULT_LIMIT 50

/* The columns every query selects first, in this order. length() of a
 * blob (SQLite) or bytea (PostgreSQL) counts its bytes. */
#define ROW_COLUMNS "id, received_at, COALESCE(device_id, ''), topic, reason, length(payload)"

static void read_row(sqldb_stmt *q, quarantine_row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqldb_column_int64(q, 0);
    sqldb_column_copy(q, 1, r->received_at, sizeof r->received_at);
    sqldb_column_copy(q, 2, r->device, sizeof r->device);
    sqldb_column_copy(q, 3, r->topic, sizeof r->topic);
    sqldb_column_copy(q, 4, r->reason, sizeof r->reason);
    r->payload_len = (size_t)sqldb_column_int64(q, 5);
}

/* rowlist_fn */
static void list_row(sqldb_stmt *q, void *entry)
{
    read_row(q, entry);
}

int quarantine_admin_list(sqldb *db, const quarantine_filter *f, quarantine_row **out,
                          size_t *count, char *err, size_t errlen)
{
    /* received_at is RFC 3339 UTC text: text order is time order. The
     * CASTs give PostgreSQL each optional parameter's type where it is
     * first used. */
    static const char sql[] = "SELECT " ROW_COLUMNS " FROM quarantine "
                              "WHERE (CAST(?1 AS TEXT) IS NULL OR device_id = ?1) "
                              "AND (CAST(?2 AS TEXT) IS NULL OR received_at >= ?2) "
                              "ORDER BY id DESC LIMIT ?3";
    sqldb_stmt *q = NULL;
    void *rows = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqldb_prepare(db, sql, &q) != 0)
        return db_error(db, "listing the quarantine", err, errlen);
    if (sqldb_bind_text(q, 1, f->device) != 0 || sqldb_bind_text(q, 2, f->since) != 0 ||
        sqldb_bind_int64(q, 3, f->limit > 0 ? f->limit : DEFAULT_LIMIT) != 0) {
        sqldb_finalize(q);
        return db_error(db, "listing the quarantine", err, errlen);
    }
    rc = rowlist_collect(db, q, "listing the quarantine", sizeof **out, list_row, &rows, count,
                         err, errlen);
    *out = rows;
    return rc;
}

int quarantine_admin_get(sqldb *db, int64_t id, quarantine_row *out, char *err, size_t errlen)
{
    static const char sql[] = "SELECT " ROW_COLUMNS ", payload FROM quarantine WHERE id = ?1";
    sqldb_stmt *q = NULL;
    int rc, status = -1;

    memset(out, 0, sizeof *out);
    if (sqldb_prepare(db, sql, &q) != 0)
        return db_error(db, "reading the quarantine", err, errlen);
    rc = sqldb_bind_int64(q, 1, id) == 0 ? sqldb_step(q) : -1;
    if (rc == 0) {
        snprintf(err, errlen, "quarantine entry %lld does not exist (the collector keeps the newest "
                 "quarantine_max_rows); see smpctl quarantine list", (long long)id);
        goto cleanup;
    }
    if (rc != 1) {
        db_error(db, "reading the quarantine", err, errlen);
        goto cleanup;
    }
    read_row(q, out);
    const void *blob = sqldb_column_blob(q, 6);
    out->payload_len = sqldb_column_bytes(q, 6);
    out->payload = malloc(out->payload_len + 1);
    if (!out->payload) {
        snprintf(err, errlen, "out of memory reading quarantine entry %lld", (long long)id);
        goto cleanup;
    }
    if (out->payload_len)
        memcpy(out->payload, blob, out->payload_len);
    status = 0;
cleanup:
    sqldb_finalize(q);
    return status;
}
