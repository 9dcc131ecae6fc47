/* alert_admin: the alerts table (common/db.h) from the operator's side:
 * its alerts, not the rules' pending checks (state 'pending': a grip waiting
 * for its load's cycle from another device, no alert yet), which it never
 * shows or acknowledges.
 * list a clinic's alerts and acknowledge one. The collector raises and
 * clears alerts; people acknowledge them (who, when), which is the middle of
 * an alert's lifecycle raised → acknowledged → cleared (docs/rules.md).
 * The caller owns the connection (either store behind sqldb). Functions
 * return 0 on success and -1 with err filled (naming the alert id or the
 * masked database) on failure. */
#ifndef SMP_ALERT_ADMIN_H
#define SMP_ALERT_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sqldb.h"

#define ALERT_ADMIN_TS_LEN 24

typedef struct alert_row {
    int64_t id;
    char clinic[129];
    char rule[8];
    char severity[16];
    char device[65];
    char cause[160];
    char message[256];
    char raised_at[ALERT_ADMIN_TS_LEN + 1];
    char acked_at[ALERT_ADMIN_TS_LEN + 1];    /* "" when not acknowledged */
    char acked_by[129];
    char cleared_at[ALERT_ADMIN_TS_LEN + 1];  /* "" while open */
    char state[16];                           /* "" or "withdrawn" (disproved; cleared_at: when) */
} alert_row;

/* Which alerts to list: every field narrows, NULL/false does not. */
typedef struct alert_filter {
    const char *clinic;      /* one clinic; NULL: every clinic */
    bool open_only;          /* only alerts not cleared */
    const char *since;       /* raised at or after this UTC timestamp prefix
                              * ("2026-11-29" or "2026-11-29T08:00"); NULL: any */
} alert_filter;

/* The alerts f selects, by clinic then id. On success *out is a malloc'ed
 * array of *count rows (NULL when none) that the caller frees. */
int alert_admin_list(sqldb *db, const alert_filter *f, alert_row **out, size_t *count, char *err,
                     size_t errlen);

/* Records that by acknowledged alert id at now, in a write transaction of
 * its own. An unknown id or an alert already acknowledged is an error that
 * says so (and by whom). */
int alert_admin_ack(sqldb *db, int64_t id, const char *by, const char *now, char *err,
                    size_t errlen);

#endif
