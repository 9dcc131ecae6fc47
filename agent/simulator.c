#include "simulator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS   60000LL
#define HOUR_MS     (60 * MINUTE_MS)
#define DAY_MS      (24 * HOUR_MS)
#define QUEUE_MAX   8

typedef enum { ST_DAY_START, ST_SESSION_START, ST_RUNNING, ST_DONE } sim_state;

typedef struct pending {
    int64_t due_ms;
    record event;
} pending;

struct simulator {
    sim_config cfg;
    uint64_t rng;
    sim_state state;
    int day;
    int64_t now_ms;              /* time of the next step */
    pending queue[QUEUE_MAX];
    int qhead, qlen;
    sim_faults faults;

    /* machine */
    int64_t motor_s_total, strokes_total;
    /* sterilizer */
    int64_t cycle_no;
    char load_id[RECORD_STR_MAX + 1];            /* latest load, the one grips come from */
    bool load_passed;
    int loads_today;
    /* session */
    int session_no;
    char session_id[RECORD_STR_MAX + 1];
    int64_t session_end_ms, session_run_s, session_strokes;
    /* cartridge */
    char cart_uid[RECORD_STR_MAX + 1], prev_session_cart[RECORD_STR_MAX + 1];
    int cart_no;
    int64_t cart_end_ms, cart_run_s, cart_strokes;
    int cart_hz;
};

static uint64_t next_rand(simulator *s)
{
    /* xorshift64*: tiny, deterministic, good enough for a simulator. */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 2685821657736338717ULL;
}

static int64_t rand_between(simulator *s, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(next_rand(s) % (uint64_t)(hi - lo + 1));
}

static bool chance(simulator *s, int pct)
{
    return pct > 0 && rand_between(s, 1, 100) <= pct;
}

static record *enqueue(simulator *s, int64_t due_ms, record_type type)
{
    pending *p = &s->queue[(s->qhead + s->qlen++) % QUEUE_MAX];
    p->due_ms = due_ms;
    record_init(&p->event, type);
    return &p->event;
}

static void fmt_date(int64_t ms, char *out, size_t cap)
{
    char ts[RECORD_TS_LEN + 1];
    record_ts_format(ms, ts);
    snprintf(out, cap, "%.10s", ts);
}

static void emit_cycle(simulator *s, int64_t at)
{
    record *r = enqueue(s, at, RT_STERILIZATION_CYCLE);
    bool fail = chance(s, s->cfg.fault_pct / 2 + 2);
    int64_t temp_min = fail ? rand_between(s, 1280, 1335) : rand_between(s, 1341, 1355);

    s->cycle_no++;
    snprintf(s->load_id, sizeof s->load_id, "%s-L%" PRId64, s->cfg.device_id, s->cycle_no);
    s->load_passed = !fail;
    s->faults.failed_cycle += fail;
    record_set_str(r, "sterilizer_id", "ac-1");
    record_set_int(r, "cycle_no", s->cycle_no);
    record_set_str(r, "load_id", s->load_id);
    record_set_str(r, "program", "prevac_134");
    record_set_int(r, "setpoint_c", 1340);
    record_set_int(r, "temp_min_c", temp_min);
    record_set_int(r, "temp_max_c", temp_min + rand_between(s, 5, 25));
    record_set_int(r, "exposure_s", fail ? rand_between(s, 120, 230) : rand_between(s, 240, 300));
    record_set_int(r, "pressure_min_kpa", rand_between(s, 3000, 3050));
    record_set_int(r, "pressure_max_kpa", rand_between(s, 3060, 3120));
    record_set_int(r, "dry_s", rand_between(s, 1200, 1800));
    record_set_str(r, "operator_id", "op-1");
    record_set_str(r, "ci_result", fail ? "fail" : "pass");
    record_set_str(r, "result", fail ? "fail" : "pass");
    if (fail)
        record_set_str(r, "alarm_code", "E12-LOW-TEMP");
}

/* A failed load is normally reprocessed at once; with a fault it is not,
 * and the next session's grip comes from it (rule R5). */
static void reprocess_if_failed(simulator *s, int64_t at)
{
    if (!s->load_passed && !chance(s, s->cfg.fault_pct))
        emit_cycle(s, at + 50 * MINUTE_MS);
}

static void emit_tests(simulator *s, int64_t at)
{
    record *r = enqueue(s, at, RT_STERILIZATION_TEST);
    char read_ts[RECORD_TS_LEN + 1];

    record_ts_format(at, read_ts);
    record_set_str(r, "sterilizer_id", "ac-1");
    record_set_str(r, "kind", "bowie_dick");
    record_set_int(r, "cycle_no", s->cycle_no);
    record_set_str(r, "bi_lot", "BD-2026-11");
    record_set_str(r, "result", "negative");
    record_set_str(r, "read_ts", read_ts);

    if (s->day % 7 != 0)
        return;
    bool positive = chance(s, s->cfg.fault_pct / 4);
    s->faults.positive_spore += positive;
    r = enqueue(s, at + MINUTE_MS, RT_STERILIZATION_TEST);
    record_set_str(r, "sterilizer_id", "ac-1");
    record_set_str(r, "kind", "spore");
    record_set_int(r, "cycle_no", s->cycle_no);
    record_set_str(r, "bi_lot", "BI-7731");
    record_set_str(r, "result", positive ? "positive" : "negative");
    record_ts_format(at + MINUTE_MS, read_ts);
    record_set_str(r, "read_ts", read_ts);
}

static void start_day(simulator *s)
{
    int64_t day_start = s->cfg.start_ms + (int64_t)s->day * DAY_MS;
    int64_t at = day_start + 7 * HOUR_MS + rand_between(s, 0, 30) * MINUTE_MS;

    s->loads_today = 0;
    emit_cycle(s, at);
    emit_tests(s, at + 45 * MINUTE_MS);
    reprocess_if_failed(s, at);
    s->now_ms = at + 90 * MINUTE_MS;
    s->state = ST_SESSION_START;
}

static void insert_cartridge(simulator *s, int64_t at)
{
    record *r = enqueue(s, at, RT_CARTRIDGE_INSERT);
    char expiry[16];
    bool reuse = s->prev_session_cart[0] && chance(s, s->cfg.fault_pct / 2);
    bool expired = chance(s, s->cfg.fault_pct / 2);
    bool no_lot = chance(s, s->cfg.fault_pct / 2);

    if (reuse) {
        snprintf(s->cart_uid, sizeof s->cart_uid, "%s", s->prev_session_cart);
        s->prev_session_cart[0] = '\0';
        s->faults.reused_cartridge++;
    } else {
        snprintf(s->cart_uid, sizeof s->cart_uid, "%s-C%d", s->cfg.device_id, ++s->cart_no);
    }
    s->faults.expired_cartridge += expired;
    s->faults.missing_lot += no_lot;
    fmt_date(at + (expired ? -rand_between(s, 1, 90) : rand_between(s, 120, 700)) * DAY_MS, expiry,
             sizeof expiry);
    record_set_str(r, "cartridge_uid", s->cart_uid);
    record_set_str(r, "sku", rand_between(s, 0, 1) ? "0603RL" : "0803RL");
    int needles = rand_between(s, 0, 1) ? 1 : 3;
    record_set_int(r, "needles", needles);
    record_set_str(r, "config", needles == 1 ? "1RL" : "3RL");
    if (!no_lot)
        record_set_str(r, "lot", "LOT-26A");
    record_set_str(r, "expiry", expiry);
    record_set_str(r, "session_id", s->session_id);
    s->cart_hz = (int)rand_between(s, 50, 150);
    s->cart_run_s = s->cart_strokes = 0;
    s->cart_end_ms = at + rand_between(s, 20, 75) * MINUTE_MS;
}

static void remove_cartridge(simulator *s, int64_t at, const char *reason)
{
    record *r = enqueue(s, at, RT_CARTRIDGE_REMOVE);
    record_set_str(r, "cartridge_uid", s->cart_uid);
    record_set_str(r, "session_id", s->session_id);
    record_set_int(r, "run_s", s->cart_run_s);
    record_set_int(r, "strokes", s->cart_strokes);
    record_set_str(r, "reason", reason);
    snprintf(s->prev_session_cart, sizeof s->prev_session_cart, "%s", s->cart_uid);
}

static void start_session(simulator *s)
{
    int64_t day_start = s->cfg.start_ms + (int64_t)s->day * DAY_MS;
    int64_t at = s->now_ms;

    if (at > day_start + 16 * HOUR_MS) {     /* evening: the day is over */
        s->day++;
        s->state = s->day >= s->cfg.days ? ST_DONE : ST_DAY_START;
        return;
    }
    record *r = enqueue(s, at, RT_SESSION_START);
    snprintf(s->session_id, sizeof s->session_id, "%s-S%d", s->cfg.device_id, ++s->session_no);
    char client[32];
    snprintf(client, sizeof client, "c-%06" PRIx64, next_rand(s) % 0xffffff);
    record_set_str(r, "session_id", s->session_id);
    record_set_str(r, "operator_id", rand_between(s, 0, 1) ? "op-2" : "op-3");
    record_set_str(r, "client_ref", client);
    record_set_int(r, "treatment_no", rand_between(s, 1, 4));

    r = enqueue(s, at + 1000, RT_GRIP_ASSIGN);
    char grip[32];
    snprintf(grip, sizeof grip, "grip-%d", (int)rand_between(s, 1, 6));
    record_set_str(r, "grip_id", grip);
    record_set_str(r, "load_id", s->load_id);
    record_set_str(r, "session_id", s->session_id);
    s->faults.grip_from_failed_load += !s->load_passed;

    insert_cartridge(s, at + 2000);
    s->session_end_ms = at + rand_between(s, 120, 300) * MINUTE_MS;
    s->session_run_s = s->session_strokes = 0;
    s->now_ms = at + MINUTE_MS;
    s->state = ST_RUNNING;
}

static void end_session(simulator *s)
{
    int64_t at = s->now_ms;
    remove_cartridge(s, at, "session_end");
    record *r = enqueue(s, at + 1000, RT_SESSION_END);
    record_set_str(r, "session_id", s->session_id);
    record_set_int(r, "run_s", s->session_run_s);
    record_set_int(r, "strokes", s->session_strokes);
    /* Grips go to the autoclave between clients. */
    emit_cycle(s, at + 10 * MINUTE_MS);
    reprocess_if_failed(s, at + 10 * MINUTE_MS);
    s->now_ms = at + rand_between(s, 60, 90) * MINUTE_MS;
    s->state = ST_SESSION_START;
}

/* One simulated minute of treatment: the motor runs most of it. */
static void run_minute(simulator *s)
{
    int64_t at = s->now_ms;
    int64_t run_s = rand_between(s, 35, 60), strokes = run_s * s->cart_hz;

    if (at >= s->session_end_ms) {
        end_session(s);
        return;
    }
    s->motor_s_total += run_s;
    s->strokes_total += strokes;
    s->session_run_s += run_s;
    s->session_strokes += strokes;
    s->cart_run_s += run_s;
    s->cart_strokes += strokes;

    record *r = enqueue(s, at, RT_USAGE_COUNTERS);
    record_set_int(r, "motor_s_total", s->motor_s_total);
    record_set_int(r, "strokes_total", s->strokes_total);
    record_set_str(r, "cartridge_uid", s->cart_uid);
    record_set_int(r, "cartridge_run_s", s->cart_run_s);
    record_set_int(r, "cartridge_strokes", s->cart_strokes);

    if (at >= s->cart_end_ms) {
        remove_cartridge(s, at + 1000, rand_between(s, 0, 2) ? "worn" : "swap");
        s->prev_session_cart[0] = '\0'; /* only carry over what ends a session */
        insert_cartridge(s, at + 2000);
    }
    s->now_ms = at + MINUTE_MS;
}

static void step(simulator *s)
{
    switch (s->state) {
    case ST_DAY_START:
        start_day(s);
        break;
    case ST_SESSION_START:
        start_session(s);
        break;
    case ST_RUNNING:
        run_minute(s);
        break;
    case ST_DONE:
        break;
    }
}

simulator *sim_new(const sim_config *cfg)
{
    simulator *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = *cfg;
    s->rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 1;
    for (const char *p = cfg->device_id; *p; p++)
        s->rng = (s->rng ^ (unsigned char)*p) * 0x100000001b3ULL;
    s->rng |= 1;
    s->state = cfg->days > 0 ? ST_DAY_START : ST_DONE;
    snprintf(s->load_id, sizeof s->load_id, "%s-L0", cfg->device_id);
    return s;
}

void sim_free(simulator *s) { free(s); }

bool sim_peek(simulator *s, int64_t *due_ms, const record **event)
{
    while (s->qlen == 0 && s->state != ST_DONE)
        step(s);
    if (s->qlen == 0)
        return false;
    *due_ms = s->queue[s->qhead].due_ms;
    *event = &s->queue[s->qhead].event;
    return true;
}

void sim_pop(simulator *s)
{
    if (s->qlen == 0)
        return;
    s->qhead = (s->qhead + 1) % QUEUE_MAX;
    s->qlen--;
}

void sim_get_faults(const simulator *s, sim_faults *out) { *out = s->faults; }
