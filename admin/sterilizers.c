#include "sterilizers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "rowlist.h"

#define STERILIZER_COLS                                                            \
    "s.sterilizer_id, s.clinic, COALESCE(s.model, ''), COALESCE(s.serial, ''),"   \
    " COALESCE(s.device_id, ''), s.added_at, COALESCE(s.retired_at, '')"

static int check_new(const sterilizers_new *st, char *err, size_t errlen)
{
    char why[160];

    if (!ids_valid_device_id(st->sterilizer_id, why, sizeof why)) {
        snprintf(err, errlen, "invalid sterilizer id: %s (a sterilizer id is a device id: "
                 "alerts about it are filed under it)", why);
        return -1;
    }
    if (registry_check_clinic("--clinic", st->clinic, err, errlen) != 0 ||
        (st->model && registry_check_text("--model", st->model, err, errlen) != 0) ||
        (st->serial && registry_check_text("--serial", st->serial, err, errlen) != 0))
        return -1;
    return 0;
}

/* Refuses an id a sterilizer or a device already has (inside the
 * transaction: ids of both are one namespace). */
static int refuse_taken(sqldb *db, const sterilizers_new *st, char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT 'sterilizer', clinic FROM sterilizers WHERE sterilizer_id = ?1 UNION ALL "
        "SELECT 'device', clinic FROM devices WHERE device_id = ?1";
    sqldb_stmt *q = NULL;
    int rc = -1, step = 0;

    if (sqldb_prepare(db, sql, &q) != 0 || sqldb_bind_text(q, 1, st->sterilizer_id) != 0 ||
        (step = sqldb_step(q)) < 0)
        db_error(db, "sterilizer id lookup", err, errlen);
    else if (step == 1)
        snprintf(err, errlen, "'%s' is already registered as a %s of clinic '%s' (smpctl %s "
                 "list); ids are never reused: choose another id", st->sterilizer_id,
                 sqldb_column_text(q, 0), sqldb_column_text(q, 1), sqldb_column_text(q, 0));
    else
        rc = 0;
    sqldb_finalize(q);
    return rc;
}

static int insert_sterilizer(sqldb *db, const sterilizers_new *st, const char *now, char *err,
                             size_t errlen)
{
    static const char sql[] =
        "INSERT INTO sterilizers(sterilizer_id, clinic, model, serial, device_id, added_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
    sqldb_stmt *q = NULL;
    int rc = -1;

    if (sqldb_prepare(db, sql, &q) != 0 || sqldb_bind_text(q, 1, st->sterilizer_id) != 0 ||
        sqldb_bind_text(q, 2, st->clinic) != 0 || sqldb_bind_text(q, 3, st->model) != 0 ||
        sqldb_bind_text(q, 4, st->serial) != 0 ||
        sqldb_bind_text(q, 5, st->cert_pem ? st->sterilizer_id : NULL) != 0 ||
        sqldb_bind_text(q, 6, now) != 0 || sqldb_step(q) != 0)
        db_error(db, "insert sterilizer", err, errlen);
    else
        rc = 0;
    sqldb_finalize(q);
    return rc;
}

/* The alerts the clinic's rules filed about the sterilizer under the first
 * device that logged it (or, for R4, the device that logged the cycle)
 * move to the sterilizer, where the rules look for them from now on. One
 * already under the sterilizer for the same cause stays where it is. */
static int move_alerts(sqldb *db, const sterilizers_new *st, int64_t *moved, char *err,
                       size_t errlen)
{
    static const char sql[] =
        "UPDATE alerts SET device_id = ?1 WHERE clinic = ?2 AND device_id <> ?1"
        " AND rule IN ('R4', 'R6', 'R7', 'R9')"
        " AND json_extract(evidence, '$.sterilizer_id') = ?1"
        " AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.rule = alerts.rule"
        " AND b.device_id = ?1 AND b.cause = alerts.cause)";
    sqldb_stmt *q = NULL;
    int rc = -1;

    if (sqldb_prepare(db, sql, &q) != 0 || sqldb_bind_text(q, 1, st->sterilizer_id) != 0 ||
        sqldb_bind_text(q, 2, st->clinic) != 0 || sqldb_step(q) != 0)
        db_error(db, "move the sterilizer's alerts", err, errlen);
    else {
        *moved = sqldb_changes(db);
        rc = 0;
    }
    sqldb_finalize(q);
    return rc;
}

/* sterilizers_add inside its transaction. */
static int add_in_tx(sqldb *db, const sterilizers_new *st, const char *now, int64_t *moved,
                     char *err, size_t errlen)
{
    char key[REGISTRY_TEXT_MAX + 16];

    snprintf(key, sizeof key, "clinic:%s", st->clinic);
    if (sqldb_lock(db, key) != 0)
        return db_error(db, "lock the clinic", err, errlen);
    if (refuse_taken(db, st, err, errlen) != 0)
        return -1;
    if (st->cert_pem) {
        registry_new agent = {.device_id = st->sterilizer_id, .clinic = st->clinic,
                              .model = st->model, .serial = st->serial,
                              .cert_pem = st->cert_pem, .kind = REGISTRY_KIND_STERILIZER};
        if (registry_insert(db, &agent, now, err, errlen) != 0)
            return -1;
    }
    if (insert_sterilizer(db, st, now, err, errlen) != 0)
        return -1;
    return move_alerts(db, st, moved, err, errlen);
}

int sterilizers_add(sqldb *db, const sterilizers_new *st, const char *now, int64_t *moved,
                    char *err, size_t errlen)
{
    int rc;

    *moved = 0;
    if (check_new(st, err, errlen) != 0)
        return -1;
    if (db_begin_write(db, "begin sterilizer add", err, errlen) != 0)
        return -1;
    rc = db_end_write(db, add_in_tx(db, st, now, moved, err, errlen), "commit sterilizer add",
                      err, errlen);
    if (rc != 0)
        *moved = 0;
    return rc;
}

static void list_row(sqldb_stmt *q, void *entry)
{
    sterilizers_row *r = entry;

    memset(r, 0, sizeof *r);
    sqldb_column_copy(q, 0, r->sterilizer_id, sizeof r->sterilizer_id);
    sqldb_column_copy(q, 1, r->clinic, sizeof r->clinic);
    sqldb_column_copy(q, 2, r->model, sizeof r->model);
    sqldb_column_copy(q, 3, r->serial, sizeof r->serial);
    sqldb_column_copy(q, 4, r->device_id, sizeof r->device_id);
    sqldb_column_copy(q, 5, r->added_at, sizeof r->added_at);
    sqldb_column_copy(q, 6, r->retired_at, sizeof r->retired_at);
}

int sterilizers_list(sqldb *db, const char *clinic, sterilizers_row **out, size_t *count,
                     char *err, size_t errlen)
{
    static const char sql[] = "SELECT " STERILIZER_COLS " FROM sterilizers s"
                              " WHERE CAST(?1 AS TEXT) IS NULL OR s.clinic = ?1"
                              " ORDER BY s.sterilizer_id";
    sqldb_stmt *q = NULL;
    void *arr = NULL;
    int rc;

    *out = NULL;
    *count = 0;
    if (sqldb_prepare(db, sql, &q) != 0 || sqldb_bind_text(q, 1, clinic) != 0) {
        sqldb_finalize(q);
        return db_error(db, "sterilizer list", err, errlen);
    }
    rc = rowlist_collect(db, q, "sterilizer list", sizeof **out, list_row, &arr, count, err,
                         errlen);
    *out = arr;
    return rc;
}
