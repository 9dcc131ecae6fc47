/* Unit tests of the schema versions (common/db.c): db_migrate creates a
 * database at DB_SCHEMA_VERSION, upgrades a first-release (version 1)
 * database keeping its rows to exactly the schema a new one gets, and is a
 * no-op the second time; db_open creates nothing, changes nothing and
 * refuses a missing, old or newer database with the message that names
 * the command to run. The version-1 database is built from
 * tests/fixtures/schema_v1.sql, the first release's schema text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"

/* Unit tests run in tests/unit (Makefile). */
#define SCHEMA_V1 "../fixtures/schema_v1.sql"

static const char *const v2_tables[] = {
    "alerts", "chain_recoveries", "device_cert_history", "device_presence", "device_state",
    "devices", "meta", "notify_events", "notify_outbox", "quarantine", "quarantine_counts",
    "quarantined_records", "records", "rule_cartridges", "rule_devices", "rule_grips",
    "rule_loads", "rule_sterilizers", "superseded_records", "viewers"};

typedef struct fixture {
    char dir[256], fresh[300], old[300], missing[300];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-db-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->fresh, sizeof fx->fresh, "%s/fresh.db", fx->dir);
    snprintf(fx->old, sizeof fx->old, "%s/v1.db", fx->dir);
    snprintf(fx->missing, sizeof fx->missing, "%s/missing.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    const char *names[] = {"fresh.db", "v1.db", "missing.db"};
    const char *tails[] = {"", "-wal", "-shm"};
    char p[400];

    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 3; j++) {
            snprintf(p, sizeof p, "%s/%s%s", fx->dir, names[i], tails[j]);
            unlink(p);
        }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* A database as the first release left it: its schema, WAL, and a row in
 * the tables that carry over. */
static void make_v1(const char *path)
{
    sqlite3 *db = NULL;
    size_t len;
    char *schema = slurp(SCHEMA_V1, &len);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL");
    exec_ok(db, schema);
    exec_ok(db, "INSERT INTO devices VALUES ('dev-1', 'north', 'M', 'S', NULL,"
                " '2025-01-01T00:00:00Z', NULL);"
                "INSERT INTO records VALUES ('dev-1', 1, '2025-01-02T00:00:00.000Z',"
                " '2025-01-02T00:00:01.000Z', 'session.start', 'p', 'h', '{}');"
                "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence,"
                " raised_at) VALUES ('R1', 'critical', 'dev-1', 'north', 'c', 'm', '[]',"
                " '2025-01-02T00:00:02.000Z');");
    free(schema);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static int64_t one_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static int version_of(const char *path)
{
    sqlite3 *db = raw_open(path);
    int v = (int)one_int(db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'");
    sqlite3_close(db);
    return v;
}

/* Every column (name, type, not null, default, key) of every table and
 * every index's definition, one line each, in name order: two databases
 * with the same text have the same schema. */
static char *schema_text(const char *path)
{
    static const char sql[] =
        "SELECT m.name || '.' || c.name || ' ' || c.type || ' ' || c.\"notnull\" || ' ' ||"
        " coalesce(c.dflt_value, '-') || ' ' || c.pk"
        " FROM sqlite_master m, pragma_table_info(m.name) c WHERE m.type = 'table'"
        " UNION ALL SELECT 'index ' || m.name || ' ON ' || m.tbl_name || ' ' ||"
        " (SELECT group_concat(i.name, ',') FROM pragma_index_info(m.name) i) ||"
        " ' partial ' || (SELECT partial FROM pragma_index_list(m.tbl_name) l WHERE l.name = m.name)"
        " FROM sqlite_master m WHERE m.type = 'index' AND m.sql IS NOT NULL"
        " ORDER BY 1";
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *q = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
        fail_msg("%s", sqlite3_errmsg(db));
    while (sqlite3_step(q) == SQLITE_ROW)
        fprintf(out, "%s\n", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
    fclose(out);
    return text;
}

static void test_fresh_database(void **state)
{
    fixture *fx = *state;
    char err[1024], sql[200];
    int from = -1, to = -1;
    struct stat st;
    sqlite3 *db = NULL;

    assert_int_equal(db_migrate(fx->fresh, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, DB_SCHEMA_VERSION);
    assert_int_equal(DB_SCHEMA_VERSION, 2);
    assert_int_equal(stat(fx->fresh, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(version_of(fx->fresh), 2);
    db = raw_open(fx->fresh);
    for (size_t i = 0; i < sizeof v2_tables / sizeof v2_tables[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                 "name = '%s'", v2_tables[i]);
        if (one_int(db, sql) != 1)
            fail_msg("table %s missing", v2_tables[i]);
    }
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                 "name NOT LIKE 'sqlite_%'"),
                     sizeof v2_tables / sizeof v2_tables[0]);
    assert_int_equal(one_int(db, "SELECT count(*) FROM pragma_table_info('alerts') WHERE name = 'state'"), 1);
    sqlite3_close(db);
    assert_int_equal(db_open(fx->fresh, &db, err, sizeof err), 0);
    sqlite3_close(db);
}

static void test_v1_migrates_keeping_rows(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqlite3 *db = NULL;
    char *fresh, *old;

    make_v1(fx->old);
    assert_int_equal(version_of(fx->old), 1);
    assert_int_equal(db_migrate(fx->old, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 1);
    assert_int_equal(to, 2);
    assert_int_equal(version_of(fx->old), 2);

    db = raw_open(fx->old);
    assert_int_equal(one_int(db, "SELECT count(*) FROM devices WHERE device_id = 'dev-1' AND "
                                 "clinic = 'north' AND serial = 'S'"), 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM records WHERE device_id = 'dev-1' AND "
                                 "seq = 1 AND type = 'session.start'"), 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM alerts WHERE rule = 'R1' AND state IS NULL "
                                 "AND cleared_at IS NULL"), 1);
    assert_int_equal(one_int(db, "SELECT count(*) FROM meta"), 1);
    /* The new tables take rows. */
    exec_ok(db, "INSERT INTO viewers VALUES ('wall', 'north', '2025-01-03T00:00:00Z');"
                "INSERT INTO device_presence(device_id, state, since, heard_at) VALUES"
                " ('dev-1', 'online', 'a', 'b');"
                "INSERT INTO device_cert_history VALUES ('dev-1', 'pem', 'x');"
                "UPDATE alerts SET state = 'pending';");
    sqlite3_close(db);

    /* Upgraded and new databases have the same schema. */
    assert_int_equal(db_migrate(fx->fresh, &from, &to, err, sizeof err), 0);
    fresh = schema_text(fx->fresh);
    old = schema_text(fx->old);
    assert_non_null(strstr(fresh, "alerts.state TEXT 0 - 0\n"));
    assert_non_null(strstr(fresh, "index alerts_pending ON alerts raised_at partial 1\n"));
    assert_string_equal(old, fresh);
    free(fresh);
    free(old);
    assert_int_equal(db_open(fx->old, &db, err, sizeof err), 0);
    sqlite3_close(db);
}

static void test_migrate_twice_is_a_no_op(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    size_t n1, n2;
    char *before, *after;

    make_v1(fx->old);
    assert_int_equal(db_migrate(fx->old, &from, &to, err, sizeof err), 0);
    before = slurp(fx->old, &n1);
    assert_int_equal(db_migrate(fx->old, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 2);
    assert_int_equal(to, 2);
    after = slurp(fx->old, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_open_refuses_missing(void **state)
{
    fixture *fx = *state;
    char err[1024], want[1024];
    sqlite3 *db = (sqlite3 *)1;

    assert_int_equal(db_open(fx->missing, &db, err, sizeof err), -1);
    assert_null(db);
    snprintf(want, sizeof want, "no database at %s: create it with smpctl db migrate --db %s",
             fx->missing, fx->missing);
    assert_string_equal(err, want);
    assert_int_equal(access(fx->missing, F_OK), -1);
}

static void test_open_refuses_v1_and_changes_nothing(void **state)
{
    fixture *fx = *state;
    char err[1024], want[1024];
    sqlite3 *db = NULL;
    size_t n1, n2;
    char *before, *after;

    make_v1(fx->old);
    before = slurp(fx->old, &n1);
    assert_int_equal(db_open(fx->old, &db, err, sizeof err), -1);
    assert_null(db);
    snprintf(want, sizeof want, "database %s has schema version 1, this smpfleet needs 2: run "
             "smpctl db migrate --db %s", fx->old, fx->old);
    assert_string_equal(err, want);
    after = slurp(fx->old, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    assert_int_equal(version_of(fx->old), 1);
    free(before);
    free(after);
}

static void test_open_refuses_empty_file(void **state)
{
    fixture *fx = *state;
    char err[1024], want[1024];
    sqlite3 *db = NULL;
    FILE *f = fopen(fx->fresh, "w");

    assert_non_null(f);
    fclose(f);
    assert_int_equal(db_open(fx->fresh, &db, err, sizeof err), -1);
    snprintf(want, sizeof want, "database %s has schema version 0, this smpfleet needs 2: run "
             "smpctl db migrate --db %s", fx->fresh, fx->fresh);
    assert_string_equal(err, want);
}

static void test_newer_version_refused(void **state)
{
    fixture *fx = *state;
    char err[1024], want[1024];
    int from = -1, to = -1;
    sqlite3 *db = NULL;

    assert_int_equal(db_migrate(fx->fresh, &from, &to, err, sizeof err), 0);
    db = raw_open(fx->fresh);
    exec_ok(db, "UPDATE meta SET value = '3' WHERE key = 'schema_version'");
    sqlite3_close(db);
    db = NULL;
    snprintf(want, sizeof want, "database %s has schema version 3, newer than this smpfleet (2): "
             "upgrade smpfleet", fx->fresh);
    assert_int_equal(db_open(fx->fresh, &db, err, sizeof err), -1);
    assert_null(db);
    assert_string_equal(err, want);
    assert_int_equal(db_migrate(fx->fresh, &from, &to, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(version_of(fx->fresh), 3);
}

static void test_migrate_refuses_foreign_database(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(fx->fresh, &db), SQLITE_OK);
    exec_ok(db, "CREATE TABLE t (x)");
    sqlite3_close(db);
    assert_int_equal(db_migrate(fx->fresh, &from, &to, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an smpfleet database"));
    db = raw_open(fx->fresh);
    assert_int_equal(one_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_migrates_keeping_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_twice_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_v1_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_foreign_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
