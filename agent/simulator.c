#include "simulator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_autoclave.h"

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
    char sterilizer_id[SIM_AUTOCLAVE_ID_MAX + 1];
    char run_tag[SIM_AUTOCLAVE_ID_MAX + 32];     /* "<device>-<YYYYMMDD>-s<seed>" */
    sim_faults faults;

    /* the autoclave's stream (autoclave, both), one event ahead */
    sim_autoclave ac;
    sim_autoclave_event ac_next;
    bool ac_ready;

    /* the machine's stream (machine, both) */
    uint64_t rng;
    sim_state state;
    int day;
    int64_t now_ms;              /* time of the next step */
    pending queue[QUEUE_MAX];
    int qhead, qlen;
    int64_t motor_s_total, strokes_total;
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

/* The clinic opens between 07:00 and 07:30; the first client 90 min later. */
static void start_day(simulator *s)
{
    int64_t day_start = s->cfg.start_ms + (int64_t)s->day * DAY_MS;
    int64_t at = day_start + 7 * HOUR_MS + rand_between(s, 0, 30) * MINUTE_MS;

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
        snprintf(s->cart_uid, sizeof s->cart_uid, "%s-cart%d", s->run_tag, ++s->cart_no);
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

/* The grip comes from the autoclave's latest load handed out before it
 * (sim_autoclave.h): the same one the autoclave's own logger logged. A
 * failed load is only handed out when it was not re-run, a fault (R5). */
static void assign_grip(simulator *s, int64_t at)
{
    record *r = enqueue(s, at, RT_GRIP_ASSIGN);
    char grip[32];
    sim_cycle load;

    sim_autoclave_load_before(s->sterilizer_id, s->cfg.fault_pct, at, &load);
    snprintf(grip, sizeof grip, "grip-%d", (int)rand_between(s, 1, 6));
    record_set_str(r, "grip_id", grip);
    record_set_str(r, "load_id", load.load_id);
    record_set_str(r, "session_id", s->session_id);
    s->faults.grip_from_failed_load += load.failed;
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
    snprintf(s->session_id, sizeof s->session_id, "%s-ses%d", s->run_tag, ++s->session_no);
    char client[32];
    snprintf(client, sizeof client, "c-%06" PRIx64, next_rand(s) % 0xffffff);
    record_set_str(r, "session_id", s->session_id);
    record_set_str(r, "operator_id", rand_between(s, 0, 1) ? "op-2" : "op-3");
    record_set_str(r, "client_ref", client);
    record_set_int(r, "treatment_no", rand_between(s, 1, 4));

    assign_grip(s, at + 1000);

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

static const char *const role_names[] = {"both", "machine", "autoclave"};

int sim_role_parse(const char *name, sim_role *out)
{
    for (int i = 0; i < (int)(sizeof role_names / sizeof role_names[0]); i++) {
        if (name && strcmp(name, role_names[i]) == 0) {
            *out = (sim_role)i;
            return 0;
        }
    }
    return -1;
}

const char *sim_role_name(sim_role role)
{
    return (unsigned)role < sizeof role_names / sizeof role_names[0] ? role_names[role] : "?";
}

static bool logs_machine(const simulator *s) { return s->cfg.role != SIM_ROLE_AUTOCLAVE; }
static bool logs_autoclave(const simulator *s) { return s->cfg.role != SIM_ROLE_MACHINE; }

/* Ids carry the run (device, first day, seed) so no other run repeats them. */
static int set_ids(simulator *s, const sim_config *cfg)
{
    const char *st = cfg->sterilizer_id ? cfg->sterilizer_id
                     : cfg->role == SIM_ROLE_AUTOCLAVE ? cfg->device_id : SIM_STERILIZER_DEFAULT;
    char ts[RECORD_TS_LEN + 1];
    size_t n = strlen(st), dn = strlen(cfg->device_id);

    if (n == 0 || n > SIM_AUTOCLAVE_ID_MAX || dn == 0 || dn > SIM_AUTOCLAVE_ID_MAX)
        return -1;
    memcpy(s->sterilizer_id, st, n + 1);
    record_ts_format(cfg->start_ms, ts);
    snprintf(s->run_tag, sizeof s->run_tag, "%s-%.4s%.2s%.2s-s%" PRIu64, cfg->device_id, ts,
             ts + 5, ts + 8, cfg->seed);
    return 0;
}

simulator *sim_new(const sim_config *cfg)
{
    simulator *s = calloc(1, sizeof *s);
    int64_t end_ms = cfg->start_ms + (int64_t)(cfg->days > 0 ? cfg->days : 0) * DAY_MS;

    if (!s || !cfg->device_id || (unsigned)cfg->role > SIM_ROLE_AUTOCLAVE ||
        set_ids(s, cfg) != 0 ||
        sim_autoclave_init(&s->ac, s->sterilizer_id, cfg->fault_pct, cfg->start_ms, end_ms) != 0) {
        free(s);
        return NULL;
    }
    s->cfg = *cfg;
    s->cfg.device_id = s->cfg.sterilizer_id = NULL;   /* copied into the ids above */
    s->rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 1;
    for (const char *p = cfg->device_id; *p; p++)
        s->rng = (s->rng ^ (unsigned char)*p) * 0x100000001b3ULL;
    s->rng |= 1;
    s->state = cfg->days > 0 && logs_machine(s) ? ST_DAY_START : ST_DONE;
    return s;
}

void sim_free(simulator *s) { free(s); }

const char *sim_sterilizer(const simulator *s) { return s->sterilizer_id; }

/* Fills the autoclave's look-ahead; its faults count when drawn, as the
 * machine's do when queued. */
static void fill_autoclave(simulator *s)
{
    if (s->ac_ready || !logs_autoclave(s) || !sim_autoclave_next(&s->ac, &s->ac_next))
        return;
    s->ac_ready = true;
    s->faults.failed_cycle += s->ac_next.failed_cycle;
    s->faults.positive_spore += s->ac_next.positive_spore;
}

/* Whether the next event is the autoclave's: the earlier of the two heads,
 * the autoclave's on a tie (a grip names loads ended before it). */
static bool autoclave_first(simulator *s)
{
    while (s->qlen == 0 && s->state != ST_DONE)
        step(s);
    fill_autoclave(s);
    return s->ac_ready && (s->qlen == 0 || s->ac_next.due_ms <= s->queue[s->qhead].due_ms);
}

bool sim_peek(simulator *s, int64_t *due_ms, const record **event)
{
    if (autoclave_first(s)) {
        *due_ms = s->ac_next.due_ms;
        *event = &s->ac_next.event;
        return true;
    }
    if (s->qlen == 0)
        return false;
    *due_ms = s->queue[s->qhead].due_ms;
    *event = &s->queue[s->qhead].event;
    return true;
}

void sim_pop(simulator *s)
{
    if (autoclave_first(s)) {
        s->ac_ready = false;
        return;
    }
    if (s->qlen == 0)
        return;
    s->qhead = (s->qhead + 1) % QUEUE_MAX;
    s->qlen--;
}

void sim_get_faults(const simulator *s, sim_faults *out) { *out = s->faults; }
