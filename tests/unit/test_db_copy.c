/* Unit tests of smpctl db copy (admin/db_copy.c): a SQLite fleet with rows
 * in every table copied into a new database (PostgreSQL when the run has
 * SMP_TEST_PG, else another SQLite file): every table holds the same rows,
 * ids keep counting after the copied ones, the chains re-verify, a target
 * that already holds data is refused and left as it was. */
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
#include "db_copy.h"
#include "record.h"
#include "testdb.h"

typedef struct fixture {
    char dir[64], source[128];
    char target[TESTDB_TARGET_MAX];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char err[600];
    int from, to;

    if (!fx)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/smp-copy-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->source, sizeof fx->source, "%s/fleet.db", fx->dir);
    if (db_migrate(fx->source, &from, &to, err, sizeof err) != 0)
        fail_msg("%s", err);
    testdb_new(fx->target, sizeof fx->target);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char p[200];
    const char *tails[] = {"", "-wal", "-shm"};

    testdb_drop(fx->target);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", fx->source, tails[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

/* Three linked records of dev-1 whose hashes are the SHA-256 of their
 * bodies. */
static void put_records(sqldb *db)
{
    char prev[RECORD_HASH_HEX] = "0000000000000000000000000000000000000000000000000000000000000000";
    char hash[RECORD_HASH_HEX], body[128];
    sqldb_stmt *q = NULL;

    assert_int_equal(sqldb_prepare(db, "INSERT INTO records VALUES ('dev-1', ?1, "
                                       "'2026-03-02T08:00:00.000Z', '2026-03-02T08:00:01.000Z', "
                                       "'session.start', ?2, ?3, ?4)", &q), 0);
    for (int seq = 1; seq <= 3; seq++) {
        snprintf(body, sizeof body, "{\"seq\":%d,\"text\":\"caf\xc3\xa9\"}", seq);
        record_sha256_hex(body, strlen(body), hash);
        assert_int_equal(sqldb_bind_int64(q, 1, seq), 0);
        assert_int_equal(sqldb_bind_text(q, 2, prev), 0);
        assert_int_equal(sqldb_bind_text(q, 3, hash), 0);
        assert_int_equal(sqldb_bind_text(q, 4, body), 0);
        assert_int_equal(sqldb_step(q), 0);
        memcpy(prev, hash, sizeof prev);
    }
    sqldb_finalize(q);
}

/* One row or more in every table, NULLs and a blob of every byte value. */
static void fill_source(const char *path)
{
    sqldb *db = testdb_open(path);
    sqldb_stmt *q = NULL;
    unsigned char blob[256];

    for (int i = 0; i < 256; i++)
        blob[i] = (unsigned char)i;
    testdb_exec(db,
        "INSERT INTO devices VALUES ('dev-1', 'north', 'M1', 'S1', NULL, '2026-03-01T00:00:00Z', NULL,"
        " 'machine');"
        "INSERT INTO device_cert_history VALUES ('dev-1', 'old pem', '2026-03-01T00:00:00Z');"
        "INSERT INTO device_state VALUES ('dev-1', 3, 'h', '2026-03-02T08:00:01.000Z');"
        "INSERT INTO quarantine_counts VALUES ('schema', 2);"
        "INSERT INTO chain_recoveries VALUES (7, 'dev-1', 4, 3, 1, 'ops', 'reset', 'x');"
        "INSERT INTO superseded_records VALUES (7, 'dev-1', 4, 't', 'r', 'ty', 'p', 'h', '{}');"
        "INSERT INTO alerts(id, rule, severity, device_id, clinic, cause, message, evidence,"
        " raised_at, state) VALUES (41, 'R1', 'critical', 'dev-1', 'north', 'c1', 'm', '[]',"
        " '2026-03-02T09:00:00Z', NULL), (42, 'R5', 'critical', 'dev-1', 'north', 'c2', 'm',"
        " '[]', '2026-03-02T09:00:00Z', 'withdrawn');"
        "INSERT INTO rule_cartridges VALUES ('uid-1', 'dev-1', 's-1', 2, 't');"
        "INSERT INTO rule_loads VALUES ('north', 'L1', 'ac-1', 'dev-1', 3, 't', 1);"
        "INSERT INTO rule_grips VALUES ('dev-1', 2, 'north', 'L1', 'g-1', 's-1', 't');"
        "INSERT INTO rule_sterilizers VALUES ('north', 'ac-1', 'dev-1', 't', NULL, NULL);"
        "INSERT INTO rule_devices VALUES ('dev-1', 'north', NULL, 0, 0, 't');"
        "INSERT INTO viewers VALUES ('wall', NULL, 't');"
        "INSERT INTO device_presence VALUES ('dev-1', 'online', 'a', 'b', 5, NULL, NULL, NULL);"
        "INSERT INTO notify_events VALUES (9, 41, 'raised', 't', '{}');"
        "INSERT INTO notify_outbox VALUES ('webhook', 9, 1, 't', 'refused', NULL);"
        "INSERT INTO clinics VALUES ('north', 'North Clinic', '1 Main St', 'L-7',"
        " 'America/Los_Angeles', 't', 't');"
        "INSERT INTO checkpoints VALUES ('dev-1', 3, 'h', 'sig', 't', 'verified', 't');"
        "INSERT INTO sterilizers VALUES ('ac-1', 'north', 'Melag', 'M-1', NULL, 't', NULL);"
        "INSERT INTO rule_cycles VALUES ('north', 'ac-1', 7, 'dev-1', 3, 't', 'd');"
        "INSERT INTO rule_tests VALUES ('north', 'ac-1', 'd', 'dev-1', 3, 't');");
    put_records(db);
    assert_int_equal(sqldb_prepare(db, "INSERT INTO quarantine VALUES (5, 't', 'dev-1', "
                                       "'smp/v1/dev/dev-1/events', 'schema', ?1)", &q), 0);
    assert_int_equal(sqldb_bind_blob(q, 1, blob, sizeof blob), 0);
    assert_int_equal(sqldb_step(q), 0);
    sqldb_finalize(q);
    assert_int_equal(sqldb_prepare(db, "INSERT INTO quarantined_records VALUES ('dev-1', 9, 't', "
                                       "'schema', '', 'h', ?1)", &q), 0);
    assert_int_equal(sqldb_bind_blob(q, 1, blob, 3), 0);
    assert_int_equal(sqldb_step(q), 0);
    sqldb_finalize(q);
    sqldb_close(db);
}

static void test_copy_every_table(void **state)
{
    fixture *fx = *state;
    char err[1024], *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    sqldb *db;
    sqldb_stmt *q = NULL;

    fill_source(fx->source);
    assert_int_equal(db_copy(fx->source, fx->target, f, err, sizeof err), 0);
    fclose(f);
    assert_non_null(strstr(out, "records              3 rows\n"));
    assert_non_null(strstr(out, "alerts               2 rows\n"));
    assert_non_null(strstr(out, "3 records re-verified (hash of each body, link to its "
                                "predecessor): 0 bad"));
    free(out);

    db = testdb_open(fx->target);
    for (const char *const *t = db_tables; *t; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", *t);
        if (testdb_int(db, sql) < 1)
            fail_msg("table %s is empty after the copy", *t);
    }
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM alerts WHERE id = 42 AND "
                                    "state = 'withdrawn' AND acked_at IS NULL"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM records WHERE body = "
                                    "'{\"seq\":2,\"text\":\"caf\xc3\xa9\"}'"), 1);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM rule_sterilizers WHERE "
                                    "last_negative_ts IS NULL"), 1);
    /* The blob came through byte for byte. */
    assert_int_equal(sqldb_prepare(db, "SELECT payload FROM quarantine WHERE id = 5", &q), 0);
    assert_int_equal(sqldb_step(q), 1);
    assert_int_equal(sqldb_column_bytes(q, 0), 256);
    for (int i = 0; i < 256; i++)
        assert_int_equal(((const unsigned char *)sqldb_column_blob(q, 0))[i], i);
    sqldb_finalize(q);
    /* New ids follow the copied ones. */
    assert_int_equal(sqldb_prepare(db, "INSERT INTO alerts(rule, severity, device_id, clinic, "
                                       "cause, message, evidence, raised_at) VALUES ('R2', "
                                       "'warning', 'dev-1', 'north', 'c3', 'm', '[]', 't') "
                                       "RETURNING id", &q), 0);
    assert_int_equal(sqldb_step(q), 1);
    assert_int_equal(sqldb_column_int64(q, 0), 43);
    sqldb_finalize(q);
    sqldb_close(db);
}

static void test_copy_refuses_a_target_with_data(void **state)
{
    fixture *fx = *state;
    char err[1024];
    sqldb *db = testdb_open(fx->target);

    fill_source(fx->source);
    testdb_exec(db, "INSERT INTO viewers VALUES ('desk', 'south', 't')");
    sqldb_close(db);
    assert_int_equal(db_copy(fx->source, fx->target, stderr, err, sizeof err), -1);
    assert_non_null(strstr(err, "already holds 1 rows in viewers: copy only into a new database "
                                "made with smpctl db migrate"));
    db = testdb_open(fx->target);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM records"), 0);
    assert_int_equal(testdb_int(db, "SELECT count(*) FROM viewers"), 1);
    sqldb_close(db);
}

/* A broken record stays broken, and the check says so in numbers. */
static void test_copy_counts_a_bad_record_as_in_the_source(void **state)
{
    fixture *fx = *state;
    char err[1024], *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    sqldb *db;

    fill_source(fx->source);
    db = testdb_open(fx->source);
    testdb_exec(db, "UPDATE records SET body = '{\"seq\":2,\"tampered\":1}' WHERE seq = 2");
    sqldb_close(db);
    assert_int_equal(db_copy(fx->source, fx->target, f, err, sizeof err), 0);
    fclose(f);
    assert_non_null(strstr(out, "3 records re-verified (hash of each body, link to its "
                                "predecessor): 1 bad, as in the source"));
    free(out);
}

static void test_copy_refuses_an_unmigrated_target(void **state)
{
    fixture *fx = *state;
    char err[1024], empty[TESTDB_TARGET_MAX];

    fill_source(fx->source);
    testdb_new_empty(empty, sizeof empty);
    assert_int_equal(db_copy(fx->source, empty, stderr, err, sizeof err), -1);
    assert_non_null(strstr(err, "run smpctl db migrate --db"));
    testdb_drop(empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_copy_every_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_refuses_a_target_with_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_counts_a_bad_record_as_in_the_source, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_copy_refuses_an_unmigrated_target, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
