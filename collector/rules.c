/* rules: dispatch of each inserted record to the rule files (rules_*.c);
 * the helpers they share are rules_util.c. */
#include "rules.h"

#include "rules_int.h"

int rules_on_record(const rules_ctx *c, const record *r)
{
    /* Every record, whatever its type, tells how long the device was quiet. */
    if (rules__session_gap(c, r) != 0)
        return -1;
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
