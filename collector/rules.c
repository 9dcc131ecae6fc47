#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

void rules__alert_init(alert *a, const char *rule, const char *severity, const char *device,
                       const char *clinic)
{
    memset(a, 0, sizeof *a);
    snprintf(a->rule, sizeof a->rule, "%s", rule);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->clinic, sizeof a->clinic, "%s", clinic);
}

void rules__message(alert *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof a->message, fmt, ap);
    va_end(ap);
}

void rules__cause_add(char *cause, size_t cap, const char *sep, const char *id)
{
    size_t n = strlen(cause);

    n += (size_t)snprintf(cause + n, n < cap ? cap - n : 0, "%s", sep);
    for (; *id && n + 4 < cap; id++) {
        if (*id == ':' || *id == '%')
            n += (size_t)snprintf(cause + n, cap - n, "%%%02X", (unsigned char)*id);
        else
            cause[n++] = *id;
    }
    if (n < cap)
        cause[n] = '\0';
}

alerting rules__alerting(const rules_ctx *c)
{
    return (alerting){c->s, c->now_ts, c->out};
}

rule_ref rules__ref(const rules_ctx *c, const record *r)
{
    rule_ref ref = {.seq = r->seq};
    snprintf(ref.device, sizeof ref.device, "%s", c->device);
    snprintf(ref.ts, sizeof ref.ts, "%s", r->ts);
    return ref;
}

void rules__ev_ref(evidence *e, const rule_ref *ref)
{
    ev_str(e, "device", ref->device);
    ev_int(e, "seq", (int64_t)ref->seq);
    ev_str(e, "ts", ref->ts);
}

int rules_on_record(const rules_ctx *c, const record *r)
{
    switch (r->type) {
    case RT_CARTRIDGE_INSERT:
        return rules__cartridge_insert(c, r);
    case RT_CARTRIDGE_REMOVE:
        return rules__cartridge_remove(c, r);
    case RT_USAGE_COUNTERS:
        return rules__counters(c, r);
    case RT_STERILIZATION_CYCLE:
        return rules__cycle(c, r);
    case RT_GRIP_ASSIGN:
        return rules__grip(c, r);
    case RT_STERILIZATION_TEST:
        return rules__sterilization_test(c, r);
    case RT_SESSION_START:
    case RT_SESSION_END:
        return rules__session(c, r);
    case RT_CHECKPOINT:
    case RT_COUNT:
        break;
    }
    return 0;
}

/* Any new record ends a silence (R8). */
int rules_after_batch(const rules_ctx *c)
{
    alerting al = rules__alerting(c);
    if (store_device_heard(c->s, c->device, c->clinic, c->now_ts) != 0)
        return -1;
    return alerting_clear(&al, "R8", c->device, "silent");
}
