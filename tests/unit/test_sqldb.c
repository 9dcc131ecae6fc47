/* Unit tests of the storage seam (common/sqldb.h), run against whichever
 * store the run names: PostgreSQL when SMP_TEST_PG is set (make unit-pg),
 * else SQLite. The same SQL and the same expectations on both, except for
 * the tests of what only PostgreSQL has (several connections' locks,
 * serialization failures, deadlocks, lost sessions), which skip on
 * SQLite. Each test gets a new empty database from testdb. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <unistd.h>

#include "sqldb.h"
#include "testdb.h"

typedef struct fixture {
    char target[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);

    if (!fx)
        return -1;
    testdb_new_empty(fx->target, sizeof fx->target);
    fx->db = testdb_open(fx->target);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;

    sqldb_close(fx->db);
    testdb_drop(fx->target);
    free(fx);
    return 0;
}

/* Case-insensitive: SQLite says UNIQUE where PostgreSQL says unique. */
static bool has(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

static sqldb_stmt *prep(sqldb *db, const char *sql)
{
    sqldb_stmt *st = NULL;

    if (sqldb_prepare(db, sql, &st) != 0)
        fail_msg("prepare %s: %s", sql, sqldb_errmsg(db));
    return st;
}

static void step_row(sqldb_stmt *st, sqldb *db)
{
    int rc = sqldb_step(st);
    if (rc != 1)
        fail_msg("step: expected a row, got %d: %s", rc, rc < 0 ? sqldb_errmsg(db) : "");
}

static void step_done(sqldb_stmt *st, sqldb *db)
{
    int rc = sqldb_step(st);
    if (rc != 0)
        fail_msg("step: expected the end, got %d: %s", rc, rc < 0 ? sqldb_errmsg(db) : "");
}

/* Values with every kind of column, the same on both stores. */
static void make_v(sqldb *db)
{
    testdb_exec(db, "CREATE TABLE v (k BIGINT PRIMARY KEY, i BIGINT, s TEXT, b BYTEA)");
}

/* ---- both stores --------------------------------------------------------- */

static void test_kind_and_name(void **state)
{
    fixture *fx = *state;
    char masked[TESTDB_TARGET_MAX];

    assert_int_equal(sqldb_kind_of(fx->db), testdb_is_postgres() ? SQLDB_POSTGRES : SQLDB_SQLITE);
    assert_int_equal(sqldb_is_postgres(fx->target), testdb_is_postgres());
    sqldb_mask(fx->target, masked, sizeof masked);
    assert_string_equal(sqldb_name(fx->db), masked);
}

static void test_is_postgres(void **state)
{
    (void)state;
    assert_true(sqldb_is_postgres("postgresql://u@h/db"));
    assert_true(sqldb_is_postgres("postgres://u@h/db"));
    assert_true(sqldb_is_postgres("postgresql:///db?host=/tmp/x"));
    assert_false(sqldb_is_postgres("postgresql:/db"));
    assert_false(sqldb_is_postgres("POSTGRESQL://u@h/db"));
    assert_false(sqldb_is_postgres("/var/lib/smpfleet/postgresql://x.db"));
    assert_false(sqldb_is_postgres("store.db"));
    assert_false(sqldb_is_postgres(""));
}

static void test_mask(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"postgresql://u:secret@db.example:5432/fleet", "postgresql://u:***@db.example:5432/fleet"},
        {"postgres://u:secret@h/fleet?sslmode=require", "postgres://u:***@h/fleet?sslmode=require"},
        {"postgresql://u@h/fleet?password=secret", "postgresql://u@h/fleet?password=***"},
        {"postgresql://u@h/fleet?sslmode=require&password=secret&connect_timeout=5",
         "postgresql://u@h/fleet?sslmode=require&password=***&connect_timeout=5"},
        {"postgresql://u:a@h/f?password=b#x", "postgresql://u:***@h/f?password=***#x"},
        {"postgresql://u@h/fleet", "postgresql://u@h/fleet"},
        {"postgresql://h/fleet?xpassword=y", "postgresql://h/fleet?xpassword=y"},
        {"postgresql:///fleet?host=/run/postgresql&port=5433", "postgresql:///fleet?host=/run/postgresql&port=5433"},
        {"postgresql://:secret@h/fleet", "postgresql://:***@h/fleet"},
        /* An unencoded '@' in a password: the last '@' ends the userinfo. */
        {"postgresql://u:p@ss@h/fleet", "postgresql://u:***@h/fleet"},
        {"postgresql://u:p%40ss@h/fleet", "postgresql://u:***@h/fleet"},
        /* A SQLite path is never changed, whatever it holds. */
        {"/var/lib/smpfleet/store.db", "/var/lib/smpfleet/store.db"},
        {"/tmp/u:secret@h/x.db", "/tmp/u:secret@h/x.db"},
    };
    char out[256];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sqldb_mask(cases[i].in, out, sizeof out);
        assert_string_equal(out, cases[i].out);
    }
    /* Cut to the buffer, still a string. */
    sqldb_mask("postgresql://u:secret@h/fleet", out, 12);
    assert_string_equal(out, "postgresql:");
    sqldb_mask("postgresql://u:secret@h/fleet", out, 18);
    assert_string_equal(out, "postgresql://u:**");
}

static void test_placeholders(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    /* ?1 twice; each bare ? is one past the highest so far; a ? in a
     * literal, a quoted name and comments is no parameter. */
    st = prep(fx->db, "SELECT ?1 + ?1, ?, 'it''s ?1 and ?', ? AS \"a?b\" /* ? */ -- ?");
    assert_int_equal(sqldb_bind_int64(st, 1, 20), 0);
    assert_int_equal(sqldb_bind_text(st, 2, "x"), 0);
    assert_int_equal(sqldb_bind_text(st, 3, "y"), 0);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 40);
    assert_string_equal(sqldb_column_text(st, 1), "x");
    assert_string_equal(sqldb_column_text(st, 2), "it's ?1 and ?");
    assert_string_equal(sqldb_column_text(st, 3), "y");
    step_done(st, fx->db);
    /* No fourth parameter: the comment's ? was not counted. */
    assert_int_equal(sqldb_bind_int64(st, 4, 1), -1);
    sqldb_finalize(st);

    st = prep(fx->db, "SELECT ?2, ?, ?1");
    assert_int_equal(sqldb_bind_text(st, 1, "a"), 0);
    assert_int_equal(sqldb_bind_text(st, 2, "b"), 0);
    assert_int_equal(sqldb_bind_text(st, 3, "c"), 0);
    step_row(st, fx->db);
    assert_string_equal(sqldb_column_text(st, 0), "b");
    assert_string_equal(sqldb_column_text(st, 1), "c");
    assert_string_equal(sqldb_column_text(st, 2), "a");
    sqldb_finalize(st);

    /* A number the SQL skips is fine. */
    st = prep(fx->db, "SELECT ?1, ?3");
    assert_int_equal(sqldb_bind_text(st, 1, "one"), 0);
    assert_int_equal(sqldb_bind_text(st, 3, "three"), 0);
    step_row(st, fx->db);
    assert_string_equal(sqldb_column_text(st, 0), "one");
    assert_string_equal(sqldb_column_text(st, 1), "three");
    sqldb_finalize(st);

    st = NULL;
    assert_int_equal(sqldb_prepare(fx->db, "SELECT ?0", &st), -1);
    assert_null(st);
}

static void test_types_round_trip(void **state)
{
    fixture *fx = *state;
    static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac";
    unsigned char all[256];
    sqldb_stmt *ins, *sel;
    char copy[4];

    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    make_v(fx->db);
    ins = prep(fx->db, "INSERT INTO v (k, i, s, b) VALUES (?1, ?2, ?3, ?4)");
    assert_int_equal(sqldb_bind_int64(ins, 1, 1), 0);
    assert_int_equal(sqldb_bind_int64(ins, 2, INT64_MIN), 0);
    assert_int_equal(sqldb_bind_text(ins, 3, utf8), 0);
    assert_int_equal(sqldb_bind_blob(ins, 4, all, sizeof all), 0);
    step_done(ins, fx->db);
    sqldb_reset(ins);
    assert_int_equal(sqldb_bind_int64(ins, 1, 2), 0);
    assert_int_equal(sqldb_bind_int64(ins, 2, INT64_MAX), 0);
    assert_int_equal(sqldb_bind_text(ins, 3, ""), 0);
    assert_int_equal(sqldb_bind_blob(ins, 4, "", 0), 0);
    step_done(ins, fx->db);
    sqldb_reset(ins);
    assert_int_equal(sqldb_bind_int64(ins, 1, 3), 0);
    assert_int_equal(sqldb_bind_null(ins, 2), 0);
    assert_int_equal(sqldb_bind_text(ins, 3, NULL), 0);
    assert_int_equal(sqldb_bind_null(ins, 4), 0);
    step_done(ins, fx->db);
    sqldb_reset(ins);
    assert_int_equal(sqldb_bind_int64(ins, 1, 4), 0);
    assert_int_equal(sqldb_bind_int64(ins, 2, 0), 0);
    assert_int_equal(sqldb_bind_textn(ins, 3, "abcdef", 3), 0);
    assert_int_equal(sqldb_bind_blob(ins, 4, "\0\0\0", 3), 0);
    step_done(ins, fx->db);
    sqldb_finalize(ins);

    sel = prep(fx->db, "SELECT k, i, s, b FROM v ORDER BY k");
    step_row(sel, fx->db);
    assert_int_equal(sqldb_column_int64(sel, 0), 1);
    assert_true(sqldb_column_int64(sel, 1) == INT64_MIN);
    assert_string_equal(sqldb_column_text(sel, 2), utf8);
    assert_int_equal(sqldb_column_bytes(sel, 2), strlen(utf8));
    assert_int_equal(sqldb_column_bytes(sel, 3), 256);
    assert_memory_equal(sqldb_column_blob(sel, 3), all, 256);
    /* Both columns' pointers live until the next step. */
    const void *blob = sqldb_column_blob(sel, 3);
    const char *text = sqldb_column_text(sel, 2);
    assert_false(sqldb_column_null(sel, 3));
    assert_memory_equal(blob, all, 256);
    assert_string_equal(text, utf8);
    sqldb_column_copy(sel, 2, copy, sizeof copy);
    assert_string_equal(copy, "h\xc3\xa9");

    step_row(sel, fx->db);
    assert_true(sqldb_column_int64(sel, 1) == INT64_MAX);
    assert_false(sqldb_column_null(sel, 2));
    assert_string_equal(sqldb_column_text(sel, 2), "");
    assert_int_equal(sqldb_column_bytes(sel, 2), 0);
    assert_false(sqldb_column_null(sel, 3));
    assert_int_equal(sqldb_column_bytes(sel, 3), 0);

    step_row(sel, fx->db);
    for (int c = 1; c <= 3; c++) {
        assert_true(sqldb_column_null(sel, c));
        assert_int_equal(sqldb_column_int64(sel, c), 0);
        assert_null(sqldb_column_text(sel, c));
        assert_int_equal(sqldb_column_bytes(sel, c), 0);
        assert_null(sqldb_column_blob(sel, c));
    }
    sqldb_column_copy(sel, 2, copy, sizeof copy);
    assert_string_equal(copy, "");

    step_row(sel, fx->db);
    assert_int_equal(sqldb_column_int64(sel, 1), 0);
    assert_false(sqldb_column_null(sel, 1));
    assert_string_equal(sqldb_column_text(sel, 2), "abc");
    assert_int_equal(sqldb_column_bytes(sel, 3), 3);
    assert_memory_equal(sqldb_column_blob(sel, 3), "\0\0\0", 3);
    step_done(sel, fx->db);
    sqldb_finalize(sel);
}

/* What PostgreSQL returns as numeric or boolean reads as SQLite's does. */
static void test_numbers_and_flags(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    make_v(fx->db);
    testdb_exec(fx->db, "INSERT INTO v (k, i) VALUES (1, 5), (2, 7)");
    st = prep(fx->db, "SELECT CAST(12 AS NUMERIC(10,3)), SUM(i), 1 = 1, 1 = 2, COUNT(*), "
                      "CAST('-42' AS BIGINT) FROM v");
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 12);
    assert_int_equal(sqldb_column_int64(st, 1), 12);
    assert_int_equal(sqldb_column_int64(st, 2), 1);
    assert_int_equal(sqldb_column_int64(st, 3), 0);
    assert_string_equal(sqldb_column_text(st, 2), "1");
    assert_string_equal(sqldb_column_text(st, 3), "0");
    assert_int_equal(sqldb_column_int64(st, 4), 2);
    assert_int_equal(sqldb_column_int64(st, 5), -42);
    step_done(st, fx->db);
    sqldb_finalize(st);
}

/* A NULL at the first run, a value at the next: the second run's value
 * reaches the column whole. */
static void test_null_then_value(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    make_v(fx->db);
    st = prep(fx->db, "INSERT INTO v (k, i, b) VALUES (?1, ?2, ?3)");
    assert_int_equal(sqldb_bind_int64(st, 1, 1), 0);
    step_done(st, fx->db);
    sqldb_reset(st);
    assert_int_equal(sqldb_bind_int64(st, 1, 2), 0);
    assert_int_equal(sqldb_bind_int64(st, 2, INT64_MAX), 0);
    assert_int_equal(sqldb_bind_blob(st, 3, "\xff\x00", 2), 0);
    step_done(st, fx->db);
    sqldb_finalize(st);
    assert_true(testdb_int(fx->db, "SELECT i FROM v WHERE k = 2") == INT64_MAX);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM v WHERE i IS NULL AND b IS NULL"), 1);

    /* Untyped by the SQL: a blob after a NULL still comes back as bytes. */
    st = prep(fx->db, "SELECT ?1");
    step_row(st, fx->db);
    assert_true(sqldb_column_null(st, 0));
    step_done(st, fx->db);
    assert_int_equal(sqldb_bind_blob(st, 1, "\x00\x01\xfe", 3), 0);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_bytes(st, 0), 3);
    assert_memory_equal(sqldb_column_blob(st, 0), "\x00\x01\xfe", 3);
    step_done(st, fx->db);
    sqldb_finalize(st);
}

static void test_changes(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY, v BIGINT NOT NULL)");
    testdb_exec(fx->db, "INSERT INTO c (k, v) VALUES (1, 0), (2, 0), (3, 0)");
    assert_int_equal(sqldb_changes(fx->db), 3);

    st = prep(fx->db, "UPDATE c SET v = ?1 WHERE k >= ?2");
    assert_int_equal(sqldb_bind_int64(st, 1, 9), 0);
    assert_int_equal(sqldb_bind_int64(st, 2, 2), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 2);
    sqldb_finalize(st);

    st = prep(fx->db, "DELETE FROM c WHERE k = ?1");
    assert_int_equal(sqldb_bind_int64(st, 1, 1), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 1);
    sqldb_finalize(st);

    st = prep(fx->db, "INSERT INTO c (k, v) VALUES (?1, 5) ON CONFLICT (k) DO NOTHING");
    assert_int_equal(sqldb_bind_int64(st, 1, 2), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 0);
    assert_int_equal(sqldb_bind_int64(st, 1, 4), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 1);
    sqldb_finalize(st);

    st = prep(fx->db, "INSERT INTO c (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v");
    assert_int_equal(sqldb_bind_int64(st, 1, 2), 0);
    assert_int_equal(sqldb_bind_int64(st, 2, 77), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 1);
    sqldb_finalize(st);
    assert_int_equal(testdb_int(fx->db, "SELECT v FROM c WHERE k = 2"), 77);

    /* A query changes nothing, so the count stays. */
    testdb_exec(fx->db, "UPDATE c SET v = 1");
    assert_int_equal(sqldb_changes(fx->db), 3);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 3);
    assert_int_equal(sqldb_changes(fx->db), 3);
}

static void test_returning(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    testdb_exec(fx->db, testdb_is_postgres()
                            ? "CREATE TABLE r (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
                              " name TEXT NOT NULL)"
                            : "CREATE TABLE r (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    st = prep(fx->db, "INSERT INTO r (name) VALUES (?1) RETURNING id, name");
    assert_int_equal(sqldb_bind_text(st, 1, "first"), 0);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 1);
    assert_string_equal(sqldb_column_text(st, 1), "first");
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 1);
    assert_int_equal(sqldb_bind_text(st, 1, "second"), 0);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 2);
    step_done(st, fx->db);
    sqldb_finalize(st);
}

static void test_rerun_keeps_bindings(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY, v TEXT);"
                        "INSERT INTO c (k, v) VALUES (1, 'a'); INSERT INTO c (k, v) VALUES (2, 'b');"
                        "INSERT INTO c (k, v) VALUES (3, 'c')");
    st = prep(fx->db, "SELECT k, v FROM c WHERE k >= ?1 ORDER BY k");
    assert_int_equal(sqldb_bind_int64(st, 1, 2), 0);
    for (int run = 0; run < 2; run++) {
        step_row(st, fx->db);
        assert_int_equal(sqldb_column_int64(st, 0), 2);
        assert_string_equal(sqldb_column_text(st, 1), "b");
        step_row(st, fx->db);
        assert_int_equal(sqldb_column_int64(st, 0), 3);
        step_done(st, fx->db);
    }
    sqldb_finalize(st);

    st = prep(fx->db, "INSERT INTO c (k, v) VALUES (?1 + 10, ?2) ON CONFLICT (k) DO NOTHING");
    assert_int_equal(sqldb_bind_int64(st, 1, 1), 0);
    assert_int_equal(sqldb_bind_text(st, 2, "kept"), 0);
    step_done(st, fx->db);
    step_done(st, fx->db);
    assert_int_equal(sqldb_changes(fx->db), 0);
    sqldb_finalize(st);
    assert_int_equal(testdb_int_s(fx->db, "SELECT COUNT(*) FROM c WHERE v = ?1", "kept"), 1);
}

/* Borrowed text is read when the statement runs: what the buffer holds
 * afterwards is not what was stored, and a statement bound again with the
 * same buffer stores its new contents (a length shorter than the buffer
 * counts, as with sqldb_bind_textn). */
static void test_borrowed_text(void **state)
{
    fixture *fx = *state;
    char buf[32];
    sqldb_stmt *st;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY, v TEXT)");
    st = prep(fx->db, "INSERT INTO c (k, v) VALUES (?1, ?2)");
    for (int k = 1; k <= 2; k++) {
        snprintf(buf, sizeof buf, "body-%d-and-more", k);
        assert_int_equal(sqldb_bind_int64(st, 1, k), 0);
        assert_int_equal(sqldb_bind_textn_borrowed(st, 2, buf, 6), 0);
        step_done(st, fx->db);
        memset(buf, 'x', sizeof buf - 1);
    }
    sqldb_finalize(st);
    assert_int_equal(testdb_int_s(fx->db, "SELECT COUNT(*) FROM c WHERE v = ?1", "body-1"), 1);
    assert_int_equal(testdb_int_s(fx->db, "SELECT COUNT(*) FROM c WHERE v = ?1", "body-2"), 1);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 2);
}

static void test_reset_clears_bindings(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st;

    st = prep(fx->db, "SELECT COALESCE(?1, 'none')");
    assert_int_equal(sqldb_bind_text(st, 1, "x"), 0);
    step_row(st, fx->db);
    assert_string_equal(sqldb_column_text(st, 0), "x");
    sqldb_reset(st);
    step_row(st, fx->db);
    assert_string_equal(sqldb_column_text(st, 0), "none");
    step_done(st, fx->db);
    sqldb_finalize(st);

    /* A reset in the middle of the rows starts over. */
    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY);"
                        "INSERT INTO c (k) VALUES (1), (2), (3)");
    st = prep(fx->db, "SELECT k FROM c ORDER BY k");
    step_row(st, fx->db);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 2);
    sqldb_reset(st);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 1);
    sqldb_finalize(st);
}

static void test_failures(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *st = NULL;
    int rc;

    /* SQLite finds a missing table at prepare, PostgreSQL at the first step. */
    rc = sqldb_prepare(fx->db, "SELECT k FROM no_such_table", &st);
    if (rc == 0)
        rc = sqldb_step(st);
    assert_int_equal(rc, -1);
    assert_true(has(sqldb_errmsg(fx->db), "no_such_table"));
    assert_false(sqldb_retryable(fx->db));
    sqldb_finalize(st);

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    st = prep(fx->db, "INSERT INTO c (k) VALUES (?1)");
    assert_int_equal(sqldb_bind_int64(st, 1, 1), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_step(st), -1);
    assert_true(has(sqldb_errmsg(fx->db), "unique"));
    assert_false(sqldb_retryable(fx->db));
    assert_null(strchr(sqldb_errmsg(fx->db), '\n'));
    /* The statement runs again after a failure. */
    assert_int_equal(sqldb_bind_int64(st, 1, 2), 0);
    step_done(st, fx->db);
    assert_int_equal(sqldb_bind_int64(st, 0, 1), -1);
    assert_int_equal(sqldb_bind_int64(st, 2, 1), -1);
    sqldb_finalize(st);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 2);

    assert_int_equal(sqldb_exec(fx->db, "CREATE TABLE c (k BIGINT)"), -1);
    assert_true(has(sqldb_errmsg(fx->db), "already exists"));
}

static void test_transactions_and_savepoints(void **state)
{
    fixture *fx = *state;
    bool held = false;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_lock(fx->db, "device:m-1"), 0);
    testdb_exec(fx->db, "INSERT INTO c (k) VALUES (1)");
    assert_int_equal(sqldb_savepoint(fx->db, "inner_1"), 0);
    testdb_exec(fx->db, "INSERT INTO c (k) VALUES (2)");
    assert_int_equal(sqldb_rollback_to(fx->db, "inner_1"), 0);
    testdb_exec(fx->db, "INSERT INTO c (k) VALUES (3)");
    assert_int_equal(sqldb_release(fx->db, "inner_1"), 0);
    assert_int_equal(sqldb_savepoint(fx->db, "bad name"), -1);
    assert_true(has(sqldb_errmsg(fx->db), "savepoint name"));
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 2);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c WHERE k = 2"), 0);

    /* A rollback undoes the whole transaction and keeps the message. */
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    testdb_exec(fx->db, "INSERT INTO c (k) VALUES (4)");
    assert_int_equal(sqldb_exec(fx->db, "INSERT INTO c (k) VALUES (1)"), -1);
    sqldb_rollback(fx->db);
    assert_true(has(sqldb_errmsg(fx->db), "unique"));
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 2);

    assert_int_equal(sqldb_begin(fx->db, SQLDB_SNAPSHOT), 0);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 2);
    assert_int_equal(sqldb_commit(fx->db), 0);

    assert_int_equal(sqldb_try_lock_session(fx->db, "leader", &held), 0);
    assert_true(held);
    assert_int_equal(sqldb_unlock_session(fx->db, "leader"), 0);
}

/* The same short statement run many times (SQLite keeps it prepared):
 * each run takes effect, a failing run says why and leaves the next one
 * working, and more distinct statements than are kept still all run. */
static void test_repeated_statements(void **state)
{
    fixture *fx = *state;
    char sql[64];

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(sqldb_savepoint(fx->db, "msg"), 0);
        snprintf(sql, sizeof sql, "INSERT INTO c (k) VALUES (%d)", i % 10);
        if (i < 10) {
            assert_int_equal(sqldb_exec(fx->db, sql), 0);
            assert_int_equal(sqldb_changes(fx->db), 1);
            assert_int_equal(sqldb_release(fx->db, "msg"), 0);
        } else {
            /* The key is taken: this one fails, and is undone alone. */
            assert_int_equal(sqldb_exec(fx->db, sql), -1);
            assert_true(has(sqldb_errmsg(fx->db), "unique"));
            assert_int_equal(sqldb_rollback_to(fx->db, "msg"), 0);
            assert_int_equal(sqldb_release(fx->db, "msg"), 0);
        }
    }
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 10);
    assert_int_equal(sqldb_exec(fx->db, "DELETE FROM c WHERE k < 5"), 0);
    assert_int_equal(sqldb_changes(fx->db), 5);
}

/* ---- PostgreSQL only ----------------------------------------------------- */

static void test_pg_connect_error_masked(void **state)
{
    static const char *const targets[] = {
        "postgresql://smptest:s3cretpw@/postgres?host=/nonexistent/smp&port=5999",
        "postgresql://smptest@/postgres?host=/nonexistent/smp&port=5999&password=s3cretpw",
        /* Bad URIs: libpq quotes them (or their pieces) in its messages. */
        "postgresql://smptest:s3cretpw@[::1/postgres",
        "postgresql://smptest:s3cret%zzpw@/postgres?host=/nonexistent/smp",
        "postgresql://smptest@/postgres?password=s3cret%zzpw&host=/nonexistent/smp",
    };
    char err[600];
    sqldb *db;

    (void)state;
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        db = NULL;
        assert_int_equal(sqldb_open(targets[i], 0, &db, err, sizeof err), -1);
        assert_null(db);
        assert_non_null(strstr(err, "***"));
        assert_null(strstr(err, "s3cret"));
        assert_non_null(strstr(err, "cannot connect"));
        assert_null(strchr(err, '\n'));
    }
}

static void test_pg_readonly(void **state)
{
    fixture *fx = *state;
    char err[600];
    sqldb *ro = NULL;

    if (!testdb_is_postgres())
        skip();
    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY); INSERT INTO c (k) VALUES (1)");
    assert_int_equal(sqldb_open(fx->target, SQLDB_READONLY, &ro, err, sizeof err), 0);
    assert_int_equal(sqldb_exec(ro, "INSERT INTO c (k) VALUES (2)"), -1);
    assert_true(has(sqldb_errmsg(ro), "read-only"));
    assert_int_equal(sqldb_begin(ro, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_exec(ro, "DELETE FROM c"), -1);
    sqldb_rollback(ro);
    assert_int_equal(testdb_int(ro, "SELECT COUNT(*) FROM c"), 1);
    sqldb_close(ro);
}

/* A SQLite database made by this build has 32 KiB pages; a writer keeps
 * savepoint journals in memory, a 64 MiB page cache and checkpoints after
 * 32 MiB of WAL, 1,024 pages (the collector's burst figures in docs/performance.md
 * depend on each); a read-only connection keeps SQLite's defaults, so a
 * report's big sort stays on disk. */
static void test_sqlite_writer_settings(void **state)
{
    fixture *fx = *state;
    char err[600];
    sqldb *ro = NULL;

    if (testdb_is_postgres())
        skip();
    assert_int_equal(testdb_int(fx->db, "PRAGMA temp_store"), 2);
    assert_int_equal(testdb_int(fx->db, "PRAGMA cache_size"), -65536);
    assert_int_equal(testdb_int(fx->db, "PRAGMA wal_autocheckpoint"), 1024);
    assert_int_equal(testdb_int(fx->db, "PRAGMA page_size"), 32768);   /* made by this build */
    assert_int_equal(sqldb_open(fx->target, SQLDB_READONLY, &ro, err, sizeof err), 0);
    assert_int_equal(testdb_int(ro, "PRAGMA temp_store"), 0);
    assert_int_equal(testdb_int(ro, "PRAGMA cache_size"), -2000);
    sqldb_close(ro);
}

/* A database made by an earlier release keeps its pages (8 KiB here); its
 * writer checkpoints at the same 32 MiB of WAL, 4,096 of them. */
static void test_sqlite_older_pages(void **state)
{
    fixture *fx = *state;
    char path[TESTDB_TARGET_MAX + 8], err[600];
    sqlite3 *raw = NULL;
    sqldb *db = NULL;

    if (testdb_is_postgres())
        skip();
    snprintf(path, sizeof path, "%s-8k", fx->target);
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA page_size=8192; PRAGMA journal_mode=WAL;"
                                       " CREATE TABLE c (k INTEGER PRIMARY KEY)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(sqldb_open(path, 0, &db, err, sizeof err), 0);
    assert_int_equal(testdb_int(db, "PRAGMA page_size"), 8192);
    assert_int_equal(testdb_int(db, "PRAGMA wal_autocheckpoint"), 4096);
    sqldb_close(db);
    unlink(path);
}

/* Under REPEATABLE READ, updating a row that another connection changed
 * after this transaction's snapshot fails with 40001: retryable. */
static void test_pg_serialization_failure(void **state)
{
    fixture *fx = *state;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY, v BIGINT); INSERT INTO c VALUES (1, 0)");
    b = testdb_open(fx->target);
    testdb_exec(fx->db, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    assert_int_equal(testdb_int(fx->db, "SELECT v FROM c WHERE k = 1"), 0);
    testdb_exec(b, "UPDATE c SET v = 1 WHERE k = 1");
    assert_int_equal(sqldb_exec(fx->db, "UPDATE c SET v = 2 WHERE k = 1"), -1);
    assert_true(sqldb_retryable(fx->db));
    assert_non_null(strstr(sqldb_errmsg(fx->db), "40001"));
    sqldb_rollback(fx->db);
    assert_true(sqldb_retryable(fx->db));
    /* The caller's retry, from the transaction's start, passes. */
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    testdb_exec(fx->db, "UPDATE c SET v = 2 WHERE k = 1");
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(testdb_int(b, "SELECT v FROM c WHERE k = 1"), 2);
    sqldb_close(b);
}

typedef struct deadlock_side {
    const char *target;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool has_k2;
    int rc;              /* of its lock on k1 */
    bool retryable;
    char err[600];
} deadlock_side;

/* sqldb_lock, then a statement that reads its answer (PostgreSQL sends the
 * lock ahead once its statement is prepared). */
static int lock_answered(sqldb *db, const char *key)
{
    return sqldb_lock(db, key) == 0 ? sqldb_exec(db, "SELECT 1") : -1;
}

static void *deadlock_thread(void *arg)
{
    deadlock_side *d = arg;
    char err[600];
    sqldb *b = NULL;

    if (sqldb_open(d->target, 0, &b, err, sizeof err) != 0) {
        snprintf(d->err, sizeof d->err, "%s", err);
        d->rc = -2;
    } else {
        (void)sqldb_exec(b, "SET deadlock_timeout = '50ms'");
        d->rc = sqldb_begin(b, SQLDB_WRITE) == 0 && lock_answered(b, "k2") == 0 ? 0 : -2;
    }
    pthread_mutex_lock(&d->mu);
    d->has_k2 = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->rc == 0) {
        d->rc = lock_answered(b, "k1");
        d->retryable = sqldb_retryable(b);
        snprintf(d->err, sizeof d->err, "%s", sqldb_errmsg(b));
        sqldb_rollback(b);
    }
    sqldb_close(b);
    return NULL;
}

/* Two connections each holding the lock the other waits for: PostgreSQL
 * ends one of them with 40P01, retryable; the other then goes on. */
static void test_pg_deadlock(void **state)
{
    fixture *fx = *state;
    deadlock_side d = {.target = fx->target, .mu = PTHREAD_MUTEX_INITIALIZER,
                       .cv = PTHREAD_COND_INITIALIZER};
    pthread_t t;
    int rc;

    if (!testdb_is_postgres())
        skip();
    testdb_exec(fx->db, "SET deadlock_timeout = '50ms'");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(lock_answered(fx->db, "k1"), 0);
    assert_int_equal(pthread_create(&t, NULL, deadlock_thread, &d), 0);
    pthread_mutex_lock(&d.mu);
    while (!d.has_k2)
        pthread_cond_wait(&d.cv, &d.mu);
    pthread_mutex_unlock(&d.mu);
    rc = lock_answered(fx->db, "k2");
    if (rc != 0) {
        assert_true(sqldb_retryable(fx->db));
        assert_non_null(strstr(sqldb_errmsg(fx->db), "40P01"));
    }
    sqldb_rollback(fx->db);
    pthread_join(t, NULL);
    assert_int_not_equal(d.rc, -2);
    /* Exactly one side was chosen. */
    assert_true((rc == 0) != (d.rc == 0));
    if (d.rc != 0) {
        assert_true(d.retryable);
        assert_non_null(strstr(d.err, "40P01"));
    }
}

static int64_t try_xact_lock(sqldb *db, const char *key)
{
    return testdb_int_s(db, "SELECT pg_try_advisory_xact_lock(hashtextextended(?1, 0))", key);
}

static void test_pg_lock_excludes(void **state)
{
    fixture *fx = *state;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    b = testdb_open(fx->target);
    assert_int_equal(sqldb_lock(fx->db, "device:x"), -1);
    assert_true(has(sqldb_errmsg(fx->db), "sqldb_begin"));
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_lock(fx->db, "device:x"), 0);
    assert_int_equal(try_xact_lock(b, "device:x"), 0);
    assert_int_equal(try_xact_lock(b, "device:y"), 1);
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(try_xact_lock(b, "device:x"), 1);
    sqldb_close(b);
}

/* A lock the transaction holds is not sent again, nor counted: a group
 * locks its devices up front and each message asks again. A rollback to a
 * savepoint releases the locks taken since it, so every key is asked for
 * again after one; a new transaction takes them afresh. */
static void test_pg_lock_held_not_sent_again(void **state)
{
    fixture *fx = *state;
    int64_t s0;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    b = testdb_open(fx->target);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock(fx->db, "device:x"), 0);
    assert_int_equal(sqldb_lock(fx->db, "device:x"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 1);
    assert_int_equal(sqldb_savepoint(fx->db, "sp"), 0);
    assert_int_equal(sqldb_lock(fx->db, "device:y"), 0);
    assert_int_equal(sqldb_exec(fx->db, "SELECT 1"), 0);   /* both taken by now */
    assert_int_equal(try_xact_lock(b, "device:y"), 0);
    assert_int_equal(sqldb_rollback_to(fx->db, "sp"), 0);
    assert_int_equal(try_xact_lock(b, "device:y"), 1);    /* released with the savepoint */
    assert_int_equal(try_xact_lock(b, "device:x"), 0);    /* taken before it: held */
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock(fx->db, "device:y"), 0);
    assert_int_equal(sqldb_lock(fx->db, "device:x"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 2);
    assert_int_equal(sqldb_exec(fx->db, "SELECT 1"), 0);
    assert_int_equal(try_xact_lock(b, "device:y"), 0);    /* taken again */
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(try_xact_lock(b, "device:x"), 1);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock(fx->db, "device:x"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 1);
    assert_int_equal(sqldb_exec(fx->db, "SELECT 1"), 0);
    assert_int_equal(try_xact_lock(b, "device:x"), 0);
    sqldb_rollback(fx->db);
    assert_int_equal(try_xact_lock(b, "device:x"), 1);
    sqldb_close(b);
}

static int64_t try_xact_lock_shared(sqldb *db, const char *key)
{
    return testdb_int_s(db, "SELECT pg_try_advisory_xact_lock_shared(hashtextextended(?1, 0))", key);
}

/* sqldb_lock_shared: shared holders do not exclude each other, a shared one
 * excludes the lock whole; whole covers shared (nothing sent), shared does
 * not cover whole (sent, and then held whole). */
static void test_pg_lock_shared(void **state)
{
    fixture *fx = *state;
    int64_t s0;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    b = testdb_open(fx->target);
    assert_int_equal(sqldb_lock_shared(fx->db, "clinic:c"), -1);
    assert_true(has(sqldb_errmsg(fx->db), "sqldb_begin"));
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock_shared(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_lock_shared(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 1);
    assert_int_equal(sqldb_exec(fx->db, "SELECT 1"), 0);   /* taken by now */
    assert_int_equal(try_xact_lock_shared(b, "clinic:c"), 1);
    assert_int_equal(try_xact_lock(b, "clinic:c"), 0);
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 1);
    assert_int_equal(sqldb_exec(fx->db, "SELECT 1"), 0);
    assert_int_equal(try_xact_lock_shared(b, "clinic:c"), 0);  /* held whole now */
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_lock_shared(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 0);
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(try_xact_lock(b, "clinic:c"), 1);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    s0 = sqldb_statements(fx->db);
    assert_int_equal(sqldb_lock(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_lock_shared(fx->db, "clinic:c"), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 1);
    assert_int_equal(sqldb_exec(fx->db, "SELECT 1"), 0);
    assert_int_equal(try_xact_lock_shared(b, "clinic:c"), 0);
    sqldb_rollback(fx->db);
    assert_int_equal(try_xact_lock(b, "clinic:c"), 1);
    sqldb_close(b);
}

static bool take_within(sqldb *db, const char *key, int ms)
{
    struct timespec pause = {0, 10 * 1000 * 1000};
    bool held = false;

    for (int waited = 0; waited <= ms; waited += 10) {
        assert_int_equal(sqldb_try_lock_session(db, key, &held), 0);
        if (held)
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

static void test_pg_session_lock(void **state)
{
    fixture *fx = *state;
    bool held = false;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    b = testdb_open(fx->target);
    assert_int_equal(sqldb_try_lock_session(fx->db, "leader", &held), 0);
    assert_true(held);
    assert_int_equal(sqldb_try_lock_session(fx->db, "leader", &held), 0);
    assert_true(held);
    assert_int_equal(sqldb_try_lock_session(b, "leader", &held), 0);
    assert_false(held);
    /* Taken once only, so one unlock frees it. */
    assert_int_equal(sqldb_unlock_session(fx->db, "leader"), 0);
    assert_int_equal(sqldb_unlock_session(fx->db, "leader"), 0);
    assert_int_equal(sqldb_try_lock_session(b, "leader", &held), 0);
    assert_true(held);
    assert_int_equal(sqldb_try_lock_session(fx->db, "leader", &held), 0);
    assert_false(held);
    /* A connection's end releases its lock, as soon as the server has
     * seen it go. */
    sqldb_close(b);
    assert_true(take_within(fx->db, "leader", 5000));
}

/* Ends db's session from another connection, as a server restart would. */
static void kill_session(sqldb *db, sqldb *killer)
{
    int64_t pid = testdb_int(db, "SELECT pg_backend_pid()");
    sqldb_stmt *st = prep(killer, "SELECT pg_terminate_backend(CAST(?1 AS INTEGER), 5000)");

    assert_int_equal(sqldb_bind_int64(st, 1, pid), 0);
    step_row(st, killer);
    assert_int_equal(sqldb_column_int64(st, 0), 1);
    sqldb_finalize(st);
}

static void test_pg_reconnect(void **state)
{
    fixture *fx = *state;
    bool held = false;
    sqldb_stmt *st;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    b = testdb_open(fx->target);
    st = prep(fx->db, "SELECT ?1 + 1");
    assert_int_equal(sqldb_bind_int64(st, 1, 41), 0);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 42);
    step_done(st, fx->db);
    assert_int_equal(sqldb_try_lock_session(fx->db, "leader", &held), 0);
    assert_true(held);

    kill_session(fx->db, b);
    /* The killed session's lock is free for another; the first
     * connection notices it no longer holds it. */
    assert_int_equal(sqldb_try_lock_session(b, "leader", &held), 0);
    assert_true(held);
    assert_int_equal(sqldb_try_lock_session(fx->db, "leader", &held), 0);
    assert_false(held);
    assert_int_equal(sqldb_unlock_session(b, "leader"), 0);

    kill_session(fx->db, b);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_bind_int64(st, 1, 1), 0);
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 2);
    step_done(st, fx->db);
    assert_int_equal(sqldb_commit(fx->db), 0);

    /* Outside a transaction the statement that finds the session gone
     * fails, retryable; the next one runs on a new session. */
    kill_session(fx->db, b);
    assert_int_equal(sqldb_step(st), -1);
    assert_true(sqldb_retryable(fx->db));
    step_row(st, fx->db);
    assert_int_equal(sqldb_column_int64(st, 0), 2);
    step_done(st, fx->db);

    /* Inside a transaction nothing reconnects behind the caller's back. */
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    kill_session(fx->db, b);
    assert_int_equal(sqldb_step(st), -1);
    assert_true(sqldb_retryable(fx->db));
    assert_int_equal(sqldb_step(st), -1);
    assert_true(has(sqldb_errmsg(fx->db), "inside a transaction"));
    sqldb_rollback(fx->db);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    step_row(st, fx->db);
    step_done(st, fx->db);
    assert_int_equal(sqldb_commit(fx->db), 0);
    sqldb_finalize(st);
    sqldb_close(b);
}

/* A long-running program prepares and finalizes statements all day: the
 * server must not keep them. */
static void test_pg_finalize_deallocates(void **state)
{
    fixture *fx = *state;

    if (!testdb_is_postgres())
        skip();
    for (int i = 0; i < 100; i++) {
        sqldb_stmt *st = prep(fx->db, "SELECT ?1 + 0");
        assert_int_equal(sqldb_bind_int64(st, 1, i), 0);
        step_row(st, fx->db);
        assert_int_equal(sqldb_column_int64(st, 0), i);
        sqldb_finalize(st);
    }
    /* Only the statement counting them. */
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM pg_prepared_statements"), 1);
}

/* COMMIT of a transaction in which a statement failed must not pass: the
 * server answers it with a rollback. */
static void test_commit_after_failure(void **state)
{
    fixture *fx = *state;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    testdb_exec(fx->db, "INSERT INTO c (k) VALUES (1)");
    if (testdb_is_postgres()) {
        assert_int_equal(sqldb_exec(fx->db, "INSERT INTO c (k) VALUES (1)"), -1);
        assert_int_equal(sqldb_commit(fx->db), -1);
        assert_true(has(sqldb_errmsg(fx->db), "rolled back"));
        assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 0);
    } else {
        assert_int_equal(sqldb_commit(fx->db), 0);
        assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 1);
    }
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), -1);
    sqldb_rollback(fx->db);
}

/* Inserts k into c with sqldb_run_deferred, expecting expect changes. */
static int run_deferred_k(sqldb_stmt *ins, int64_t k, int64_t expect)
{
    assert_int_equal(sqldb_bind_int64(ins, 1, k), 0);
    return sqldb_run_deferred(ins, expect);
}

/* Statements sent ahead cost no round trip of their own on PostgreSQL: a
 * read after them carries their answers and sees their rows; a COMMIT
 * waits for them first. SQLite runs them at once (a round trip each, as
 * counted). Outside a transaction they run at once on both. */
static void test_deferred_ride_with_the_next_statement(void **state)
{
    fixture *fx = *state;
    bool pg = testdb_is_postgres();
    sqldb_stmt *ins, *cnt;
    int64_t s0, r0;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    ins = prep(fx->db, "INSERT INTO c (k) VALUES (?1) ON CONFLICT (k) DO NOTHING");
    cnt = prep(fx->db, "SELECT COUNT(*) FROM c");
    /* Prepared on the server (PostgreSQL) by a first run at once. */
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);
    step_row(cnt, fx->db);
    sqldb_reset(cnt);

    s0 = sqldb_statements(fx->db);
    r0 = sqldb_round_trips(fx->db);
    for (int64_t k = 2; k <= 5; k++)
        assert_int_equal(run_deferred_k(ins, k, 1), 0);
    assert_int_equal(sqldb_round_trips(fx->db) - r0, pg ? 0 : 4);
    step_row(cnt, fx->db);
    assert_int_equal(sqldb_column_int64(cnt, 0), 5);
    sqldb_reset(cnt);
    assert_int_equal(sqldb_statements(fx->db) - s0, 5);
    assert_int_equal(sqldb_round_trips(fx->db) - r0, pg ? 1 : 5);

    /* A duplicate changes nothing: expected, fine. */
    assert_int_equal(run_deferred_k(ins, 5, 0), 0);
    assert_int_equal(run_deferred_k(ins, 6, -1), 0);
    r0 = sqldb_round_trips(fx->db);
    assert_int_equal(sqldb_commit(fx->db), 0);
    /* The commit waited for the two first (PostgreSQL): two round trips. */
    assert_int_equal(sqldb_round_trips(fx->db) - r0, pg ? 2 : 1);

    r0 = sqldb_round_trips(fx->db);
    assert_int_equal(run_deferred_k(ins, 7, 1), 0);
    assert_int_equal(sqldb_round_trips(fx->db) - r0, 1);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 7);
    sqldb_finalize(ins);
    sqldb_finalize(cnt);
}

/* A statement sent ahead that fails, or changes another number of rows
 * than expected, fails the next statement or the COMMIT, named in the
 * message; nothing of the transaction is committed, and a rollback leaves
 * the connection ready for the next one. */
static void test_deferred_failure_found_later(void **state)
{
    fixture *fx = *state;
    bool pg = testdb_is_postgres();
    sqldb_stmt *ins, *cnt;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY CHECK (k < 100))");
    ins = prep(fx->db, "INSERT INTO c (k) VALUES (?1) ON CONFLICT (k) DO NOTHING");
    cnt = prep(fx->db, "SELECT COUNT(*) FROM c");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);

    /* A constraint: on PostgreSQL the read after it fails, naming the insert. */
    if (pg) {
        assert_int_equal(run_deferred_k(ins, 100, 1), 0);
        assert_int_equal(run_deferred_k(ins, 2, 1), 0);
        assert_int_equal(sqldb_step(cnt), -1);
    } else {
        assert_int_equal(run_deferred_k(ins, 100, 1), -1);
    }
    assert_true(has(sqldb_errmsg(fx->db), pg ? "INSERT INTO c" : "CHECK constraint failed"));
    assert_true(has(sqldb_errmsg(fx->db), pg ? "check constraint" : "k < 100"));
    sqldb_rollback(fx->db);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 0);

    /* Another row count than expected: found by the COMMIT on PostgreSQL. */
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);
    if (pg) {
        assert_int_equal(run_deferred_k(ins, 1, 1), 0);
        assert_int_equal(sqldb_commit(fx->db), -1);
    } else {
        assert_int_equal(run_deferred_k(ins, 1, 1), -1);
    }
    assert_true(has(sqldb_errmsg(fx->db), "changed 0 rows where 1 were expected"));
    sqldb_rollback(fx->db);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 0);

    /* A savepoint's release finds it too, and rolling back to it keeps
     * what came before. */
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);
    assert_int_equal(sqldb_savepoint(fx->db, "m"), 0);
    if (pg) {
        assert_int_equal(run_deferred_k(ins, 100, 1), 0);
        assert_int_equal(sqldb_release(fx->db, "m"), -1);
    } else {
        assert_int_equal(run_deferred_k(ins, 100, 1), -1);
    }
    assert_true(has(sqldb_errmsg(fx->db), pg ? "INSERT INTO c" : "CHECK constraint failed"));
    assert_int_equal(sqldb_rollback_to(fx->db, "m"), 0);
    assert_int_equal(sqldb_release(fx->db, "m"), 0);
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 1);

    step_row(cnt, fx->db);
    assert_int_equal(sqldb_column_int64(cnt, 0), 1);
    sqldb_reset(cnt);
    sqldb_finalize(ins);
    sqldb_finalize(cnt);
}

/* A read sent ahead (sqldb_send_ahead) on PostgreSQL: its step returns what
 * the database held when it was sent — every statement sent before it
 * (deferred inserts) and none after — with no round trip counted and the
 * statement counted once. Its answer survives a statement run in between
 * (which reads it off the connection) and the statements sent after it
 * are still checked by the commit. SQLite sends nothing: the step runs it
 * and reads what is there then. */
static void test_send_ahead_reads_as_of_sending(void **state)
{
    fixture *fx = *state;
    bool pg = testdb_is_postgres();
    sqldb_stmt *ins, *cnt, *ahead;
    int64_t s0, r0;

    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    ins = prep(fx->db, "INSERT INTO c (k) VALUES (?1)");
    cnt = prep(fx->db, "SELECT COUNT(*) FROM c");
    ahead = prep(fx->db, "SELECT COUNT(*), MAX(k) FROM c WHERE k <= ?1");
    /* Outside a transaction it is not sent ahead. */
    assert_int_equal(sqldb_bind_int64(ahead, 1, 10), 0);
    assert_int_equal(sqldb_send_ahead(ahead), 0);
    step_row(ahead, fx->db);
    sqldb_reset(ahead);

    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);   /* prepared: at once */
    s0 = sqldb_statements(fx->db);
    r0 = sqldb_round_trips(fx->db);
    assert_int_equal(run_deferred_k(ins, 2, 1), 0);
    assert_int_equal(sqldb_bind_int64(ahead, 1, 10), 0);
    assert_int_equal(sqldb_send_ahead(ahead), pg ? 1 : 0);
    assert_int_equal(run_deferred_k(ins, 3, 1), 0);
    step_row(ahead, fx->db);
    assert_int_equal(sqldb_column_int64(ahead, 0), pg ? 2 : 3);
    assert_int_equal(sqldb_column_int64(ahead, 1), pg ? 2 : 3);
    assert_int_equal(sqldb_step(ahead), 0);
    assert_int_equal(sqldb_statements(fx->db) - s0, 3);
    assert_int_equal(sqldb_round_trips(fx->db) - r0, pg ? 0 : 3);

    /* A read run in between takes the answer off the connection; the
     * step still gets it. */
    assert_int_equal(sqldb_bind_int64(ahead, 1, 10), 0);
    assert_int_equal(sqldb_send_ahead(ahead), pg ? 1 : 0);
    assert_int_equal(run_deferred_k(ins, 4, 1), 0);
    step_row(cnt, fx->db);
    assert_int_equal(sqldb_column_int64(cnt, 0), 4);
    sqldb_reset(cnt);
    step_row(ahead, fx->db);
    assert_int_equal(sqldb_column_int64(ahead, 0), pg ? 3 : 4);
    sqldb_reset(ahead);

    /* Reset instead of stepped: dropped, the connection keeps its place. */
    assert_int_equal(sqldb_bind_int64(ahead, 1, 10), 0);
    assert_int_equal(sqldb_send_ahead(ahead), pg ? 1 : 0);
    sqldb_reset(ahead);
    assert_int_equal(run_deferred_k(ins, 5, 1), 0);
    assert_int_equal(sqldb_bind_int64(ahead, 1, 4), 0);
    step_row(ahead, fx->db);
    assert_int_equal(sqldb_column_int64(ahead, 0), 4);
    sqldb_reset(ahead);

    /* Left unread at the commit: the commit reads it and commits. */
    assert_int_equal(sqldb_bind_int64(ahead, 1, 10), 0);
    assert_int_equal(sqldb_send_ahead(ahead), pg ? 1 : 0);
    assert_int_equal(run_deferred_k(ins, 6, 1), 0);
    assert_int_equal(sqldb_commit(fx->db), 0);
    sqldb_reset(ahead);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 6);
    sqldb_finalize(ins);
    sqldb_finalize(cnt);
    sqldb_finalize(ahead);
}

/* A statement sent before the read that fails: the read's step fails,
 * naming it, and the rest are read off so that a rollback leaves the
 * connection ready; one sent after it that fails is found by the commit. */
static void test_send_ahead_after_a_failure(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *ins, *ahead;

    if (!testdb_is_postgres())
        skip();
    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY CHECK (k < 100))");
    ins = prep(fx->db, "INSERT INTO c (k) VALUES (?1)");
    ahead = prep(fx->db, "SELECT COUNT(*) FROM c");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);   /* prepared: at once */
    step_row(ahead, fx->db);                          /* prepared */
    sqldb_reset(ahead);
    assert_int_equal(run_deferred_k(ins, 100, 1), 0);
    assert_int_equal(sqldb_send_ahead(ahead), 1);
    assert_int_equal(run_deferred_k(ins, 2, 1), 0);
    assert_int_equal(sqldb_step(ahead), -1);
    assert_true(has(sqldb_errmsg(fx->db), "INSERT INTO c"));
    assert_true(has(sqldb_errmsg(fx->db), "check constraint"));
    sqldb_reset(ahead);
    sqldb_rollback(fx->db);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 0);

    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);
    assert_int_equal(sqldb_send_ahead(ahead), 1);
    assert_int_equal(run_deferred_k(ins, 100, 1), 0);
    step_row(ahead, fx->db);
    assert_int_equal(sqldb_column_int64(ahead, 0), 1);
    sqldb_reset(ahead);
    assert_int_equal(sqldb_commit(fx->db), -1);
    assert_true(has(sqldb_errmsg(fx->db), "check constraint"));
    sqldb_rollback(fx->db);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 0);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 7, 1), 0);
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 1);
    sqldb_finalize(ins);
    sqldb_finalize(ahead);
}

/* A session lost while statements were sent ahead: the statement that
 * finds it fails, retryable, as any lost transaction does; a rollback and
 * a new transaction go on, on a new session, and nothing of the lost one
 * is stored. */
static void test_pg_session_lost_with_statements_ahead(void **state)
{
    fixture *fx = *state;
    sqldb_stmt *ins, *cnt;
    sqldb *b;

    if (!testdb_is_postgres())
        skip();
    b = testdb_open(fx->target);
    testdb_exec(fx->db, "CREATE TABLE c (k BIGINT PRIMARY KEY)");
    ins = prep(fx->db, "INSERT INTO c (k) VALUES (?1)");
    cnt = prep(fx->db, "SELECT COUNT(*) FROM c");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 1, 1), 0);   /* prepared: at once */
    step_row(cnt, fx->db);
    sqldb_reset(cnt);
    assert_int_equal(run_deferred_k(ins, 2, 1), 0);   /* sent ahead */
    kill_session(fx->db, b);
    assert_int_equal(run_deferred_k(ins, 3, 1), 0);
    assert_int_equal(sqldb_step(cnt), -1);
    assert_true(sqldb_retryable(fx->db));
    sqldb_rollback(fx->db);

    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    assert_int_equal(run_deferred_k(ins, 4, 1), 0);
    assert_int_equal(run_deferred_k(ins, 5, 1), 0);
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM c"), 2);
    assert_int_equal(testdb_int(fx->db, "SELECT MIN(k) FROM c"), 4);
    sqldb_finalize(ins);
    sqldb_finalize(cnt);
    sqldb_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_postgres),
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_pg_connect_error_masked),
        cmocka_unit_test_setup_teardown(test_kind_and_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_placeholders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers_and_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_then_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_returning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rerun_keeps_bindings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_clears_bindings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_borrowed_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_and_savepoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_after_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_ride_with_the_next_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_failure_found_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_ahead_reads_as_of_sending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_ahead_after_a_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_writer_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite_older_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_serialization_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_deadlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_lock_excludes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_lock_held_not_sent_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_lock_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_session_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_finalize_deallocates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pg_session_lost_with_statements_ahead, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
