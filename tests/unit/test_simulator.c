/* test_simulator: the deterministic clinic simulator (agent/simulator.c,
 * agent/sim_autoclave.c).
 *
 * Same config => same events (compared as canonical bytes, and through a
 * real journal + outbox_submit as the final chain head hash); events in time
 * order; every event a valid record that survives the wire; a clinic day
 * that looks like docs/agent.md; fault counters that match the events
 * actually emitted. The roles: an autoclave logs only cycles and tests,
 * machines none, and machines of any seed name exactly the loads the
 * autoclave logged (the latest handed out before each grip), counting a
 * grip from a failed load exactly when the autoclave logged that failure
 * and no re-run; session and cartridge ids never repeat across runs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ids.h"
#include "journal.h"
#include "log.h"
#include "outbox.h"
#include "record.h"
#include "simulator.h"

#define MINUTE_MS 60000LL
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)
#define START_MS 1772409600000LL /* 2026-03-02T00:00:00.000Z, a Monday */

static sim_config config(uint64_t seed, int days, int fault_pct, const char *device)
{
    sim_config c = {.seed = seed, .start_ms = START_MS, .days = days, .fault_pct = fault_pct,
                    .device_id = device};
    return c;
}

static sim_config role_config(sim_role role, uint64_t seed, int days, int fault_pct,
                              const char *device, const char *sterilizer)
{
    sim_config c = config(seed, days, fault_pct, device);
    c.role = role;
    c.sterilizer_id = sterilizer;
    return c;
}

/* The event as it would be published: seq/prev filled in, ts = due. */
static int wire_canonical(const record *ev, int64_t due, uint64_t seq, char *buf, size_t cap)
{
    record r = *ev;
    r.seq = seq;
    memcpy(r.prev, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    record_ts_format(due, r.ts);
    return record_canonical(&r, buf, cap);
}

/* ---- determinism ---------------------------------------------------------- */

static void test_same_seed_same_events(void **state)
{
    sim_config c = config(42, 14, 30, "dev-1");
    simulator *a = sim_new(&c), *b = sim_new(&c);
    (void)state;

    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < 2000; i++) {
        int64_t da, db;
        const record *ea, *eb;
        char ca[RECORD_CANON_MAX], cb[RECORD_CANON_MAX];

        assert_true(sim_peek(a, &da, &ea));
        assert_true(sim_peek(b, &db, &eb));
        assert_int_equal(da, db);
        assert_true(wire_canonical(ea, da, 1, ca, sizeof ca) > 0);
        assert_true(wire_canonical(eb, db, 1, cb, sizeof cb) > 0);
        if (strcmp(ca, cb) != 0)
            fail_msg("event %d differs:\n%s\n%s", i, ca, cb);
        sim_pop(a);
        sim_pop(b);
    }
    sim_faults fa, fb;
    sim_get_faults(a, &fa);
    sim_get_faults(b, &fb);
    assert_memory_equal(&fa, &fb, sizeof fa);
    sim_free(a);
    sim_free(b);
}

/* Counts positions among the first n events where two configs differ. */
static int count_differences(const sim_config *c1, const sim_config *c2, int n)
{
    simulator *a = sim_new(c1), *b = sim_new(c2);
    int diff = 0;

    assert_non_null(a);
    assert_non_null(b);
    for (int i = 0; i < n; i++) {
        int64_t da, db;
        const record *ea, *eb;
        char ca[RECORD_CANON_MAX], cb[RECORD_CANON_MAX];
        if (!sim_peek(a, &da, &ea) || !sim_peek(b, &db, &eb))
            break;
        assert_true(wire_canonical(ea, da, 1, ca, sizeof ca) > 0);
        assert_true(wire_canonical(eb, db, 1, cb, sizeof cb) > 0);
        diff += da != db || strcmp(ca, cb) != 0;
        sim_pop(a);
        sim_pop(b);
    }
    sim_free(a);
    sim_free(b);
    return diff;
}

static void test_different_seed_different_events(void **state)
{
    sim_config c1 = config(42, 14, 30, "dev-1"), c2 = config(43, 14, 30, "dev-1");
    sim_config c3 = config(42, 14, 30, "dev-2");
    (void)state;

    assert_true(count_differences(&c1, &c2, 2000) > 100);
    /* the device id seeds the generator too: two machines never run in lockstep */
    assert_true(count_differences(&c1, &c3, 2000) > 100);
    assert_int_equal(count_differences(&c1, &c1, 2000), 0);
}

/* Through the real journal and outbox: the same seed ends on the same head
 * hash after 2000 events, a different seed does not. */
static void journal_head_after(const sim_config *c, int n, char head[RECORD_HASH_HEX])
{
    char dir[64], err[256], seg[160];
    journal_limits limits = {1u << 20, 1u << 30};
    journal *j = NULL;
    simulator *s = sim_new(c);

    snprintf(dir, sizeof dir, "/tmp/test_simulator.XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_non_null(s);
    if (journal_open(dir, &limits, &j, err, sizeof err) != 0)
        fail_msg("journal_open: %s", err);
    for (int i = 0; i < n; i++) {
        int64_t due;
        const record *ev;
        assert_true(sim_peek(s, &due, &ev));
        record r = *ev;
        if (outbox_submit(j, &r, due, err, sizeof err) != 0)
            fail_msg("outbox_submit event %d: %s", i, err);
        assert_int_equal(r.seq, (uint64_t)i + 1);
        sim_pop(s);
    }
    assert_int_equal(journal_sync(j, err, sizeof err), 0);
    memcpy(head, journal_head_hash(j), RECORD_HASH_HEX);
    journal_close(j);
    sim_free(s);

    /* clean up: segment files, then the directory */
    DIR *d = opendir(dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(seg, sizeof seg, "%s/%.60s", dir, e->d_name);
        unlink(seg);
    }
    closedir(d);
    rmdir(dir);
}

static void test_same_seed_same_chain(void **state)
{
    sim_config c1 = config(7, 14, 20, "dev-9"), c2 = config(8, 14, 20, "dev-9");
    char h1[RECORD_HASH_HEX], h2[RECORD_HASH_HEX], h3[RECORD_HASH_HEX];
    (void)state;

    journal_head_after(&c1, 2000, h1);
    journal_head_after(&c1, 2000, h2);
    journal_head_after(&c2, 2000, h3);
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, h3);
}

/* ---- every event ---------------------------------------------------------- */

/* Events are in time order, within the simulated days, valid records in
 * the event form, and survive the wire: their published canonical form
 * parses (RECORD_FULL) back to the same bytes. */
static void check_all_events(const sim_config *c)
{
    simulator *s = sim_new(c);
    int64_t last = INT64_MIN;
    int count = 0;

    assert_non_null(s);
    for (;;) {
        int64_t due;
        const record *ev;
        record_error err;
        char canon[RECORD_CANON_MAX], again[RECORD_CANON_MAX];

        if (!sim_peek(s, &due, &ev))
            break;
        count++;
        if (due < last)
            fail_msg("seed %llu event %d goes back in time: %lld after %lld",
                     (unsigned long long)c->seed, count, (long long)due, (long long)last);
        last = due;
        assert_true(due >= c->start_ms);
        assert_true(due < c->start_ms + (int64_t)c->days * DAY_MS);
        assert_int_equal(ev->seq, 0);
        assert_string_equal(ev->ts, "");
        assert_string_equal(ev->prev, "");
        if (record_check(ev, &err) != 0)
            fail_msg("seed %llu event %d (%s) invalid: %s: %s", (unsigned long long)c->seed,
                     count, record_type_name(ev->type), err.field, err.reason);

        int n = wire_canonical(ev, due, (uint64_t)count, canon, sizeof canon);
        assert_true(n > 0);
        cJSON *obj = cJSON_Parse(canon);
        record back;
        assert_non_null(obj);
        if (record_from_json(obj, RECORD_FULL, "", &back, &err) != 0)
            fail_msg("published form rejected: %s: %s\n%s", err.field, err.reason, canon);
        cJSON_Delete(obj);
        assert_int_equal(record_canonical(&back, again, sizeof again), n);
        assert_string_equal(again, canon);
        sim_pop(s);
    }
    /* done stays done */
    int64_t due;
    const record *ev;
    assert_false(sim_peek(s, &due, &ev));
    sim_pop(s);
    assert_false(sim_peek(s, &due, &ev));
    /* an autoclave: 13 cycles and a Bowie-Dick test a day at least */
    assert_true(count >= (c->role == SIM_ROLE_AUTOCLAVE ? 14 : 100) * c->days);
    sim_free(s);
}

static void test_all_events_valid_and_ordered(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        for (sim_role role = SIM_ROLE_BOTH; role <= SIM_ROLE_AUTOCLAVE; role++) {
            sim_config c0 = role_config(role, seed, 14, 0, "dev-1", NULL);
            sim_config c50 = role_config(role, seed, 14, 50, "clinic-3-m1", "ac-north");
            sim_config c100 = role_config(role, seed, 14, 100, "abc", NULL);
            check_all_events(&c0);
            check_all_events(&c50);
            check_all_events(&c100);
        }
    }
}

static void test_zero_days(void **state)
{
    sim_config c = config(1, 0, 0, "dev-1");
    simulator *s = sim_new(&c);
    int64_t due;
    const record *ev;
    (void)state;

    assert_non_null(s);
    assert_false(sim_peek(s, &due, &ev));
    sim_pop(s); /* no-op on an empty queue */
    assert_false(sim_peek(s, &due, &ev));
    sim_free(s);
}

/* ---- a clinic day --------------------------------------------------------- */

typedef struct day_stats {
    int by_type[RT_COUNT];
    int spore_tests, bowie_dick_tests;
    int sessions_too_short_or_long, session_mismatch, cart_mismatch, counter_mismatch;
    int rate_out_of_range, session_strokes_mismatch;
} day_stats;

/* Runs a whole simulation and checks the story it tells. */
static void run_story(const sim_config *c, day_stats *st)
{
    simulator *s = sim_new(c);
    char session[RECORD_STR_MAX + 1] = "", cart[RECORD_STR_MAX + 1] = "";
    int64_t session_start = 0, last_motor = -1, last_strokes = -1, session_counted = 0;
    int64_t due;
    const record *ev;

    memset(st, 0, sizeof *st);
    assert_non_null(s);
    while (sim_peek(s, &due, &ev)) {
        const char *sid = record_get_str(ev, "session_id");
        int64_t v, motor, strokes;

        st->by_type[ev->type]++;
        switch (ev->type) {
        case RT_SESSION_START:
            if (session[0])
                st->session_mismatch++; /* previous session never ended */
            snprintf(session, sizeof session, "%s", sid);
            session_start = due;
            session_counted = 0;
            break;
        case RT_SESSION_END:
            if (strcmp(sid, session) != 0)
                st->session_mismatch++;
            if (due - session_start < 2 * HOUR_MS || due - session_start > 5 * HOUR_MS + 1000)
                st->sessions_too_short_or_long++;
            assert_int_equal(record_get_int(ev, "strokes", &v), 0);
            if (v != session_counted)
                st->session_strokes_mismatch++;
            session[0] = '\0';
            break;
        case RT_CARTRIDGE_INSERT:
            if (!session[0] || strcmp(sid, session) != 0 || cart[0])
                st->cart_mismatch++;
            snprintf(cart, sizeof cart, "%s", record_get_str(ev, "cartridge_uid"));
            break;
        case RT_CARTRIDGE_REMOVE:
            if (!session[0] || strcmp(sid, session) != 0 ||
                strcmp(record_get_str(ev, "cartridge_uid"), cart) != 0)
                st->cart_mismatch++;
            cart[0] = '\0';
            break;
        case RT_GRIP_ASSIGN:
            if (!session[0] || strcmp(sid, session) != 0)
                st->session_mismatch++;
            break;
        case RT_USAGE_COUNTERS:
            if (!session[0] || !cart[0] ||
                strcmp(record_get_str(ev, "cartridge_uid"), cart) != 0)
                st->counter_mismatch++;
            assert_int_equal(record_get_int(ev, "motor_s_total", &motor), 0);
            assert_int_equal(record_get_int(ev, "strokes_total", &strokes), 0);
            if (last_motor >= 0) {
                int64_t dm = motor - last_motor, ds = strokes - last_strokes;
                /* 35..60 s of motor a minute at 50..150 strokes/s */
                if (dm < 35 || dm > 60 || ds % dm != 0 || ds / dm < 50 || ds / dm > 150)
                    st->rate_out_of_range++;
                session_counted += ds;
            } else {
                session_counted += strokes;
            }
            last_motor = motor;
            last_strokes = strokes;
            break;
        case RT_STERILIZATION_TEST: {
            const char *kind = record_get_str(ev, "kind");
            st->spore_tests += strcmp(kind, "spore") == 0;
            st->bowie_dick_tests += strcmp(kind, "bowie_dick") == 0;
            break;
        }
        default:
            break;
        }
        sim_pop(s);
    }
    if (session[0])
        st->session_mismatch++;
    sim_free(s);
}

static void test_one_clinic_day(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sim_config c = config(seed, 1, 0, "dev-1");
        day_stats st;
        run_story(&c, &st);
        print_message("seed %llu: %d sessions, %d cycles, %d counters\n",
                      (unsigned long long)seed, st.by_type[RT_SESSION_START],
                      st.by_type[RT_STERILIZATION_CYCLE], st.by_type[RT_USAGE_COUNTERS]);
        assert_true(st.by_type[RT_SESSION_START] >= 2);
        assert_int_equal(st.by_type[RT_SESSION_END], st.by_type[RT_SESSION_START]);
        assert_int_equal(st.by_type[RT_GRIP_ASSIGN], st.by_type[RT_SESSION_START]);
        assert_int_equal(st.by_type[RT_CARTRIDGE_INSERT], st.by_type[RT_CARTRIDGE_REMOVE]);
        assert_true(st.by_type[RT_CARTRIDGE_INSERT] >= st.by_type[RT_SESSION_START]);
        assert_true(st.by_type[RT_STERILIZATION_CYCLE] >= 1);
        assert_int_equal(st.bowie_dick_tests, 1);
        assert_int_equal(st.spore_tests, 1); /* 2026-03-02 is a Monday */
        assert_true(st.by_type[RT_USAGE_COUNTERS] >= 2 * 119); /* k-minute session: k-1 counters */
        assert_int_equal(st.by_type[RT_CHECKPOINT], 0);
        assert_int_equal(st.session_mismatch, 0);
        assert_int_equal(st.cart_mismatch, 0);
        assert_int_equal(st.counter_mismatch, 0);
        assert_int_equal(st.sessions_too_short_or_long, 0);
        assert_int_equal(st.rate_out_of_range, 0);
        assert_int_equal(st.session_strokes_mismatch, 0);
    }
}

static void test_two_weeks_schedule(void **state)
{
    sim_config c = config(5, 14, 0, "dev-1");
    day_stats st;
    (void)state;

    run_story(&c, &st);
    assert_int_equal(st.bowie_dick_tests, 14);  /* every morning */
    assert_int_equal(st.spore_tests, 2);        /* Mondays: days 0 and 7 */
    assert_true(st.by_type[RT_SESSION_START] >= 28);
    assert_int_equal(st.by_type[RT_SESSION_END], st.by_type[RT_SESSION_START]);
    assert_int_equal(st.session_mismatch + st.cart_mismatch + st.counter_mismatch, 0);
}

/* ---- faults --------------------------------------------------------------- */

typedef struct seen_faults {
    int expired, no_lot, reused, failed_cycles, grips_from_failed, positive_spore;
} seen_faults;

/* Counts in the emitted events what each fault counter claims. */
static void count_faults(const sim_config *c, sim_faults *claimed, seen_faults *seen)
{
    enum { MAX_IDS = 4096 };
    char (*carts)[RECORD_STR_MAX + 1] = calloc(MAX_IDS, sizeof *carts);
    char (*failed_loads)[RECORD_STR_MAX + 1] = calloc(MAX_IDS, sizeof *failed_loads);
    int ncarts = 0, nfailed = 0;
    simulator *s = sim_new(c);
    int64_t due;
    const record *ev;

    assert_non_null(carts);
    assert_non_null(failed_loads);
    assert_non_null(s);
    memset(seen, 0, sizeof *seen);
    while (sim_peek(s, &due, &ev)) {
        char ts[RECORD_TS_LEN + 1];
        record_ts_format(due, ts);
        if (ev->type == RT_CARTRIDGE_INSERT) {
            const char *uid = record_get_str(ev, "cartridge_uid");
            seen->no_lot += record_get_str(ev, "lot") == NULL;
            seen->expired += strncmp(record_get_str(ev, "expiry"), ts, 10) < 0;
            int known = 0;
            for (int i = 0; i < ncarts && !known; i++)
                known = strcmp(carts[i], uid) == 0;
            if (known)
                seen->reused++;
            else if (ncarts < MAX_IDS)
                snprintf(carts[ncarts++], RECORD_STR_MAX + 1, "%s", uid);
        } else if (ev->type == RT_STERILIZATION_CYCLE) {
            if (strcmp(record_get_str(ev, "result"), "pass") != 0) {
                seen->failed_cycles++;
                if (nfailed < MAX_IDS)
                    snprintf(failed_loads[nfailed++], RECORD_STR_MAX + 1, "%s",
                             record_get_str(ev, "load_id"));
            }
        } else if (ev->type == RT_GRIP_ASSIGN) {
            const char *load = record_get_str(ev, "load_id");
            for (int i = 0; i < nfailed; i++) {
                if (strcmp(failed_loads[i], load) == 0) {
                    seen->grips_from_failed++;
                    break;
                }
            }
        } else if (ev->type == RT_STERILIZATION_TEST) {
            seen->positive_spore += strcmp(record_get_str(ev, "result"), "positive") == 0;
        }
        sim_pop(s);
    }
    sim_get_faults(s, claimed);
    sim_free(s);
    free(carts);
    free(failed_loads);
}

static void test_faults_at_100_pct(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        sim_config c = config(seed, 14, 100, "dev-1");
        sim_faults f;
        seen_faults seen;

        count_faults(&c, &f, &seen);
        print_message("seed %llu: expired %d, no lot %d, reused %d, failed cycles %d, "
                      "grips from failed %d, positive spore %d\n",
                      (unsigned long long)seed, f.expired_cartridge, f.missing_lot,
                      f.reused_cartridge, f.failed_cycle, f.grip_from_failed_load,
                      f.positive_spore);
        assert_true(f.expired_cartridge > 0);
        assert_true(f.missing_lot > 0);
        assert_true(f.failed_cycle > 0);
        assert_true(f.reused_cartridge > 0);
        assert_true(f.grip_from_failed_load > 0);
        /* the counters tell the truth about the events */
        assert_int_equal(seen.expired, f.expired_cartridge);
        assert_int_equal(seen.no_lot, f.missing_lot);
        assert_int_equal(seen.reused, f.reused_cartridge);
        assert_int_equal(seen.failed_cycles, f.failed_cycle);
        assert_int_equal(seen.grips_from_failed, f.grip_from_failed_load);
        assert_int_equal(seen.positive_spore, f.positive_spore);
    }
}

/* With faults off, none of the injected compliance faults appear. */
static void test_no_faults_at_0_pct(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        sim_config c = config(seed, 14, 0, "dev-1");
        sim_faults f;
        seen_faults seen;

        count_faults(&c, &f, &seen);
        assert_int_equal(f.expired_cartridge, 0);
        assert_int_equal(f.missing_lot, 0);
        assert_int_equal(f.reused_cartridge, 0);
        assert_int_equal(f.positive_spore, 0);
        assert_int_equal(seen.expired, 0);
        assert_int_equal(seen.no_lot, 0);
        assert_int_equal(seen.reused, 0);
        assert_int_equal(seen.positive_spore, 0);
        assert_int_equal(seen.failed_cycles, f.failed_cycle);
        /* some cycles fail on their own, and every one is re-run */
        assert_int_equal(f.grip_from_failed_load, 0);
        assert_int_equal(seen.grips_from_failed, 0);
    }
}

/* Regression (was a bug in agent/simulator.c, 48-byte id buffers): load_id, cart_uid and
 * session_id are built as "<device_id>-L<n>" etc. in 48-byte buffers, but a
 * device id may be 64 characters (docs/protocol.md). From about 41 characters on
 * the counter is cut off, so every session (and cartridge, and load) of the
 * machine gets the same id: rule R1 then sees one cartridge in many
 * sessions. Expected: distinct session ids, as with a short device id. */
static void test_long_device_id_keeps_ids_distinct(void **state)
{
    char device[IDS_DEVICE_ID_MAX + 1];
    (void)state;

    memset(device, 'a', 60);
    device[60] = '\0';
    sim_config c = config(3, 1, 0, device);
    simulator *s = sim_new(&c);
    char ids[64][RECORD_STR_MAX + 1];
    int n = 0, dup = 0;
    int64_t due;
    const record *ev;

    assert_non_null(s);
    while (sim_peek(s, &due, &ev)) {
        if (ev->type == RT_SESSION_START && n < 64) {
            const char *id = record_get_str(ev, "session_id");
            for (int i = 0; i < n; i++)
                dup += strcmp(ids[i], id) == 0;
            snprintf(ids[n++], sizeof ids[0], "%s", id);
        }
        sim_pop(s);
    }
    sim_free(s);
    assert_true(n >= 2);
    if (dup)
        fail_msg("%d of %d sessions share an id with an earlier one, e.g. '%s'", dup, n, ids[0]);
}

/* ---- roles: one autoclave, machines that name its loads ------------------- */

typedef struct load_row {
    char id[RECORD_STR_MAX + 1];
    int64_t end_ms, cycle_no;
    bool failed, handed_out;
} load_row;

typedef struct load_list {
    load_row *v;
    int n, cap;
    int tests, bowie_dick, spore, positive;
} load_list;

/* Runs an autoclave and keeps every cycle it logged; fails on any record that
 * is not a cycle or test of sterilizer_id. A load is handed out unless it
 * failed and its re-run (cycle_no + 1, simulator.h) was logged. */
static void autoclave_loads(const sim_config *c, const char *sterilizer_id, load_list *out)
{
    simulator *s = sim_new(c);
    int64_t due;
    const record *ev;

    memset(out, 0, sizeof *out);
    assert_non_null(s);
    while (sim_peek(s, &due, &ev)) {
        if (ev->type != RT_STERILIZATION_CYCLE && ev->type != RT_STERILIZATION_TEST)
            fail_msg("autoclave logged a %s record", record_type_name(ev->type));
        assert_string_equal(record_get_str(ev, "sterilizer_id"), sterilizer_id);
        if (ev->type == RT_STERILIZATION_TEST) {
            bool spore = strcmp(record_get_str(ev, "kind"), "spore") == 0;
            out->tests++;
            out->spore += spore;
            out->bowie_dick += !spore;
            out->positive += strcmp(record_get_str(ev, "result"), "positive") == 0;
        } else {
            if (out->n == out->cap) {
                out->cap = out->cap ? 2 * out->cap : 256;
                out->v = realloc(out->v, (size_t)out->cap * sizeof *out->v);
                assert_non_null(out->v);
            }
            load_row *l = &out->v[out->n++];
            snprintf(l->id, sizeof l->id, "%s", record_get_str(ev, "load_id"));
            assert_int_equal(record_get_int(ev, "cycle_no", &l->cycle_no), 0);
            l->end_ms = due;
            l->failed = strcmp(record_get_str(ev, "result"), "pass") != 0;
            l->handed_out = true;
            if (out->n > 1) {
                load_row *before = &out->v[out->n - 2];
                assert_true(l->cycle_no > before->cycle_no);   /* monotonic in time */
                if (before->failed && l->cycle_no == before->cycle_no + 1)
                    before->handed_out = false;
            }
        }
        sim_pop(s);
    }
    sim_free(s);
}

/* The load a grip at t must come from: the latest handed out before it. */
static const load_row *latest_before(const load_list *l, int64_t t)
{
    const load_row *best = NULL;
    for (int i = 0; i < l->n && l->v[i].end_ms < t; i++)
        if (l->v[i].handed_out)
            best = &l->v[i];
    return best;
}

static void test_autoclave_role_logs_only_cycles_and_tests(void **state)
{
    sim_config c = role_config(SIM_ROLE_AUTOCLAVE, 1, 14, 30, "ac-north", NULL);
    simulator *s;
    load_list l;
    sim_faults f;
    int failed = 0, reruns = 0;
    (void)state;

    autoclave_loads(&c, "ac-north", &l);   /* sterilizer id: its own device id */
    for (int i = 0; i < l.n; i++) {
        failed += l.v[i].failed;
        reruns += l.v[i].cycle_no % 2;
    }
    print_message("autoclave: %d cycles (%d re-runs, %d failed), %d tests (%d positive)\n", l.n,
                  reruns, failed, l.tests, l.positive);
    assert_int_equal(l.n - reruns, 14 * 13);     /* 13 slots a day */
    assert_int_equal(l.bowie_dick, 14);          /* every morning */
    assert_int_equal(l.spore, 2);                /* Mondays: 2 and 9 March */
    assert_true(failed > 0);
    s = sim_new(&c);
    assert_non_null(s);
    assert_string_equal(sim_sterilizer(s), "ac-north");
    while (sim_peek(s, &(int64_t){0}, &(const record *){NULL}))
        sim_pop(s);
    sim_get_faults(s, &f);
    assert_int_equal(f.failed_cycle, failed);
    assert_int_equal(f.positive_spore, l.positive);
    assert_int_equal(f.expired_cartridge + f.missing_lot + f.reused_cartridge +
                         f.grip_from_failed_load, 0);
    sim_free(s);
    free(l.v);
}

static void test_machine_role_logs_no_cycle_or_test(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        sim_config c = role_config(SIM_ROLE_MACHINE, seed, 14, 100, "m-1", "ac-north");
        day_stats st;
        sim_faults f;
        seen_faults seen;

        run_story(&c, &st);
        assert_int_equal(st.by_type[RT_STERILIZATION_CYCLE], 0);
        assert_int_equal(st.by_type[RT_STERILIZATION_TEST], 0);
        assert_true(st.by_type[RT_GRIP_ASSIGN] >= 28);
        assert_int_equal(st.session_mismatch + st.cart_mismatch + st.counter_mismatch, 0);
        count_faults(&c, &f, &seen);
        assert_int_equal(f.failed_cycle, 0);
        assert_int_equal(f.positive_spore, 0);
        assert_true(f.expired_cartridge > 0 && f.missing_lot > 0 && f.reused_cartridge > 0);
    }
}

/* Two machines with their own seeds take every grip from the latest load
 * the autoclave handed out before it, and count a grip from a failed load
 * exactly when the autoclave logged that load failed and not re-run. */
static void check_grips(const load_list *l, const char *device, uint64_t seed, int fault_pct,
                        int *from_failed)
{
    sim_config c = role_config(SIM_ROLE_MACHINE, seed, 14, fault_pct, device, "ac-north");
    simulator *s = sim_new(&c);
    int grips = 0, failed = 0;
    int64_t due;
    const record *ev;
    sim_faults f;

    assert_non_null(s);
    while (sim_peek(s, &due, &ev)) {
        if (ev->type == RT_GRIP_ASSIGN) {
            const load_row *want = latest_before(l, due);
            assert_non_null(want);
            if (strcmp(record_get_str(ev, "load_id"), want->id) != 0)
                fail_msg("%s seed %llu: grip at %lld names load %s, the autoclave's latest "
                         "handed out before it is %s", device, (unsigned long long)seed,
                         (long long)due, record_get_str(ev, "load_id"), want->id);
            grips++;
            failed += want->failed;
        }
        sim_pop(s);
    }
    sim_get_faults(s, &f);
    sim_free(s);
    assert_true(grips >= 28);
    assert_int_equal(f.grip_from_failed_load, failed);
    *from_failed = failed;
}

static void test_machines_name_the_autoclaves_loads(void **state)
{
    static const int rates[] = {0, 30, 100};
    (void)state;

    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        sim_config ac = role_config(SIM_ROLE_AUTOCLAVE, 77, 14, rates[r], "ac-north", NULL);
        int a, b;
        load_list l;

        autoclave_loads(&ac, "ac-north", &l);
        check_grips(&l, "m-1", 11, rates[r], &a);
        check_grips(&l, "m-2", 12, rates[r], &b);
        print_message("fault %d%%: grips from failed loads %d + %d\n", rates[r], a, b);
        if (rates[r] == 0)
            assert_int_equal(a + b, 0);    /* every failed cycle was re-run */
        else
            assert_true(a + b > 0);
        free(l.v);
    }
}

/* Canonical bytes of the next event and its time, "" when none is left. */
static void next_canon(simulator *s, char out[RECORD_CANON_MAX], int64_t *due)
{
    const record *ev;
    out[0] = '\0';
    *due = -1;
    if (sim_peek(s, due, &ev))
        assert_true(wire_canonical(ev, *due, 1, out, RECORD_CANON_MAX) > 0);
}

/* both = machine + autoclave, merged in time order, faults added up; so
 * two machines in role both log the very same cycles and tests. */
static void test_both_is_machine_plus_autoclave(void **state)
{
    sim_config both = role_config(SIM_ROLE_BOTH, 5, 14, 30, "m-5", NULL);
    sim_config mach = role_config(SIM_ROLE_MACHINE, 5, 14, 30, "m-5", NULL);
    sim_config ac = role_config(SIM_ROLE_AUTOCLAVE, 9, 14, 30, "ac-1", NULL);
    simulator *sb = sim_new(&both), *sm = sim_new(&mach), *sa = sim_new(&ac);
    char cb[RECORD_CANON_MAX], cm[RECORD_CANON_MAX], ca[RECORD_CANON_MAX];
    int64_t db, dm, da;
    sim_faults fb, fm, fa;
    int n = 0;
    (void)state;

    assert_non_null(sb);
    assert_non_null(sm);
    assert_non_null(sa);
    assert_string_equal(sim_sterilizer(sb), "ac-1");
    assert_string_equal(sim_sterilizer(sm), "ac-1");
    for (;;) {
        next_canon(sb, cb, &db);
        next_canon(sm, cm, &dm);
        next_canon(sa, ca, &da);
        if (!cb[0])
            break;
        bool from_ac = da >= 0 && (dm < 0 || da <= dm);
        if (strcmp(cb, from_ac ? ca : cm) != 0 || db != (from_ac ? da : dm))
            fail_msg("event %d of both is not the next of %s:\n%s\n%s", n,
                     from_ac ? "the autoclave" : "the machine", cb, from_ac ? ca : cm);
        sim_pop(sb);
        sim_pop(from_ac ? sa : sm);
        n++;
    }
    assert_string_equal(cm, "");
    assert_string_equal(ca, "");
    sim_get_faults(sb, &fb);
    sim_get_faults(sm, &fm);
    sim_get_faults(sa, &fa);
    assert_int_equal(fb.failed_cycle, fa.failed_cycle);
    assert_int_equal(fb.positive_spore, fa.positive_spore);
    assert_int_equal(fb.grip_from_failed_load, fm.grip_from_failed_load);
    assert_int_equal(fb.expired_cartridge, fm.expired_cartridge);
    assert_int_equal(fb.missing_lot, fm.missing_lot);
    assert_int_equal(fb.reused_cartridge, fm.reused_cartridge);
    assert_int_equal(fm.failed_cycle + fm.positive_spore, 0);
    sim_free(sb);
    sim_free(sm);
    sim_free(sa);
}

/* The autoclave's records are a function of (sterilizer, time, fault
 * rate): not of the seed, nor of the day the run started. */
static void test_autoclave_is_a_function_of_time(void **state)
{
    sim_config early = role_config(SIM_ROLE_AUTOCLAVE, 1, 7, 40, "ac-east", NULL);
    sim_config late = role_config(SIM_ROLE_BOTH, 99, 7, 40, "m-7", "ac-east");
    sim_config other = role_config(SIM_ROLE_AUTOCLAVE, 1, 7, 40, "ac-west", NULL);
    simulator *se, *sl;
    char ce[RECORD_CANON_MAX], cl[RECORD_CANON_MAX];
    int64_t de, dl;
    int same = 0;
    (void)state;

    late.start_ms += 3 * DAY_MS;
    se = sim_new(&early);
    sl = sim_new(&late);
    assert_non_null(se);
    assert_non_null(sl);
    for (;;) {
        next_canon(se, ce, &de);
        if (!ce[0])
            break;
        if (de < late.start_ms) {
            sim_pop(se);
            continue;
        }
        const record *ev;
        /* the machine's own events of the later run are not the autoclave's */
        while (sim_peek(sl, &dl, &ev) && ev->type != RT_STERILIZATION_CYCLE &&
               ev->type != RT_STERILIZATION_TEST)
            sim_pop(sl);
        next_canon(sl, cl, &dl);
        assert_int_equal(dl, de);
        assert_string_equal(cl, ce);
        sim_pop(se);
        sim_pop(sl);
        same++;
    }
    assert_true(same >= 4 * 14);
    sim_free(se);
    sim_free(sl);
    /* another autoclave: other loads, other failures */
    assert_int_equal(count_differences(&early, &other, 50), 50);
    early.seed = 2;
    assert_int_equal(count_differences(&early, &(sim_config){.seed = 3, .start_ms = START_MS,
                                                          .days = 7, .fault_pct = 40,
                                                          .device_id = "ac-east",
                                                          .role = SIM_ROLE_AUTOCLAVE},
                                       2000),
                     0);
}

typedef struct id_set {
    char (*v)[RECORD_STR_MAX + 1];
    int n, cap;
} id_set;

static bool id_known(const id_set *set, const char *id)
{
    for (int i = 0; i < set->n; i++)
        if (strcmp(set->v[i], id) == 0)
            return true;
    return false;
}

static void id_add(id_set *set, const char *id)
{
    if (id_known(set, id))
        return;
    if (set->n == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 128;
        set->v = realloc(set->v, (size_t)set->cap * sizeof *set->v);
        assert_non_null(set->v);
    }
    snprintf(set->v[set->n++], sizeof set->v[0], "%s", id);
}

static void check_id(const char *id)
{
    size_t n = strlen(id);
    assert_true(n > 0 && n <= RECORD_STR_MAX);
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
            fail_msg("id '%s' holds '%c', outside [a-z0-9-]", id, id[i]);
}

/* The session ids and cartridge uids of one run. */
static void run_ids(const sim_config *c, id_set *ids)
{
    simulator *s = sim_new(c);
    int64_t due;
    const record *ev;

    memset(ids, 0, sizeof *ids);
    assert_non_null(s);
    while (sim_peek(s, &due, &ev)) {
        const char *sid = record_get_str(ev, "session_id");
        const char *uid = record_get_str(ev, "cartridge_uid");
        if (sid) {
            check_id(sid);
            id_add(ids, sid);
        }
        if (uid) {
            check_id(uid);
            id_add(ids, uid);
        }
        sim_pop(s);
    }
    sim_free(s);
}

/* Runs with another seed or start date over the same days share no id (no
 * R1 between them); the ids name the device, first day and seed. */
static void test_ids_unique_across_runs(void **state)
{
    sim_config runs[4] = {
        role_config(SIM_ROLE_MACHINE, 1, 7, 30, "dev-1", NULL),
        role_config(SIM_ROLE_MACHINE, 2, 7, 30, "dev-1", NULL),
        role_config(SIM_ROLE_MACHINE, 1, 7, 30, "dev-1", NULL),
        role_config(SIM_ROLE_BOTH, 2, 7, 30, "dev-1", NULL),
    };
    id_set ids[4];
    (void)state;

    runs[2].start_ms += 2 * DAY_MS;   /* overlaps the first run on 5 days */
    runs[3].start_ms += 1 * DAY_MS;
    for (int i = 0; i < 4; i++) {
        run_ids(&runs[i], &ids[i]);
        assert_true(ids[i].n > 20);
    }
    assert_non_null(strstr(ids[0].v[0], "dev-1-20260302-s1-ses"));
    assert_non_null(strstr(ids[2].v[0], "dev-1-20260304-s1-ses"));
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            for (int k = 0; k < ids[j].n; k++)
                if (id_known(&ids[i], ids[j].v[k]))
                    fail_msg("runs %d and %d share the id %s", i, j, ids[j].v[k]);
    for (int i = 0; i < 4; i++)
        free(ids[i].v);

    /* the longest device id and seed still fit a record string */
    char device[IDS_DEVICE_ID_MAX + 1];
    memset(device, 'z', IDS_DEVICE_ID_MAX);
    device[IDS_DEVICE_ID_MAX] = '\0';
    sim_config big = role_config(SIM_ROLE_MACHINE, UINT64_MAX, 1, 50, device, NULL);
    id_set longest;
    run_ids(&big, &longest);
    assert_true(longest.n > 4);
    free(longest.v);
}

/* Same config, same events, in every role; the autoclave's do not depend
 * on the seed, the machine's do. */
static void test_same_config_same_events_per_role(void **state)
{
    (void)state;
    for (sim_role role = SIM_ROLE_BOTH; role <= SIM_ROLE_AUTOCLAVE; role++) {
        sim_config c = role_config(role, 4, 7, 30, "dev-4", NULL);
        sim_config other_seed = role_config(role, 5, 7, 30, "dev-4", NULL);
        assert_int_equal(count_differences(&c, &c, 3000), 0);
        if (role == SIM_ROLE_AUTOCLAVE)
            assert_int_equal(count_differences(&c, &other_seed, 3000), 0);
        else
            assert_true(count_differences(&c, &other_seed, 3000) > 100);
    }
}

static void test_role_names(void **state)
{
    sim_role r = SIM_ROLE_AUTOCLAVE;
    (void)state;

    assert_int_equal(sim_role_parse("machine", &r), 0);
    assert_int_equal(r, SIM_ROLE_MACHINE);
    assert_int_equal(sim_role_parse("autoclave", &r), 0);
    assert_int_equal(r, SIM_ROLE_AUTOCLAVE);
    assert_int_equal(sim_role_parse("both", &r), 0);
    assert_int_equal(r, SIM_ROLE_BOTH);
    assert_int_equal(sim_role_parse("Machine", &r), -1);
    assert_int_equal(sim_role_parse("", &r), -1);
    assert_int_equal(sim_role_parse(NULL, &r), -1);
    assert_string_equal(sim_role_name(SIM_ROLE_MACHINE), "machine");
    assert_string_equal(sim_role_name(SIM_ROLE_BOTH), "both");
    /* a sterilizer id longer than a device id is refused, not cut */
    char longer[IDS_DEVICE_ID_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    sim_config c = role_config(SIM_ROLE_MACHINE, 1, 1, 0, "dev-1", longer);
    assert_null(sim_new(&c));
    c.sterilizer_id = "";
    assert_null(sim_new(&c));
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_events),
        cmocka_unit_test(test_different_seed_different_events),
        cmocka_unit_test(test_same_seed_same_chain),
        cmocka_unit_test(test_all_events_valid_and_ordered),
        cmocka_unit_test(test_zero_days),
        cmocka_unit_test(test_one_clinic_day),
        cmocka_unit_test(test_two_weeks_schedule),
        cmocka_unit_test(test_faults_at_100_pct),
        cmocka_unit_test(test_no_faults_at_0_pct),
        cmocka_unit_test(test_long_device_id_keeps_ids_distinct),
        cmocka_unit_test(test_autoclave_role_logs_only_cycles_and_tests),
        cmocka_unit_test(test_machine_role_logs_no_cycle_or_test),
        cmocka_unit_test(test_machines_name_the_autoclaves_loads),
        cmocka_unit_test(test_both_is_machine_plus_autoclave),
        cmocka_unit_test(test_autoclave_is_a_function_of_time),
        cmocka_unit_test(test_ids_unique_across_runs),
        cmocka_unit_test(test_same_config_same_events_per_role),
        cmocka_unit_test(test_role_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
