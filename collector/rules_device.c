/* rules_device: the machine itself. Session state for R8 (a device silent
 * while a session is open, by the collector's clock; and a device-time gap
 * inside a session, below), the usage counters for R3 (cartridge wear,
 * rules_cartridge.c) and R11 (motor service every motor_service_hours). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

/* The message's rules_after_batch marks the device heard: a session
 * record only moves the session state. */
int rules__session(const rules_ctx *c, const record *r)
{
    if (r->seq > c->boundary->seq)
        *c->boundary = (rules_boundary){r->seq, r->type == RT_SESSION_START};
    if (r->type == RT_SESSION_START)
        return store_session_open(c->s, c->device, c->clinic, record_get_str(r, "session_id"),
                                  r->seq, c->now_ts);
    return store_session_close(c->s, c->device, c->clinic, r->seq, c->now_ts);
}

/* R11: one alert per service interval reached ("service:500h",
 * "service:1000h"); its cause makes it once per interval without any state.
 * A counter that jumps over several intervals raises the highest. */
static int check_service(const rules_ctx *c, const record *r)
{
    int64_t motor_s = 0, every_s = c->p->motor_service_hours * 3600, due;
    rule_ref ref = rules__ref(c, r);
    evidence e;
    alert a;

    record_get_int(r, "motor_s_total", &motor_s);
    if (motor_s < every_s)
        return 0;
    due = motor_s / every_s * c->p->motor_service_hours;
    rules__alert_init(&a, "R11", "maintenance", c->device, c->clinic);
    snprintf(a.cause, sizeof a.cause, "service:%" PRId64 "h", due);
    /* Every counters record past the hours would raise it again. */
    if (rules__raised(c, a.rule, a.cause))
        return 0;
    rules__message(&a, "motor service due: %" PRId64 " motor hours (service every %" PRId64 " h)",
                   motor_s / 3600, c->p->motor_service_hours);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    rules__ev_ref(&e, &ref);
    ev_int(&e, "motor_s_total", motor_s);
    ev_int(&e, "service_at_hours", due);
    ev_int(&e, "motor_service_hours", c->p->motor_service_hours);
    ev_end(&e);
    return rules__raise_once(c, &a);
}

int rules__counters(const rules_ctx *c, const record *r)
{
    return rules__cartridge_wear(c, r) != 0 ? -1 : check_service(c, r);
}

/* R8 from the device's own clock: a session during which the machine
 * logged nothing for longer than session_gap_s (it logs counters every
 * minute while a session runs). Judged on each pair of consecutive
 * records (by seq) as soon as both are stored, whichever arrives last and
 * however late, so a backlog delivered days later is flagged the same.
 * One alert per session ("gap:<session_id>"); never cleared. */
static int check_gap(const rules_ctx *c, uint64_t from_seq, const char *from_ts,
                     const char *to_ts)
{
    char session[RECORD_STR_MAX + 1], gap[48], limit[48];
    int64_t from_ms = 0, to_ms = 0;
    alerting al = rules__alerting(c);
    rule_ref from = {.seq = from_seq}, to = {.seq = from_seq + 1};
    evidence e;
    alert a;
    int open;

    record_ts_parse(from_ts, &from_ms);
    record_ts_parse(to_ts, &to_ms);
    if (to_ms - from_ms <= c->p->session_gap_s * 1000)
        return 0;
    /* The newest boundary at or before from_seq is an end, or there is
     * none: no session was open, and the store's backward search for a
     * boundary (through every record of a device that never had a
     * session, such as an autoclave's logger) is not needed. */
    if (from_seq >= c->boundary->seq && !c->boundary->start)
        return 0;
    if ((open = store_session_at(c->s, c->device, from_seq, session)) <= 0)
        return open;
    snprintf(from.device, sizeof from.device, "%s", c->device);
    snprintf(from.ts, sizeof from.ts, "%s", from_ts);
    snprintf(to.device, sizeof to.device, "%s", c->device);
    snprintf(to.ts, sizeof to.ts, "%s", to_ts);
    rules__duration_text((to_ms - from_ms) / 1000, gap, sizeof gap);
    rules__duration_text(c->p->session_gap_s, limit, sizeof limit);
    rules__alert_init(&a, "R8", "maintenance", c->device, c->clinic);
    rules__cause_add(a.cause, sizeof a.cause, "gap:", session);
    rules__message(&a,
                   "no record for %s during session %s (device time %.19s to %.19s; limit %s)",
                   gap, session, from_ts, to_ts, limit);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "session_id", session);
    ev_open_object(&e, "from");
    rules__ev_ref(&e, &from);
    ev_close(&e);
    ev_open_object(&e, "to");
    rules__ev_ref(&e, &to);
    ev_close(&e);
    ev_int(&e, "gap_s", (to_ms - from_ms) / 1000);
    ev_int(&e, "session_gap_s", c->p->session_gap_s);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

/* The device time of the stored record at seq, through c's reader. */
static int record_ts(const rules_ctx *c, uint64_t seq, char ts[RECORD_TS_LEN + 1])
{
    if (c->record_ts)
        return c->record_ts(c->ts_ctx, seq, ts);
    return store_record_ts(c->s, c->device, seq, ts);
}

int rules__session_gap(const rules_ctx *c, const record *r)
{
    char ts[RECORD_TS_LEN + 1];
    int found;

    if (r->seq > 1) {
        if ((found = record_ts(c, r->seq - 1, ts)) < 0 ||
            (found && check_gap(c, r->seq - 1, ts, r->ts) != 0))
            return -1;
    }
    if ((found = record_ts(c, r->seq + 1, ts)) < 0 ||
        (found && check_gap(c, r->seq, r->ts, ts) != 0))
        return -1;
    return 0;
}
