/* rules_device: the machine itself. Session state for R8 (a device silent
 * while a session is open), the usage counters for R3 (cartridge wear,
 * rules_cartridge.c) and R11 (motor service every motor_service_hours). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

int rules__session(const rules_ctx *c, const record *r)
{
    if (store_device_heard(c->s, c->device, c->clinic, c->now_ts) != 0)
        return -1;
    if (r->type == RT_SESSION_START)
        return store_session_open(c->s, c->device, record_get_str(r, "session_id"), r->seq);
    return store_session_close(c->s, c->device, r->seq);
}

/* R11: one alert per service interval reached ("service:500h",
 * "service:1000h"); its cause makes it once per interval without any state.
 * A counter that jumps over several intervals raises the highest. */
static int check_service(const rules_ctx *c, const record *r)
{
    int64_t motor_s = 0, every_s = c->p->motor_service_hours * 3600, due;
    alerting al = rules__alerting(c);
    rule_ref ref = rules__ref(c, r);
    evidence e;
    alert a;

    record_get_int(r, "motor_s_total", &motor_s);
    if (motor_s < every_s)
        return 0;
    due = motor_s / every_s * c->p->motor_service_hours;
    rules__alert_init(&a, "R11", "maintenance", c->device, c->clinic);
    snprintf(a.cause, sizeof a.cause, "service:%" PRId64 "h", due);
    rules__message(&a, "motor service due: %" PRId64 " motor hours (service every %" PRId64 " h)",
                   motor_s / 3600, c->p->motor_service_hours);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    rules__ev_ref(&e, &ref);
    ev_int(&e, "motor_s_total", motor_s);
    ev_int(&e, "service_at_hours", due);
    ev_int(&e, "motor_service_hours", c->p->motor_service_hours);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

int rules__counters(const rules_ctx *c, const record *r)
{
    return rules__cartridge_wear(c, r) != 0 ? -1 : check_service(c, r);
}
