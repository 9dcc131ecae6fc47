/* device_alerts: the payload of smp/v1/dev/<device>/alerts, the device's
 * own alerts for the practitioner at the chair (docs/protocol.md).
 *
 * Retained, so the message must tell a (re)connecting agent everything it
 * needs by itself: each one carries the event (raised, escalated, cleared,
 * withdrawn) and the device's open alerts as the collector's database held
 * them right after that event was committed ("open", newest first, at most
 * DEVICE_ALERTS_OPEN_MAX, "open_total" in all). No evidence: the chair
 * needs what to do, not the proof. */
#ifndef SMP_DEVICE_ALERTS_H
#define SMP_DEVICE_ALERTS_H

#include <stddef.h>

#include "alert.h"
#include "store_alerts.h"

#define DEVICE_ALERTS_OPEN_MAX 32
/* Every field at its longest and escaped as \uXXXX: well under this. */
#define DEVICE_ALERTS_ENCODED_MAX (160u * 1024)

/* Returns the length written to buf, or -1 (cap too small, out of memory). */
int device_alerts_encode(const alert_event *ev, const char *now_ts, const store_open_alert *open,
                         size_t n, size_t total, char *buf, size_t cap);

#endif
