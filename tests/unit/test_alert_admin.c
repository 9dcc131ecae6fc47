/* test_alert_admin: listing and acknowledging alerts (smpctl alerts), on a
 * real temporary database, through alert_admin.h and the alerts_cmd
 * command line. */
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

typedef struct fixture {
    char dir[64], path[128];
    sqlite3 *db;
} fixture;

static void exec_sql(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("sql failed: %s: %s", sql, msg ? msg : "?");
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    char err[512];

    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_alert_admin.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/fleet.db", f->dir);
    if (db_migrate(f->path, &(int){0}, &(int){0}, err, sizeof err) != 0 ||
        db_open(f->path, &f->db, err, sizeof err) != 0)
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
    char p[200];
    sqlite3_close(f->db);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, (const char *[]){"", "-wal", "-shm"}[i]);
        unlink(p);
    }
    rmdir(f->dir);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_by_clinic_and_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_all_clinics_and_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_hidden_withdrawn_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_once_with_who_and_when, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
