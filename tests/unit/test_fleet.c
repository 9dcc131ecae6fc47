/* Unit tests of presence (collector/presence.c: the two status payload
 * forms, strictly; device_presence's since) and `smpctl fleet status`
 * (admin/fleet_cmd.c: the exact table), on SQLite, or on PostgreSQL when
 * SMP_TEST_PG is set (testdb.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "fleet_cmd.h"
#include "presence.h"
#include "record.h"
#include "registry.h"
#include "store.h"
#include "testdb.h"

#define T0 "2026-11-23T09:00:00.000Z"

typedef struct fixture {
    char path[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char err[512];

    if (!fx)
        return -1;
    testdb_new(fx->path, sizeof fx->path);
    if (db_open(fx->path, &fx->db, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    sqldb_close(fx->db);
    testdb_drop(fx->path);
    free(fx);
    return 0;
}

static void add_dev(sqldb *db, const char *id, const char *clinic)
{
    char err[512];
    registry_new d = {.device_id = id, .clinic = clinic};
    assert_int_equal(registry_add(db, &d, T0, err, sizeof err), 0);
}

/* ---- parsing --------------------------------------------------------------- */

static int parse(const char *s, store_presence *p)
{
    char why[200];
    return presence_parse(s, strlen(s), p, why, sizeof why);
}

static void test_parse_accepts_both_forms(void **state)
{
    store_presence p;
    (void)state;

    assert_int_equal(parse("online", &p), 0);
    assert_true(p.online);
    assert_int_equal(p.backlog, -1);
    assert_int_equal(parse("offline", &p), 0);
    assert_false(p.online);
    assert_int_equal(parse("{\"state\":\"offline\"}", &p), 0);
    assert_false(p.online);
    assert_string_equal(p.at, "");
    assert_int_equal(parse("{\"state\":\"online\",\"backlog\":12,\"head_seq\":40,\"acked_seq\":28,"
                           "\"at\":\"2026-11-23T09:00:01.250Z\"}", &p), 0);
    assert_true(p.online);
    assert_int_equal(p.backlog, 12);
    assert_int_equal(p.head_seq, 40);
    assert_int_equal(p.acked_seq, 28);
    assert_string_equal(p.at, "2026-11-23T09:00:01.250Z");
    assert_int_equal(parse(" { \"state\" : \"online\" , \"backlog\" : 0 } ", &p), -1); /* not '{' first */
    assert_int_equal(parse("{ \"state\" : \"online\" , \"backlog\" : 0 }", &p), 0);
}

static void test_parse_refuses_everything_else(void **state)
{
    static const char *const bad[] = {
        "", "Online", "online\n", " online", "on", "1", "null", "[\"online\"]",
        "{}", "{\"state\":\"away\"}", "{\"state\":1}", "{\"backlog\":1}",
        "{\"state\":\"online\",\"state\":\"offline\"}",
        "{\"state\":\"online\",\"extra\":1}",
        "{\"state\":\"online\",\"backlog\":-1}",
        "{\"state\":\"online\",\"backlog\":1.5}",
        "{\"state\":\"online\",\"backlog\":1e3}",
        "{\"state\":\"online\",\"backlog\":012}",
        "{\"state\":\"online\",\"backlog\":\"3\"}",
        "{\"state\":\"online\",\"backlog\":9007199254740992}",
        "{\"state\":\"online\",\"at\":\"yesterday\"}",
        "{\"state\":\"online\",\"at\":\"2026-11-23T09:00:00Z\"}",
        "{\"state\":\"online\"}x",
        "{\"state\":\"online\"",
        "{\"state\":\"onl\\u0000ine\"}",
    };
    store_presence p;
    char why[200];
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (presence_parse(bad[i], strlen(bad[i]), &p, why, sizeof why) != -1)
            fail_msg("accepted: %s", bad[i]);
    }
    char big[PRESENCE_PAYLOAD_MAX + 2];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    assert_int_equal(presence_parse(big, sizeof big, &p, why, sizeof why), -1);
}

static void test_topic(void **state)
{
    char dev[IDS_DEVICE_ID_MAX + 1];
    (void)state;

    assert_true(presence_topic("smp/v1/dev/n-01/status", dev));
    assert_string_equal(dev, "n-01");
    assert_false(presence_topic("smp/v1/dev/N_01/status", dev));
    assert_false(presence_topic("smp/v1/dev//status", dev));
    assert_false(presence_topic("smp/v1/dev/a/b/status", dev));
    assert_false(presence_topic("smp/v1/dev/n-01/events", dev));
    assert_true(presence_is_status("x/status"));
    assert_false(presence_is_status("smp/v1/dev/n-01/events"));
}

/* ---- storing --------------------------------------------------------------- */

static int64_t ms(const char *ts)
{
    int64_t v = 0;
    assert_int_equal(record_ts_parse(ts, &v), 0);
    return v;
}

static void put(store *s, const char *topic, const char *payload, const char *at)
{
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(presence_message(s, topic, payload, strlen(payload), ms(at)), 0);
    assert_int_equal(store_commit(s), 0);
}

static void row(sqldb *db, const char *dev, char *out, size_t cap)
{
    sqldb_stmt *q = NULL;
    int rc;

    assert_int_equal(sqldb_prepare(db, "SELECT state || ' ' || since || ' ' || heard_at || ' ' "
                                       "|| COALESCE(CAST(backlog AS TEXT), '-') FROM device_presence "
                                       "WHERE device_id = ?1", &q), 0);
    assert_int_equal(sqldb_bind_text(q, 1, dev), 0);
    rc = sqldb_step(q);
    assert_true(rc >= 0);
    if (rc == 1)
        sqldb_column_copy(q, 0, out, cap);
    else
        snprintf(out, cap, "none");
    sqldb_finalize(q);
}

/* since moves when the state changes, not when the same state is heard
 * again (the retained status at every collector reconnect). */
static void test_store_since(void **state)
{
    fixture *fx = *state;
    store *s = NULL;
    char err[512], got[200];

    add_dev(fx->db, "n-01", "north");
    assert_int_equal(store_open(fx->path, &s, err, sizeof err), 0);
    put(s, "smp/v1/dev/n-01/status", "{\"state\":\"online\",\"backlog\":5}", "2026-11-23T10:00:00.000Z");
    row(fx->db, "n-01", got, sizeof got);
    assert_string_equal(got, "online 2026-11-23T10:00:00.000Z 2026-11-23T10:00:00.000Z 5");
    put(s, "smp/v1/dev/n-01/status", "online", "2026-11-23T11:00:00.000Z");
    row(fx->db, "n-01", got, sizeof got);
    assert_string_equal(got, "online 2026-11-23T10:00:00.000Z 2026-11-23T11:00:00.000Z -");
    put(s, "smp/v1/dev/n-01/status", "{\"state\":\"offline\"}", "2026-11-23T12:00:00.000Z");
    row(fx->db, "n-01", got, sizeof got);
    assert_string_equal(got, "offline 2026-11-23T12:00:00.000Z 2026-11-23T12:00:00.000Z -");
    /* Ignored: garbage, an unregistered device, a bad topic. Nothing changes. */
    put(s, "smp/v1/dev/n-01/status", "{\"state\":\"online\",\"x\":1}", "2026-11-23T13:00:00.000Z");
    put(s, "smp/v1/dev/ghost-1/status", "online", "2026-11-23T13:00:00.000Z");
    put(s, "smp/v1/dev/BAD/status", "online", "2026-11-23T13:00:00.000Z");
    row(fx->db, "n-01", got, sizeof got);
    assert_string_equal(got, "offline 2026-11-23T12:00:00.000Z 2026-11-23T12:00:00.000Z -");
    row(fx->db, "ghost-1", got, sizeof got);
    assert_string_equal(got, "none");
    store_close(s);
}

/* ---- fleet status ---------------------------------------------------------- */

static void test_fleet_status_table(void **state)
{
    fixture *fx = *state;
    fleet_row *rows = NULL;
    size_t n = 0;
    char err[512], *text = NULL;
    size_t len = 0;

    add_dev(fx->db, "s-01", "south");
    add_dev(fx->db, "n-02", "north");
    add_dev(fx->db, "n-01", "north");
    add_dev(fx->db, "n-03", "north");
    assert_int_equal(registry_retire(fx->db, "n-03", T0, err, sizeof err), 0);
    testdb_exec(fx->db,
         "INSERT INTO device_presence(device_id, state, since, heard_at, backlog, head_seq,"
         " agent_acked_seq, reported_at) VALUES ('n-01', 'online', '2026-11-23T10:00:00.000Z',"
         " '2026-11-23T10:05:00.000Z', 12, 40, 28, '2026-11-23T10:04:59.000Z');"
         "INSERT INTO device_presence(device_id, state, since, heard_at) VALUES ('s-01', 'offline',"
         " '2026-11-23T11:30:00.000Z', '2026-11-23T11:30:00.000Z');"
         "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen)"
         " VALUES ('n-01', 28, 'h', '2026-11-23T10:04:00.000Z');"
         "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen)"
         " VALUES ('s-01', 7, 'h', '2026-11-22T18:00:00.000Z');"
         "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence, raised_at)"
         " VALUES ('R1', 'critical', 'n-01', 'north', 'c1', 'm', '{}', '" T0 "'),"
         " ('R2', 'warning', 'n-01', 'north', 'c2', 'm', '{}', '" T0 "'),"
         " ('R3', 'warning', 's-01', 'south', 'c3', 'm', '{}', '" T0 "');"
         "UPDATE alerts SET cleared_at = '" T0 "' WHERE rule = 'R3';");
    assert_int_equal(fleet_status_load(fx->db, NULL, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    FILE *f = open_memstream(&text, &len);
    fleet_status_print(f, rows, n);
    fclose(f);
    assert_string_equal(text,
        "DEVICE  CLINIC  STATE    SINCE                     LAST RECORD                         BACKLOG  OPEN ALERTS\n"
        "n-01    north   online   2026-11-23T10:00:00.000Z  seq 28 at 2026-11-23T10:04:00.000Z  12       2\n"
        "n-02    north   unknown  -                         -                                   -        0\n"
        "s-01    south   offline  2026-11-23T11:30:00.000Z  seq 7 at 2026-11-22T18:00:00.000Z   -        0\n");
    free(text);
    free(rows);

    assert_int_equal(fleet_status_load(fx->db, "south", &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].device_id, "s-01");
    free(rows);
}

/* Text from the database reaches the terminal escaped. */
static void test_fleet_status_escapes(void **state)
{
    fleet_row r = {.device_id = "n-01", .clinic = "Z\xc3\xbcrich\x1b", .state = "online",
                   .since = "2026-11-23T10:00:00.000Z"};
    char *text = NULL;
    size_t len = 0;
    (void)state;

    FILE *f = open_memstream(&text, &len);
    fleet_status_print(f, &r, 1);
    fclose(f);
    assert_non_null(strstr(text, "Z\\xc3\\xbcrich\\x1b"));
    assert_null(strchr(text, '\x1b'));
    free(text);
}

/* PostgreSQL: a password in --db never reaches the terminal. */
static void test_status_password_never_shown(void **state)
{
    fixture *fx = *state;
    char uri[TESTDB_TARGET_MAX + 64], out[2048];
    char *argv[] = {"status", "--db", uri};
    FILE *tmp;
    int saved, rc;
    size_t n;

    if (!testdb_is_postgres())
        skip();
    testdb_with_secret(fx->path, "smp_no_such_db", uri, sizeof uri);
    assert_non_null(tmp = tmpfile());
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    rc = fleet_cmd(3, argv);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "***"));
    assert_null(strstr(out, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_both_forms),
        cmocka_unit_test(test_parse_refuses_everything_else),
        cmocka_unit_test(test_topic),
        cmocka_unit_test_setup_teardown(test_store_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_status_table, setup, teardown),
        cmocka_unit_test(test_fleet_status_escapes),
        cmocka_unit_test_setup_teardown(test_status_password_never_shown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
