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
    return c->silent_closed ? 0 : alerting_clear(&al, "R8", c->device, "silent");
}

bool rules_clinic_wide(const record *r)
{
    return r->type == RT_GRIP_ASSIGN || rules_clinic_writes(r);
}

bool rules_clinic_writes(const record *r)
{
    return r->type == RT_STERILIZATION_CYCLE || r->type == RT_STERILIZATION_TEST;
}

rules_clinic_lock rules_clinic_lock_of(const record *const *records, size_t n)
{
    rules_clinic_lock l = RULES_CLINIC_NONE;

    for (size_t i = 0; i < n && l != RULES_CLINIC_WHOLE; i++)
        if (rules_clinic_writes(records[i]))
            l = RULES_CLINIC_WHOLE;
        else if (rules_clinic_wide(records[i]))
            l = RULES_CLINIC_SHARED;
    return l;
}

unsigned rules_types_read(const policy *p, const record *r)
{
    const unsigned tests_and_cycles = 1u << RT_STERILIZATION_TEST | 1u << RT_STERILIZATION_CYCLE;
    int64_t run_s = 0, strokes = 0;

    switch (r->type) {
    case RT_STERILIZATION_TEST:   /* R7: the spore tests and cycles on record */
    case RT_STERILIZATION_CYCLE:  /* R5 recheck: the recall of its load */
    case RT_GRIP_ASSIGN:          /* R5: the recall of its load */
        return tests_and_cycles;
    case RT_USAGE_COUNTERS:       /* R3: only over a wear limit (rules__cartridge_wear) */
        record_get_int(r, "cartridge_run_s", &run_s);
        record_get_int(r, "cartridge_strokes", &strokes);
        return record_get_str(r, "cartridge_uid") &&
                       (run_s > p->cartridge_max_run_s || strokes > p->cartridge_max_strokes)
                   ? 1u << RT_CARTRIDGE_REMOVE
                   : 0;
    default:
        return 0;
    }
}
