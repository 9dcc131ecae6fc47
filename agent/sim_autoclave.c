#include "sim_autoclave.h"

#include <stdio.h>
#include <string.h>

#define MINUTE_MS  60000LL
#define HOUR_MS    (60 * MINUTE_MS)
#define DAY_MS     (24 * HOUR_MS)
#define FIRST_END  (7 * HOUR_MS)         /* slot 0 ends at 07:00 UTC */
#define RERUN_AFTER (30 * MINUTE_MS)
#define BOWIE_DICK_AFTER (45 * MINUTE_MS)
#define SPORE_AFTER (46 * MINUTE_MS)
#define CYCLES_PER_DAY 32                /* cycle_no step per day: room for 16 slots + re-runs */
#define MONDAY 4                         /* days since 1970 mod 7: 1970-01-01 was a Thursday */

/* What a generator is seeded for: a slot's cycle, its re-run, its tests. */
enum { DRAW_CYCLE, DRAW_RERUN, DRAW_TESTS };

/* The draws of one (sterilizer, day, slot, purpose): xorshift64* from a
 * splitmix64 mix of them, so no agent's own stream is involved. */
typedef struct draws {
    uint64_t state;
} draws;

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static draws draws_for(const char *sterilizer_id, int64_t day, int slot, int purpose)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a of the id */
    for (const unsigned char *p = (const unsigned char *)sterilizer_id; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    draws d = {mix64(h ^ mix64((uint64_t)day * 64 + (uint64_t)slot * 4 + (uint64_t)purpose)) | 1};
    return d;
}

static int64_t between(draws *d, int64_t lo, int64_t hi)
{
    d->state ^= d->state >> 12;
    d->state ^= d->state << 25;
    d->state ^= d->state >> 27;
    return lo + (int64_t)((d->state * 2685821657736338717ULL) % (uint64_t)(hi - lo + 1));
}

/* Always one draw, whatever pct: what follows does not shift with it. */
static bool chance(draws *d, int pct)
{
    return between(d, 1, 100) <= pct;
}

static int64_t floor_day(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

static int64_t slot_end(int64_t day, int slot, bool rerun)
{
    return day * DAY_MS + FIRST_END + slot * HOUR_MS + (rerun ? RERUN_AFTER : 0);
}

/* "<sterilizer>-<YYYYMMDD>-<HHMM>" of the cycle's end. */
static void load_id(const char *sterilizer_id, int64_t end_ms, char *out, size_t cap)
{
    char ts[RECORD_TS_LEN + 1];
    record_ts_format(end_ms, ts);
    snprintf(out, cap, "%s-%.4s%.2s%.2s-%.2s%.2s", sterilizer_id, ts, ts + 5, ts + 8, ts + 11,
             ts + 14);
}

/* The slot's own cycle, drawn whole; a re-run only exists when it failed
 * and the draw did not leave it failed. */
static void draw_cycle(const char *sterilizer_id, int fault_pct, int64_t day, int slot,
                       bool rerun, sim_cycle *c)
{
    draws d = draws_for(sterilizer_id, day, slot, rerun ? DRAW_RERUN : DRAW_CYCLE);

    memset(c, 0, sizeof *c);
    /* 2 % of cycles fail on their own; a re-run only as an injected fault. */
    c->failed = chance(&d, fault_pct / 2 + (rerun ? 0 : 2));
    c->rerun_follows = !rerun && c->failed && !chance(&d, fault_pct);
    c->temp_min_c = c->failed ? between(&d, 1280, 1335) : between(&d, 1341, 1355);
    c->temp_max_c = c->temp_min_c + between(&d, 5, 25);
    c->exposure_s = c->failed ? between(&d, 120, 230) : between(&d, 240, 300);
    c->pressure_min_kpa = between(&d, 3000, 3050);
    c->pressure_max_kpa = between(&d, 3060, 3120);
    c->dry_s = between(&d, 1200, 1800);
    c->slot = slot;
    c->rerun = rerun;
    c->end_ms = slot_end(day, slot, rerun);
    c->cycle_no = day * CYCLES_PER_DAY + 2 * slot + (rerun ? 1 : 0);
    load_id(sterilizer_id, c->end_ms, c->load_id, sizeof c->load_id);
}

bool sim_autoclave_cycle(const char *sterilizer_id, int fault_pct, int64_t day, int slot,
                         bool rerun, sim_cycle *out)
{
    if (slot < 0 || slot >= SIM_AUTOCLAVE_SLOTS)
        return false;
    if (rerun) {
        draw_cycle(sterilizer_id, fault_pct, day, slot, false, out);
        if (!out->rerun_follows)
            return false;
    }
    draw_cycle(sterilizer_id, fault_pct, day, slot, rerun, out);
    return true;
}

void sim_autoclave_load_before(const char *sterilizer_id, int fault_pct, int64_t t_ms,
                               sim_cycle *out)
{
    /* Every day ends with a cycle handed out (slot 12 or its re-run), so
     * the day before always has one. */
    int64_t today = floor_day(t_ms);
    for (int64_t day = today; day >= today - 1; day--) {
        for (int slot = SIM_AUTOCLAVE_SLOTS - 1; slot >= 0; slot--) {
            for (int rerun = 1; rerun >= 0; rerun--) {
                if (slot_end(day, slot, rerun) >= t_ms ||
                    !sim_autoclave_cycle(sterilizer_id, fault_pct, day, slot, rerun, out))
                    continue;
                if (!out->rerun_follows)
                    return;
            }
        }
    }
}

void sim_autoclave_cycle_record(const char *sterilizer_id, const sim_cycle *c, record *r)
{
    record_init(r, RT_STERILIZATION_CYCLE);
    record_set_str(r, "sterilizer_id", sterilizer_id);
    record_set_int(r, "cycle_no", c->cycle_no);
    record_set_str(r, "load_id", c->load_id);
    record_set_str(r, "program", "prevac_134");
    record_set_int(r, "setpoint_c", 1340);
    record_set_int(r, "temp_min_c", c->temp_min_c);
    record_set_int(r, "temp_max_c", c->temp_max_c);
    record_set_int(r, "exposure_s", c->exposure_s);
    record_set_int(r, "pressure_min_kpa", c->pressure_min_kpa);
    record_set_int(r, "pressure_max_kpa", c->pressure_max_kpa);
    record_set_int(r, "dry_s", c->dry_s);
    record_set_str(r, "operator_id", "op-1");
    record_set_str(r, "ci_result", c->failed ? "fail" : "pass");
    record_set_str(r, "result", c->failed ? "fail" : "pass");
    if (c->failed)
        record_set_str(r, "alarm_code", "E12-LOW-TEMP");
}

/* ---- the stream ---------------------------------------------------------- */

/* The steps of a day in time order: slot 0, its re-run, its Bowie-Dick and
 * spore tests, then each later slot and its re-run. */
enum { STEP_TESTS = 2, STEPS_PER_DAY = 2 * SIM_AUTOCLAVE_SLOTS + 2 };

int sim_autoclave_init(sim_autoclave *a, const char *sterilizer_id, int fault_pct,
                       int64_t start_ms, int64_t end_ms)
{
    size_t n = sterilizer_id ? strlen(sterilizer_id) : 0;

    memset(a, 0, sizeof *a);
    if (n == 0 || n > SIM_AUTOCLAVE_ID_MAX)
        return -1;
    memcpy(a->sterilizer_id, sterilizer_id, n + 1);
    a->fault_pct = fault_pct;
    a->start_ms = start_ms;
    a->end_ms = end_ms;
    a->day = floor_day(start_ms);
    return 0;
}

static void test_record(const sim_autoclave *a, int64_t cycle_no, int64_t at, const char *kind,
                        bool positive, record *r)
{
    char read_ts[RECORD_TS_LEN + 1];

    record_ts_format(at, read_ts);
    record_init(r, RT_STERILIZATION_TEST);
    record_set_str(r, "sterilizer_id", a->sterilizer_id);
    record_set_str(r, "kind", kind);
    record_set_int(r, "cycle_no", cycle_no);
    record_set_str(r, "bi_lot", strcmp(kind, "spore") == 0 ? "BI-7731" : "BD-2026-11");
    record_set_str(r, "result", positive ? "positive" : "negative");
    record_set_str(r, "read_ts", read_ts);
}

/* The event of one step of the day, if it has one. */
static bool step_event(const sim_autoclave *a, int64_t day, int step, sim_autoclave_event *out)
{
    sim_cycle c;
    int slot, rerun;

    memset(out, 0, sizeof *out);
    if (step == STEP_TESTS || step == STEP_TESTS + 1) {
        bool spore = step == STEP_TESTS + 1;
        if (spore && ((day % 7) + 7) % 7 != MONDAY)
            return false;
        draws d = draws_for(a->sterilizer_id, day, 0, DRAW_TESTS);
        out->positive_spore = spore && chance(&d, a->fault_pct / 4);
        sim_autoclave_cycle(a->sterilizer_id, a->fault_pct, day, 0, false, &c);
        out->due_ms = c.end_ms + (spore ? SPORE_AFTER : BOWIE_DICK_AFTER);
        test_record(a, c.cycle_no, out->due_ms, spore ? "spore" : "bowie_dick",
                    out->positive_spore, &out->event);
        return true;
    }
    slot = step < STEP_TESTS ? 0 : (step - STEP_TESTS - 2) / 2 + 1;
    rerun = step < STEP_TESTS ? step : (step - STEP_TESTS) % 2;
    if (!sim_autoclave_cycle(a->sterilizer_id, a->fault_pct, day, slot, rerun, &c))
        return false;
    out->due_ms = c.end_ms;
    out->failed_cycle = c.failed;
    sim_autoclave_cycle_record(a->sterilizer_id, &c, &out->event);
    return true;
}

bool sim_autoclave_next(sim_autoclave *a, sim_autoclave_event *out)
{
    while (a->day * DAY_MS < a->end_ms) {
        int64_t day = a->day;
        int step = a->step;
        if (++a->step == STEPS_PER_DAY)
            a->step = 0, a->day++;
        if (!step_event(a, day, step, out))
            continue;
        if (out->due_ms >= a->end_ms)
            return false;
        if (out->due_ms >= a->start_ms)
            return true;
    }
    return false;
}
