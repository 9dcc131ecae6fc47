/* rules_cycle: R4 (a sterilization cycle that failed) and R5 (a grip from a
 * load without a passing cycle used in a session).
 *
 * Loads belong to the clinic, not the device that logged them: one
 * machine's autoclave log feeds the grips every machine of the clinic uses.
 * Records are judged in the order they arrive, so a late record can prove
 * an earlier alert wrong: a passing re-run of a load clears its R4, and a
 * passing cycle older than a grip's use clears that use's R5. */
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

static int raise_r4(const rules_ctx *c, const record *r, const policy_program *prog, unsigned why)
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
    rules__alert_init(&a, "R4", "cycle-failed", c->device, c->clinic);
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

static void grip_cause(char *cause, size_t cap, const char *kind, const rule_grip *g)
{
    cause[0] = '\0';
    rules__cause_add(cause, cap, kind, g->session_id);
    rules__cause_add(cause, cap, ":", g->grip_id);
}

/* store_grip_fn: the grip was used after a passing cycle of its load, so
 * neither R5 cause holds for it. */
static int clear_grip(void *ctx, const rule_grip *g)
{
    const rules_ctx *c = ctx;
    alerting al = rules__alerting(c);
    char cause[sizeof ((alert *)0)->cause];

    grip_cause(cause, sizeof cause, "failed-load:", g);
    if (alerting_clear(&al, "R5", g->use.device, cause) != 0)
        return -1;
    grip_cause(cause, sizeof cause, "no-cycle:", g);
    return alerting_clear(&al, "R5", g->use.device, cause);
}

/* Grips of one load checked per passing cycle; more is not a clinic's day. */
#define GRIPS_PER_LOAD_MAX 256

static int on_pass(const rules_ctx *c, const record *r, const rule_load *prev, bool newer)
{
    alerting al = rules__alerting(c);
    char cause[sizeof ((alert *)0)->cause];

    if (prev && !prev->passed && newer) {
        load_cause(cause, sizeof cause, prev->load_id);
        if (alerting_clear(&al, "R4", prev->cycle.device, cause) != 0)
            return -1;
    }
    return store_grips_of_load(c->s, c->clinic, record_get_str(r, "load_id"), r->ts,
                               GRIPS_PER_LOAD_MAX, clear_grip, (void *)c);
}

int rules__cycle(const rules_ctx *c, const record *r)
{
    const policy_program *prog;
    unsigned why = judge(c->p, r, &prog);
    rule_load load = {.cycle = rules__ref(c, r), .passed = why == 0}, prev;
    rule_sterilizer st;
    int known;
    bool newer;

    snprintf(load.load_id, sizeof load.load_id, "%s", record_get_str(r, "load_id"));
    snprintf(load.sterilizer_id, sizeof load.sterilizer_id, "%s", record_get_str(r, "sterilizer_id"));
    /* R6 counts a sterilizer's untested days from when it was first seen. */
    if (store_sterilizer_touch(c->s, c->clinic, load.sterilizer_id, c->device, r->ts, &st) != 0 ||
        (known = store_load_get(c->s, c->clinic, load.load_id, &prev)) < 0)
        return -1;
    /* The load's state is its latest cycle by device time; an older cycle
     * sent late is still judged (R4) but does not overwrite it. */
    newer = !known || strcmp(r->ts, prev.cycle.ts) >= 0;
    if (newer && store_load_put(c->s, c->clinic, &load) != 0)
        return -1;
    if (why)
        return raise_r4(c, r, prog, why);
    return on_pass(c, r, known ? &prev : NULL, newer);
}

static int raise_r5(const rules_ctx *c, const rule_grip *g, const rule_load *load)
{
    alerting al = rules__alerting(c);
    evidence e;
    alert a;

    rules__alert_init(&a, "R5", "critical", c->device, c->clinic);
    grip_cause(a.cause, sizeof a.cause, load ? "failed-load:" : "no-cycle:", g);
    rules__message(&a, "grip %s used in session %s came from load %s %s", g->grip_id,
                   g->session_id, g->load_id,
                   load ? "whose sterilization cycle failed"
                        : "with no passing sterilization cycle on record");
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "grip_id", g->grip_id);
    ev_str(&e, "session_id", g->session_id);
    ev_str(&e, "load_id", g->load_id);
    rules__ev_ref(&e, &g->use);
    if (load) {
        ev_open_object(&e, "cycle");
        ev_str(&e, "sterilizer_id", load->sterilizer_id);
        rules__ev_ref(&e, &load->cycle);
        ev_bool(&e, "passed", false);
        ev_close(&e);
    } else {
        ev_null(&e, "cycle");
    }
    ev_end(&e);
    return alerting_raise(&al, &a);
}

int rules__grip(const rules_ctx *c, const record *r)
{
    rule_grip g = {.use = rules__ref(c, r)};
    rule_load load;
    int known;

    snprintf(g.load_id, sizeof g.load_id, "%s", record_get_str(r, "load_id"));
    snprintf(g.grip_id, sizeof g.grip_id, "%s", record_get_str(r, "grip_id"));
    snprintf(g.session_id, sizeof g.session_id, "%s", record_get_str(r, "session_id"));
    /* Kept for R7's recall list and for clearing R5 when a late cycle arrives. */
    if (store_grip_put(c->s, c->clinic, &g) != 0 ||
        (known = store_load_get(c->s, c->clinic, g.load_id, &load)) < 0)
        return -1;
    if (known && load.passed)
        return 0;
    return raise_r5(c, &g, known ? &load : NULL);
}
