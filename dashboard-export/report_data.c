#include "report_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const col_names[REPORT_NCOLS] = {
    "sessions", "cartridges", "strokes", "cycles_passed",
    "cycles_failed", "spore_tests", "spore_positive",
};
static const char *const col_titles[REPORT_NCOLS] = {
    "Sessions", "Cartridges", "Strokes", "Cycles passed",
    "Cycles failed", "Spore tests", "Spore positive",
};

/* One statement, so every number comes from the same snapshot. The LEFT
 * JOIN keeps devices with no records in the period (a silent machine is
 * worth seeing). Columns 2.. are in report_col order. */
static const char load_sql[] =
    "SELECT d.device_id, d.retired_at IS NOT NULL,"
    " count(CASE WHEN r.type = 'session.start' THEN 1 END),"
    " count(DISTINCT CASE WHEN r.type = 'cartridge.insert'"
    "       THEN json_extract(r.body, '$.cartridge_uid') END),"
    " coalesce(sum(CASE WHEN r.type = 'session.end'"
    "       THEN json_extract(r.body, '$.strokes') END), 0),"
    " count(CASE WHEN r.type = 'sterilization.cycle'"
    "       AND json_extract(r.body, '$.result') = 'pass' THEN 1 END),"
    " count(CASE WHEN r.type = 'sterilization.cycle'"
    "       AND json_extract(r.body, '$.result') IN ('fail', 'aborted') THEN 1 END),"
    " count(CASE WHEN r.type = 'sterilization.test'"
    "       AND json_extract(r.body, '$.kind') = 'spore' THEN 1 END),"
    " count(CASE WHEN r.type = 'sterilization.test'"
    "       AND json_extract(r.body, '$.kind') = 'spore'"
    "       AND json_extract(r.body, '$.result') = 'positive' THEN 1 END)"
    " FROM devices d"
    " LEFT JOIN records r ON r.device_id = d.device_id AND r.ts >= ?2 AND r.ts < ?3"
    "  AND r.type IN ('session.start', 'session.end', 'cartridge.insert',"
    "                 'sterilization.cycle', 'sterilization.test')"
    " WHERE d.clinic = ?1"
    " GROUP BY d.device_id"
    " ORDER BY d.device_id";

const char *report_col_name(report_col col)
{
    return (unsigned)col < REPORT_NCOLS ? col_names[col] : "?";
}

const char *report_col_title(report_col col)
{
    return (unsigned)col < REPORT_NCOLS ? col_titles[col] : "?";
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

int report_date_check(const char *opt, const char *date, char *err, size_t errlen)
{
    int y = 0, m = 0, d = 0;

    if (date == NULL || strlen(date) != REPORT_DATE_LEN || date[4] != '-' || date[7] != '-')
        goto bad;
    for (int i = 0; i < REPORT_DATE_LEN; i++)
        if (i != 4 && i != 7 && (date[i] < '0' || date[i] > '9'))
            goto bad;
    y = atoi(date);
    m = atoi(date + 5);
    d = atoi(date + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        goto bad;
    return 0;

bad:
    snprintf(err, errlen, "%s: '%s' is not a calendar date; write it as YYYY-MM-DD", opt,
             date ? date : "");
    return -1;
}

int report_period_check(const char *from, const char *to, char *err, size_t errlen)
{
    if (report_date_check("--from", from, err, errlen) != 0 ||
        report_date_check("--to", to, err, errlen) != 0)
        return -1;
    /* Same fixed width, so text order is date order. */
    if (strcmp(from, to) > 0) {
        snprintf(err, errlen, "--from %s is after --to %s; swap them", from, to);
        return -1;
    }
    return 0;
}

/* The exclusive upper bound for ts: the --to date with its day number plus
 * one. It is only ever compared as text with fixed-width ts values, so
 * "2026-11-31" serves as "the start of the day after 2026-11-30": it sorts
 * after every "2026-11-30T..." and before "2026-12-01". This needs no
 * calendar arithmetic and works at month and year ends alike. */
static void ts_upper_bound(const char *to, char out[REPORT_DATE_LEN + 1])
{
    int day = (to[8] - '0') * 10 + (to[9] - '0') + 1; /* 02..32 */

    memcpy(out, to, 8);
    out[8] = (char)('0' + day / 10);
    out[9] = (char)('0' + day % 10);
    out[10] = '\0';
}

static int add_row(report_data *d, size_t *cap, sqlite3_stmt *st)
{
    const unsigned char *id;
    report_row *row;

    if (d->nrows == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        report_row *n = realloc(d->rows, ncap * sizeof *n);
        if (n == NULL)
            return -1;
        d->rows = n;
        *cap = ncap;
    }
    row = &d->rows[d->nrows++];
    memset(row, 0, sizeof *row);
    id = sqlite3_column_text(st, 0);
    snprintf(row->device_id, sizeof row->device_id, "%s", id ? (const char *)id : "");
    row->retired = sqlite3_column_int(st, 1) != 0;
    d->nretired += row->retired;
    for (int c = 0; c < REPORT_NCOLS; c++)
        row->count[c] = sqlite3_column_int64(st, c + 2);
    return 0;
}

/* Sums rows into total; -1 if a column overflows int64 (a corrupt store,
 * but not a reason for undefined behaviour). */
static int sum_rows(report_data *d)
{
    memset(&d->total, 0, sizeof d->total);
    snprintf(d->total.device_id, sizeof d->total.device_id, "TOTAL");
    for (size_t i = 0; i < d->nrows; i++)
        for (int c = 0; c < REPORT_NCOLS; c++)
            if (__builtin_add_overflow(d->total.count[c], d->rows[i].count[c],
                                       &d->total.count[c]))
                return -1;
    return 0;
}

static int query_rows(sqlite3 *db, report_data *d, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    char upper[REPORT_DATE_LEN + 1];
    size_t cap = 0;
    int rc = -1, step;

    ts_upper_bound(d->to, upper);
    if (sqlite3_prepare_v2(db, load_sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, d->clinic, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, d->from, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, upper, -1, SQLITE_TRANSIENT) != SQLITE_OK)
        goto db_error;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (add_row(d, &cap, st) != 0) {
            snprintf(err, errlen, "report: out of memory after %zu devices", d->nrows);
            goto cleanup;
        }
    }
    if (step != SQLITE_DONE)
        goto db_error;
    rc = 0;
    goto cleanup;

db_error:
    snprintf(err, errlen, "database %s: report query: %s", sqlite3_db_filename(db, "main"),
             sqlite3_errmsg(db));
cleanup:
    sqlite3_finalize(st);
    return rc;
}

int report_data_load(sqlite3 *db, const char *clinic, const char *from, const char *to,
                     const char *generated_at, report_data *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (clinic == NULL || clinic[0] == '\0') {
        snprintf(err, errlen, "--clinic is empty; give the clinic's name");
        return -1;
    }
    if (report_period_check(from, to, err, errlen) != 0)
        return -1;
    if ((out->clinic = strdup(clinic)) == NULL) {
        snprintf(err, errlen, "report: out of memory");
        return -1;
    }
    memcpy(out->from, from, REPORT_DATE_LEN + 1);
    memcpy(out->to, to, REPORT_DATE_LEN + 1);
    snprintf(out->generated_at, sizeof out->generated_at, "%s", generated_at ? generated_at : "");
    if (query_rows(db, out, err, errlen) != 0)
        goto fail;
    if (out->nrows == 0) {
        snprintf(err, errlen, "clinic '%s' has no registered devices; check the name with "
                 "'smpctl device list --db %s'", clinic, sqlite3_db_filename(db, "main"));
        goto fail;
    }
    if (sum_rows(out) != 0) {
        snprintf(err, errlen, "report: a column total overflows; the store holds impossible "
                 "counts, check its records table");
        goto fail;
    }
    return 0;

fail:
    report_data_free(out);
    return -1;
}

void report_data_free(report_data *d)
{
    free(d->clinic);
    free(d->rows);
    memset(d, 0, sizeof *d);
}
