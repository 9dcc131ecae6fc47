/* notify_event: the JSON an alert event is delivered as to the
 * notification sinks (docs/collector.md, "Notifications"): the alerts
 * topic's message (docs/rules.md) plus event_id, the stable id a receiver
 * de-duplicates on. "at" is when the collector changed the alert. */
#ifndef SMP_NOTIFY_EVENT_H
#define SMP_NOTIFY_EVENT_H

#include <stdint.h>

#include "alert.h"

/* event: raised, escalated, cleared, withdrawn, reminder or test. Returns
 * a malloc'd NUL-terminated text the caller frees, NULL when out of memory. */
char *notify_event_json(const alert *a, const char *event, int64_t event_id, const char *at);

#endif
