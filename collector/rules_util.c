/* rules_util: the helpers every rules_*.c file uses to build an alert
 * (rules_int.h). A module of its own so that the dispatch (rules.c) and
 * the rule files depend on it, never on each other. */
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
