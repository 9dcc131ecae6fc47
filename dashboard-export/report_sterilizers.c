#include "report_sterilizers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "strpool.h"

static const char sterilizers_sql[] =
    "SELECT sterilizer_id, coalesce(model, ''), coalesce(serial, ''), coalesce(device_id, ''),"
    " added_at, coalesce(retired_at, '') FROM sterilizers WHERE clinic = ?1"
    " ORDER BY sterilizer_id";

static int grow(report_data *d, size_t *cap)
{
    size_t ncap;
    report_sterilizer *p;

    if (d->nsterilizers < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 8;
    if ((p = realloc(d->sterilizers, ncap * sizeof *p)) == NULL)
        return -1;
    d->sterilizers = p;
    *cap = ncap;
    return 0;
}

static const char *col_str(report_data *d, sqldb_stmt *st, int i)
{
    const char *t = sqldb_column_text(st, i);
    return strpool_dup(&d->arena, t, t ? sqldb_column_bytes(st, i) : 0);
}

static int read_row(report_data *d, sqldb_stmt *st, size_t *cap)
{
    report_sterilizer *s;

    if (grow(d, cap) != 0)
        return -1;
    s = &d->sterilizers[d->nsterilizers];
    memset(s, 0, sizeof *s);
    s->registered = true;
    if (!(s->sterilizer_id = col_str(d, st, 0)) || !(s->model = col_str(d, st, 1)) ||
        !(s->serial = col_str(d, st, 2)) || !(s->device_id = col_str(d, st, 3)) ||
        !(s->added_at = col_str(d, st, 4)) || !(s->retired_at = col_str(d, st, 5)))
        return -1;
    d->nsterilizers++;
    return 0;
}

int report_sterilizers_read(sqldb *db, report_data *d, char *err, size_t errlen)
{
    sqldb_stmt *st = NULL;
    size_t cap = 0;
    int rc = -1, step;

    if (sqldb_prepare(db, sterilizers_sql, &st) != 0 || sqldb_bind_text(st, 1, d->clinic) != 0) {
        db_error(db, "sterilizers query", err, errlen);
        goto cleanup;
    }
    while ((step = sqldb_step(st)) == 1)
        if (read_row(d, st, &cap) != 0) {
            snprintf(err, errlen, "report: out of memory reading the sterilizers");
            goto cleanup;
        }
    if (step < 0) {
        db_error(db, "sterilizers query", err, errlen);
        goto cleanup;
    }
    rc = 0;
cleanup:
    sqldb_finalize(st);
    return rc;
}

/* Where id is or would go in d->sterilizers (by sterilizer_id). */
static size_t position(const report_data *d, const char *id)
{
    size_t lo = 0, hi = d->nsterilizers;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->sterilizers[mid].sterilizer_id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const report_sterilizer *report_sterilizer_of(const report_data *d, const char *id)
{
    size_t i = id ? position(d, id) : d->nsterilizers;

    if (i < d->nsterilizers && strcmp(d->sterilizers[i].sterilizer_id, id) == 0 &&
        d->sterilizers[i].registered)
        return &d->sterilizers[i];
    return NULL;
}

/* The entry of id, added (not registered) when there is none. */
static report_sterilizer *entry(report_data *d, const char *id, size_t *cap)
{
    size_t i = position(d, id);
    report_sterilizer *s;

    if (i < d->nsterilizers && strcmp(d->sterilizers[i].sterilizer_id, id) == 0)
        return &d->sterilizers[i];
    if (grow(d, cap) != 0)
        return NULL;
    s = &d->sterilizers[i];
    memmove(s + 1, s, (d->nsterilizers - i) * sizeof *s);
    d->nsterilizers++;
    *s = (report_sterilizer){.sterilizer_id = id, .model = "", .serial = "", .device_id = "",
                             .added_at = "", .retired_at = ""};
    return s;
}

int report_sterilizers_tally(report_data *d)
{
    size_t cap = d->nsterilizers;   /* at least: growing asks realloc for more */
    report_sterilizer *s;

    for (size_t i = 0; i < d->ncycles; i++) {
        if ((s = entry(d, d->cycles[i].sterilizer_id, &cap)) == NULL)
            return -1;
        s->cycles_failed += d->cycles[i].failed;
        s->cycles_passed += !d->cycles[i].failed;
    }
    for (size_t i = 0; i < d->ntests; i++) {
        if (strcmp(d->tests[i].kind, "spore") != 0)
            continue;
        if ((s = entry(d, d->tests[i].sterilizer_id, &cap)) == NULL)
            return -1;
        s->spore_tests++;
    }
    return 0;
}

void report_sterilizer_logger(const report_sterilizer *s, char *out, size_t cap)
{
    if (!s->registered)
        snprintf(out, cap, "unknown: not registered, named by the records");
    else if (s->device_id[0])
        snprintf(out, cap, "its own agent (device %s)", s->device_id);
    else
        snprintf(out, cap, "the clinic's machines");
}

void report_alert_subject(const report_violation *v, char *out, size_t cap)
{
    switch (v->filed_under) {
    case REPORT_FILED_STERILIZER:
        snprintf(out, cap, "Sterilizer %s", v->device_id);
        break;
    case REPORT_FILED_DEVICE:
        snprintf(out, cap, "%s", v->device_id);
        break;
    default:
        snprintf(out, cap, "%s (not a device or sterilizer of this clinic)", v->device_id);
        break;
    }
}

const char *report_filed_name(report_filed f)
{
    return f == REPORT_FILED_STERILIZER ? "sterilizer" : f == REPORT_FILED_DEVICE ? "device"
                                                                                : "unknown";
}
