/* test_rules: the compliance rules (collector/rules*.c) end to end through
 * ingest_events against a real temporary database (testdb.h: SQLite, or
 * PostgreSQL with SMP_TEST_PG).
 *
 * Each case feeds a short record sequence from registered devices and
 * asserts exactly which alerts the alerts table holds afterwards (rule,
 * severity, cause, device, cleared or not) and which events a message
 * produced. Every message is delivered twice: the second delivery must
 * store nothing and raise nothing (rules run only on inserted records).
 * Time-driven rules (R6, R8) run through rules_tick with an injected now,
 * on a second store connection as in the collector.
 *
 * On PostgreSQL only, the last cases are several collectors on one
 * database: a second store and ingest stand for another collector, the
 * same clinic's devices are fed through both, one after the other and at
 * the same moment (threads), and the timer's leader lock is passed on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "record.h"
#include "rules.h"
#include "store.h"
#include "store_rules.h"
#include "testdb.h"

#define DAY_S (24 * 3600)

typedef struct feed {
    const char *device;
    uint64_t seq;
    char prev[RECORD_HASH_HEX];
    int64_t clock_ms;              /* device time of the next record */
    char *canon[MESSAGE_MAX_RECORDS];
    size_t lens[MESSAGE_MAX_RECORDS];
    size_t n;
} feed;

enum { DEV_A, DEV_B, DEV_C, NDEV };   /* a, b: clinic-1; c: clinic-2 */

typedef struct fixture {
    char target[TESTDB_TARGET_MAX];
    store *s, *timer_store;
    ingest *in;
    store *s2;                     /* another collector's connection (PostgreSQL cases) */
    ingest *in2;
    sqldb *db;                     /* for assertions */
    feed feeds[NDEV];
    char events[8192];             /* events of the last send / tick, one per line */
    alert_batch tick_out;
    policy pol;
    int64_t t0;
} fixture;

static fixture *F;

/* ---- setup --------------------------------------------------------------- */

static const ingest_limits limits = {1000, 4096, 24LL * 3600 * 1000, {300 * 1000, 3600 * 1000}};
static int64_t cycle_no;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    static const char *const names[NDEV] = {"dev-a", "dev-b", "dev-c"};
    char err[512];

    assert_non_null(f);
    testdb_new(f->target, sizeof f->target);
    f->db = testdb_open(f->target);
    testdb_exec(f->db, "INSERT INTO devices(device_id, clinic, added_at) VALUES "
                       "('dev-a', 'clinic-1', '2026-01-01T00:00:00.000Z'),"
                       "('dev-b', 'clinic-1', '2026-01-01T00:00:00.000Z'),"
                       "('dev-c', 'clinic-2', '2026-01-01T00:00:00.000Z')");
    if (store_open(f->target, &f->s, err, sizeof err) != 0 ||
        store_open(f->target, &f->timer_store, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(f->in = ingest_new(f->s, &limits));
    assert_int_equal(policy_defaults(&f->pol), 0);
    ingest_set_policy(f->in, &f->pol);
    cycle_no = 0;
    assert_int_equal(record_ts_parse("2026-11-02T08:00:00.000Z", &f->t0), 0);
    for (int i = 0; i < NDEV; i++) {
        f->feeds[i].device = names[i];
        memcpy(f->feeds[i].prev, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
        f->feeds[i].clock_ms = f->t0;
    }
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    ingest_free(f->in);
    ingest_free(f->in2);
    store_close(f->s);
    store_close(f->s2);
    store_close(f->timer_store);
    sqldb_close(f->db);
    for (int i = 0; i < NDEV; i++)
        for (size_t k = 0; k < f->feeds[i].n; k++)
            free(f->feeds[i].canon[k]);
    testdb_drop(f->target);
    free(f);
    return 0;
}

/* ---- feeding records ----------------------------------------------------- */

/* Appends b's events to F->events, one line each. */
static void add_events(const alert_batch *b)
{
    size_t n = strlen(F->events);
    for (size_t i = 0; i < b->count; i++)
        n += (size_t)snprintf(F->events + n, sizeof F->events - n, "%s %s %s %s %s\n",
                              alert_event_name(b->events[i].kind), b->events[i].a.rule,
                              b->events[i].a.severity, b->events[i].a.cause,
                              b->events[i].a.device);
}

static void summarize(const alert_batch *b)
{
    F->events[0] = '\0';
    add_events(b);
}

/* One message of a device's pending records, taken off its feed. */
typedef struct outgoing {
    char topic[96];
    char *payload;
    int len;
    size_t records;
} outgoing;

static void take_message(int dev, outgoing *m)
{
    feed *fd = &F->feeds[dev];

    assert_true(fd->n > 0);
    assert_non_null(m->payload = malloc(MESSAGE_MAX_BYTES));
    snprintf(m->topic, sizeof m->topic, "smp/v1/dev/%s/events", fd->device);
    m->len = message_encode_batch(fd->device, (const char *const *)fd->canon, fd->lens, fd->n,
                                  m->payload, MESSAGE_MAX_BYTES);
    assert_true(m->len > 0);
    m->records = fd->n;
    for (size_t i = 0; i < fd->n; i++)
        free(fd->canon[i]);
    fd->n = 0;
}

/* Delivers the device's pending records as one message through in (a
 * collector's connection) at receive time now_ms, then again: the resend
 * must be all duplicates and raise nothing. */
static void send_via(ingest *in, int dev, int64_t now_ms)
{
    outgoing m;
    ingest_result r;

    if (F->feeds[dev].n == 0)
        return;
    take_message(dev, &m);
    assert_int_equal(ingest_events(in, m.topic, m.payload, (size_t)m.len, now_ms, &r), 0);
    if (r.quarantined)
        fail_msg("quarantined: %s", r.reason);
    assert_int_equal(r.stored, (int)m.records);
    summarize(r.alerts);
    assert_int_equal(ingest_events(in, m.topic, m.payload, (size_t)m.len, now_ms + 1000, &r), 0);
    assert_int_equal(r.stored, 0);
    assert_int_equal(r.duplicates, (int)m.records);
    if (r.alerts->count != 0)
        fail_msg("a resend raised %zu alert events", r.alerts->count);
    free(m.payload);
}

static void send_at(int dev, int64_t now_ms)
{
    send_via(F->in, dev, now_ms);
}

/* Receive time: one second after the device's latest record. */
static void send(int dev)
{
    send_at(dev, F->feeds[dev].clock_ms);
}

/* Assigns seq, ts (the device clock, then +1 s) and prev; queues r. */
static void push(int dev, record *r)
{
    feed *fd = &F->feeds[dev];
    char canon[RECORD_CANON_MAX];
    record_error err;
    int len;

    if (fd->n == MESSAGE_MAX_RECORDS)
        send(dev);
    r->seq = ++fd->seq;
    record_ts_format(fd->clock_ms, r->ts);
    memcpy(r->prev, fd->prev, RECORD_HASH_HEX);
    if (record_check(r, &err) != 0)
        fail_msg("test record invalid: %s: %s", err.field, err.reason);
    len = record_canonical(r, canon, sizeof canon);
    assert_true(len > 0);
    record_sha256_hex(canon, (size_t)len, fd->prev);
    assert_non_null(fd->canon[fd->n] = strdup(canon));
    fd->lens[fd->n++] = (size_t)len;
    fd->clock_ms += 1000;
}

static void at(int dev, int64_t offset_s)
{
    F->feeds[dev].clock_ms = F->t0 + offset_s * 1000;
}

static void session_start(int dev, const char *sid)
{
    record r;
    record_init(&r, RT_SESSION_START);
    record_set_str(&r, "session_id", sid);
    record_set_str(&r, "operator_id", "op-1");
    record_set_str(&r, "client_ref", "c-0001");
    record_set_int(&r, "treatment_no", 1);
    push(dev, &r);
}

static void session_end(int dev, const char *sid)
{
    record r;
    record_init(&r, RT_SESSION_END);
    record_set_str(&r, "session_id", sid);
    record_set_int(&r, "run_s", 600);
    record_set_int(&r, "strokes", 60000);
    push(dev, &r);
}

static void insert(int dev, const char *uid, const char *sid, const char *expiry, const char *lot)
{
    record r;
    record_init(&r, RT_CARTRIDGE_INSERT);
    record_set_str(&r, "cartridge_uid", uid);
    record_set_str(&r, "sku", "0603RL");
    record_set_int(&r, "needles", 3);
    record_set_str(&r, "config", "3RL");
    if (lot)
        record_set_str(&r, "lot", lot);
    record_set_str(&r, "expiry", expiry);
    record_set_str(&r, "session_id", sid);
    push(dev, &r);
}

static void insert_ok(int dev, const char *uid, const char *sid)
{
    insert(dev, uid, sid, "2027-06-30", "LOT-26A");
}

static void remove_cart(int dev, const char *uid, const char *sid)
{
    record r;
    record_init(&r, RT_CARTRIDGE_REMOVE);
    record_set_str(&r, "cartridge_uid", uid);
    record_set_str(&r, "session_id", sid);
    record_set_int(&r, "run_s", 100);
    record_set_int(&r, "strokes", 10000);
    record_set_str(&r, "reason", "session_end");
    push(dev, &r);
}

static void counters(int dev, int64_t motor_s, const char *uid, int64_t run_s, int64_t strokes)
{
    record r;
    record_init(&r, RT_USAGE_COUNTERS);
    record_set_int(&r, "motor_s_total", motor_s);
    record_set_int(&r, "strokes_total", motor_s * 100);
    if (uid)
        record_set_str(&r, "cartridge_uid", uid);
    record_set_int(&r, "cartridge_run_s", run_s);
    record_set_int(&r, "cartridge_strokes", strokes);
    push(dev, &r);
}

static void grip(int dev, const char *grip_id, const char *load, const char *sid)
{
    record r;
    record_init(&r, RT_GRIP_ASSIGN);
    record_set_str(&r, "grip_id", grip_id);
    record_set_str(&r, "load_id", load);
    record_set_str(&r, "session_id", sid);
    push(dev, &r);
}

static void cycle_full(int dev, const char *ster, const char *load, const char *program,
                       int64_t temp_dc, int64_t exposure_s, const char *ci, const char *result)
{
    record r;
    record_init(&r, RT_STERILIZATION_CYCLE);
    record_set_str(&r, "sterilizer_id", ster);
    record_set_int(&r, "cycle_no", ++cycle_no);
    record_set_str(&r, "load_id", load);
    record_set_str(&r, "program", program);
    record_set_int(&r, "setpoint_c", temp_dc);
    record_set_int(&r, "temp_min_c", temp_dc);
    record_set_int(&r, "temp_max_c", temp_dc + 10);
    record_set_int(&r, "exposure_s", exposure_s);
    record_set_int(&r, "pressure_min_kpa", 3000);
    record_set_int(&r, "pressure_max_kpa", 3100);
    record_set_int(&r, "dry_s", 1200);
    record_set_str(&r, "operator_id", "op-1");
    record_set_str(&r, "ci_result", ci);
    record_set_str(&r, "result", result);
    push(dev, &r);
}

/* Cycle number `no` of ster (a number another device may log too). */
static void cycle_numbered(int dev, const char *ster, const char *load, int64_t no, int64_t temp_dc)
{
    int64_t next = cycle_no;
    cycle_no = no - 1;
    cycle_full(dev, ster, load, "prevac_134", temp_dc, 240, temp_dc >= 1340 ? "pass" : "fail",
               temp_dc >= 1340 ? "pass" : "fail");
    cycle_no = next > no ? next : no;
}

/* A prevac_134 cycle that meets the default minimums (134.0 °C, 180 s). */
static void cycle_pass(int dev, const char *ster, const char *load)
{
    cycle_full(dev, ster, load, "prevac_134", 1345, 240, "pass", "pass");
}

static void cycle_fail(int dev, const char *ster, const char *load)
{
    cycle_full(dev, ster, load, "prevac_134", 1300, 240, "fail", "fail");
}

static void spore(int dev, const char *ster, const char *result)
{
    record r;
    char ts[RECORD_TS_LEN + 1];
    record_init(&r, RT_STERILIZATION_TEST);
    record_set_str(&r, "sterilizer_id", ster);
    record_set_str(&r, "kind", "spore");
    record_set_int(&r, "cycle_no", cycle_no);
    record_set_str(&r, "bi_lot", "BI-7731");
    record_set_str(&r, "result", result);
    record_ts_format(F->feeds[dev].clock_ms, ts);
    record_set_str(&r, "read_ts", ts);
    push(dev, &r);
}

/* A test of kind run in cycle `cycle` of ster, read (and logged) now. */
static void test_in(int dev, const char *ster, const char *kind, int64_t cycle, const char *result)
{
    record r;
    char ts[RECORD_TS_LEN + 1];
    record_init(&r, RT_STERILIZATION_TEST);
    record_set_str(&r, "sterilizer_id", ster);
    record_set_str(&r, "kind", kind);
    record_set_int(&r, "cycle_no", cycle);
    record_set_str(&r, "bi_lot", "BI-7731");
    record_set_str(&r, "result", result);
    record_ts_format(F->feeds[dev].clock_ms, ts);
    record_set_str(&r, "read_ts", ts);
    push(dev, &r);
}

/* The time-driven rules at t0 + offset_s, as the collector's timer runs them. */
static void tick_on(store *s, int64_t offset_s)
{
    assert_int_equal(rules_tick(s, &F->pol, F->t0 + offset_s * 1000, &F->tick_out), 0);
    summarize(&F->tick_out);
}

static void tick(int64_t offset_s)
{
    tick_on(F->timer_store, offset_s);
}

static void use_policy(void)
{
    ingest_set_policy(F->in, &F->pol);
    if (F->in2)
        ingest_set_policy(F->in2, &F->pol);
}

/* ---- assertions ---------------------------------------------------------- */

/* The alerts table, one line per alert by id:
 * "<rule> <severity> <cause> <device>[ cleared| withdrawn| pending]". */
/* Prepares sql on the assertion connection (fails the test if it cannot). */
static sqldb_stmt *query(const char *sql)
{
    sqldb_stmt *q = NULL;
    if (sqldb_prepare(F->db, sql, &q) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(F->db));
    return q;
}

static void alerts_are(const char *want)
{
    sqldb_stmt *q = query("SELECT rule || ' ' || severity || ' ' || cause || ' ' || "
                          "device_id || CASE WHEN state IS NOT NULL THEN ' ' || state "
                          "WHEN cleared_at IS NULL THEN '' "
                          "ELSE ' cleared' END FROM alerts ORDER BY id");
    char got[8192];
    size_t n = 0;
    int rc;

    got[0] = '\0';
    while ((rc = sqldb_step(q)) == 1)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s\n", sqldb_column_text(q, 0));
    sqldb_finalize(q);
    assert_int_equal(rc, 0);
    if (strcmp(got, want) != 0)
        fail_msg("alerts table:\n%s-- want:\n%s", got, want);
}

static void events_are(const char *want)
{
    if (strcmp(F->events, want) != 0)
        fail_msg("events:\n%s-- want:\n%s", F->events, want);
}

/* The one alert of (rule, cause): its message and parsed evidence. */
static cJSON *alert_of(const char *rule, const char *cause, char *message, size_t cap)
{
    sqldb_stmt *q = query("SELECT message, evidence FROM alerts WHERE rule = ?1 AND cause = ?2");
    cJSON *ev;

    assert_int_equal(sqldb_bind_text(q, 1, rule), 0);
    assert_int_equal(sqldb_bind_text(q, 2, cause), 0);
    if (sqldb_step(q) != 1)
        fail_msg("no alert %s %s", rule, cause);
    snprintf(message, cap, "%s", sqldb_column_text(q, 0));
    ev = cJSON_Parse(sqldb_column_text(q, 1));
    if (!ev || !cJSON_IsObject(ev))
        fail_msg("evidence of %s %s is not a JSON object: %s", rule, cause, sqldb_column_text(q, 1));
    sqldb_finalize(q);
    return ev;
}

static void contains(const char *text, const char *part)
{
    if (!strstr(text, part))
        fail_msg("'%s' does not contain '%s'", text, part);
}

static int64_t ev_num(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2)
        v = cJSON_GetObjectItemCaseSensitive(v, path2);
    if (!cJSON_IsNumber(v))
        fail_msg("evidence has no number %s%s%s", path1, path2 ? "." : "", path2 ? path2 : "");
    return (int64_t)v->valuedouble;
}

static const char *ev_text(const cJSON *o, const char *path1, const char *path2)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, path1);
    if (path2)
        v = cJSON_GetObjectItemCaseSensitive(v, path2);
    if (!cJSON_IsString(v))
        fail_msg("evidence has no string %s%s%s", path1, path2 ? "." : "", path2 ? path2 : "");
    return v->valuestring;
}

/* Delivers the pending records one message each, last first: records that
 * arrive out of order (a resend after a lost message, or two collectors).
 * F->events: the events of all of them, in order. */
static void send_reversed(int dev)
{
    feed *fd = &F->feeds[dev];
    char topic[96], payload[RECORD_CANON_MAX + 128];
    ingest_result r;

    snprintf(topic, sizeof topic, "smp/v1/dev/%s/events", fd->device);
    F->events[0] = '\0';
    for (size_t i = fd->n; i-- > 0;) {
        int len = message_encode_batch(fd->device, (const char *const *)&fd->canon[i], &fd->lens[i], 1,
                                       payload, sizeof payload);
        assert_true(len > 0);
        assert_int_equal(ingest_events(F->in, topic, payload, (size_t)len, fd->clock_ms, &r), 0);
        assert_int_equal(r.stored, 1);
        add_events(r.alerts);
        free(fd->canon[i]);
    }
    fd->n = 0;
}

/* ---- compliant input ----------------------------------------------------- */

/* A clinic day that breaks no rule: nothing raised, then or a week later. */
static void test_compliant_day_raises_nothing(void **state)
{
    (void)state;
    at(DEV_A, 0);
    /* Every program exactly at its default minimums passes. */
    cycle_full(DEV_A, "ac-1", "L1", "gravity_121", 1210, 1800, "pass", "pass");
    cycle_full(DEV_A, "ac-1", "L2", "gravity_132", 1320, 900, "pass", "pass");
    cycle_full(DEV_A, "ac-1", "L3", "prevac_132", 1320, 240, "pass", "pass");
    cycle_full(DEV_A, "ac-1", "L4", "prevac_134", 1340, 180, "pass", "pass");
    spore(DEV_A, "ac-1", "negative");
    session_start(DEV_A, "S1");
    grip(DEV_A, "grip-1", "L1", "S1");
    insert_ok(DEV_A, "C1", "S1");
    counters(DEV_A, 600, "C1", 3600, 400000);
    remove_cart(DEV_A, "C1", "S1");
    insert_ok(DEV_A, "C2", "S1");
    remove_cart(DEV_A, "C2", "S1");
    insert(DEV_A, "C1", "S1", "2026-11-02", "LOT-1"); /* same cartridge, same sitting; expires today */
    remove_cart(DEV_A, "C1", "S1");
    session_end(DEV_A, "S1");
    send(DEV_A);
    events_are("");
    /* Another machine of the clinic uses a grip from dev-a's autoclave log. */
    at(DEV_B, 3600);
    session_start(DEV_B, "S2");
    grip(DEV_B, "grip-2", "L4", "S2");
    insert_ok(DEV_B, "C3", "S2");
    remove_cart(DEV_B, "C3", "S2");
    session_end(DEV_B, "S2");
    send(DEV_B);
    events_are("");
    tick(7 * DAY_S - 60);
    events_are("");
    alerts_are("");
}

/* ---- R1 ------------------------------------------------------------------ */

static void test_r1_cartridge_in_two_sessions(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C1", "S1");
    remove_cart(DEV_A, "C1", "S1");
    session_end(DEV_A, "S1");
    session_start(DEV_A, "S2");
    insert_ok(DEV_A, "C1", "S2");
    send(DEV_A);
    events_are("raised R1 critical reused:C1:S2 dev-a\n");
    /* Cartridge uids are fleet-unique: another clinic's machine counts too. */
    at(DEV_C, 100);
    session_start(DEV_C, "S9");
    insert_ok(DEV_C, "C1", "S9");
    send(DEV_C);
    events_are("raised R1 critical reused:C1:S9 dev-c\n");
    alerts_are("R1 critical reused:C1:S2 dev-a\n"
               "R1 critical reused:C1:S9 dev-c\n");

    cJSON *ev = alert_of("R1", "reused:C1:S2", msg, sizeof msg);
    contains(msg, "cartridge C1 reused: inserted in session S2 after session S1 on dev-a");
    assert_string_equal(ev_text(ev, "first", "session_id"), "S1");
    assert_int_equal(ev_num(ev, "first", "seq"), 2);
    assert_string_equal(ev_text(ev, "reuse", "device"), "dev-a");
    assert_int_equal(ev_num(ev, "reuse", "seq"), 6);
    assert_string_equal(ev_text(ev, "reuse", "ts"), "2026-11-02T08:00:05.000Z");
    cJSON_Delete(ev);
}

/* The statements and round trips one message costs. */
static void send_counted(int dev, int64_t *statements, int64_t *round_trips)
{
    int64_t s0 = store_statements(F->s), r0 = store_round_trips(F->s);

    send(dev);
    *statements = store_statements(F->s) - s0;
    *round_trips = store_round_trips(F->s) - r0;
}

/* The statements one message costs. */
static int64_t send_statements(int dev)
{
    int64_t statements, round_trips;

    send_counted(dev, &statements, &round_trips);
    return statements;
}

/* On PostgreSQL a cartridge's first use is claimed without waiting for the
 * server, and so is a re-insert in the same session: a second insert in a
 * message costs one statement more and no round trip. A reuse fails the
 * claim, the group runs again with a savepoint per message, and R1 is
 * raised as before. SQLite asks at once (and reads the first use back for
 * a re-insert). */
static void test_r1_claim_sent_ahead(void **state)
{
    int64_t one_st, one_rt, two_st, two_rt, again_st, again_rt;
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C0", "S1");
    send(DEV_A);
    at(DEV_A, 5);
    insert_ok(DEV_A, "C9", "S1");                /* every statement is prepared now */
    send(DEV_A);
    at(DEV_A, 10);
    insert_ok(DEV_A, "C1", "S1");
    send_counted(DEV_A, &one_st, &one_rt);
    at(DEV_A, 20);
    insert_ok(DEV_A, "C2", "S1");
    insert_ok(DEV_A, "C3", "S1");
    send_counted(DEV_A, &two_st, &two_rt);
    at(DEV_A, 30);
    insert_ok(DEV_A, "C1", "S1");                /* again, in the same session */
    send_counted(DEV_A, &again_st, &again_rt);
    events_are("");
    assert_int_equal(two_st, one_st + 1);
    if (testdb_is_postgres()) {
        assert_int_equal(two_rt, one_rt);
        assert_int_equal(again_st, one_st);
        assert_int_equal(again_rt, one_rt);
    } else {
        assert_int_equal(again_st, one_st + 1);
    }
    at(DEV_A, 40);
    session_end(DEV_A, "S1");
    session_start(DEV_A, "S2");
    insert_ok(DEV_A, "C1", "S2");
    send(DEV_A);
    events_are("raised R1 critical reused:C1:S2 dev-a\n");
    alerts_are("R1 critical reused:C1:S2 dev-a\n");
}

static void test_r1_odd_ids_are_escaped(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S:1");
    insert_ok(DEV_A, "C:x:1", "S:1");
    session_end(DEV_A, "S:1");
    session_start(DEV_A, "S2");
    insert_ok(DEV_A, "C:x:1", "S2");
    send(DEV_A);
    alerts_are("R1 critical reused:C%3Ax%3A1:S2 dev-a\n");
    cJSON *ev = alert_of("R1", "reused:C%3Ax%3A1:S2", msg, sizeof msg);
    assert_string_equal(ev_text(ev, "cartridge_uid", NULL), "C:x:1");
    assert_string_equal(ev_text(ev, "first", "session_id"), "S:1");
    cJSON_Delete(ev);
}

/* ---- R2 ------------------------------------------------------------------ */

static void test_r2_expired_or_no_lot(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0); /* 2026-11-02 */
    session_start(DEV_A, "S1");
    insert(DEV_A, "C1", "S1", "2026-11-01", "LOT-1"); /* expired yesterday */
    insert(DEV_A, "C2", "S1", "2026-11-02", "LOT-1"); /* expires today: still usable */
    insert(DEV_A, "C3", "S1", "2027-01-01", NULL);    /* no lot */
    insert(DEV_A, "C4", "S1", "2025-12-31", NULL);    /* both */
    send(DEV_A);
    events_are("raised R2 critical expired:C1:S1 dev-a\n"
               "raised R2 warning no-lot:C3:S1 dev-a\n"
               "raised R2 critical expired:C4:S1 dev-a\n"
               "raised R2 warning no-lot:C4:S1 dev-a\n");
    alerts_are("R2 critical expired:C1:S1 dev-a\n"
               "R2 warning no-lot:C3:S1 dev-a\n"
               "R2 critical expired:C4:S1 dev-a\n"
               "R2 warning no-lot:C4:S1 dev-a\n");
    cJSON *ev = alert_of("R2", "expired:C1:S1", msg, sizeof msg);
    /* clinic-1 is not registered: its calendar is UTC. */
    contains(msg, "cartridge C1 inserted on 2026-11-02 08:00 UTC, after its expiry 2026-11-01");
    assert_string_equal(ev_text(ev, "expiry", NULL), "2026-11-01");
    assert_string_equal(ev_text(ev, "local_date", NULL), "2026-11-02");
    assert_string_equal(ev_text(ev, "timezone", NULL), "UTC");
    assert_string_equal(ev_text(ev, "lot", NULL), "LOT-1");
    assert_int_equal(ev_num(ev, "seq", NULL), 2);
    cJSON_Delete(ev);
    ev = alert_of("R2", "no-lot:C3:S1", msg, sizeof msg);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ev, "lot")));
    cJSON_Delete(ev);
}

/* ---- R3 ------------------------------------------------------------------ */

static void test_r3_wear_while_running_cleared_by_remove(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C1", "S1");
    counters(DEV_A, 1000, "C1", 3600, 400000);   /* at the limits: fine */
    send(DEV_A);
    events_are("");
    counters(DEV_A, 1060, "C1", 3601, 400000);   /* run time over */
    counters(DEV_A, 1120, "C1", 3660, 410000);   /* still over: same cause */
    send(DEV_A);
    events_are("raised R3 maintenance wear:C1 dev-a\n");
    remove_cart(DEV_A, "C1", "S1");
    send(DEV_A);
    events_are("cleared R3 maintenance wear:C1 dev-a\n");
    insert_ok(DEV_A, "C2", "S1");
    counters(DEV_A, 1200, "C2", 100, 400001);    /* strokes over */
    counters(DEV_A, 1260, NULL, 200, 500000);    /* no cartridge named: nothing to replace */
    send(DEV_A);
    events_are("raised R3 maintenance wear:C2 dev-a\n");
    alerts_are("R3 maintenance wear:C1 dev-a cleared\n"
               "R3 maintenance wear:C2 dev-a\n");
    cJSON *ev = alert_of("R3", "wear:C1", msg, sizeof msg);
    contains(msg, "replace cartridge C1: 3601 s / 400000 strokes");
    assert_int_equal(ev_num(ev, "cartridge_run_s", NULL), 3601);
    assert_int_equal(ev_num(ev, "cartridge_max_run_s", NULL), 3600);
    cJSON_Delete(ev);
}

/* Two collectors can store a device's messages out of order: the removal
 * judged before the over-limit counters that came first. The wear is on
 * record all the same, as in order: raised and cleared at once by the
 * first of them, nothing by the next (raising it again would reopen it on
 * a cartridge that is already out), nothing left open. */
static void test_r3_late_counter_after_remove_raised_and_cleared(void **state)
{
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C1", "S1");
    send(DEV_A);
    counters(DEV_A, 1060, "C1", 3601, 400000);   /* over the run-time limit */
    counters(DEV_A, 1120, "C1", 3661, 400000);   /* and again */
    remove_cart(DEV_A, "C1", "S1");
    send_reversed(DEV_A);                       /* the removal first, then the counters */
    events_are("raised R3 maintenance wear:C1 dev-a\n"
               "cleared R3 maintenance wear:C1 dev-a\n");
    alerts_are("R3 maintenance wear:C1 dev-a cleared\n");
    /* In order, the same records raise and clear. */
    insert_ok(DEV_A, "C2", "S1");
    counters(DEV_A, 1200, "C2", 3601, 400000);
    send(DEV_A);
    events_are("raised R3 maintenance wear:C2 dev-a\n");
    remove_cart(DEV_A, "C2", "S1");
    send(DEV_A);
    events_are("cleared R3 maintenance wear:C2 dev-a\n");
    alerts_are("R3 maintenance wear:C1 dev-a cleared\n"
               "R3 maintenance wear:C2 dev-a cleared\n");
}

/* A worn counter at the end of the device's chain (nothing stored above it
 * before its message) asks the store nothing about a later removal of its
 * cartridge: the removals of its own message are stored after it is
 * judged. A message of one worn counter whose R3 is open already then
 * costs what one of a counter under the limits does, plus the raise that
 * finds the alert open. Judged out of order (a later record stored first)
 * it still looks, and finds the removal:
 * test_r3_late_counter_after_remove_raised_and_cleared. */
static void test_r3_worn_counter_at_the_end_asks_nothing_more(void **state)
{
    int64_t under, worn;
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C1", "S1");
    counters(DEV_A, 1060, "C1", 3601, 400000);   /* over the limit */
    send(DEV_A);
    events_are("raised R3 maintenance wear:C1 dev-a\n");
    counters(DEV_A, 1120, "C1", 3000, 300000);   /* under: nothing to judge */
    under = send_statements(DEV_A);
    counters(DEV_A, 1180, "C1", 3661, 400000);   /* over again: open already */
    worn = send_statements(DEV_A);
    events_are("");
    assert_int_equal(worn, under + 1);
    alerts_are("R3 maintenance wear:C1 dev-a\n");
}

/* A removal clears its cartridge's R3 when the same message raised it,
 * and asks the store nothing about R3 when none of the device's is open
 * (store_device_view): one statement fewer than when one is. */
static void test_r3_clear_asked_only_when_one_may_be_open(void **state)
{
    int64_t none_open, one_open;
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C1", "S1");
    counters(DEV_A, 1060, "C1", 3601, 400000);   /* over the limit */
    remove_cart(DEV_A, "C1", "S1");              /* in the same message */
    send(DEV_A);
    events_are("raised R3 maintenance wear:C1 dev-a\n"
               "cleared R3 maintenance wear:C1 dev-a\n");

    insert_ok(DEV_A, "C2", "S1");
    remove_cart(DEV_A, "C2", "S1");
    none_open = send_statements(DEV_A);

    insert_ok(DEV_A, "C3", "S1");
    counters(DEV_A, 1200, "C3", 3601, 400000);
    send(DEV_A);
    events_are("raised R3 maintenance wear:C3 dev-a\n");
    insert_ok(DEV_A, "C4", "S1");
    remove_cart(DEV_A, "C4", "S1");
    one_open = send_statements(DEV_A);
    events_are("");
    assert_int_equal(one_open, none_open + 1);
    alerts_are("R3 maintenance wear:C1 dev-a cleared\n"
               "R3 maintenance wear:C3 dev-a\n");
}

/* ---- R4 ------------------------------------------------------------------ */

static void test_r4_cycle_failed_each_reason(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    cycle_full(DEV_A, "ac-1", "L1", "prevac_134", 1339, 240, "pass", "pass");     /* too cool */
    cycle_full(DEV_A, "ac-1", "L2", "gravity_121", 1215, 1799, "pass", "pass");   /* too short */
    cycle_full(DEV_A, "ac-1", "L3", "prevac_132", 1330, 300, "fail", "pass");     /* CI failed */
    cycle_full(DEV_A, "ac-1", "L4", "gravity_132", 1330, 1000, "pass", "aborted"); /* aborted */
    cycle_full(DEV_A, "ac-1", "L5", "prevac_132", 1320, 240, "pass", "pass");     /* at the minimums */
    send(DEV_A);
    alerts_are("R4 cycle-failed load:L1 dev-a\n"
               "R4 cycle-failed load:L2 dev-a\n"
               "R4 cycle-failed load:L3 dev-a\n"
               "R4 cycle-failed load:L4 dev-a\n");
    cJSON *ev = alert_of("R4", "load:L1", msg, sizeof msg);
    contains(msg, "cycle 1 of ac-1 failed, load L1: temperature 133.9 °C below 134.0 °C");
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(ev, "reasons");
    assert_int_equal(cJSON_GetArraySize(reasons), 1);
    assert_string_equal(cJSON_GetArrayItem(reasons, 0)->valuestring, "temperature");
    assert_true(cJSON_GetObjectItemCaseSensitive(ev, "temp_min_c")->valuedouble == 133.9);
    cJSON_Delete(ev);
    cJSON_Delete(alert_of("R4", "load:L2", msg, sizeof msg));
    contains(msg, "exposure 1799 s under 1800 s");
    cJSON_Delete(alert_of("R4", "load:L3", msg, sizeof msg));
    contains(msg, "chemical indicator fail");
    cJSON_Delete(alert_of("R4", "load:L4", msg, sizeof msg));
    contains(msg, "result aborted");

    /* The load is reprocessed, logged by another machine of the clinic. */
    at(DEV_B, 3600);
    cycle_pass(DEV_B, "ac-1", "L1");
    send(DEV_B);
    events_are("cleared R4 cycle-failed load:L1 dev-a\n");
}

/* ---- R5 ------------------------------------------------------------------ */

static void test_r5_grip_from_failed_or_unknown_load(void **state)
{
    (void)state;

    F->pol.settle_s = 0;   /* judged at once; the settle window has its own tests */
    use_policy();
    at(DEV_A, 0);
    cycle_fail(DEV_A, "ac-1", "L1");
    cycle_pass(DEV_A, "ac-1", "L2");
    send(DEV_A);
    events_are("raised R4 cycle-failed load:L1 dev-a\n");
    at(DEV_A, 600);
    session_start(DEV_A, "S1");
    grip(DEV_A, "g1", "L1", "S1");
    grip(DEV_A, "g2", "L2", "S1");
    grip(DEV_A, "g3", "L9", "S1");
    send(DEV_A);
    events_are("raised R5 critical failed-load:S1:g1 dev-a\n"
               "raised R5 critical no-cycle:S1:g3 dev-a\n");
    /* Loads belong to a clinic: clinic-2 cannot use clinic-1's load. */
    at(DEV_C, 600);
    session_start(DEV_C, "S7");
    grip(DEV_C, "g7", "L2", "S7");
    send(DEV_C);
    events_are("raised R5 critical no-cycle:S7:g7 dev-c\n");
    /* L9's cycle ran before the grip was used but its log arrives late: the
     * alert was wrong and is withdrawn. */
    at(DEV_B, 300);
    cycle_pass(DEV_B, "ac-1", "L9");
    send_at(DEV_B, F->t0 + 700 * 1000);
    events_are("withdrawn R5 critical no-cycle:S1:g3 dev-a\n");
    /* L1 re-run after the grip was used does not excuse that use. */
    at(DEV_B, 900);
    cycle_pass(DEV_B, "ac-1", "L1");
    send(DEV_B);
    events_are("cleared R4 cycle-failed load:L1 dev-a\n");
    alerts_are("R4 cycle-failed load:L1 dev-a cleared\n"
               "R5 critical failed-load:S1:g1 dev-a\n"
               "R5 critical no-cycle:S1:g3 dev-a withdrawn\n"
               "R5 critical no-cycle:S7:g7 dev-c\n");
}

/* The statements a passing cycle of load on ac-1 costs, logged by dev at
 * at_s of device time and received at recv_s. */
static int64_t cycle_statements(int dev, int64_t at_s, const char *load, int64_t recv_s)
{
    int64_t s0;

    at(dev, at_s);
    cycle_pass(dev, "ac-1", load);
    s0 = store_statements(F->s);
    send_at(dev, F->t0 + recv_s * 1000);
    return store_statements(F->s) - s0;
}

/* A cycle rechecks the grips of its load: the load is judged once, and a
 * grip whose device has no R5 open has nothing to withdraw, so a load with
 * one grip or four costs no more statements than a load with none. With an
 * R5 of the device open, each cause the verdict clears is withdrawn (one
 * statement each). */
static void test_r5_recheck_judges_the_load_once(void **state)
{
    int64_t none, one, four, open;
    (void)state;

    cycle_statements(DEV_A, 0, "L0", 900);
    none = cycle_statements(DEV_A, 5, "L8", 905);

    at(DEV_B, 600);
    session_start(DEV_B, "S1");
    grip(DEV_B, "g1", "L1", "S1");
    grip(DEV_B, "g2", "L2", "S1");
    grip(DEV_B, "g3", "L2", "S1");
    grip(DEV_B, "g4", "L2", "S1");
    grip(DEV_B, "g5", "L2", "S1");
    send_at(DEV_B, F->t0 + 1000 * 1000);
    one = cycle_statements(DEV_A, 8, "L1", 1010);
    four = cycle_statements(DEV_A, 10, "L2", 1020);
    events_are("");
    assert_int_equal(one, none);
    assert_int_equal(four, none);

    /* g9's load never gets a cycle: R5 raised when it settles. */
    at(DEV_B, 700);
    grip(DEV_B, "g9", "L9", "S1");
    send_at(DEV_B, F->t0 + 1100 * 1000);
    tick(1100 + 301);
    events_are("raised R5 critical no-cycle:S1:g9 dev-b\n");
    at(DEV_B, 800);
    grip(DEV_B, "g6", "L3", "S1");
    send_at(DEV_B, F->t0 + 1500 * 1000);
    open = cycle_statements(DEV_A, 20, "L3", 1510);
    events_are("");
    assert_int_equal(open, none + 3);   /* no-cycle, failed-load, recalled */
    alerts_are("R5 critical no-cycle:S1:g9 dev-b\n"
               "R5 pending pending:8 dev-b pending\n");   /* g6, settled by the timer */
}

/* A grip from a load on record is judged with one read: the load, with its
 * sterilizer's recall dates (store_load_get), where the sterilizer's row
 * was a read of its own. A message of one such grip costs the clinic's
 * lock, the grip's row and that read over a message of a plain counter
 * (4 with the sterilizer read apart), its resend nothing more. On
 * PostgreSQL the read is sent ahead of the message's records
 * (rules_read_ahead), so it adds no round trip (on SQLite each statement
 * counts one). A recall found through those dates:
 * test_r5_grip_from_recalled_load. */
static void test_r5_load_and_recall_dates_one_read(void **state)
{
    int64_t plain, with_grip, plain_trips, grip_trips;
    (void)state;

    cycle_statements(DEV_A, 0, "L1", 900);
    at(DEV_B, 600);
    session_start(DEV_B, "S1");
    send_at(DEV_B, F->t0 + 1000 * 1000);
    counters(DEV_B, 610, NULL, 0, 0);
    plain = send_statements(DEV_B);
    grip(DEV_B, "g1", "L1", "S1");
    with_grip = send_statements(DEV_B);
    events_are("");
    assert_int_equal(with_grip, plain + 3);
    /* Again, every statement prepared now (a statement's first run on
     * PostgreSQL prepares it: a round trip of its own). */
    counters(DEV_B, 620, NULL, 0, 0);
    send_counted(DEV_B, &plain, &plain_trips);
    grip(DEV_B, "g2", "L1", "S1");
    send_counted(DEV_B, &with_grip, &grip_trips);
    events_are("");
    assert_int_equal(with_grip, plain + 3);
    assert_int_equal(grip_trips, plain_trips + (testdb_is_postgres() ? 0 : 3));
}

/* The load's read sent ahead (rules_read_ahead) is as of before the
 * message's records, so it is not sent when a cycle or spore test comes
 * before the grip in the message: the grip is judged from the load as
 * they left it. A passing cycle of the load in the same message withdraws
 * an earlier grip's alert and excuses the grip after it; a failed one is
 * that grip's R5; a cycle after the grip in the message comes too late
 * for it (and withdraws the alert, as one from another message would); a
 * positive spore test before the grip recalls its load (sent ahead, the
 * read would have had the sterilizer's dates from before the test: no
 * R5). */
static void test_r5_cycle_before_grip_in_one_message(void **state)
{
    int64_t positive_cycle;
    (void)state;

    F->pol.settle_s = 0;
    use_policy();
    at(DEV_A, 600);
    session_start(DEV_A, "S1");
    grip(DEV_A, "g0", "L1", "S1");
    session_end(DEV_A, "S1");
    send(DEV_A);
    events_are("raised R5 critical no-cycle:S1:g0 dev-a\n");
    at(DEV_B, 300);   /* run before g0 was used */
    session_start(DEV_B, "S2");
    cycle_pass(DEV_B, "ac-1", "L1");
    grip(DEV_B, "g1", "L1", "S2");
    send_at(DEV_B, F->t0 + 700 * 1000);
    events_are("withdrawn R5 critical no-cycle:S1:g0 dev-a\n");
    cycle_fail(DEV_B, "ac-1", "L2");
    grip(DEV_B, "g2", "L2", "S2");
    send_at(DEV_B, F->t0 + 710 * 1000);
    events_are("raised R4 cycle-failed load:L2 dev-b\n"
               "raised R5 critical failed-load:S2:g2 dev-b\n");
    grip(DEV_B, "g3", "L3", "S2");
    at(DEV_B, 300);   /* run before g3 was used, logged after it */
    cycle_pass(DEV_B, "ac-1", "L3");
    session_end(DEV_B, "S2");
    send_at(DEV_B, F->t0 + 720 * 1000);
    events_are("raised R5 critical no-cycle:S2:g3 dev-b\n"
               "withdrawn R5 critical no-cycle:S2:g3 dev-b\n");
    /* A positive spore test before the grip recalls the grip's load. */
    at(DEV_A, 1000);
    cycle_pass(DEV_A, "ac-2", "L5");
    positive_cycle = cycle_no;
    send(DEV_A);
    events_are("");
    at(DEV_B, 1000 + 7200);   /* read two hours after its cycle */
    session_start(DEV_B, "S3");
    test_in(DEV_B, "ac-2", "spore", positive_cycle, "positive");
    grip(DEV_B, "g5", "L5", "S3");
    send(DEV_B);
    events_are("raised R7 critical positive:ac-2:dev-b#10 dev-a\n"
               "raised R5 critical recalled:S3:g5 dev-b\n");
}

/* A grip waiting for its load's cycle is queued (store_pending_put) without
 * waiting for the answer on PostgreSQL: the next statement carries it, and
 * a statement that failed would fail that one. */
static void test_r5_pending_check_sent_ahead(void **state)
{
    rule_grip g = {.use = {.device = "dev-b", .seq = 7, .ts = "2026-11-02T08:10:00.000Z"},
                   .load_id = "L9", .grip_id = "g1", .session_id = "S1"};
    int64_t r0;
    (void)state;

    assert_int_equal(store_begin(F->s), 0);
    /* The first one prepares the statement (a round trip of its own). */
    assert_int_equal(store_pending_put(F->s, "clinic-1", &g, "2026-11-02T08:10:01.000Z"), 0);
    g.use.seq = 8;
    r0 = store_round_trips(F->s);
    assert_int_equal(store_pending_put(F->s, "clinic-1", &g, "2026-11-02T08:10:01.000Z"), 0);
    assert_int_equal(store_round_trips(F->s) - r0, testdb_is_postgres() ? 0 : 1);
    assert_int_equal(store_commit(F->s), 0);
    alerts_are("R5 pending pending:7 dev-b pending\n"
               "R5 pending pending:8 dev-b pending\n");
}

/* ---- R6 ------------------------------------------------------------------ */

/* clinic-1 is not registered: R6 counts its days on the UTC calendar.
 * First seen on 2026-11-02 (08:00 UTC): due by 2026-11-09, overdue from
 * 2026-11-10 00:00 UTC (7 d 16 h later), critical from 2026-11-17. */
static void test_r6_spore_overdue_escalates_and_clears(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L1"); /* first seen, never spore-tested */
    send(DEV_A);
    tick(7 * DAY_S + 16 * 3600 - 1);
    events_are("");
    tick(7 * DAY_S + 16 * 3600);
    events_are("raised R6 warning spore-overdue:ac-1 dev-a\n");
    tick(8 * DAY_S);
    events_are("");
    tick(14 * DAY_S + 16 * 3600 - 1);
    events_are("");
    tick(14 * DAY_S + 16 * 3600);
    events_are("escalated R6 critical spore-overdue:ac-1 dev-a\n");
    tick(15 * DAY_S);
    events_are("");
    /* Any machine of the clinic may log the test that ends it. */
    at(DEV_B, 15 * DAY_S);
    spore(DEV_B, "ac-1", "negative");
    send(DEV_B);
    events_are("cleared R6 critical spore-overdue:ac-1 dev-a\n");
    tick(15 * DAY_S + 3600);
    events_are("");
    tick(22 * DAY_S + 16 * 3600 - 1);     /* 2026-11-24 23:59:59: due that day */
    events_are("");
    tick(22 * DAY_S + 16 * 3600);
    events_are("raised R6 warning spore-overdue:ac-1 dev-a\n");
    alerts_are("R6 warning spore-overdue:ac-1 dev-a\n");
    cJSON *ev = alert_of("R6", "spore-overdue:ac-1", msg, sizeof msg);
    contains(msg, "last negative 2026-11-17, 8 days ago (due every 7 days)");
    assert_string_equal(ev_text(ev, "last_negative_ts", NULL), "2026-11-17T08:00:00.000Z");
    assert_string_equal(ev_text(ev, "since_date", NULL), "2026-11-17");
    assert_string_equal(ev_text(ev, "today", NULL), "2026-11-25");
    assert_string_equal(ev_text(ev, "timezone", NULL), "UTC");
    assert_int_equal(ev_num(ev, "days", NULL), 8);
    cJSON_Delete(ev);
}

/* The monthly interval of many body-art codes: tested 2026-11-02, due by
 * 2026-12-02, critical after 2027-01-01. */
static void test_r6_monthly_interval(void **state)
{
    (void)state;

    F->pol.spore_interval_days = 30;
    F->pol.spore_critical_days = 60;
    use_policy();
    at(DEV_A, 0);
    spore(DEV_A, "ac-2", "negative");
    send(DEV_A);
    tick(30 * DAY_S + 16 * 3600 - 1);
    events_are("");
    tick(30 * DAY_S + 16 * 3600);
    events_are("raised R6 warning spore-overdue:ac-2 dev-a\n");
    tick(60 * DAY_S + 16 * 3600 - 1);
    events_are("");
    tick(60 * DAY_S + 16 * 3600);
    events_are("escalated R6 critical spore-overdue:ac-2 dev-a\n");
}

/* ---- local calendars (registered clinics) ---------------------------------- */

/* clinic-1 in Los Angeles (PST, UTC-8 in November), clinic-2 in Brisbane
 * (UTC+10, no DST). */
static void register_clinics(const char *tz1, const char *tz2)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO clinics(clinic_id, name, timezone, added_at, updated_at) VALUES "
             "('clinic-1', 'One', '%s', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z'),"
             "('clinic-2', 'Two', '%s', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')",
             tz1, tz2);
    testdb_exec(F->db, sql);
}

/* R2 compares the expiry date with the insert's date in the clinic's local
 * calendar: in date until 23:59 local of the expiry day, expired from
 * 00:00 local of the next. t0 is 2026-11-02T08:00Z = 00:00 PST. */
static void test_r2_expiry_day_is_local(void **state)
{
    char msg[256];
    (void)state;

    register_clinics("America/Los_Angeles", "Australia/Brisbane");
    at(DEV_A, 58980);                                      /* 2026-11-02 16:23 PST (00:23Z on the 3rd) */
    insert(DEV_A, "C1", "S1", "2026-11-02", "LOT-1");
    at(DEV_A, 86340);                                      /* 2026-11-02 23:59 PST */
    insert(DEV_A, "C2", "S1", "2026-11-02", "LOT-1");
    at(DEV_A, 86400);                                      /* 2026-11-03 00:00 PST */
    insert(DEV_A, "C3", "S1", "2026-11-02", "LOT-1");
    send(DEV_A);
    events_are("raised R2 critical expired:C3:S1 dev-a\n");
    at(DEV_C, 21540);                                      /* 2026-11-02 23:59 AEST (13:59Z) */
    insert(DEV_C, "C8", "S9", "2026-11-02", "LOT-1");
    at(DEV_C, 21600);                                      /* 2026-11-03 00:00 AEST (14:00Z on the 2nd) */
    insert(DEV_C, "C9", "S9", "2026-11-02", "LOT-1");
    send(DEV_C);
    events_are("raised R2 critical expired:C9:S9 dev-c\n");
    alerts_are("R2 critical expired:C3:S1 dev-a\n"
               "R2 critical expired:C9:S9 dev-c\n");

    cJSON *ev = alert_of("R2", "expired:C3:S1", msg, sizeof msg);
    assert_string_equal(msg, "cartridge C3 inserted on 2026-11-03 00:00 PST, after its expiry "
                             "2026-11-02");
    assert_string_equal(ev_text(ev, "ts", NULL), "2026-11-03T08:00:00.000Z");   /* UTC kept */
    assert_string_equal(ev_text(ev, "local_date", NULL), "2026-11-03");
    assert_string_equal(ev_text(ev, "timezone", NULL), "America/Los_Angeles");
    cJSON_Delete(ev);
    ev = alert_of("R2", "expired:C9:S9", msg, sizeof msg);
    assert_string_equal(msg, "cartridge C9 inserted on 2026-11-03 00:00 AEST, after its expiry "
                             "2026-11-02");
    assert_string_equal(ev_text(ev, "ts", NULL), "2026-11-02T14:00:00.000Z");
    assert_string_equal(ev_text(ev, "local_date", NULL), "2026-11-03");
    assert_string_equal(ev_text(ev, "timezone", NULL), "Australia/Brisbane");
    cJSON_Delete(ev);
}

/* A registered zone the tz database cannot give (its file gone): the
 * clinic's dates are judged in UTC (and the collector logs it). */
static void test_r2_unusable_zone_is_utc(void **state)
{
    char msg[256];
    (void)state;

    register_clinics("Mars/Olympus_Mons", "UTC");
    at(DEV_A, 58980);                                      /* 2026-11-03T00:23Z */
    session_start(DEV_A, "S1");
    insert(DEV_A, "C1", "S1", "2026-11-02", "LOT-1");
    send(DEV_A);
    events_are("raised R2 critical expired:C1:S1 dev-a\n");
    cJSON *ev = alert_of("R2", "expired:C1:S1", msg, sizeof msg);
    assert_string_equal(msg, "cartridge C1 inserted on 2026-11-03 00:23 UTC, after its expiry "
                             "2026-11-02");
    assert_string_equal(ev_text(ev, "timezone", NULL), "UTC");
    cJSON_Delete(ev);
}

/* R6 counts days of the clinic's calendar: a test on Monday 2026-11-02 at
 * 09:00 PST is due by Monday 2026-11-09 all day long (the old count of 24
 * h periods warned at 09:00 that Monday), overdue from Tuesday 00:00 PST.
 * In Brisbane a test at 06:00 AEST on the 3rd is overdue from 00:00 AEST on
 * the 11th (14:00Z on the 10th). */
static void test_r6_counts_local_days(void **state)
{
    char msg[256];
    (void)state;

    register_clinics("America/Los_Angeles", "Australia/Brisbane");
    at(DEV_A, 9 * 3600);                                   /* 2026-11-02 09:00 PST */
    spore(DEV_A, "ac-1", "negative");
    send(DEV_A);
    at(DEV_C, 12 * 3600);                                  /* 2026-11-03 06:00 AEST */
    spore(DEV_C, "ac-9", "negative");
    send(DEV_C);
    tick(7 * DAY_S + 9 * 3600);                            /* Monday 11-09 09:00 PST */
    events_are("");
    tick(8 * DAY_S - 1);                                   /* 11-09 23:59:59 PST */
    events_are("");
    tick(8 * DAY_S);                                       /* 11-10 00:00 PST */
    events_are("raised R6 warning spore-overdue:ac-1 dev-a\n");
    tick(8 * DAY_S + 6 * 3600 - 1);                        /* 11-10 23:59:59 AEST */
    events_are("");
    tick(8 * DAY_S + 6 * 3600);                            /* 11-11 00:00 AEST */
    events_are("raised R6 warning spore-overdue:ac-9 dev-c\n");
    cJSON *ev = alert_of("R6", "spore-overdue:ac-1", msg, sizeof msg);
    assert_string_equal(msg, "spore test overdue on sterilizer ac-1: last negative 2026-11-02, 8 "
                             "days ago (due every 7 days)");
    assert_string_equal(ev_text(ev, "last_negative_ts", NULL), "2026-11-02T17:00:00.000Z");
    assert_string_equal(ev_text(ev, "since_date", NULL), "2026-11-02");
    assert_string_equal(ev_text(ev, "today", NULL), "2026-11-10");
    assert_string_equal(ev_text(ev, "timezone", NULL), "America/Los_Angeles");
    cJSON_Delete(ev);
    ev = alert_of("R6", "spore-overdue:ac-9", msg, sizeof msg);
    assert_string_equal(ev_text(ev, "since_date", NULL), "2026-11-03");
    assert_string_equal(ev_text(ev, "today", NULL), "2026-11-11");
    assert_string_equal(ev_text(ev, "timezone", NULL), "Australia/Brisbane");
    cJSON_Delete(ev);

    /* A negative test newer than the last one but more than the interval
     * of local days before today (sent late) does not clear; one of today
     * does. */
    at(DEV_C, 18 * 3600);                                  /* 11-03 12:00 AEST: 8 days ago */
    spore(DEV_C, "ac-9", "negative");
    send_at(DEV_C, F->t0 + (8 * DAY_S + 6 * 3600 + 60) * 1000LL);
    events_are("");
    at(DEV_C, 8 * DAY_S + 6 * 3600 + 30);                  /* 11-11 00:00:30 AEST */
    spore(DEV_C, "ac-9", "negative");
    send_at(DEV_C, F->t0 + (8 * DAY_S + 6 * 3600 + 60) * 1000LL);
    events_are("cleared R6 warning spore-overdue:ac-9 dev-c\n");
}

/* ---- R7 ------------------------------------------------------------------ */

static void test_r7_positive_spore_recall_list(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L0");
    spore(DEV_A, "ac-1", "negative");
    at(DEV_A, 3600);
    cycle_pass(DEV_A, "ac-1", "L1");
    session_start(DEV_A, "S1");
    grip(DEV_A, "g1", "L1", "S1");
    session_end(DEV_A, "S1");
    send(DEV_A);
    at(DEV_B, 7200);
    cycle_pass(DEV_B, "ac-1", "L2");
    cycle_pass(DEV_B, "ac-9", "L3");  /* another sterilizer: not recalled */
    session_start(DEV_B, "S2");
    grip(DEV_B, "g2", "L2", "S2");
    grip(DEV_B, "g0", "L0", "S2");    /* processed before the last negative test */
    session_end(DEV_B, "S2");
    send(DEV_B);
    at(DEV_B, DAY_S);
    spore(DEV_B, "ac-1", "positive");
    send(DEV_B);
    /* Filed under the sterilizer's home device, whoever logged the test. */
    events_are("raised R7 critical positive:ac-1:dev-b#7 dev-a\n");

    cJSON *ev = alert_of("R7", "positive:ac-1:dev-b#7", msg, sizeof msg);
    contains(msg, "positive spore test on sterilizer ac-1: take it out of service; recall 2 load(s)");
    contains(msg, "used in 2 session grip(s)");
    assert_string_equal(ev_text(ev, "last_negative_ts", NULL), "2026-11-02T08:00:01.000Z");
    assert_string_equal(ev_text(ev, "test", "device"), "dev-b");
    assert_int_equal(ev_num(ev, "test", "seq"), 7);
    assert_int_equal(ev_num(ev, "loads_total", NULL), 2);
    assert_int_equal(ev_num(ev, "loads_listed", NULL), 2);
    const cJSON *loads = cJSON_GetObjectItemCaseSensitive(ev, "loads");
    assert_string_equal(ev_text(cJSON_GetArrayItem(loads, 0), "load_id", NULL), "L1");
    assert_string_equal(ev_text(cJSON_GetArrayItem(loads, 1), "load_id", NULL), "L2");
    assert_int_equal(ev_num(ev, "sessions_total", NULL), 2);
    const cJSON *sessions = cJSON_GetObjectItemCaseSensitive(ev, "sessions");
    assert_string_equal(ev_text(cJSON_GetArrayItem(sessions, 0), "session_id", NULL), "S1");
    assert_string_equal(ev_text(cJSON_GetArrayItem(sessions, 0), "device", NULL), "dev-a");
    assert_string_equal(ev_text(cJSON_GetArrayItem(sessions, 1), "session_id", NULL), "S2");
    assert_string_equal(ev_text(cJSON_GetArrayItem(sessions, 1), "load_id", NULL), "L2");
    cJSON_Delete(ev);

    /* The repeat test is positive too: its own alert. */
    at(DEV_A, DAY_S + 3600);
    spore(DEV_A, "ac-1", "positive");
    send(DEV_A);
    events_are("raised R7 critical positive:ac-1:dev-a#7 dev-a\n");
    /* A negative retest lifts the flag. */
    at(DEV_A, 2 * DAY_S);
    spore(DEV_A, "ac-1", "negative");
    send(DEV_A);
    events_are("cleared R7 critical positive:ac-1:dev-b#7 dev-a\n"
               "cleared R7 critical positive:ac-1:dev-a#7 dev-a\n");
    alerts_are("R7 critical positive:ac-1:dev-b#7 dev-a cleared\n"
               "R7 critical positive:ac-1:dev-a#7 dev-a cleared\n");
}

/* Sterilizer ids that are prefixes of each other: a negative test of "ac"
 * must not lift the flag of "ac:2". */
static void test_r7_clear_is_per_sterilizer(void **state)
{
    (void)state;

    at(DEV_A, 0);
    spore(DEV_A, "ac:2", "positive");
    spore(DEV_A, "ac", "negative");
    send(DEV_A);
    events_are("raised R7 critical positive:ac%3A2:dev-a#1 dev-a\n");
    alerts_are("R7 critical positive:ac%3A2:dev-a#1 dev-a\n");
}

/* A long recall list is cut to fit; totals stay exact, JSON stays valid. */
static void test_r7_recall_list_is_bounded(void **state)
{
    char load[100], session[100], msg[256], buf[ALERT_ENCODED_MAX];
    sqldb_stmt *q;
    (void)state;

    at(DEV_A, 0);
    spore(DEV_A, "ac-1", "negative");
    for (int i = 0; i < 120; i++) {
        snprintf(load, sizeof load, "load-with-a-rather-long-identifier-%04d", i);
        snprintf(session, sizeof session, "session-with-a-rather-long-identifier-%04d", i);
        cycle_pass(DEV_A, "ac-1", load);
        grip(DEV_A, "g", load, session);
    }
    at(DEV_A, DAY_S);
    spore(DEV_A, "ac-1", "positive");
    send(DEV_A);

    cJSON *ev = alert_of("R7", "positive:ac-1:dev-a#242", msg, sizeof msg);
    int64_t loads_listed = ev_num(ev, "loads_listed", NULL), sessions_listed = ev_num(ev, "sessions_listed", NULL);
    assert_int_equal(ev_num(ev, "loads_total", NULL), 120);
    assert_int_equal(ev_num(ev, "sessions_total", NULL), 120);
    assert_true(loads_listed >= 10 && loads_listed <= 50);
    assert_true(sessions_listed >= 10 && sessions_listed <= 50);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "loads")), loads_listed);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ev, "sessions")), sessions_listed);
    cJSON_Delete(ev);

    /* It still encodes for the alerts topic. */
    alert_event e = {.kind = ALERT_RAISED};
    q = query("SELECT evidence FROM alerts WHERE rule = 'R7'");
    assert_int_equal(sqldb_step(q), 1);
    assert_true(strlen(sqldb_column_text(q, 0)) < ALERT_EVIDENCE_MAX);
    snprintf(e.a.evidence, sizeof e.a.evidence, "%s", sqldb_column_text(q, 0));
    sqldb_finalize(q);
    assert_true(alert_encode(&e, "2026-11-03T08:00:00.000Z", buf, sizeof buf) > 0);
}

/* ---- R8 ------------------------------------------------------------------ */

static void test_r8_silent_during_open_session(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    send(DEV_A); /* received at t0 + 1 s */
    tick(2 * 3600 - 60);
    events_are("");
    tick(2 * 3600 + 60);
    events_are("raised R8 maintenance silent dev-a\n");
    tick(3 * 3600);
    events_are("");
    cJSON_Delete(alert_of("R8", "silent", msg, sizeof msg));
    contains(msg, "device silent for 120 min 59 s during open session S1 (limit 120 min)");
    at(DEV_A, 3 * 3600);
    counters(DEV_A, 100, NULL, 0, 0);
    send(DEV_A);
    /* Three hours without a record in device time too. */
    events_are("raised R8 maintenance gap:S1 dev-a\n"
               "cleared R8 maintenance silent dev-a\n");
    session_end(DEV_A, "S1");
    send(DEV_A);
    tick(6 * 3600);
    events_are("");

    /* The end arrives before the start (a resend after a lost message):
     * the late start must not reopen the session. */
    at(DEV_B, 0);
    session_start(DEV_B, "S2");
    session_end(DEV_B, "S2");
    send_reversed(DEV_B);
    tick(6 * 3600);
    events_are("");

    /* A retired machine is not expected to report. */
    at(DEV_C, 0);
    session_start(DEV_C, "S3");
    send(DEV_C);
    testdb_exec(F->db, "UPDATE devices SET retired_at = '2026-11-02T09:00:00.000Z' WHERE device_id = 'dev-c'");
    tick(6 * 3600);
    events_are("");
    alerts_are("R8 maintenance silent dev-a cleared\n"
               "R8 maintenance gap:S1 dev-a\n");
}

/* ---- R11 ----------------------------------------------------------------- */

static void test_r11_motor_service_per_interval(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    counters(DEV_A, 500 * 3600 - 1, NULL, 0, 0);
    send(DEV_A);
    events_are("");
    counters(DEV_A, 500 * 3600, NULL, 0, 0);
    counters(DEV_A, 500 * 3600 + 60, NULL, 0, 0);
    send(DEV_A);
    events_are("raised R11 maintenance service:500h dev-a\n");
    counters(DEV_A, 999 * 3600, NULL, 0, 0);
    send(DEV_A);
    events_are("");
    counters(DEV_A, 1600 * 3600, NULL, 0, 0); /* jumps over 1000 h: the highest is due */
    send(DEV_A);
    events_are("raised R11 maintenance service:1500h dev-a\n");
    alerts_are("R11 maintenance service:500h dev-a\n"
               "R11 maintenance service:1500h dev-a\n");
    cJSON *ev = alert_of("R11", "service:500h", msg, sizeof msg);
    contains(msg, "motor service due: 500 motor hours (service every 500 h)");
    assert_int_equal(ev_num(ev, "motor_s_total", NULL), 500 * 3600);
    cJSON_Delete(ev);
}

/* ---- R7 window, R5 recalled, R5 settle, R8 device-time gap --------------- */

#define H (3600)

/* The recall starts at the cycle that CARRIED the last negative spore test,
 * not when its result was read 30 h later: the load run in between is
 * recalled. Test-only cycles (the Bowie-Dick cycle; the cycle carrying the
 * positive BI, from which no grip was taken) are not loads. */
static void test_r7_window_from_carrying_cycle(void **state)
{
    char msg[256];
    int64_t neg_cycle, pos_cycle, bd_cycle;
    (void)state;

    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L0");          /* carries the BI read negative at 30 h */
    neg_cycle = cycle_no;
    at(DEV_A, 2 * H);
    cycle_pass(DEV_A, "ac-1", "L1");          /* between the BI's cycle and its reading */
    at(DEV_A, 30 * H);
    test_in(DEV_A, "ac-1", "spore", neg_cycle, "negative");
    at(DEV_A, 40 * H);
    cycle_pass(DEV_A, "ac-1", "L2");
    at(DEV_A, 45 * H);
    cycle_pass(DEV_A, "ac-1", "BD-45");       /* empty chamber: Bowie-Dick only */
    bd_cycle = cycle_no;
    test_in(DEV_A, "ac-1", "bowie_dick", bd_cycle, "negative");
    at(DEV_A, 48 * H);
    cycle_pass(DEV_A, "ac-1", "BI-48");       /* carries the BI read positive at 72 h */
    pos_cycle = cycle_no;
    send(DEV_A);
    at(DEV_B, 3 * H);
    session_start(DEV_B, "S1");
    grip(DEV_B, "g1", "L1", "S1");
    grip(DEV_B, "g0", "L0", "S1");            /* the negative BI's own load: proven */
    session_end(DEV_B, "S1");
    send(DEV_B);
    at(DEV_A, 72 * H);
    test_in(DEV_A, "ac-1", "spore", pos_cycle, "positive");
    send(DEV_A);
    events_are("raised R7 critical positive:ac-1:dev-a#8 dev-a\n");

    cJSON *ev = alert_of("R7", "positive:ac-1:dev-a#8", msg, sizeof msg);
    contains(msg, "recall 2 load(s) since the cycle of the last negative test, used in 1 session grip(s)");
    assert_int_equal(ev_num(ev, "loads_total", NULL), 2);
    const cJSON *loads = cJSON_GetObjectItemCaseSensitive(ev, "loads");
    assert_int_equal(cJSON_GetArraySize(loads), 2);
    assert_string_equal(ev_text(cJSON_GetArrayItem(loads, 0), "load_id", NULL), "L1");
    assert_string_equal(ev_text(cJSON_GetArrayItem(loads, 1), "load_id", NULL), "L2");
    assert_int_equal(ev_num(ev, "sessions_total", NULL), 1);
    assert_string_equal(ev_text(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ev, "sessions"), 0),
                                "session_id", NULL), "S1");
    assert_string_equal(ev_text(ev, "window", "after"), "2026-11-02T08:00:00.000Z");
    assert_string_equal(ev_text(ev, "last_negative", "cycle_ts"), "2026-11-02T08:00:00.000Z");
    assert_string_equal(ev_text(ev, "test", "cycle_ts"), "2026-11-04T08:00:00.000Z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev, "window"), "before")));
    cJSON_Delete(ev);
}

/* A grip from a load under recall, used once the positive result was read,
 * is a critical R5; used before it was read, it is on the recall list only.
 * Loads processed after the positive stay recalled until a negative re-test;
 * the re-test's own load and later ones are not. */
static void test_r5_grip_from_recalled_load(void **state)
{
    int64_t neg_cycle, pos_cycle, retest_cycle;
    (void)state;

    F->pol.settle_s = 0;
    use_policy();
    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L0");
    neg_cycle = cycle_no;
    at(DEV_A, 1 * H);
    test_in(DEV_A, "ac-1", "spore", neg_cycle, "negative");
    at(DEV_A, 2 * H);
    cycle_pass(DEV_A, "ac-1", "L1");
    pos_cycle = cycle_no;                     /* L1 also carries the BI */
    at(DEV_A, 26 * H);
    test_in(DEV_A, "ac-1", "spore", pos_cycle, "positive");   /* read at 26 h */
    at(DEV_A, 27 * H);
    cycle_pass(DEV_A, "ac-1", "L2");          /* sterilizer should be out of service */
    at(DEV_A, 28 * H);
    cycle_pass(DEV_A, "ac-1", "L3");          /* carries the re-test */
    retest_cycle = cycle_no;
    at(DEV_A, 29 * H);
    test_in(DEV_A, "ac-1", "spore", retest_cycle, "negative");
    send(DEV_A);
    events_are("raised R7 critical positive:ac-1:dev-a#4 dev-a\n"
               "cleared R7 critical positive:ac-1:dev-a#4 dev-a\n");

    at(DEV_B, 26 * H - 2);
    session_start(DEV_B, "S1");
    grip(DEV_B, "g1", "L1", "S1");            /* a second before the result: no R5 */
    session_end(DEV_B, "S1");
    at(DEV_B, 26 * H - 1);
    session_start(DEV_B, "S2");
    grip(DEV_B, "g2", "L1", "S2");            /* at the reading: recalled */
    grip(DEV_B, "g0", "L0", "S2");            /* proven by the negative BI */
    session_end(DEV_B, "S2");
    at(DEV_B, 30 * H);
    session_start(DEV_B, "S3");
    grip(DEV_B, "g3", "L2", "S3");            /* processed after the positive */
    grip(DEV_B, "g4", "L3", "S3");            /* the re-test's own load */
    session_end(DEV_B, "S3");
    send(DEV_B);
    events_are("raised R5 critical recalled:S2:g2 dev-b\n"
               "raised R5 critical recalled:S3:g3 dev-b\n");
    char msg[256];
    cJSON *ev = alert_of("R5", "recalled:S2:g2", msg, sizeof msg);
    contains(msg, "recalled after the positive spore test on sterilizer ac-1 read 2026-11-03 10:00 UTC");
    assert_int_equal(ev_num(ev, "spore_test", "seq"), 4);
    cJSON_Delete(ev);
}

/* A grip whose load's cycle comes from another machine: nothing is raised
 * inside settle_s, whatever order they arrive in; exactly one alert when
 * the cycle never comes; a cycle arriving after that withdraws it. */
static void test_r5_settle_window(void **state)
{
    (void)state;

    assert_int_equal(F->pol.settle_s, 300);   /* the built-in policy */
    /* The grip first, its passing cycle (run before the use) 100 s later. */
    at(DEV_B, 600);
    session_start(DEV_B, "S1");
    grip(DEV_B, "g1", "L1", "S1");
    send_at(DEV_B, F->t0 + 1000 * 1000);
    events_are("");
    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L1");
    send_at(DEV_A, F->t0 + 1100 * 1000);
    events_are("");
    /* A grip from a failed load; the passing re-run (before the use) is
     * logged on the other machine and arrives 2 s after the grip. */
    at(DEV_A, 60);
    cycle_fail(DEV_A, "ac-1", "L2");
    send_at(DEV_A, F->t0 + 1200 * 1000);
    events_are("raised R4 cycle-failed load:L2 dev-a\n");
    at(DEV_B, 700);
    grip(DEV_B, "g2", "L2", "S1");
    send_at(DEV_B, F->t0 + 1300 * 1000);
    events_are("");
    at(DEV_A, 120);
    cycle_pass(DEV_A, "ac-1", "L2");
    send_at(DEV_A, F->t0 + 1302 * 1000);
    events_are("cleared R4 cycle-failed load:L2 dev-a\n");
    /* A grip whose load's cycle never comes. */
    at(DEV_B, 800);
    grip(DEV_B, "g3", "L3", "S1");
    session_end(DEV_B, "S1");
    send_at(DEV_B, F->t0 + 2000 * 1000);
    events_are("");
    tick(2000 + 300);                         /* exactly settle_s: still waiting */
    events_are("");
    tick(2000 + 301);
    events_are("raised R5 critical no-cycle:S1:g3 dev-b\n");
    tick(2000 + 400);
    events_are("");
    /* Its cycle arrives after all (it ran before the use): withdrawn. */
    at(DEV_A, 180);
    cycle_pass(DEV_A, "ac-1", "L3");
    send_at(DEV_A, F->t0 + 3000 * 1000);
    events_are("withdrawn R5 critical no-cycle:S1:g3 dev-b\n");
    tick(4000);
    events_are("");
    alerts_are("R4 cycle-failed load:L2 dev-a cleared\n"
               "R5 critical no-cycle:S1:g3 dev-b withdrawn\n");
}

/* R8's gap check knows from the device's newest session boundary (read
 * with the device, moved by the message's own) that no session was open
 * after a session's end, or on a device that never had one (an autoclave's
 * logger): a long pause there costs no more statements than a short one,
 * whichever message brought the end. */
static void test_r8_gap_outside_a_session_asks_the_store_nothing(void **state)
{
    int64_t short_pause, long_pause, same_message, no_sessions, no_sessions_short;
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    at(DEV_A, 60);
    session_end(DEV_A, "S1");
    send(DEV_A);
    at(DEV_A, 120);
    counters(DEV_A, 100, NULL, 0, 0);
    short_pause = send_statements(DEV_A);
    at(DEV_A, 120 + 5000);
    counters(DEV_A, 200, NULL, 0, 0);
    long_pause = send_statements(DEV_A);
    assert_int_equal(long_pause, short_pause);

    at(DEV_A, 6000);
    session_start(DEV_A, "S2");
    at(DEV_A, 6060);
    session_end(DEV_A, "S2");
    at(DEV_A, 6120);
    counters(DEV_A, 300, NULL, 0, 0);
    same_message = send_statements(DEV_A);
    at(DEV_A, 7000);
    session_start(DEV_A, "S3");
    at(DEV_A, 7060);
    session_end(DEV_A, "S3");
    at(DEV_A, 7060 + 5000);
    counters(DEV_A, 400, NULL, 0, 0);
    assert_int_equal(send_statements(DEV_A), same_message);

    at(DEV_B, 0);
    cycle_pass(DEV_B, "ac-1", "L1");
    send(DEV_B);
    at(DEV_B, 60);
    cycle_pass(DEV_B, "ac-1", "L2");
    no_sessions_short = send_statements(DEV_B);
    at(DEV_B, 60 + 7200);
    cycle_pass(DEV_B, "ac-1", "L3");
    no_sessions = send_statements(DEV_B);
    assert_int_equal(no_sessions, no_sessions_short);
    alerts_are("");
}

/* A session record costs its session state's write alone: the message
 * marks the device heard once, whatever its records (a device's first
 * session record makes its row, which R8 silent then reads). */
static void test_r8_session_record_one_write(void **state)
{
    int64_t counters_only, with_start;
    (void)state;

    at(DEV_A, 0);
    counters(DEV_A, 100, NULL, 0, 0);
    send(DEV_A);
    at(DEV_A, 30);
    counters(DEV_A, 130, NULL, 0, 0);
    counters_only = send_statements(DEV_A);
    at(DEV_A, 60);
    session_start(DEV_A, "S1");
    with_start = send_statements(DEV_A);
    assert_int_equal(with_start, counters_only + 1);
    assert_int_equal(testdb_int_s(F->db, "SELECT open_seq FROM rule_devices WHERE device_id = ?1 "
                                         "AND open_session = 'S1'", "dev-a"), 3);
    /* Silent for over two hours (silent_after_s) with S1 open: R8. */
    tick(2 * 3600 + 120);
    events_are("raised R8 maintenance silent dev-a\n");
}

/* Counters every minute while a session runs: a session with more than
 * session_gap_s between two of its records (device time) is flagged once
 * when they arrive, however late and in whatever order; exactly
 * session_gap_s is not a gap, nor is the time between sessions. */
static void test_r8_device_time_gap_flagged_late(void **state)
{
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    at(DEV_A, 300);
    counters(DEV_A, 100, NULL, 0, 0);         /* exactly 300 s: no gap */
    at(DEV_A, 360);
    session_end(DEV_A, "S1");
    at(DEV_A, 5000);                          /* between sessions: no gap */
    session_start(DEV_A, "S2");
    at(DEV_A, 5000 + 301);
    counters(DEV_A, 200, NULL, 0, 0);         /* 301 s: a gap */
    at(DEV_A, 6000);
    counters(DEV_A, 300, NULL, 0, 0);         /* another one, same session */
    at(DEV_A, 6060);
    session_end(DEV_A, "S2");
    /* Delivered three days later, last record first. */
    F->feeds[DEV_A].clock_ms = F->t0 + 3 * DAY_S * 1000LL;
    send_reversed(DEV_A);
    alerts_are("R8 maintenance gap:S2 dev-a\n");
    char msg[256];
    cJSON *ev = alert_of("R8", "gap:S2", msg, sizeof msg);
    contains(msg, "no record for 5 min 1 s during session S2 (device time 2026-11-02T09:23:20 to "
                  "2026-11-02T09:28:21; limit 5 min)");
    assert_int_equal(ev_num(ev, "session_gap_s", NULL), 300);
    cJSON_Delete(ev);
    tick(3 * DAY_S + 60);
    events_are("");
}

/* Two collectors can judge a device's records out of order: here the
 * records after a session's end (a counter a minute later, the next
 * session's start 20 min after that) are stored and judged while the end
 * is not. The 20 minutes between the sessions are no gap in a session:
 * no R8, then or once the end arrives; a real gap in the next session is
 * still found. */
static void test_r8_gap_judged_before_session_end_raises_nothing(void **state)
{
    feed *fd = &F->feeds[DEV_A];
    char topic[96], payload[RECORD_CANON_MAX + 128], *end_canon;
    size_t end_len;
    ingest_result r;
    (void)state;

    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    at(DEV_A, 60);
    counters(DEV_A, 60, NULL, 0, 0);
    send(DEV_A);
    at(DEV_A, 120);
    session_end(DEV_A, "S1");                 /* seq 3: held back */
    end_canon = fd->canon[0];
    end_len = fd->lens[0];
    fd->n = 0;
    at(DEV_A, 180);
    counters(DEV_A, 120, NULL, 0, 0);         /* seq 4 */
    at(DEV_A, 1380);
    session_start(DEV_A, "S2");               /* seq 5, 20 min later */
    send(DEV_A);
    alerts_are("");
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/events", fd->device);
    int len = message_encode_batch(fd->device, (const char *const *)&end_canon, &end_len, 1,
                                   payload, sizeof payload);
    assert_true(len > 0);
    assert_int_equal(ingest_events(F->in, topic, payload, (size_t)len, fd->clock_ms, &r), 0);
    assert_int_equal(r.stored, 1);
    free(end_canon);
    alerts_are("");
    at(DEV_A, 1380 + 301);
    counters(DEV_A, 180, NULL, 0, 0);         /* 301 s into S2: a gap */
    send(DEV_A);
    alerts_are("R8 maintenance gap:S2 dev-a\n");
}

/* ---- several collectors on one PostgreSQL -------------------------------- */

/* Another collector: its own store connection and ingest on the same
 * database. SQLite has one collector per file: the case is skipped. */
static void second_collector(void)
{
    char err[512];

    if (!testdb_is_postgres())
        skip();
    if (store_open(F->target, &F->s2, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(F->in2 = ingest_new(F->s2, &limits));
    ingest_set_policy(F->in2, &F->pol);
}

/* Alerts of rule whose state is NULL (raised, open or cleared): neither
 * pending nor withdrawn. */
static int64_t alerts_of(const char *rule)
{
    return testdb_int_s(F->db, "SELECT count(*) FROM alerts WHERE rule = ?1 AND state IS NULL",
                        rule);
}

/* One thing a collector does, run on a thread of its own so that two
 * collectors do theirs at the same moment. */
typedef struct job {
    ingest *in;                   /* a delivery of m through in, or */
    outgoing m;
    store *timer;                 /* a timer pass on this store */
    int64_t now_ms;
    alert_batch *tick_out;
    pthread_barrier_t *go;
    int rc;                       /* 0: done as expected */
} job;

static void *run_job(void *arg)
{
    job *j = arg;
    ingest_result r;

    pthread_barrier_wait(j->go);
    if (j->in) {
        j->rc = ingest_events(j->in, j->m.topic, j->m.payload, (size_t)j->m.len, j->now_ms, &r);
        if (j->rc == 0 && r.stored != (int)j->m.records)
            j->rc = -2;
    } else {
        j->rc = rules_tick(j->timer, &F->pol, j->now_ms, j->tick_out);
    }
    return NULL;
}

static job delivery(ingest *in, int dev, int64_t now_ms)
{
    job j = {.in = in, .now_ms = now_ms};
    take_message(dev, &j.m);
    return j;
}

static job timer_pass(store *s, int64_t now_ms)
{
    return (job){.timer = s, .now_ms = now_ms, .tick_out = &F->tick_out};
}

/* Runs a and b at once and waits for both. */
static void together(job *a, job *b)
{
    pthread_barrier_t go;
    pthread_t ta, tb;

    assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
    a->go = b->go = &go;
    assert_int_equal(pthread_create(&ta, NULL, run_job, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, run_job, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&go);
    free(a->m.payload);
    free(b->m.payload);
    assert_int_equal(a->rc, 0);
    assert_int_equal(b->rc, 0);
}

/* A grip stored by one collector and its load's cycle (run before the
 * use) by another, in either order: nothing is raised, and once settled
 * nothing is left, not even the pending check. */
static void test_pg_grip_and_cycle_on_two_collectors(void **state)
{
    (void)state;

    second_collector();
    /* The grip first, through this collector. */
    at(DEV_B, 600);
    session_start(DEV_B, "S1");
    grip(DEV_B, "g1", "L1", "S1");
    send_via(F->in, DEV_B, F->t0 + 1000 * 1000);
    events_are("");
    alerts_are("R5 pending pending:2 dev-b pending\n");
    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L1");
    send_via(F->in2, DEV_A, F->t0 + 1010 * 1000);
    events_are("");
    /* The cycle first, through the other collector. */
    at(DEV_A, 60);
    cycle_pass(DEV_A, "ac-1", "L2");
    send_via(F->in2, DEV_A, F->t0 + 1020 * 1000);
    events_are("");
    at(DEV_B, 700);
    grip(DEV_B, "g2", "L2", "S1");
    session_end(DEV_B, "S1");
    send_via(F->in, DEV_B, F->t0 + 1030 * 1000);
    events_are("");
    tick(1030 + 301);
    events_are("");
    alerts_are("");
}

/* A delivery on a thread of its own that the test can look at while it
 * runs (it may wait for a lock the test's open transaction holds). */
typedef struct waiting_job {
    job j;
    pthread_t t;
    atomic_bool done;
} waiting_job;

static void *run_waiting(void *arg)
{
    waiting_job *w = arg;
    run_job(&w->j);
    atomic_store(&w->done, true);
    return NULL;
}

static void start_waiting(waiting_job *w, ingest *in, int dev, int64_t now_ms)
{
    static pthread_barrier_t alone;

    assert_int_equal(pthread_barrier_init(&alone, NULL, 1), 0);
    w->j = delivery(in, dev, now_ms);
    w->j.go = &alone;
    atomic_init(&w->done, false);
    assert_int_equal(pthread_create(&w->t, NULL, run_waiting, w), 0);
}

static void finish_waiting(waiting_job *w)
{
    pthread_join(w->t, NULL);
    free(w->j.m.payload);
    assert_int_equal(w->j.rc, 0);
}

/* Polls up to 10 s until cond holds: done (the job ended) or a session
 * waits for an advisory lock. */
static bool within_10s(waiting_job *w, bool want_done)
{
    for (int i = 0; i < 1000; i++) {
        if (want_done ? atomic_load(&w->done)
                      : testdb_int(F->db, "SELECT count(*) FROM pg_locks WHERE locktype = "
                                          "'advisory' AND NOT granted") > 0)
            return true;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return false;
}

/* Two grips of one clinic, in two collectors' open transactions, run
 * beside each other (the clinic's lock held shared); a sterilization
 * cycle of the clinic waits for both to commit (it takes the lock whole),
 * then finds both grips and settles them. */
static void test_pg_grips_share_the_clinic_lock_cycles_wait(void **state)
{
    waiting_job w;
    outgoing m;
    ingest_result r;
    (void)state;

    second_collector();
    at(DEV_A, 600);
    session_start(DEV_A, "S1");
    grip(DEV_A, "g1", "L1", "S1");
    take_message(DEV_A, &m);
    assert_int_equal(ingest_group_begin(F->in), 0);
    assert_int_equal(ingest_message(F->in, m.topic, m.payload, (size_t)m.len,
                                    F->t0 + 1000 * 1000, &r), 0);
    assert_int_equal(r.stored, 2);
    /* dev-b's grip, through the other collector, while dev-a's is open. */
    at(DEV_B, 610);
    session_start(DEV_B, "S2");
    grip(DEV_B, "g2", "L1", "S2");
    start_waiting(&w, F->in2, DEV_B, F->t0 + 1001 * 1000);
    if (!within_10s(&w, true)) {
        ingest_group_rollback(F->in);   /* lets it end */
        finish_waiting(&w);
        fail_msg("a grip waited for another transaction's grip of the clinic");
    }
    finish_waiting(&w);
    /* The cycle waits for dev-a's transaction. */
    at(DEV_B, 0);
    cycle_pass(DEV_B, "ac-1", "L1");
    start_waiting(&w, F->in2, DEV_B, F->t0 + 1002 * 1000);
    bool waited = within_10s(&w, false) && !atomic_load(&w.done);
    assert_int_equal(ingest_group_commit(F->in), 0);
    finish_waiting(&w);
    free(m.payload);
    assert_true(waited);
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM rule_grips"), 2);
    tick(1002 + 301);
    alerts_are("");
}

#define ROUNDS 16

/* The same at the same moment, judged at once (settle_s 0): whichever
 * commits first, no R5 stays raised (the cycle withdraws it, or the grip
 * finds the cycle). Without the clinic's lock each could miss the other. */
static void test_pg_grip_and_cycle_at_once(void **state)
{
    char load[32], grip_id[32];
    (void)state;

    second_collector();
    F->pol.settle_s = 0;
    use_policy();
    at(DEV_B, 0);
    session_start(DEV_B, "S1");
    send_via(F->in, DEV_B, F->t0 + 1000);
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(load, sizeof load, "L%d", i);
        snprintf(grip_id, sizeof grip_id, "g%d", i);
        at(DEV_A, 10 * i);
        cycle_pass(DEV_A, "ac-1", load);
        at(DEV_B, 10 * i + 5);
        grip(DEV_B, grip_id, load, "S1");
        job g = delivery(F->in, DEV_B, F->t0 + (1000 + i) * 1000LL);
        job c = delivery(F->in2, DEV_A, F->t0 + (1000 + i) * 1000LL);
        together(&g, &c);
    }
    assert_int_equal(alerts_of("R5"), 0);
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM alerts WHERE state = 'pending'"), 0);
}

/* The timer settling a grip while another collector stores its load's
 * cycle: either the timer sees the cycle, or the cycle withdraws what the
 * timer raised; never an R5 left raised. */
static void test_pg_settle_and_cycle_at_once(void **state)
{
    char load[32], grip_id[32];
    (void)state;

    second_collector();
    at(DEV_B, 0);
    session_start(DEV_B, "S1");
    send_via(F->in, DEV_B, F->t0 + 1000);
    for (int i = 0; i < ROUNDS; i++) {
        int64_t received_s = 1000 + 400 * i;
        snprintf(load, sizeof load, "L%d", i);
        snprintf(grip_id, sizeof grip_id, "g%d", i);
        at(DEV_B, 10 * i + 5);
        grip(DEV_B, grip_id, load, "S1");
        send_via(F->in, DEV_B, F->t0 + received_s * 1000);
        at(DEV_A, 10 * i);
        cycle_pass(DEV_A, "ac-1", load);
        job t = timer_pass(F->timer_store, F->t0 + (received_s + 301) * 1000);
        job c = delivery(F->in2, DEV_A, F->t0 + (received_s + 301) * 1000);
        together(&t, &c);
    }
    assert_int_equal(alerts_of("R5"), 0);
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM alerts WHERE state = 'pending'"), 0);
}

/* The timer finding a device silent while its next message arrives
 * through another collector, and a sterilizer overdue while its negative
 * spore test arrives: the timer reads each again under the device's or
 * clinic's lock, so neither R8 nor R6 stays open after the record that
 * ends it. */
static void test_pg_timer_and_records_at_once(void **state)
{
    (void)state;

    second_collector();
    at(DEV_B, 0);
    session_start(DEV_B, "S1");
    send_via(F->in2, DEV_B, F->t0 + 1000);
    for (int i = 0; i < ROUNDS; i++) {
        int64_t now_s = 7200 + 1 + 8000 * i;
        at(DEV_B, 60 * (i + 1));
        counters(DEV_B, 100 + i, NULL, 0, 0);
        job t = timer_pass(F->timer_store, F->t0 + now_s * 1000);
        job b = delivery(F->in2, DEV_B, F->t0 + now_s * 1000);
        together(&t, &b);
    }
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM alerts WHERE rule = 'R8' "
                                       "AND cleared_at IS NULL"), 0);

    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L0");          /* first seen: due in 7 days */
    send_via(F->in, DEV_A, F->t0 + 1000);
    for (int i = 0; i < ROUNDS; i++) {
        int64_t now_s = 7 * DAY_S + 60 + 8 * DAY_S * i;
        at(DEV_A, now_s - 1);
        spore(DEV_A, "ac-1", "negative");
        job t = timer_pass(F->timer_store, F->t0 + now_s * 1000);
        job a = delivery(F->in2, DEV_A, F->t0 + now_s * 1000);
        together(&t, &a);
    }
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM alerts WHERE rule = 'R6' "
                                       "AND cleared_at IS NULL"), 0);
}

/* Advisory locks held in this test's database (PostgreSQL's pg_locks). */
static int64_t advisory_locks(void)
{
    return testdb_int(F->db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                             "database = (SELECT oid FROM pg_database "
                             "WHERE datname = current_database())");
}

/* Only the collector holding the leader lock runs the timer; when its
 * connection ends, the next one's pass takes over. */
static void test_pg_timer_runs_on_the_leader_only(void **state)
{
    (void)state;

    second_collector();
    tick(0);                                  /* this collector leads */
    events_are("");
    at(DEV_B, 600);
    session_start(DEV_B, "S1");
    grip(DEV_B, "g9", "L9", "S1");            /* a load never processed */
    send_via(F->in, DEV_B, F->t0 + 1000 * 1000);
    tick_on(F->s2, 1000 + 301);               /* the other: not the leader */
    events_are("");
    alerts_are("R5 pending pending:2 dev-b pending\n");
    store_close(F->timer_store);              /* the leader stops */
    F->timer_store = NULL;
    for (int i = 0; i < 100 && advisory_locks() > 0; i++)
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);   /* its server process exits */
    assert_int_equal(advisory_locks(), 0);
    tick_on(F->s2, 1000 + 302);
    events_are("raised R5 critical no-cycle:S1:g9 dev-b\n");
    alerts_are("R5 critical no-cycle:S1:g9 dev-b\n");
}

/* A cartridge inserted on two devices through two collectors: one R1,
 * one after the other and at the same moment. */
static void test_pg_cartridge_on_two_collectors(void **state)
{
    (void)state;

    second_collector();
    at(DEV_A, 0);
    session_start(DEV_A, "S1");
    insert_ok(DEV_A, "C1", "S1");
    send_via(F->in, DEV_A, F->t0 + 10 * 1000);
    events_are("");
    at(DEV_C, 60);                            /* another clinic: uids are fleet-unique */
    session_start(DEV_C, "S2");
    insert_ok(DEV_C, "C1", "S2");
    send_via(F->in2, DEV_C, F->t0 + 70 * 1000);
    events_are("raised R1 critical reused:C1:S2 dev-c\n");
    alerts_are("R1 critical reused:C1:S2 dev-c\n");

    for (int i = 0; i < ROUNDS; i++) {
        char uid[16];
        snprintf(uid, sizeof uid, "K%d", i);
        at(DEV_A, 100 + i);
        insert_ok(DEV_A, uid, "S1");
        at(DEV_C, 100 + i);
        insert_ok(DEV_C, uid, "S2");
        job a = delivery(F->in, DEV_A, F->t0 + (200 + i) * 1000LL);
        job c = delivery(F->in2, DEV_C, F->t0 + (200 + i) * 1000LL);
        together(&a, &c);
        assert_int_equal(alerts_of("R1"), 2 + i);   /* the later of the two uses */
    }
}

/* ---- sterilizers: each cycle once, alerts filed under the sterilizer ------ */

/* The same cycle logged by two machines (or the autoclave's agent and a
 * machine) is one fact: judged once, whoever logs it later. Logged again
 * with other content under its number, it is an R9 integrity alert, once,
 * and the first stays the fact. */
static void test_cycle_logged_twice_is_one_fact(void **state)
{
    char msg[256];
    (void)state;

    at(DEV_A, 0);
    cycle_numbered(DEV_A, "ac-1", "L7", 7, 1300);     /* fails R4 */
    send(DEV_A);
    events_are("raised R4 cycle-failed load:L7 dev-a\n");
    at(DEV_B, 60);
    cycle_numbered(DEV_B, "ac-1", "L7", 7, 1300);     /* the same cycle, logged later */
    send(DEV_B);
    events_are("");
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM rule_cycles"), 1);
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM rule_loads WHERE load_id = 'L7' "
                                       "AND device_id = 'dev-a' AND seq = 1"), 1);

    at(DEV_B, 120);
    cycle_numbered(DEV_B, "ac-1", "L7", 7, 1345);     /* other content, same number */
    cycle_numbered(DEV_B, "ac-1", "L7", 7, 1350);     /* and again: still one alert */
    send(DEV_B);
    events_are("raised R9 integrity cycle-conflict:ac-1:7 dev-a\n");
    alerts_are("R4 cycle-failed load:L7 dev-a\n"
               "R9 integrity cycle-conflict:ac-1:7 dev-a\n");
    cJSON *ev = alert_of("R9", "cycle-conflict:ac-1:7", msg, sizeof msg);
    contains(msg, "cycle 7 of ac-1 logged twice with different content: dev-a #1 and dev-b #2; "
                  "the first is kept");
    assert_string_equal(ev_text(ev, "kept", "device"), "dev-a");
    assert_string_equal(ev_text(ev, "conflicting", "device"), "dev-b");
    assert_int_equal(ev_num(ev, "conflicting", "seq"), 2);
    cJSON_Delete(ev);

    /* The same number in another clinic is another sterilizer's cycle. */
    at(DEV_C, 0);
    cycle_numbered(DEV_C, "ac-1", "L7", 7, 1345);
    send(DEV_C);
    events_are("");
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM rule_cycles"), 2);
}

/* A test logged twice is one fact too: a positive spore result logged by
 * the autoclave's agent and by a machine is one R7. Another indicator of
 * the same lot in the same cycle, with another result, is another test. */
static void test_test_logged_twice_is_one_fact(void **state)
{
    int64_t pos_cycle;
    (void)state;

    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L0");
    pos_cycle = cycle_no;
    at(DEV_A, 30 * 3600);
    test_in(DEV_A, "ac-1", "spore", pos_cycle, "positive");
    send(DEV_A);
    events_are("raised R7 critical positive:ac-1:dev-a#2 dev-a\n");
    at(DEV_B, 30 * 3600);                     /* the same result, read at the same time */
    test_in(DEV_B, "ac-1", "spore", pos_cycle, "positive");
    send(DEV_B);
    events_are("");
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM rule_tests"), 1);
    at(DEV_B, 31 * 3600);                     /* a second indicator, read an hour later */
    test_in(DEV_B, "ac-1", "spore", pos_cycle, "positive");
    send(DEV_B);
    events_are("raised R7 critical positive:ac-1:dev-b#2 dev-a\n");
    assert_int_equal(testdb_int(F->db, "SELECT count(*) FROM rule_tests"), 2);
}

/* A registered sterilizer owns its alerts: R4, R7 and R6 are filed under
 * its id, and a spore test logged by another device of the clinic names a
 * cycle logged by the autoclave's own agent. */
static void test_registered_sterilizer_owns_its_alerts(void **state)
{
    int64_t neg_cycle, pos_cycle;
    (void)state;

    testdb_exec(F->db, "INSERT INTO sterilizers(sterilizer_id, clinic, device_id, added_at) "
                       "VALUES ('ac-1', 'clinic-1', 'dev-a', '2026-01-01T00:00:00.000Z')");
    at(DEV_A, 0);
    cycle_pass(DEV_A, "ac-1", "L0");                  /* carries the negative BI */
    neg_cycle = cycle_no;
    at(DEV_A, 2 * 3600);
    cycle_fail(DEV_A, "ac-1", "L1");
    at(DEV_A, 4 * 3600);
    cycle_pass(DEV_A, "ac-1", "L2");                  /* carries the positive BI */
    pos_cycle = cycle_no;
    send(DEV_A);
    events_are("raised R4 cycle-failed load:L1 ac-1\n");
    /* The tests are logged on a machine, naming the agent's cycles. */
    at(DEV_B, 30 * 3600);
    test_in(DEV_B, "ac-1", "spore", neg_cycle, "negative");
    at(DEV_B, 50 * 3600);
    test_in(DEV_B, "ac-1", "spore", pos_cycle, "positive");
    send(DEV_B);
    events_are("raised R7 critical positive:ac-1:dev-b#2 ac-1\n");
    char msg[512];
    cJSON *ev = alert_of("R7", "positive:ac-1:dev-b#2", msg, sizeof msg);
    assert_string_equal(ev_text(ev, "test", "cycle_ts"), "2026-11-02T12:00:00.000Z");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(ev, "test"), "cycle_on_record")));
    assert_string_equal(ev_text(ev, "window", "after"), "2026-11-02T08:00:00.000Z");
    assert_int_equal(ev_num(ev, "loads_total", NULL), 1);   /* L1; L0 and L2 carried tests */
    cJSON_Delete(ev);
    /* A passing re-run of L1 clears its R4 under the sterilizer. */
    at(DEV_A, 51 * 3600);
    cycle_pass(DEV_A, "ac-1", "L1");
    send(DEV_A);
    events_are("cleared R4 cycle-failed load:L1 ac-1\n");
    /* R6 is the sterilizer's too. */
    tick(40 * 24 * 3600);
    alerts_are("R4 cycle-failed load:L1 ac-1 cleared\n"
               "R7 critical positive:ac-1:dev-b#2 ac-1\n"
               "R6 critical spore-overdue:ac-1 ac-1\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compliant_day_raises_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r1_cartridge_in_two_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r1_claim_sent_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r1_odd_ids_are_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r2_expired_or_no_lot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r3_wear_while_running_cleared_by_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r3_late_counter_after_remove_raised_and_cleared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r3_clear_asked_only_when_one_may_be_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r3_worn_counter_at_the_end_asks_nothing_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_load_and_recall_dates_one_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_cycle_before_grip_in_one_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r4_cycle_failed_each_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_grip_from_failed_or_unknown_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r6_spore_overdue_escalates_and_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r6_monthly_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r2_expiry_day_is_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r2_unusable_zone_is_utc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r6_counts_local_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r7_positive_spore_recall_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r7_clear_is_per_sterilizer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r7_recall_list_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r8_silent_during_open_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r11_motor_service_per_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r7_window_from_carrying_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_grip_from_recalled_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_settle_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_recheck_judges_the_load_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r5_pending_check_sent_ahead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r8_device_time_gap_flagged_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r8_gap_outside_a_session_asks_the_store_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r8_session_record_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_r8_gap_judged_before_session_end_raises_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cycle_logged_twice_is_one_fact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_sterilizer_owns_its_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_logged_twice_is_one_fact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_grip_and_cycle_on_two_collectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_grips_share_the_clinic_lock_cycles_wait, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pg_grip_and_cycle_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_settle_and_cycle_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_timer_and_records_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_timer_runs_on_the_leader_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_cartridge_on_two_collectors, setup, teardown),
    };
    log_set_level(LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
