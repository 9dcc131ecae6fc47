/* test_alert_admin: listing and acknowledging alerts (smpctl alerts), on a
 * real temporary database (SQLite, or PostgreSQL when SMP_TEST_PG is set:
 * testdb.h), through alert_admin.h and the alerts_cmd command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert_admin.h"
#include "alerts_cmd.h"
#include "db.h"
#include "testdb.h"

typedef struct fixture {
    char path[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

static void exec_sql(sqldb *db, const char *sql)
{
    testdb_exec(db, sql);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512];

    assert_non_null(f);
    testdb_new(f->path, sizeof f->path);
    if (db_open(f->path, &f->db, err, sizeof err) != 0)
        fail_msg("%s", err);
    exec_sql(f->db,
             "INSERT INTO alerts(id, rule, severity, device_id, clinic, cause, message, evidence, "
             "raised_at, cleared_at) VALUES "
             "(1, 'R4', 'cycle-failed', 'dev-a', 'north', 'load:L1', 'cycle failed', '{}', "
             "'2026-11-02T08:00:00.000Z', NULL),"
             "(2, 'R3', 'maintenance', 'dev-a', 'north', 'wear:C1', 'replace cartridge C1', '{}', "
             "'2026-11-02T09:00:00.000Z', '2026-11-02T09:05:00.000Z'),"
             "(3, 'R1', 'critical', 'dev-z', 'south', 'reused:C9:S2', 'reused', '{}', "
             "'2026-11-02T10:00:00.000Z', NULL)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    sqldb_close(f->db);
    testdb_drop(f->path);
    free(f);
    return 0;
}

static void test_list_by_clinic_and_open(void **state)
{
    fixture *f = *state;
    alert_row *rows;
    size_t n;
    char err[512];

    assert_int_equal(alert_admin_list(f->db, &(alert_filter){"north", false, NULL}, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, 1);
    assert_string_equal(rows[0].cause, "load:L1");
    assert_string_equal(rows[0].cleared_at, "");
    assert_string_equal(rows[1].cleared_at, "2026-11-02T09:05:00.000Z");
    free(rows);

    assert_int_equal(alert_admin_list(f->db, &(alert_filter){"north", true, NULL}, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].rule, "R4");
    free(rows);

    assert_int_equal(alert_admin_list(f->db, &(alert_filter){"west", false, NULL}, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(rows);
}

/* Without --clinic every clinic's alerts, ordered by clinic then id;
 * --since compares with the raise time (a date means its midnight UTC). */
static void test_list_all_clinics_and_since(void **state)
{
    fixture *f = *state;
    alert_row *rows;
    size_t n;
    char err[512];

    assert_int_equal(alert_admin_list(f->db, &(alert_filter){NULL, false, NULL}, &rows, &n, err,
                                      sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(rows[0].clinic, "north");
    assert_int_equal(rows[1].id, 2);
    assert_string_equal(rows[2].clinic, "south");
    assert_int_equal(rows[2].id, 3);
    free(rows);

    assert_int_equal(alert_admin_list(f->db, &(alert_filter){NULL, true, "2026-11-02T09:00"}, &rows,
                                      &n, err, sizeof err), 0);
    assert_int_equal(n, 1); /* 2 is cleared, 1 raised before 09:00 */
    assert_int_equal(rows[0].id, 3);
    free(rows);

    assert_int_equal(alert_admin_list(f->db, &(alert_filter){NULL, false, "2026-11-03"}, &rows, &n,
                                      err, sizeof err), 0);
    assert_int_equal(n, 0);
}

/* A rule's pending check (state 'pending') is no alert: never listed, never
 * acknowledged. A withdrawn alert is listed with its state. */
static void test_pending_hidden_withdrawn_shown(void **state)
{
    fixture *f = *state;
    alert_row *rows;
    size_t n;
    char err[512];

    exec_sql(f->db,
             "INSERT INTO alerts(id, rule, severity, device_id, clinic, cause, message, evidence, "
             "raised_at, cleared_at, state) VALUES "
             "(4, 'R5', 'pending', 'dev-a', 'north', 'pending:S1:G1', 'grip waiting', '{}', "
             "'2026-11-02T11:00:00.000Z', '2026-11-02T11:00:00.000Z', 'pending'),"
             "(5, 'R5', 'critical', 'dev-a', 'north', 'no-cycle:S1:G2', 'no cycle', '{}', "
             "'2026-11-02T11:00:00.000Z', '2026-11-02T11:09:00.000Z', 'withdrawn')");
    assert_int_equal(alert_admin_list(f->db, &(alert_filter){"north", false, NULL}, &rows, &n, err,
                                      sizeof err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(rows[2].id, 5);
    assert_string_equal(rows[2].state, "withdrawn");
    assert_string_equal(rows[0].state, "");
    free(rows);
    assert_int_equal(alert_admin_ack(f->db, 4, "nurse-kim", "2026-11-02T12:00:00.000Z", err, sizeof err), -1);
    assert_string_equal(err, "alert 4 does not exist; see smpctl alerts list");
}

static void test_ack_once_with_who_and_when(void **state)
{
    fixture *f = *state;
    alert_row *rows;
    size_t n;
    char err[512];

    assert_int_equal(alert_admin_ack(f->db, 1, "nurse-kim", "2026-11-02T08:30:00.000Z", err, sizeof err), 0);
    assert_int_equal(alert_admin_list(f->db, &(alert_filter){"north", false, NULL}, &rows, &n, err, sizeof err), 0);
    assert_string_equal(rows[0].acked_by, "nurse-kim");
    assert_string_equal(rows[0].acked_at, "2026-11-02T08:30:00.000Z");
    free(rows);

    assert_int_equal(alert_admin_ack(f->db, 1, "someone-else", "2026-11-02T08:31:00.000Z", err, sizeof err), -1);
    assert_string_equal(err, "alert 1 was already acknowledged by nurse-kim at 2026-11-02T08:30:00.000Z");
    assert_int_equal(alert_admin_ack(f->db, 42, "nurse-kim", "2026-11-02T08:31:00.000Z", err, sizeof err), -1);
    assert_string_equal(err, "alert 42 does not exist; see smpctl alerts list");
    /* A cleared alert can still be acknowledged: someone saw it. */
    assert_int_equal(alert_admin_ack(f->db, 2, "nurse-kim", "2026-11-02T10:00:00.000Z", err, sizeof err), 0);
}

static int run_cmd(const char *const *args)
{
    char *argv[16];
    int argc = 0;
    for (; args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    return alerts_cmd(argc, argv);
}

static void test_command_line(void **state)
{
    fixture *f = *state;

    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--clinic", "north", "--open", NULL}), 0);
    assert_int_equal(run_cmd((const char *[]){"ack", "3", "--by", "dr-lee", "--db", f->path, NULL}), 0);
    assert_int_equal(run_cmd((const char *[]){"ack", "3", "--by", "dr-lee", "--db", f->path, NULL}), 1);
    assert_int_equal(run_cmd((const char *[]){"ack", "99", "--by", "dr-lee", "--db", f->path, NULL}), 1);
    assert_int_equal(run_cmd((const char *[]){"ack", "x1", "--by", "dr-lee", "--db", f->path, NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"ack", "1", "--db", f->path, NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"ack", "1", "--by", "", "--db", f->path, NULL}), 1);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, NULL}), 0);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--since", "2026-11-02", NULL}), 0);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--since", "2026-02-30", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--since", "2026-11-02T24:00", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", f->path, "--since", "yesterday", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--clinic", "north", NULL}), 2);
    assert_int_equal(run_cmd((const char *[]){"list", "--db", "/nonexistent/fleet.db", "--clinic", "n", NULL}), 1);
    assert_int_equal(run_cmd((const char *[]){"mute", NULL}), 2);
}

/* Runs alerts_cmd with its stderr captured into out; returns its result. */
static int run_cmd_err(const char *const *args, char *out, size_t cap)
{
    FILE *tmp = tmpfile();
    int saved, rc;
    size_t n;

    assert_non_null(tmp);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    rc = run_cmd(args);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(out, 1, cap - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

/* PostgreSQL: a password in --db never reaches the terminal. */
static void test_password_never_shown(void **state)
{
    fixture *f = *state;
    char uri[TESTDB_TARGET_MAX + 64], out[2048];

    if (!testdb_is_postgres())
        skip();
    testdb_with_secret(f->path, "smp_no_such_db", uri, sizeof uri);
    assert_int_equal(run_cmd_err((const char *[]){"list", "--db", uri, NULL}, out, sizeof out), 1);
    assert_non_null(strstr(out, "***"));
    assert_null(strstr(out, "secret"));
    assert_int_equal(run_cmd_err((const char *[]){"ack", "1", "--by", "dr-lee", "--db", uri, NULL},
                                 out, sizeof out), 1);
    assert_non_null(strstr(out, "***"));
    assert_null(strstr(out, "secret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_by_clinic_and_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_all_clinics_and_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_hidden_withdrawn_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_once_with_who_and_when, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_never_shown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
