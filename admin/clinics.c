#include "clinics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "rowlist.h"
#include "utf8.h"

#define CLINIC_COLS                                                                          \
    "c.clinic_id, c.name, c.timezone, c.address, c.licence, c.added_at, c.updated_at,"      \
    " (SELECT count(*) FROM devices d WHERE d.clinic = c.clinic_id AND d.retired_at IS NULL)"

/* Optional text: 0..max bytes of valid UTF-8 without control characters
 * (they would break report lines, CSV rows and logs). */
static int check_optional(const char *what, const char *text, size_t max, char *err,
                          size_t errlen)
{
    size_t n = strlen(text);

    if (n > max) {
        snprintf(err, errlen, "%s is %zu bytes; the limit is %zu", what, n, max);
        return -1;
    }
    if (utf8_has_control(text, n)) {
        snprintf(err, errlen, "%s has a control character (a line break?); write it on one line "
                 "of plain text", what);
        return -1;
    }
    if (!utf8_valid(text, n)) {
        snprintf(err, errlen, "%s is not valid UTF-8; re-type it in a UTF-8 terminal", what);
        return -1;
    }
    return 0;
}

/* tzlocal's messages begin "timezone '<name>' ...": as the option's
 * "--timezone '<name>' ...". */
static int check_timezone(const char *tz, char *err, size_t errlen)
{
    const tzlocal_zone *z;
    char why[512];

    if (tzlocal_load(tz, &z, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "--%s", why);
    return -1;
}

int clinics_check(const clinics_fields *f, char *err, size_t errlen)
{
    if (f->clinic_id && registry_check_clinic("clinic id", f->clinic_id, err, errlen) != 0)
        return -1;
    if (f->name && registry_check_text("--name", f->name, err, errlen) != 0)
        return -1;
    if (f->timezone && check_timezone(f->timezone, err, errlen) != 0)
        return -1;
    if (f->address && check_optional("--address", f->address, CLINICS_ADDRESS_MAX, err, errlen) != 0)
        return -1;
    if (f->licence && check_optional("--licence", f->licence, REGISTRY_TEXT_MAX, err, errlen) != 0)
        return -1;
    return 0;
}

static void row_of(sqldb_stmt *st, clinics_row *out)
{
    memset(out, 0, sizeof *out);
    sqldb_column_copy(st, 0, out->clinic_id, sizeof out->clinic_id);
    sqldb_column_copy(st, 1, out->name, sizeof out->name);
    sqldb_column_copy(st, 2, out->timezone, sizeof out->timezone);
    sqldb_column_copy(st, 3, out->address, sizeof out->address);
    sqldb_column_copy(st, 4, out->licence, sizeof out->licence);
    sqldb_column_copy(st, 5, out->added_at, sizeof out->added_at);
    sqldb_column_copy(st, 6, out->updated_at, sizeof out->updated_at);
    out->devices = sqldb_column_int64(st, 7);
}

void clinics_unregistered_hint(const char *clinic_id, const char *db_name, char *out, size_t cap)
{
    snprintf(out, cap, "clinic '%s' is not registered: its calendar is UTC until smpctl clinic "
             "add %s --name NAME --timezone ZONE --db %s", clinic_id, clinic_id, db_name);
}

int clinics_get(sqldb *db, const char *clinic_id, clinics_row *out, char *err, size_t errlen)
{
    static const char sql[] = "SELECT " CLINIC_COLS " FROM clinics c WHERE c.clinic_id = ?1";
    sqldb_stmt *st = NULL;
    int rc = -1, step;

    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, clinic_id) != 0) {
        db_error(db, "clinic lookup", err, errlen);
        goto cleanup;
    }
    step = sqldb_step(st);
    if (step == 1) {
        row_of(st, out);
        rc = 0;
    } else if (step == 0) {
        clinics_unregistered_hint(clinic_id, sqldb_name(db), err, errlen);
        rc = 1;
    } else {
        db_error(db, "clinic lookup", err, errlen);
    }
cleanup:
    sqldb_finalize(st);
    return rc;
}

/* The INSERT of clinics_add, inside its transaction. A taken id inserts
 * nothing (no statement here may fail: PostgreSQL would refuse the rest of
 * the transaction) and is explained. */
static int insert_clinic(sqldb *db, const clinics_fields *f, const char *now, char *err,
                         size_t errlen)
{
    static const char sql[] =
        "INSERT INTO clinics(clinic_id, name, timezone, address, licence, added_at, updated_at)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (clinic_id) DO NOTHING";
    sqldb_stmt *st = NULL;
    clinics_row old;
    int rc = -1;

    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, f->clinic_id) != 0 ||
        sqldb_bind_text(st, 2, f->name) != 0 || sqldb_bind_text(st, 3, f->timezone) != 0 ||
        sqldb_bind_text(st, 4, f->address ? f->address : "") != 0 ||
        sqldb_bind_text(st, 5, f->licence ? f->licence : "") != 0 ||
        sqldb_bind_text(st, 6, now) != 0 || sqldb_step(st) != 0)
        db_error(db, "insert clinic", err, errlen);
    else if (sqldb_changes(db) == 1)
        rc = 0;
    else if (clinics_get(db, f->clinic_id, &old, err, errlen) == 0)
        snprintf(err, errlen, "clinic '%s' is already registered (name '%s', timezone %s, added "
                 "%s); change it with smpctl clinic set %s", f->clinic_id, old.name, old.timezone,
                 old.added_at, f->clinic_id);
    sqldb_finalize(st);
    return rc;
}

int clinics_add(sqldb *db, const clinics_fields *f, const char *now, char *err, size_t errlen)
{
    if (!f->clinic_id || !f->name || !f->timezone || !now) {
        snprintf(err, errlen, "clinics_add: the clinic id, --name, --timezone and a time are "
                 "required");
        return -1;
    }
    if (clinics_check(f, err, errlen) != 0)
        return -1;
    if (db_begin_write(db, "begin insert clinic", err, errlen) != 0)
        return -1;
    return db_end_write(db, insert_clinic(db, f, now, err, errlen), "commit insert clinic", err,
                        errlen);
}

/* The UPDATE of clinics_set, inside its transaction. */
static int update_clinic(sqldb *db, const clinics_fields *f, const char *now,
                         clinics_row *before, clinics_row *after, char *err, size_t errlen)
{
    static const char sql[] =
        "UPDATE clinics SET name = COALESCE(CAST(?2 AS TEXT), name),"
        " timezone = COALESCE(CAST(?3 AS TEXT), timezone),"
        " address = COALESCE(CAST(?4 AS TEXT), address),"
        " licence = COALESCE(CAST(?5 AS TEXT), licence), updated_at = ?6 WHERE clinic_id = ?1";
    char key[REGISTRY_TEXT_MAX + 16];
    sqldb_stmt *st = NULL;
    int rc;

    snprintf(key, sizeof key, "clinic:%s", f->clinic_id);
    if (sqldb_lock(db, key) != 0)
        return db_error(db, "lock the clinic", err, errlen);
    if ((rc = clinics_get(db, f->clinic_id, before, err, errlen)) != 0) {
        if (rc == 1)
            snprintf(err, errlen, "clinic '%s' is not registered; add it with smpctl clinic add "
                     "%s --name NAME --timezone ZONE (see smpctl clinic list)", f->clinic_id,
                     f->clinic_id);
        return -1;
    }
    rc = -1;
    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, f->clinic_id) != 0 ||
        sqldb_bind_text(st, 2, f->name) != 0 || sqldb_bind_text(st, 3, f->timezone) != 0 ||
        sqldb_bind_text(st, 4, f->address) != 0 || sqldb_bind_text(st, 5, f->licence) != 0 ||
        sqldb_bind_text(st, 6, now) != 0 || sqldb_step(st) != 0)
        db_error(db, "update clinic", err, errlen);
    else if (clinics_get(db, f->clinic_id, after, err, errlen) == 0)
        rc = 0;
    sqldb_finalize(st);
    return rc;
}

int clinics_set(sqldb *db, const clinics_fields *f, const char *now, clinics_row *before,
                clinics_row *after, char *err, size_t errlen)
{
    clinics_row b, a;

    if (!f->clinic_id || !now) {
        snprintf(err, errlen, "clinics_set: the clinic id and a time are required");
        return -1;
    }
    if (!f->name && !f->timezone && !f->address && !f->licence) {
        snprintf(err, errlen, "nothing to change: give --name, --timezone, --address or "
                 "--licence");
        return -1;
    }
    if (clinics_check(f, err, errlen) != 0)
        return -1;
    if (db_begin_write(db, "begin update clinic", err, errlen) != 0)
        return -1;
    if (db_end_write(db, update_clinic(db, f, now, &b, &a, err, errlen), "commit update clinic",
                     err, errlen) != 0)
        return -1;
    if (before)
        *before = b;
    if (after)
        *after = a;
    return 0;
}

/* Runs sql (no parameters) and appends each row through fn to a malloc'ed
 * array of elem-sized entries. */
static int list_rows(sqldb *db, const char *sql, const char *what, size_t elem, rowlist_fn fn,
                     void **out, size_t *count, char *err, size_t errlen)
{
    sqldb_stmt *st = NULL;

    *out = NULL;
    *count = 0;
    if (sqldb_prepare(db, sql, &st) != 0)
        return db_error(db, what, err, errlen);
    return rowlist_collect(db, st, what, elem, fn, out, count, err, errlen);
}

static void list_row(sqldb_stmt *st, void *entry)
{
    row_of(st, entry);
}

int clinics_list(sqldb *db, clinics_row **out, size_t *count, char *err, size_t errlen)
{
    static const char sql[] = "SELECT " CLINIC_COLS " FROM clinics c ORDER BY c.clinic_id";
    void *arr;
    int rc = list_rows(db, sql, "clinic list", sizeof **out, list_row, &arr, count, err, errlen);

    *out = arr;
    return rc;
}

static void unregistered_row(sqldb_stmt *st, void *entry)
{
    clinics_unregistered *u = entry;

    memset(u, 0, sizeof *u);
    sqldb_column_copy(st, 0, u->clinic_id, sizeof u->clinic_id);
    u->devices = sqldb_column_int64(st, 1);
}

int clinics_list_unregistered(sqldb *db, clinics_unregistered **out, size_t *count, char *err,
                              size_t errlen)
{
    static const char sql[] =
        "SELECT d.clinic, count(*) FROM devices d WHERE d.retired_at IS NULL AND NOT EXISTS"
        " (SELECT 1 FROM clinics c WHERE c.clinic_id = d.clinic) GROUP BY d.clinic"
        " ORDER BY d.clinic";
    void *arr;
    int rc = list_rows(db, sql, "unregistered clinics", sizeof **out, unregistered_row, &arr,
                       count, err, errlen);

    *out = arr;
    return rc;
}
