#include "alerting.h"

#include <string.h>

#include "store_rules.h"

static void queue(const alerting *c, alert_event_kind kind, const alert *a)
{
    if (c->out->count == ALERT_BATCH_MAX) {
        c->out->dropped++;  /* stored all the same; the listener logs the count */
        return;
    }
    c->out->events[c->out->count].kind = kind;
    c->out->events[c->out->count++].a = *a;
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
    queue(c, ALERT_RAISED, a);
    return 0;
}

int alerting_withdraw(const alerting *c, const char *rule, const char *device, const char *cause)
{
    alert a;
    bool withdrawn;
    if (store_alert_withdraw(c->s, rule, device, cause, c->now_ts, &a, &withdrawn) != 0)
        return -1;
    if (withdrawn)
        queue(c, ALERT_WITHDRAWN, &a);
    return 0;
}

int alerting_raise_or_escalate(const alerting *c, alert *a)
{
    bool raised, escalated;
    if (store_raise_alert(c->s, a, c->now_ts, &raised) != 0)
        return -1;
    if (raised) {
        queue(c, ALERT_RAISED, a);
        return 0;
    }
    if (store_escalate_alert(c->s, a, &escalated) != 0)
        return -1;
    if (escalated)
        queue(c, ALERT_ESCALATED, a);
    return 0;
}

int alerting_clear(const alerting *c, const char *rule, const char *device, const char *cause)
{
    alert a;
    bool cleared;
    if (store_clear_alert(c->s, rule, device, cause, c->now_ts, &a, &cleared) != 0)
        return -1;
    if (cleared)
        queue(c, ALERT_CLEARED, &a);
    return 0;
}

static void queue_cleared(void *ctx, const alert *a)
{
    queue(ctx, ALERT_CLEARED, a);
}

int alerting_clear_prefix(const alerting *c, const char *rule, const char *device,
                          const char *prefix)
{
    return store_clear_alerts_prefix(c->s, rule, device, prefix, c->now_ts, queue_cleared,
                                     (void *)c);
}
