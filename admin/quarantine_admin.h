/* quarantine_admin: the quarantine table (common/db.c) from the operator's
 * side: what the collector refused as "not a record at all", and why.
 * The collector writes it; nobody edits it, so a read-only connection
 * does. The caller owns the connection (either store behind sqldb).
 * Functions return 0 on success and -1 with err filled (naming the masked
 * database) on failure. */
#ifndef SMP_QUARANTINE_ADMIN_H
#define SMP_QUARANTINE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "sqldb.h"

#define QUARANTINE_TS_LEN 24

typedef struct quarantine_row {
    int64_t id;
    char received_at[QUARANTINE_TS_LEN + 1];
    char device[65];        /* "" when the sender was not known */
    char topic[192];
    char reason[512];       /* as the collector wrote it: device-supplied text inside */
    size_t payload_len;     /* bytes kept (the collector keeps a bounded prefix) */
    unsigned char *payload; /* quarantine_admin_get only; malloc'ed, caller frees */
} quarantine_row;

/* Which rows to list: every field narrows, NULL/0 does not. */
typedef struct quarantine_filter {
    const char *device;
    const char *since;      /* received at or after this UTC timestamp prefix */
    int limit;              /* newest first, at most this many; 0: 50 */
} quarantine_filter;

/* Rows f selects, newest first, without payloads. *out is a malloc'ed array
 * of *count rows (NULL when none) that the caller frees. */
int quarantine_admin_list(sqldb *db, const quarantine_filter *f, quarantine_row **out,
                          size_t *count, char *err, size_t errlen);

/* One row with its payload. An unknown id is an error that says so. */
int quarantine_admin_get(sqldb *db, int64_t id, quarantine_row *out, char *err, size_t errlen);

#endif
