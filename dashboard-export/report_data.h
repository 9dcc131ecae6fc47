/* report_data: the numbers of a clinic's compliance report, gathered from
 * the store (common/db.h) into plain structs. Renderers (report_csv,
 * report_html, later json / PDF) only format a report_data; they never
 * touch the database, so every format shows the same numbers. */
#ifndef SMP_REPORT_DATA_H
#define SMP_REPORT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ids.h"

#define REPORT_DATE_LEN 10  /* YYYY-MM-DD */
#define REPORT_TS_LEN   24  /* YYYY-MM-DDTHH:MM:SS.mmmZ */

/* Per-device counters, in column order of every rendering. */
typedef enum report_col {
    RC_SESSIONS,        /* session.start records */
    RC_CARTRIDGES,      /* distinct cartridge_uid of cartridge.insert */
    RC_STROKES,         /* sum of strokes of session.end */
    RC_CYCLES_PASSED,   /* sterilization.cycle with result pass */
    RC_CYCLES_FAILED,   /* sterilization.cycle with result fail or aborted */
    RC_SPORE_TESTS,     /* sterilization.test with kind spore */
    RC_SPORE_POSITIVE,  /* ... of those, result positive */
    REPORT_NCOLS
} report_col;

typedef struct report_row {
    char device_id[IDS_DEVICE_ID_MAX + 1];  /* "TOTAL" in report_data.total */
    bool retired;                           /* retired now (may have reported in the period) */
    int64_t count[REPORT_NCOLS];
} report_row;

typedef struct report_data {
    char *clinic;                           /* owned */
    char from[REPORT_DATE_LEN + 1];         /* first day, inclusive (UTC) */
    char to[REPORT_DATE_LEN + 1];           /* last day, inclusive (UTC) */
    char generated_at[REPORT_TS_LEN + 1];
    report_row *rows;                       /* owned; sorted by device_id */
    size_t nrows;
    size_t nretired;
    /* Column sums of rows. cartridges is the sum of per-device distinct
     * counts, so the TOTAL row always adds up. */
    report_row total;
} report_data;

/* Machine name ("cycles_passed", for CSV / JSON keys) and human title
 * ("Cycles passed", for HTML) of a column. */
const char *report_col_name(report_col col);
const char *report_col_title(report_col col);

/* Checks that date is a real calendar date written YYYY-MM-DD. opt names
 * the option in the message ("--from"). Returns 0 or -1 with err filled. */
int report_date_check(const char *opt, const char *date, char *err, size_t errlen);

/* Both dates valid and from <= to. */
int report_period_check(const char *from, const char *to, char *err, size_t errlen);

/* Fills *out for every device registered to clinic (retired ones too),
 * counting records whose ts falls on from..to inclusive (UTC).
 * generated_at is copied into the data for renderers. A clinic with no
 * registered devices is an error naming it. On success the caller frees
 * *out with report_data_free; on failure *out holds nothing to free. */
int report_data_load(sqlite3 *db, const char *clinic, const char *from, const char *to,
                     const char *generated_at, report_data *out, char *err, size_t errlen);

void report_data_free(report_data *d);

#endif
