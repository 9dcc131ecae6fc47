/* rules_cycle: R4, a sterilization cycle that failed (below the program's
 * minimum temperature or exposure, chemical indicator not pass, or the
 * sterilizer's own fail / aborted), and the load's state for R5 and R7.
 *
 * A cycle is one fact of its sterilizer, whichever devices log it (the
 * autoclave's own agent, any machine of the clinic): the same (sterilizer,
 * cycle_no) logged again with the same content is a duplicate and judged
 * no further; with other content it is an integrity alert (R9), and the
 * first stays the fact. Loads belong to the clinic, not the device that
 * logged them: one autoclave feeds the grips every machine of the clinic
 * uses (rules_grip.c judges them again when their load's cycle arrives),
 * and another collector may be handling that machine: everything here
 * runs under the clinic's lock (store_lock_clinic). A passing re-run of a
 * load clears its R4. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

/* Why a cycle failed; more than one can hold. */
enum {
    FAIL_TEMP = 1 << 0,       /* temp_min_c below the program's minimum */
    FAIL_EXPOSURE = 1 << 1,   /* exposure_s under the program's minimum */
    FAIL_CI = 1 << 2,         /* chemical indicator failed */
    FAIL_RESULT = 1 << 3,     /* the sterilizer itself said fail / aborted */
    FAIL_PROGRAM = 1 << 4     /* a program the policy has no minimums for */
};

static unsigned judge(const policy *p, const record *r, const policy_program **prog)
{
    int64_t temp = 0, exposure = 0;
    unsigned why = 0;

    record_get_int(r, "temp_min_c", &temp);
    record_get_int(r, "exposure_s", &exposure);
    if (!(*prog = policy_program_get(p, record_get_str(r, "program"))))
        why |= FAIL_PROGRAM;
    else
        why |= (temp < (*prog)->min_temp_dc ? FAIL_TEMP : 0) |
               (exposure < (*prog)->min_exposure_s ? FAIL_EXPOSURE : 0);
    if (strcmp(record_get_str(r, "ci_result"), "pass") != 0)
        why |= FAIL_CI;
    if (strcmp(record_get_str(r, "result"), "pass") != 0)
        why |= FAIL_RESULT;
    return why;
}

/* "temperature 133.0 °C below 134.0 °C; exposure 170 s under 180 s; ..." */
static void describe(const record *r, const policy_program *prog, unsigned why, char *out,
                     size_t cap)
{
    int64_t temp = 0, exposure = 0;
    size_t n = 0;

    record_get_int(r, "temp_min_c", &temp);
    record_get_int(r, "exposure_s", &exposure);
    out[0] = '\0';
#define ADD(...) (n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__))
    if (why & FAIL_TEMP)
        ADD("temperature %" PRId64 ".%" PRId64 " °C below %" PRId64 ".%" PRId64 " °C; ", temp / 10,
            temp % 10, prog->min_temp_dc / 10, prog->min_temp_dc % 10);
    if (why & FAIL_EXPOSURE)
        ADD("exposure %" PRId64 " s under %" PRId64 " s; ", exposure, prog->min_exposure_s);
    if (why & FAIL_CI)
        ADD("chemical indicator %s; ", record_get_str(r, "ci_result"));
    if (why & FAIL_RESULT)
        ADD("result %s; ", record_get_str(r, "result"));
    if (why & FAIL_PROGRAM)
        ADD("program %s has no minimums in the policy; ", record_get_str(r, "program"));
#undef ADD
    n = strlen(out);
    if (n >= 2)
        out[n - 2] = '\0';   /* the last "; " */
}

static void ev_reasons(evidence *e, unsigned why)
{
    static const char *const names[] = {"temperature", "exposure", "chemical_indicator", "result",
                                        "program"};
    ev_open_array(e, "reasons");
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
        if (why & (1u << i))
            ev_str(e, NULL, names[i]);
    ev_close(e);
}

static void load_cause(char *cause, size_t cap, const char *load_id)
{
    cause[0] = '\0';
    rules__cause_add(cause, cap, "load:", load_id);
}

static int raise_r4(const rules_ctx *c, const record *r, const rule_sterilizer *st,
                    const policy_program *prog, unsigned why)
{
    int64_t cycle_no = 0, temp = 0, exposure = 0;
    const char *alarm = record_get_str(r, "alarm_code");
    alerting al = rules__alerting(c);
    rule_ref ref = rules__ref(c, r);
    char reasons[200];
    evidence e;
    alert a;

    record_get_int(r, "cycle_no", &cycle_no);
    record_get_int(r, "temp_min_c", &temp);
    record_get_int(r, "exposure_s", &exposure);
    rules__alert_init(&a, "R4", "cycle-failed", st->owner[0] ? st->owner : c->device, c->clinic);
    load_cause(a.cause, sizeof a.cause, record_get_str(r, "load_id"));
    describe(r, prog, why, reasons, sizeof reasons);
    rules__message(&a, "cycle %" PRId64 " of %s failed, load %s: %s", cycle_no,
                   record_get_str(r, "sterilizer_id"), record_get_str(r, "load_id"), reasons);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "sterilizer_id", record_get_str(r, "sterilizer_id"));
    ev_int(&e, "cycle_no", cycle_no);
    ev_str(&e, "load_id", record_get_str(r, "load_id"));
    ev_str(&e, "program", record_get_str(r, "program"));
    rules__ev_ref(&e, &ref);
    ev_reasons(&e, why);
    ev_dec1(&e, "temp_min_c", temp);
    ev_int(&e, "exposure_s", exposure);
    if (prog) {
        ev_dec1(&e, "min_temp_c", prog->min_temp_dc);
        ev_int(&e, "min_exposure_s", prog->min_exposure_s);
    }
    ev_str(&e, "ci_result", record_get_str(r, "ci_result"));
    ev_str(&e, "result", record_get_str(r, "result"));
    if (alarm)
        ev_str(&e, "alarm_code", alarm);
    ev_end(&e);
    return alerting_raise(&al, &a);
}

int rules__cycle(const rules_ctx *c, const record *r)
{
    const policy_program *prog;
    unsigned why = judge(c->p, r, &prog);
    rule_load load = {.cycle = rules__ref(c, r), .passed = why == 0}, prev;
    rule_sterilizer st;
    int known, fact;
    bool newer;

    snprintf(load.load_id, sizeof load.load_id, "%s", record_get_str(r, "load_id"));
    snprintf(load.sterilizer_id, sizeof load.sterilizer_id, "%s", record_get_str(r, "sterilizer_id"));
    /* R6 counts a sterilizer's untested days from when it was first seen. */
    if (store_lock_clinic(c->s, c->clinic) != 0 ||
        store_sterilizer_touch(c->s, c->clinic, load.sterilizer_id, c->device, r->ts, &st) != 0 ||
        (fact = rules__claim_fact(c, r, &st)) < 0)
        return -1;
    if (!fact)
        return 0;
    if ((known = store_load_get(c->s, c->clinic, load.load_id, &prev, NULL)) < 0)
        return -1;
    /* The load's state is its latest cycle by device time; an older cycle
     * sent late is still judged (R4) but does not overwrite it. */
    newer = !known || strcmp(r->ts, prev.cycle.ts) >= 0;
    if (newer && store_load_put(c->s, c->clinic, &load) != 0)
        return -1;
    if (why && raise_r4(c, r, &st, prog, why) != 0)
        return -1;
    /* A passing re-run clears the load's R4 (it was reprocessed), filed
     * under the sterilizer, or the device that logged the failed cycle
     * while the sterilizer is not registered. */
    if (!why && known && !prev.passed && newer) {
        alerting al = rules__alerting(c);
        char cause[sizeof ((alert *)0)->cause];
        load_cause(cause, sizeof cause, prev.load_id);
        if (alerting_clear(&al, "R4", st.owner[0] ? st.owner : prev.cycle.device, cause) != 0)
            return -1;
    }
    /* The grips used since this cycle (R5) are judged again: this may be
     * the cycle a grip from another machine was waiting for. */
    return newer ? rules__grip_recheck(c, load.load_id, r->ts) : 0;
}
