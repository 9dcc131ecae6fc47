/* Unit tests of the schema versions (common/db.c), on the store the run
 * asks for (testdb.h): db_migrate creates a database at DB_SCHEMA_VERSION
 * and is a no-op the second time; db_open creates nothing, changes nothing
 * and refuses a missing, old, newer or foreign database with the message
 * that names the command to run. On SQLite also: a first-release (version
 * 1) database, built from tests/fixtures/schema_v1.sql, upgrades keeping
 * its rows to exactly the schema a new one gets (PostgreSQL support came
 * with version 2: there is no version-1 PostgreSQL database). */
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
#include "testdb.h"

/* Unit tests run in tests/unit (Makefile). */
#define SCHEMA_V1 "../fixtures/schema_v1.sql"

static const char *const schema_tables[] = {
    "alerts", "chain_recoveries", "checkpoints", "clinics", "device_cert_history", "device_presence", "device_state",
    "devices", "meta", "notify_events", "notify_outbox", "quarantine", "quarantine_counts",
    "quarantined_records", "records", "rule_cartridges", "rule_devices", "rule_grips",
    "rule_cycles", "rule_loads", "rule_sterilizers", "rule_tests", "sterilizers", "superseded_records",
    "viewers"};
#define N_TABLES (sizeof schema_tables / sizeof schema_tables[0])

typedef struct fixture {
    char target[TESTDB_TARGET_MAX];   /* an empty database (no schema) */
    char dir[256], missing[300];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    if (!fx)
        return -1;
    testdb_new_empty(fx->target, sizeof fx->target);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/smp-db-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->missing, sizeof fx->missing, "%s/missing.db", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    testdb_drop(fx->target);
    unlink(fx->missing);
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

/* A SQLite database as the first release left it: its schema, WAL, and a
 * row in the tables that carry over. */
static void make_v1(const char *path)
{
    sqldb *db = testdb_open(path);
    size_t len;
    char *schema = slurp(SCHEMA_V1, &len);

    testdb_exec(db, schema);
    testdb_exec(db, "INSERT INTO devices VALUES ('dev-1', 'north', 'M', 'S', NULL,"
                    " '2025-01-01T00:00:00Z', NULL);"
                    "INSERT INTO records VALUES ('dev-1', 1, '2025-01-02T00:00:00.000Z',"
                    " '2025-01-02T00:00:01.000Z', 'session.start', 'p', 'h', '{}');"
                    "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence,"
                    " raised_at) VALUES ('R1', 'critical', 'dev-1', 'north', 'c', 'm', '[]',"
                    " '2025-01-02T00:00:02.000Z');");
    free(schema);
    sqldb_close(db);
}

static int version_of(const char *target)
{
    sqldb *db = testdb_open(target);
    int v = (int)testdb_int(db, "SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'schema_version'");
    sqldb_close(db);
    return v;
}

static int64_t tables_named(sqldb *db, const char *name)
{
    return testdb_int_s(db, testdb_is_postgres()
        ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
          " AND table_name = ?1"
        : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", name);
}

static int64_t table_count(sqldb *db)
{
    return testdb_int(db, testdb_is_postgres()
        ? "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        : "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
          "substr(name, 1, 7) <> 'sqlite_'");
}

/* Every column (name, type, not null, default, key) of every table and
 * every index's definition, one line each, in name order: two SQLite
 * databases with the same text have the same schema. */
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
    sqldb *db = testdb_open(path);
    sqldb_stmt *q = NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(out);
    if (sqldb_prepare(db, sql, &q) != 0)
        fail_msg("%s", sqldb_errmsg(db));
    while (sqldb_step(q) == 1)
        fprintf(out, "%s\n", sqldb_column_text(q, 0));
    sqldb_finalize(q);
    sqldb_close(db);
    fclose(out);
    return text;
}

static void test_fresh_database(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqldb *db = NULL;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 0);
    assert_int_equal(to, DB_SCHEMA_VERSION);
    assert_int_equal(DB_SCHEMA_VERSION, 6);
    if (!testdb_is_postgres()) {
        struct stat st;
        assert_int_equal(stat(fx->target, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    assert_int_equal(version_of(fx->target), 6);
    db = testdb_open(fx->target);
    for (size_t i = 0; i < N_TABLES; i++)
        if (tables_named(db, schema_tables[i]) != 1)
            fail_msg("table %s missing", schema_tables[i]);
    assert_int_equal(table_count(db), N_TABLES);
    /* smpctl db copy copies db_tables: every table, once. */
    size_t listed = 0;
    for (const char *const *t = db_tables; *t; t++, listed++)
        if (tables_named(db, *t) != 1)
            fail_msg("db_tables names %s, which the schema does not have", *t);
    assert_int_equal(listed, N_TABLES);
    /* Integers are 64-bit and text sorts bytewise on both stores. */
    testdb_exec(db, "INSERT INTO quarantine_counts VALUES ('b', 9000000000), ('B', 1), ('a', 2)");
    assert_int_equal(testdb_int(db, "SELECT count FROM quarantine_counts WHERE reason = 'b'"),
                     9000000000LL);
    assert_int_equal(testdb_int(db, "SELECT count FROM quarantine_counts ORDER BY reason LIMIT 1"), 1);
    sqldb_close(db);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), 0);
    sqldb_close(db);
    assert_int_equal(db_open_readonly(fx->target, &db, err, sizeof err), 0);
    sqldb_close(db);
}

/* PostgreSQL has json_extract for the rules' queries, as SQLite does. */
static void test_json_extract_on_both(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from, to;
    sqldb *db;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    assert_int_equal(testdb_int(db, "SELECT CAST(json_extract('{\"cycle_no\":17,\"s\":\"ac-1\"}',"
                                    " '$.cycle_no') AS BIGINT)"), 17);
    assert_int_equal(testdb_int(db, "SELECT count(*) WHERE json_extract('{\"s\":\"ac-1\"}', '$.s')"
                                    " = 'ac-1'"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) WHERE json_extract('{\"s\":\"ac-1\"}', '$.t')"
                                    " IS NULL"), 1);
    sqldb_close(db);
}

static void test_v1_migrates_keeping_rows(void **state)
{
    fixture *fx = *state;
    char err[1024], fresh_target[TESTDB_TARGET_MAX];
    int from = -1, to = -1;
    sqldb *db = NULL;
    char *fresh, *old;

    if (testdb_is_postgres())
        skip();
    make_v1(fx->target);
    assert_int_equal(version_of(fx->target), 1);
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 1);
    assert_int_equal(to, DB_SCHEMA_VERSION);
    assert_int_equal(version_of(fx->target), DB_SCHEMA_VERSION);

    db = testdb_open(fx->target);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM devices WHERE device_id = 'dev-1' AND "
                                    "clinic = 'north' AND serial = 'S'"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM records WHERE device_id = 'dev-1' AND "
                                    "seq = 1 AND type = 'session.start'"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM alerts WHERE rule = 'R1' AND state IS NULL "
                                    "AND cleared_at IS NULL"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM meta"), 1);
    /* The new tables take rows. */
    testdb_exec(db, "INSERT INTO viewers VALUES ('wall', 'north', '2025-01-03T00:00:00Z');"
                    "INSERT INTO device_presence(device_id, state, since, heard_at) VALUES"
                    " ('dev-1', 'online', 'a', 'b');"
                    "INSERT INTO device_cert_history VALUES ('dev-1', 'pem', 'x');"
                    "UPDATE alerts SET state = 'pending';");
    sqldb_close(db);

    /* Upgraded and new databases have the same schema. */
    testdb_new_empty(fresh_target, sizeof fresh_target);
    assert_int_equal(db_migrate(fresh_target, &from, &to, err, sizeof err), 0);
    fresh = schema_text(fresh_target);
    old = schema_text(fx->target);
    assert_non_null(strstr(fresh, "alerts.state TEXT 0 - 0\n"));
    assert_non_null(strstr(fresh, "index alerts_pending ON alerts raised_at partial 1\n"));
    assert_string_equal(old, fresh);
    free(fresh);
    free(old);
    testdb_drop(fresh_target);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), 0);
    sqldb_close(db);
}

static void test_migrate_twice_is_a_no_op(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqldb *db;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    testdb_exec(db, "INSERT INTO viewers VALUES ('wall', 'north', '2025-01-03T00:00:00Z')");
    sqldb_close(db);
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, DB_SCHEMA_VERSION);
    assert_int_equal(to, DB_SCHEMA_VERSION);
    db = testdb_open(fx->target);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM viewers"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM meta"), 1);
    assert_int_equal(table_count(db), N_TABLES);
    sqldb_close(db);
}

/* On SQLite the file is not touched at all by a second migrate. */
static void test_migrate_twice_leaves_the_file(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    size_t n1, n2;
    char *before, *after;

    if (testdb_is_postgres())
        skip();
    make_v1(fx->target);
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    before = slurp(fx->target, &n1);
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    after = slurp(fx->target, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_open_refuses_missing(void **state)
{
    fixture *fx = *state;
    char err[1024], want[1024];
    sqldb *db = (sqldb *)1;

    assert_int_equal(db_open(fx->missing, &db, err, sizeof err), -1);
    assert_null(db);
    snprintf(want, sizeof want, "no database at %s: create it with smpctl db migrate --db %s",
             fx->missing, fx->missing);
    assert_string_equal(err, want);
    assert_int_equal(access(fx->missing, F_OK), -1);
}

/* A PostgreSQL database that does not exist: the message masks the
 * password and says what to do. */
static void test_open_refuses_missing_postgres(void **state)
{
    fixture *fx = *state;
    char err[2048], target[TESTDB_TARGET_MAX + 64];
    sqldb *db = (sqldb *)1;
    const char *q;

    if (!testdb_is_postgres())
        skip();
    /* fx->target is postgresql://user@/name?host=...: point it at a
     * database that is not there, with a password. */
    q = strchr(fx->target, '?');
    assert_non_null(q);
    snprintf(target, sizeof target, "postgresql://smptest:s3cret@/no_such_db%s", q);
    assert_int_equal(db_open(target, &db, err, sizeof err), -1);
    assert_null(db);
    assert_null(strstr(err, "s3cret"));
    assert_non_null(strstr(err, "postgresql://smptest:***@/no_such_db"));
    assert_non_null(strstr(err, "no_such_db\" does not exist"));
    assert_non_null(strstr(err, "createdb"));
}

static void test_open_refuses_v1_and_changes_nothing(void **state)
{
    fixture *fx = *state;
    char err[2048], want[2048];
    sqldb *db = NULL;

    if (testdb_is_postgres())
        skip();
    make_v1(fx->target);
    size_t n1, n2;
    char *before = slurp(fx->target, &n1), *after;
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    assert_null(db);
    snprintf(want, sizeof want, "database %s has schema version 1, this smpfleet needs 6: run "
             "smpctl db migrate --db %s", fx->target, fx->target);
    assert_string_equal(err, want);
    after = slurp(fx->target, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    assert_int_equal(version_of(fx->target), 1);
    free(before);
    free(after);
}

/* An empty SQLite file or an empty PostgreSQL database. */
static void test_open_refuses_empty(void **state)
{
    fixture *fx = *state;
    char err[2048], want[2048], name[TESTDB_TARGET_MAX];
    sqldb *db = NULL;

    if (!testdb_is_postgres()) {
        FILE *f = fopen(fx->target, "w");
        assert_non_null(f);
        fclose(f);
    }
    sqldb_mask(fx->target, name, sizeof name);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    snprintf(want, sizeof want, "database %s has schema version 0, this smpfleet needs 6: run "
             "smpctl db migrate --db %s", name, name);
    assert_string_equal(err, want);
}

static void test_newer_version_refused(void **state)
{
    fixture *fx = *state;
    char err[2048], want[2048], name[TESTDB_TARGET_MAX];
    int from = -1, to = -1;
    sqldb *db = NULL;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    testdb_exec(db, "UPDATE meta SET value = '7' WHERE key = 'schema_version'");
    sqldb_close(db);
    db = NULL;
    sqldb_mask(fx->target, name, sizeof name);
    snprintf(want, sizeof want, "database %s has schema version 7, newer than this smpfleet (6): "
             "upgrade smpfleet", name);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    assert_null(db);
    assert_string_equal(err, want);
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_int_equal(version_of(fx->target), 7);
}

/* A version-2 database (SQLite, or PostgreSQL from the release that
 * brought it) gets clinics and checkpoints, keeping its rows. Made here by
 * taking version 3's additions off a new database. */
static void test_v2_migrates_on_both(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqldb *db;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    testdb_exec(db, "DROP TABLE clinics; DROP TABLE checkpoints;"
                    "DROP TABLE sterilizers; DROP TABLE rule_cycles; DROP TABLE rule_tests;"
                    "ALTER TABLE devices DROP COLUMN kind;"
                    "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
                    "INSERT INTO viewers VALUES ('wall', 'north', '2025-01-03T00:00:00Z')");
    sqldb_close(db);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    assert_non_null(strstr(err, "has schema version 2, this smpfleet needs 6"));
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 2);
    assert_int_equal(to, 6);
    db = testdb_open(fx->target);
    assert_int_equal(table_count(db), N_TABLES);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM viewers"), 1);
    testdb_exec(db, "INSERT INTO clinics(clinic_id, name, timezone, added_at, updated_at) VALUES"
                    " ('north', 'North Clinic', 'America/Los_Angeles', 't', 't');"
                    "INSERT INTO checkpoints VALUES ('dev-1', 64, 'h', 's', 't', 'pending', NULL)");
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM clinics WHERE address = ''"), 1);
    sqldb_close(db);
}

/* A version-3 database gets device kinds (its devices are machines),
 * sterilizers and rule_cycles, keeping its rows. */
static void test_v3_migrates_on_both(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqldb *db;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    testdb_exec(db, "DROP TABLE sterilizers; DROP TABLE rule_cycles; DROP TABLE rule_tests;"
                    "ALTER TABLE devices DROP COLUMN kind;"
                    "UPDATE meta SET value = '3' WHERE key = 'schema_version';"
                    "INSERT INTO devices(device_id, clinic, added_at) VALUES ('m-01', 'north', 't')");
    sqldb_close(db);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    assert_non_null(strstr(err, "has schema version 3, this smpfleet needs 6"));
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 3);
    assert_int_equal(to, 6);
    db = testdb_open(fx->target);
    assert_int_equal(table_count(db), N_TABLES);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM devices WHERE kind = 'machine'"), 1);
    testdb_exec(db, "INSERT INTO sterilizers(sterilizer_id, clinic, added_at) VALUES ('ac-1', 'north', 't');"
                    "INSERT INTO rule_cycles VALUES ('north', 'ac-1', 7, 'm-01', 3, 't', 'd');"
                    "INSERT INTO rule_tests VALUES ('north', 'ac-1', 'd', 'm-01', 4, 't')");
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM sterilizers WHERE device_id IS NULL"), 1);
    sqldb_close(db);
}

/* The definition of records_compliance, as the store keeps it. */
static void compliance_index_sql(sqldb *db, char *out, size_t cap)
{
    sqldb_stmt *q = NULL;

    assert_int_equal(sqldb_prepare(db, testdb_is_postgres()
                                           ? "SELECT indexdef FROM pg_indexes"
                                             " WHERE indexname = 'records_compliance'"
                                           : "SELECT sql FROM sqlite_master"
                                             " WHERE name = 'records_compliance'",
                                   &q),
                     0);
    assert_int_equal(sqldb_step(q), 1);
    snprintf(out, cap, "%s", sqldb_column_text(q, 0));
    sqldb_finalize(q);
}

/* A version-4 database's records_compliance listed the seven types it
 * keeps (SQLite checked that list through a temporary table per inserted
 * row); version 5 on SQLite names the two it leaves out: the same rows, its
 * records kept, still read through it. */
static void test_v4_migrates_on_both(void **state)
{
    fixture *fx = *state;
    char err[1024], def[1024];
    int from = -1, to = -1;
    bool pg = testdb_is_postgres();
    sqldb *db;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    testdb_exec(db, "DROP INDEX records_compliance;");
    testdb_exec(db, pg ? "CREATE INDEX records_compliance ON records(device_id, type, ts)"
                         " WHERE type IN ('session.start', 'session.end', 'cartridge.insert',"
                         " 'cartridge.remove', 'grip.assign', 'sterilization.cycle',"
                         " 'sterilization.test')"
                       : "CREATE INDEX records_compliance ON records(device_id, type, ts, body)"
                         " WHERE type IN ('session.start', 'session.end', 'cartridge.insert',"
                         " 'cartridge.remove', 'grip.assign', 'sterilization.cycle',"
                         " 'sterilization.test')");
    testdb_exec(db, "UPDATE meta SET value = '4' WHERE key = 'schema_version';"
                    "INSERT INTO records VALUES ('m-01', 1, 't1', 'r', 'session.start', 'p', 'h', '{}');"
                    "INSERT INTO records VALUES ('m-01', 2, 't2', 'r', 'usage.counters', 'p', 'h', '{}');"
                    "INSERT INTO records VALUES ('m-01', 3, 't3', 'r', 'checkpoint', 'p', 'h', '{}')");
    sqldb_close(db);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    assert_non_null(strstr(err, "has schema version 4, this smpfleet needs 6"));
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 4);
    assert_int_equal(to, 6);
    db = testdb_open(fx->target);
    compliance_index_sql(db, def, sizeof def);
    /* PostgreSQL's is left as it was. */
    assert_true((strstr(def, "session.start") != NULL) == pg);
    assert_true((strstr(def, "usage.counters") != NULL) == !pg);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM records"), 3);
    assert_int_equal(testdb_int(db, pg ? "SELECT count(*) FROM records WHERE type IN " DB_COMPLIANCE_TYPES
                                       : "SELECT count(*) FROM records INDEXED BY records_compliance"
                                         " WHERE type NOT IN " DB_NOT_COMPLIANCE_TYPES),
                     1);
    sqldb_close(db);
}

/* How many indexes named name the store has. */
static int64_t index_count(sqldb *db, const char *name)
{
    char sql[256];

    snprintf(sql, sizeof sql,
             testdb_is_postgres() ? "SELECT count(*) FROM pg_indexes WHERE indexname = '%s'"
                                  : "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
                                    " AND name = '%s'",
             name);
    return testdb_int(db, sql);
}

/* A version-5 database indexed every record by (type, ts); version 6 drops
 * that index on both stores and keeps the records. */
static void test_v5_migrates_on_both(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqldb *db;

    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    db = testdb_open(fx->target);
    assert_int_equal(index_count(db, "records_by_type_ts"), 0);
    testdb_exec(db, "CREATE INDEX records_by_type_ts ON records(type, ts);"
                    "UPDATE meta SET value = '5' WHERE key = 'schema_version';"
                    "INSERT INTO records VALUES ('m-01', 1, 't1', 'r', 'session.start', 'p', 'h', '{}');"
                    "INSERT INTO records VALUES ('m-01', 2, 't2', 'r', 'usage.counters', 'p', 'h', '{}')");
    assert_int_equal(index_count(db, "records_by_type_ts"), 1);
    sqldb_close(db);
    assert_int_equal(db_open(fx->target, &db, err, sizeof err), -1);
    assert_non_null(strstr(err, "has schema version 5, this smpfleet needs 6"));
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), 0);
    assert_int_equal(from, 5);
    assert_int_equal(to, 6);
    db = testdb_open(fx->target);
    assert_int_equal(index_count(db, "records_by_type_ts"), 0);
    assert_int_equal(index_count(db, "records_compliance"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM records"), 2);
    sqldb_close(db);
}

static void test_migrate_refuses_foreign_database(void **state)
{
    fixture *fx = *state;
    char err[1024];
    int from = -1, to = -1;
    sqldb *db = testdb_open(fx->target);

    testdb_exec(db, "CREATE TABLE t (x BIGINT)");
    sqldb_close(db);
    assert_int_equal(db_migrate(fx->target, &from, &to, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an smpfleet database"));
    db = testdb_open(fx->target);
    assert_int_equal(table_count(db), 1);
    sqldb_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_extract_on_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_migrates_keeping_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_twice_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_twice_leaves_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_missing_postgres, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_v1_and_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2_migrates_on_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v3_migrates_on_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v4_migrates_on_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v5_migrates_on_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_refuses_foreign_database, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
