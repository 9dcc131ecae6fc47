/* rules_util: the helpers every rules_*.c file uses to build an alert
 * (rules_int.h). A module of its own so that the dispatch (rules.c) and
 * the rule files depend on it, never on each other. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"
#include "textcopy.h"

void rules__alert_init(alert *a, const char *rule, const char *severity, const char *device,
                       const char *clinic)
{
    memset(a, 0, sizeof *a);
    snprintf(a->rule, sizeof a->rule, "%s", rule);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->clinic, sizeof a->clinic, "%s", clinic);
}

void rules__duration_text(int64_t seconds, char *out, size_t cap)
{
    int64_t min = seconds / 60, s = seconds % 60;

    if (min == 0)
        snprintf(out, cap, "%" PRId64 " s", s);
    else if (s == 0)
        snprintf(out, cap, "%" PRId64 " min", min);
    else
        snprintf(out, cap, "%" PRId64 " min %" PRId64 " s", min, s);
}

const char *rules__sterilizer_owner(const rule_sterilizer *st)
{
    return st->owner[0] ? st->owner : st->home_device;
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

bool rules__raised(const rules_ctx *c, const char *rule, const char *cause)
{
    for (size_t i = 0; c->raised && i < c->raised->n; i++)
        if (strcmp(c->raised->a[i].rule, rule) == 0 && strcmp(c->raised->a[i].cause, cause) == 0)
            return true;
    return false;
}

int rules__raise_once(const rules_ctx *c, alert *a)
{
    alerting al = rules__alerting(c);
    rules_raised *m = c->raised;

    if (rules__raised(c, a->rule, a->cause))
        return 0;
    if (alerting_raise(&al, a) != 0)
        return -1;
    if (m && m->n < RULES_RAISED_MAX) {
        snprintf(m->a[m->n].rule, sizeof m->a[m->n].rule, "%s", a->rule);
        snprintf(m->a[m->n].cause, sizeof m->a[m->n].cause, "%s", a->cause);
        m->n++;
    } else if (m) {
        m->overflow = true;
    }
    return 0;
}

bool rules__raised_all_known(const rules_ctx *c)
{
    return c->raised && !c->raised->overflow;
}

void rules__forget(const rules_ctx *c, const char *rule, const char *cause)
{
    rules_raised *m = c->raised;

    for (size_t i = 0; m && i < m->n; i++) {
        if (strcmp(m->a[i].rule, rule) == 0 && strcmp(m->a[i].cause, cause) == 0) {
            m->a[i] = m->a[--m->n];
            return;
        }
    }
}

rule_ref rules__ref(const rules_ctx *c, const record *r)
{
    rule_ref ref = {.seq = r->seq};
    text_copy(ref.device, sizeof ref.device, c->device);
    text_copy(ref.ts, sizeof ref.ts, r->ts);
    return ref;
}

const tzlocal_zone *rules__zone(store *s, const char *clinic)
{
    char tz[TZLOCAL_NAME_MAX + 1];
    int found = store_clinic_timezone(s, clinic, tz);

    if (found < 0)
        return NULL;
    return found ? tzlocal_or_utc(tz) : tzlocal_utc();
}

/* Record times are validated on ingest; an unparsable one counts as the
 * epoch rather than as a reason to stop judging. */
static int64_t seconds_of(const char *ts)
{
    int64_t ms = 0;
    record_ts_parse(ts, &ms);
    return ms / 1000;
}

void rules__local_date(const tzlocal_zone *z, const char *ts, char out[TZLOCAL_DATE_LEN + 1])
{
    tzlocal_date(z, seconds_of(ts), out);
}

int64_t rules__local_day(const tzlocal_zone *z, int64_t ms)
{
    return tzlocal_day_number(z, ms / 1000 - (ms % 1000 < 0));
}

void rules__local_text(const tzlocal_zone *z, const char *ts, char out[TZLOCAL_TEXT_LEN + 1])
{
    tzlocal_text(z, seconds_of(ts), out);
}

void rules__ev_ref(evidence *e, const rule_ref *ref)
{
    ev_str(e, "device", ref->device);
    ev_int(e, "seq", (int64_t)ref->seq);
    ev_str(e, "ts", ref->ts);
}
