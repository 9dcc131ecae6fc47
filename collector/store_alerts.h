/* store_alerts: the open alerts of one device, read for the device's own
 * alerts topic smp/v1/dev/<device>/alerts (docs/protocol.md), where every
 * message carries the device's open alerts so that the retained one tells a
 * (re)connecting agent what is open. Read-only; part of the store
 * interface (store.h), on the storage seam (sqldb.h) in store_alerts_sql.c. */
#ifndef SMP_STORE_ALERTS_H
#define SMP_STORE_ALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "store.h"

typedef struct store_open_alert {
    int64_t id;
    char rule[sizeof ((alert *)0)->rule];
    char severity[sizeof ((alert *)0)->severity];
    char cause[sizeof ((alert *)0)->cause];
    char message[sizeof ((alert *)0)->message];
    char raised_at[RECORD_TS_LEN + 1];
} store_open_alert;

/* The device's open alerts (not cleared, not withdrawn, not pending),
 * newest (highest id) first: at most cap of them into out (*n), and how
 * many there are in all (*total). Returns 0, or -1 (store_errmsg). */
int store_device_open_alerts(store *s, const char *device, store_open_alert *out, size_t cap,
                             size_t *n, size_t *total);

#endif
