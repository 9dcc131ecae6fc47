/* Unit tests of the generated broker ACL (admin/broker_acl.c):
 * the exact output for a registry with two clinics, a viewer of each and
 * an --all viewer, regeneration in place, and names that could add a line
 * or a wildcard to the ACL refused; on SQLite, or on PostgreSQL when
 * SMP_TEST_PG is set (testdb.h). */
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

#include "broker_acl.h"
#include "broker_cmd.h"
#include "db.h"
#include "registry.h"
#include "testdb.h"

#define T0 "2026-11-23T09:00:00.000Z"

static const char base[] =
    "# base\n"
    "pattern write smp/v1/dev/%u/events\n"
    "\n"
    "# ---- the collector\n"
    "user smp-collector\n"
    "# its rights\n"
    "topic read smp/v1/dev/+/events\n"
    "topic readwrite smp/v1/alerts/#\n"
    "\n";

static const char expected_tail[] =
    "\n"
    "\n"
    BROKER_ACL_MARKER "\n"
    "# 1 further collector(s), 3 viewer(s). Regenerate after pki issue-collector,\n"
    "# pki issue-viewer, device add or device retire, then reload the broker.\n"
    "\n"
    "# ---- collector-2: a further collector, the rights of smp-collector\n"
    "user smp-collector-2\n"
    "topic read smp/v1/dev/+/events\n"
    "topic readwrite smp/v1/alerts/#\n"
    "\n"
    "# ---- viewer hq: read-only, the alerts and device status of every clinic\n"
    "user smp-viewer-hq\n"
    "topic deny smp/v1/dev/smp-viewer-hq/#\n"
    "topic read smp/v1/alerts/+\n"
    "topic read smp/v1/dev/+/status\n"
    "\n"
    "# ---- viewer north-desk: read-only, the alerts and device status of one clinic\n"
    "user smp-viewer-north-desk\n"
    "topic deny smp/v1/dev/smp-viewer-north-desk/#\n"
    "topic read smp/v1/alerts/north\n"
    "topic read smp/v1/dev/n-01/status\n"
    "topic read smp/v1/dev/n-02/status\n"
    "\n"
    "# ---- viewer south-desk: read-only, the alerts and device status of one clinic\n"
    "user smp-viewer-south-desk\n"
    "topic deny smp/v1/dev/smp-viewer-south-desk/#\n"
    "topic read smp/v1/alerts/south\n"
    "topic read smp/v1/dev/s-01/status\n";

typedef struct fixture {
    char dir[256], pki[300], db_path[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

static void touch(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static void add_dev(sqldb *db, const char *id, const char *clinic)
{
    char err[512];
    registry_new d = {.device_id = id, .clinic = clinic};
    assert_int_equal(registry_add(db, &d, T0, err, sizeof err), 0);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    char err[512];

    snprintf(fx->dir, sizeof fx->dir, "%s/smp-acl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->pki, sizeof fx->pki, "%s/pki", fx->dir);
    mkdir(fx->pki, 0755);
    testdb_new(fx->db_path, sizeof fx->db_path);
    if (db_open(fx->db_path, &fx->db, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[700];

    sqldb_close(fx->db);
    testdb_drop(fx->db_path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

static void fleet_of_two_clinics(fixture *fx)
{
    char err[512];

    add_dev(fx->db, "n-02", "north");
    add_dev(fx->db, "n-01", "north");
    add_dev(fx->db, "s-01", "south");
    add_dev(fx->db, "s-02", "south");
    assert_int_equal(registry_retire(fx->db, "s-02", T0, err, sizeof err), 0);
    assert_int_equal(registry_add_viewer(fx->db, "south-desk", "south", T0, err, sizeof err), 0);
    assert_int_equal(registry_add_viewer(fx->db, "north-desk", "north", T0, err, sizeof err), 0);
    assert_int_equal(registry_add_viewer(fx->db, "hq", NULL, T0, err, sizeof err), 0);
    touch(fx->pki, "collector.crt");
    touch(fx->pki, "collector-2.crt");
    touch(fx->pki, "collector-2.0A1B.crt");   /* a kept pair: not an identity */
    touch(fx->pki, "viewer-hq.crt");
}

/* Two clinics, a viewer each (retired devices left out), an --all viewer
 * and a further collector: the whole text, byte for byte. */
static void test_exact_output(void **state)
{
    fixture *fx = *state;
    char err[512], *acl = NULL, *again = NULL, want[4096];
    size_t len, len2, nc, nv;

    fleet_of_two_clinics(fx);
    assert_int_equal(broker_acl_build(base, fx->pki, fx->db, &acl, &len, &nc, &nv, err,
                                      sizeof err), 0);
    snprintf(want, sizeof want, "%.*s%s", (int)strlen(base) - 2, base, expected_tail);
    assert_string_equal(acl, want);
    assert_int_equal(len, strlen(want));
    assert_int_equal(nc, 1);
    assert_int_equal(nv, 3);

    /* Regenerated from its own output (in place): the same bytes. */
    assert_int_equal(broker_acl_build(acl, fx->pki, fx->db, &again, &len2, &nc, &nv, err,
                                      sizeof err), 0);
    assert_string_equal(again, acl);
    free(again);
    free(acl);
}

/* Without a registry: the base and the collectors only. */
static void test_no_db(void **state)
{
    fixture *fx = *state;
    char err[512], *acl = NULL;
    size_t len, nc, nv;

    touch(fx->pki, "collector-watch.crt");
    assert_int_equal(broker_acl_build(base, fx->pki, NULL, &acl, &len, &nc, &nv, err, sizeof err), 0);
    assert_non_null(strstr(acl, "\nuser smp-collector-watch\ntopic read smp/v1/dev/+/events\n"));
    assert_null(strstr(acl, "user smp-viewer"));
    assert_int_equal(nv, 0);
    free(acl);
}

static void test_base_without_collector_block(void **state)
{
    fixture *fx = *state;
    char err[512], *acl = NULL;
    size_t len, nc, nv;

    assert_int_equal(broker_acl_build("pattern write x/%u\n", fx->pki, NULL, &acl, &len, &nc, &nv,
                                      err, sizeof err), -1);
    assert_null(acl);
    assert_non_null(strstr(err, "user smp-collector"));
}

/* Clinic names are topic levels on an ACL line of their own. */
static void test_bad_clinics_refused(void **state)
{
    fixture *fx = *state;
    static const char *const bad[] = {"north\ntopic readwrite #", "north#", "a/b", "a+b",
                                      "main street", "tab\there", "nbsp\xc2\xa0x",
                                      "ideo\xe3\x80\x80x", ""};
    char err[512];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        registry_new d = {.device_id = "dev-bad", .clinic = bad[i]};
        assert_int_equal(registry_add(fx->db, &d, T0, err, sizeof err), -1);
        assert_int_equal(registry_add_viewer(fx->db, "v", bad[i], T0, err, sizeof err), -1);
        assert_int_equal(registry_check_clinic("--clinic", bad[i], err, sizeof err), -1);
    }
    assert_int_equal(registry_check_clinic("--clinic", "Zürich-2", err, sizeof err), 0);
}

/* A registry edited behind smpctl's back still cannot inject a line. */
static void test_render_rechecks(void **state)
{
    fixture *fx = *state;
    char err[512], *acl = NULL;
    size_t len;
    const char *devs[] = {"n-01"}, *bad_devs[] = {"n-01\ntopic readwrite #"};
    const char *colls[] = {"x y"};
    broker_acl_viewer v1 = {"desk", "north\nuser smp-collector", devs, 1};
    broker_acl_viewer v2 = {"desk", "north", bad_devs, 1};
    broker_acl_viewer v3 = {"Desk\n", "north", devs, 1};
    broker_acl_input in = {base, NULL, 0, &v1, 1};
    (void)fx;

    assert_int_equal(broker_acl_render(&in, &acl, &len, err, sizeof err), -1);
    in.viewers = &v2;
    assert_int_equal(broker_acl_render(&in, &acl, &len, err, sizeof err), -1);
    in.viewers = &v3;
    assert_int_equal(broker_acl_render(&in, &acl, &len, err, sizeof err), -1);
    in.viewers = NULL;
    in.nviewers = 0;
    in.collectors = colls;
    in.ncollectors = 1;
    assert_int_equal(broker_acl_render(&in, &acl, &len, err, sizeof err), -1);
    assert_null(acl);
}

static void test_viewer_names(void **state)
{
    fixture *fx = *state;
    char err[512];

    assert_int_equal(registry_check_viewer_name("north-desk", err, sizeof err), 0);
    assert_int_equal(registry_check_viewer_name("-x", err, sizeof err), -1);
    assert_int_equal(registry_check_viewer_name("North", err, sizeof err), -1);
    assert_int_equal(registry_check_viewer_name("a b", err, sizeof err), -1);
    assert_int_equal(registry_check_viewer_name("", err, sizeof err), -1);
    assert_int_equal(registry_add_viewer(fx->db, "desk", "north", T0, err, sizeof err), 0);
    assert_int_equal(registry_add_viewer(fx->db, "desk", NULL, T0, err, sizeof err), -1);
    assert_non_null(strstr(err, "already recorded"));
}

/* `smpctl broker acl --db` reads the registry through a read-only session
 * (db_open_readonly) and writes what test_exact_output expects. */
static void test_cmd_reads_registry(void **state)
{
    fixture *fx = *state;
    char out[600], want[4096], got[4096];
    char *argv[] = {"acl", "--pki", fx->pki, "--out", out, "--db", fx->db_path};
    FILE *f;
    size_t n;

    fleet_of_two_clinics(fx);
    snprintf(out, sizeof out, "%s/acl", fx->dir);
    f = fopen(out, "w");
    assert_non_null(f);
    fputs(base, f);
    fclose(f);
    assert_int_equal(broker_cmd(7, argv), 0);
    assert_non_null(f = fopen(out, "r"));
    n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    snprintf(want, sizeof want, "%.*s%s", (int)strlen(base) - 2, base, expected_tail);
    assert_string_equal(got, want);
}

/* PostgreSQL: a password in --db never reaches the terminal, and the ACL
 * is left as it was. */
static void test_cmd_password_never_shown(void **state)
{
    fixture *fx = *state;
    char uri[TESTDB_TARGET_MAX + 64], out[600], msg[2048];
    char *argv[] = {"acl", "--pki", fx->pki, "--out", out, "--base", out, "--db", uri};
    FILE *tmp, *f;
    int saved, rc;
    size_t n;

    if (!testdb_is_postgres())
        skip();
    testdb_with_secret(fx->db_path, "smp_no_such_db", uri, sizeof uri);
    snprintf(out, sizeof out, "%s/acl", fx->dir);
    assert_non_null(f = fopen(out, "w"));
    fputs(base, f);
    fclose(f);
    assert_non_null(tmp = tmpfile());
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), STDERR_FILENO), STDERR_FILENO);
    rc = broker_cmd(9, argv);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    rewind(tmp);
    n = fread(msg, 1, sizeof msg - 1, tmp);
    msg[n] = '\0';
    fclose(tmp);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(msg, "***"));
    assert_null(strstr(msg, "secret"));
    assert_non_null(f = fopen(out, "r"));
    n = fread(msg, 1, sizeof msg - 1, f);
    fclose(f);
    msg[n] = '\0';
    assert_string_equal(msg, base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exact_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_without_collector_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_clinics_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render_rechecks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_viewer_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_reads_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_password_never_shown, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
