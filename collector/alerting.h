/* alerting: the one way a rule raises, escalates or clears an alert.
 *
 * Each call changes the alerts table through the store (in the caller's
 * transaction) and, when something actually changed, queues the event in
 * an alert_batch that the listener publishes on smp/v1/alerts/<clinic>
 * after the commit. Raising an open cause again changes nothing and queues
 * nothing: an alert is raised once per (rule, device, cause). */
#ifndef SMP_ALERTING_H
#define SMP_ALERTING_H

#include "alert.h"
#include "store.h"

/* Where alert events go: borrowed by the caller for one transaction. */
typedef struct alerting {
    store *s;
    const char *now_ts;         /* raised_at / cleared_at */
    alert_batch *out;
} alerting;

/* a must have rule, severity, device, clinic, cause, message and a JSON
 * object as evidence. Fills a->id when raised. */
int alerting_raise(const alerting *c, alert *a);

/* Raises a, or, when its cause is already open with another severity,
 * moves it to a's severity, message and evidence (queued as "escalated"). */
int alerting_raise_or_escalate(const alerting *c, alert *a);

/* Clears the open alert (rule, device, cause), if there is one. */
int alerting_clear(const alerting *c, const char *rule, const char *device, const char *cause);

/* Withdraws the open alert (rule, device, cause), if there is one: later
 * evidence shows it was wrong (state 'withdrawn', not a violation). */
int alerting_withdraw(const alerting *c, const char *rule, const char *device, const char *cause);

/* Clears every open alert of (rule, device) whose cause starts with prefix. */
int alerting_clear_prefix(const alerting *c, const char *rule, const char *device,
                          const char *prefix);

#endif
