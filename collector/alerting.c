#include "alerting.h"

#include <string.h>

#include <stdlib.h>

#include "store_outbox.h"
#include "store_rules.h"

/* The notification outbox row is written here, in the transaction that
 * changed the alert, so it commits or rolls back with it (at-least-once to
 * the sinks, never for a change that did not happen); the batch below is
 * only what the MQTT publisher sends after the commit, and may drop. */
static int queue(const alerting *c, alert_event_kind kind, const alert *a)
{
    if (store_outbox_add(c->s, a, alert_event_name(kind), c->now_ts) != 0)
        return -1;
    if (c->out->count == ALERT_BATCH_MAX) {
        c->out->dropped++;  /* stored all the same; the listener logs the count */
        return 0;
    }
    c->out->events[c->out->count].kind = kind;
    c->out->events[c->out->count++].a = *a;
    return 0;
}

/* A withdrawn alert raised again (new evidence) is an alert again. */
int alerting_raise(const alerting *c, alert *a)
{
    bool raised;
    if (store_raise_alert(c->s, a, c->now_ts, &raised) != 0)
        return -1;
    if (!raised)
        return 0;
    if (store_alert_state_reset(c->s, a->id) != 0)
        return -1;
    return queue(c, ALERT_RAISED, a);
}

int alerting_withdraw(const alerting *c, const char *rule, const char *device, const char *cause)
{
    alert a;
    bool withdrawn;
    if (store_alert_withdraw(c->s, rule, device, cause, c->now_ts, &a, &withdrawn) != 0)
        return -1;
    return withdrawn ? queue(c, ALERT_WITHDRAWN, &a) : 0;
}

int alerting_raise_or_escalate(const alerting *c, alert *a)
{
    bool raised, escalated;
    if (store_raise_alert(c->s, a, c->now_ts, &raised) != 0)
        return -1;
    if (raised)
        return queue(c, ALERT_RAISED, a);
    if (store_escalate_alert(c->s, a, &escalated) != 0)
        return -1;
    return escalated ? queue(c, ALERT_ESCALATED, a) : 0;
}

int alerting_clear(const alerting *c, const char *rule, const char *device, const char *cause)
{
    alert a;
    bool cleared;
    if (store_clear_alert(c->s, rule, device, cause, c->now_ts, &a, &cleared) != 0)
        return -1;
    return cleared ? queue(c, ALERT_CLEARED, &a) : 0;
}

/* The alerts a prefix clear cleared: the store's callback may not use the
 * store, so they are queued once it returns. */
typedef struct cleared_list {
    alert *a;
    size_t n, cap;
    bool oom;
} cleared_list;

static void collect_cleared(void *ctx, const alert *a)
{
    cleared_list *l = ctx;
    if (l->oom)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        alert *p = realloc(l->a, cap * sizeof *p);
        if (!p) {
            l->oom = true;
            return;
        }
        l->a = p, l->cap = cap;
    }
    l->a[l->n++] = *a;
}

int alerting_clear_prefix(const alerting *c, const char *rule, const char *device,
                          const char *prefix)
{
    cleared_list l = {0};
    int rc = store_clear_alerts_prefix(c->s, rule, device, prefix, c->now_ts, collect_cleared, &l);

    /* Out of memory: fail the transaction rather than lose a notification. */
    if (rc == 0 && l.oom)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        rc = queue(c, ALERT_CLEARED, &l.a[i]);
    free(l.a);
    return rc;
}
