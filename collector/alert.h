/* alert: what a rule found, raised once per (rule, device, cause) and
 * cleared when the cause ends (docs/rules.md). Alerts are stored in the same
 * transaction as the records that caused them and published on
 * smp/v1/alerts/<clinic> after the commit. */
#ifndef SMP_ALERT_H
#define SMP_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "record.h"

/* Room for R7's recall list. An encoded alert (alert_encode) stays under
 * 8 KiB even when every other field is at its longest and escaped. */
#define ALERT_EVIDENCE_MAX 6144
#define ALERT_ENCODED_MAX  8192
#define ALERT_BATCH_MAX    128  /* alert events one commit group may publish */

typedef struct alert {
    int64_t id;                              /* set by the store */
    char rule[8];                            /* "R9" */
    char severity[16];                       /* "integrity", "critical", ... */
    char device[IDS_DEVICE_ID_MAX + 1];
    char clinic[RECORD_STR_MAX + 1];
    char cause[160];                         /* dedup key within (rule, device) */
    char message[256];                       /* for people */
    char evidence[ALERT_EVIDENCE_MAX];       /* JSON object: records by seq, values */
} alert;

/* ESCALATED: an open alert changed severity (R6 warning → critical).
 * WITHDRAWN: later evidence showed its cause never held (R5: the load's
 * passing cycle arrived late); it is no violation. */
typedef enum { ALERT_RAISED, ALERT_CLEARED, ALERT_ESCALATED, ALERT_WITHDRAWN } alert_event_kind;

typedef struct alert_event {
    alert_event_kind kind;
    alert a;
} alert_event;

/* Alert events produced by one commit group, published after the commit. */
typedef struct alert_batch {
    size_t count;
    size_t dropped;                          /* beyond ALERT_BATCH_MAX: stored, not published */
    alert_event events[ALERT_BATCH_MAX];
} alert_batch;

/* Writes the alerts topic payload for ev (docs/rules.md, "Alert messages"):
 * "at" is now_ts. Returns the length, or -1 if cap is too small (give
 * ALERT_ENCODED_MAX). */
int alert_encode(const alert_event *ev, const char *now_ts, char *buf, size_t cap);

/* "raised", "cleared", "escalated", "withdrawn". */
const char *alert_event_name(alert_event_kind kind);

#endif
