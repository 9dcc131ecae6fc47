/* test_clinics: smpctl clinic add|set|list (admin/clinic_cmd.c) and the
 * clinics table behind it (admin/clinics.c), the line smpctl device add
 * prints for a clinic nobody registered, and the clinics' sterilizers
 * (smpctl sterilizer add|list, admin/sterilizers.c), against a real temporary
 * database: SQLite, or PostgreSQL when SMP_TEST_PG is set (testdb.h).
 * Every case checks the exact output, exit code and table contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clinic_cmd.h"
#include "clinics.h"
#include "db.h"
#include "device_cmd.h"
#include "pki.h"
#include "sterilizer_cmd.h"
#include "testdb.h"

typedef struct fixture {
    char dir[256];
    char path[TESTDB_TARGET_MAX];
    char shown[TESTDB_TARGET_MAX];   /* the target as messages show it (masked) */
    char out[8192], err[8192];       /* of the last command */
    sqldb *db;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");

    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-clinics-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(fx->dir));
    testdb_new(fx->path, sizeof fx->path);
    sqldb_mask(fx->path, fx->shown, sizeof fx->shown);
    fx->db = testdb_open(fx->path);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[400];

    sqldb_close(fx->db);
    testdb_drop(fx->path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

static int capture_to(const fixture *fx, const char *name, int target, int *saved)
{
    char p[400];
    int fd;

    snprintf(p, sizeof p, "%s/%s", fx->dir, name);
    *saved = dup(target);
    fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(*saved >= 0 && fd >= 0);
    assert_int_equal(dup2(fd, target), target);
    return fd;
}

static void restore(int fd, int target, int saved, char *text, size_t cap)
{
    ssize_t n;

    assert_int_equal(dup2(saved, target), target);
    close(saved);
    n = pread(fd, text, cap - 1, 0);
    close(fd);
    assert_true(n >= 0);
    text[n] = '\0';
}

/* Runs `smpctl <words...>` (clinic, sterilizer or device) with stdout and stderr
 * captured into fx->out and fx->err; the words end with NULL and "--db
 * <target>" is added. Returns the exit code. */
static int run(fixture *fx, const char *cmd, ...)
{
    char *argv[32];
    int argc = 0, rc, so, se, fo, fe;
    va_list ap;

    va_start(ap, cmd);
    for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
        argv[argc++] = (char *)w;
    va_end(ap);
    argv[argc++] = "--db";
    argv[argc++] = fx->path;
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    fo = capture_to(fx, "out", STDOUT_FILENO, &so);
    fe = capture_to(fx, "err", STDERR_FILENO, &se);
    rc = strcmp(cmd, "clinic") == 0       ? clinic_cmd(argc, argv)
         : strcmp(cmd, "sterilizer") == 0 ? sterilizer_cmd(argc, argv)
                                          : device_cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    restore(fo, STDOUT_FILENO, so, fx->out, sizeof fx->out);
    restore(fe, STDERR_FILENO, se, fx->err, sizeof fx->err);
    return rc;
}

static void is(const char *what, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n%s-- want:\n%s", what, got, want);
}

/* The clinics table, one line per clinic by id. */
static void table_is(fixture *fx, const char *want)
{
    sqldb_stmt *q = NULL;
    char got[4096];
    size_t n = 0;
    int rc;

    assert_int_equal(sqldb_prepare(fx->db, "SELECT clinic_id || '|' || name || '|' || timezone || "
                                           "'|' || address || '|' || licence FROM clinics "
                                           "ORDER BY clinic_id", &q), 0);
    got[0] = '\0';
    while ((rc = sqldb_step(q)) == 1)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s\n", sqldb_column_text(q, 0));
    sqldb_finalize(q);
    assert_int_equal(rc, 0);
    is("clinics table", got, want);
}

/* ---- add, set, list ---------------------------------------------------------- */

static void test_add_set_list(void **state)
{
    fixture *fx = *state;
    clinics_row c;
    char err[512], want[2048];

    assert_int_equal(run(fx, "clinic", "add", "clinic-north", "--name", "North Street Studio",
                         "--timezone", "America/Los_Angeles", "--address",
                         "12 North St, Springfield", "--licence", "BA-1234", NULL), 0);
    is("add stdout", fx->out, "added clinic clinic-north: name 'North Street Studio', timezone "
                              "America/Los_Angeles, licence BA-1234, address '12 North St, "
                              "Springfield'\n");
    is("add stderr", fx->err, "");
    assert_int_equal(run(fx, "clinic", "add", "clinic-east", "--name", "Østerbro Hud",
                         "--timezone", "Europe/Copenhagen", NULL), 0);
    is("add stdout", fx->out, "added clinic clinic-east: name 'Østerbro Hud', timezone "
                              "Europe/Copenhagen, licence none, address none\n");
    table_is(fx, "clinic-east|Østerbro Hud|Europe/Copenhagen||\n"
                 "clinic-north|North Street Studio|America/Los_Angeles|12 North St, Springfield|"
                 "BA-1234\n");
    assert_int_equal(clinics_get(fx->db, "clinic-north", &c, err, sizeof err), 0);
    assert_string_equal(c.added_at, c.updated_at);
    assert_int_equal(strlen(c.added_at), REGISTRY_TS_LEN);

    /* Two devices of the north clinic, one retired: the list counts the active one. */
    testdb_exec(fx->db, "INSERT INTO devices(device_id, clinic, added_at, retired_at) VALUES "
                        "('dev-1', 'clinic-north', '2026-01-01T00:00:00.000Z', NULL),"
                        "('dev-2', 'clinic-north', '2026-01-01T00:00:00.000Z', "
                        "'2026-02-01T00:00:00.000Z')");
    assert_int_equal(run(fx, "clinic", "list", NULL), 0);
    is("list stdout", fx->out,
       "id            name                 timezone             devices  licence  address\n"
       "clinic-east   Østerbro Hud         Europe/Copenhagen    0        -        -\n"
       "clinic-north  North Street Studio  America/Los_Angeles  1        BA-1234  12 North St, "
       "Springfield\n");
    is("list stderr", fx->err, "");

    /* set: only what is given changes; '' removes the address. */
    assert_int_equal(run(fx, "clinic", "set", "clinic-north", "--timezone", "America/New_York",
                         "--address", "", NULL), 0);
    is("set stdout", fx->out,
       "updated clinic clinic-north: name 'North Street Studio', timezone America/New_York, "
       "licence BA-1234, address none\n"
       "timezone changed from America/Los_Angeles: records judged from now on and every report "
       "use America/New_York; alerts already raised keep the dates they were judged with\n");
    assert_int_equal(run(fx, "clinic", "set", "clinic-east", "--name", "Østerbro Hudklinik",
                         "--licence", "DK-77", NULL), 0);
    is("set stdout", fx->out, "updated clinic clinic-east: name 'Østerbro Hudklinik', timezone "
                              "Europe/Copenhagen, licence DK-77, address none\n");
    table_is(fx, "clinic-east|Østerbro Hudklinik|Europe/Copenhagen||DK-77\n"
                 "clinic-north|North Street Studio|America/New_York||BA-1234\n");
    snprintf(want, sizeof want, "%s", c.added_at);
    assert_int_equal(clinics_get(fx->db, "clinic-north", &c, err, sizeof err), 0);
    assert_string_equal(c.added_at, want);
    assert_true(strcmp(c.updated_at, c.added_at) >= 0);
}

static void test_bad_timezone(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *tz, *err;
    } cases[] = {
        {"Mars/Olympus_Mons",
         "smpctl clinic add: --timezone 'Mars/Olympus_Mons' is not in the system tz database "
         "(/usr/share/zoneinfo/Mars/Olympus_Mons: No such file or directory); give an IANA name "
         "such as America/Los_Angeles (ls /usr/share/zoneinfo lists them)\n"},
        {"PST",
         "smpctl clinic add: --timezone 'PST' is not in the system tz database "
         "(/usr/share/zoneinfo/PST: No such file or directory); give an IANA name such as "
         "America/Los_Angeles (ls /usr/share/zoneinfo lists them)\n"},
        {"UTC-8",
         "smpctl clinic add: --timezone 'UTC-8' is not in the system tz database "
         "(/usr/share/zoneinfo/UTC-8: No such file or directory); give an IANA name such as "
         "America/Los_Angeles (ls /usr/share/zoneinfo lists them)\n"},
        {"../../etc/passwd",
         "smpctl clinic add: --timezone '../../etc/passwd' is not an IANA zone name; give one "
         "such as America/Los_Angeles or Europe/London\n"},
        {"posix/Europe/London",
         "smpctl clinic add: --timezone 'posix/Europe/London' is not an IANA zone name; give one "
         "such as America/Los_Angeles or Europe/London\n"},
        {"Europe",
         "smpctl clinic add: --timezone 'Europe' is not a zone of the system tz database "
         "(/usr/share/zoneinfo/Europe is a directory of zones); give one such as "
         "America/Los_Angeles\n"},
        {"iso3166.tab",
         "smpctl clinic add: --timezone 'iso3166.tab': not a TZif file (no 'TZif' header): not a "
         "zone of the tz database\n"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "One", "--timezone", cases[i].tz,
                             NULL), 1);
        is("bad timezone stderr", fx->err, cases[i].err);
        is("bad timezone stdout", fx->out, "");
    }
    table_is(fx, "");
    assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "One", "--timezone", "UTC", NULL), 0);
    assert_int_equal(run(fx, "clinic", "set", "c1", "--timezone", "Europe/Lndon", NULL), 1);
    is("set stderr", fx->err,
       "smpctl clinic set: --timezone 'Europe/Lndon' is not in the system tz database "
       "(/usr/share/zoneinfo/Europe/Lndon: No such file or directory); give an IANA name such as "
       "America/Los_Angeles (ls /usr/share/zoneinfo lists them)\n");
    table_is(fx, "c1|One|UTC||\n");
}

static void test_unknown_clinic_on_set(void **state)
{
    fixture *fx = *state;

    assert_int_equal(run(fx, "clinic", "set", "clinic-nowhere", "--name", "X", NULL), 1);
    is("set stderr", fx->err,
       "smpctl clinic set: clinic 'clinic-nowhere' is not registered; add it with smpctl clinic "
       "add clinic-nowhere --name NAME --timezone ZONE (see smpctl clinic list)\n");
    is("set stdout", fx->out, "");
    table_is(fx, "");
}

static void test_duplicate_add(void **state)
{
    fixture *fx = *state;
    clinics_row c;
    char err[512], want[1024];

    assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "One", "--timezone",
                         "Asia/Kolkata", NULL), 0);
    assert_int_equal(clinics_get(fx->db, "c1", &c, err, sizeof err), 0);
    assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "Other", "--timezone", "UTC",
                         "--licence", "L-2", NULL), 1);
    snprintf(want, sizeof want,
             "smpctl clinic add: clinic 'c1' is already registered (name 'One', timezone "
             "Asia/Kolkata, added %s); change it with smpctl clinic set c1\n", c.added_at);
    is("duplicate stderr", fx->err, want);
    is("duplicate stdout", fx->out, "");
    table_is(fx, "c1|One|Asia/Kolkata||\n");
}

/* Everything else checked before the database is touched. */
static void test_bad_fields(void **state)
{
    fixture *fx = *state;
    char long_licence[200];

    memset(long_licence, 'L', 129);
    long_licence[129] = '\0';
    assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "", "--timezone", "UTC", NULL), 1);
    is("empty name", fx->err, "smpctl clinic add: --name is empty; give a non-empty value\n");
    assert_int_equal(run(fx, "clinic", "add", "main/street", "--name", "M", "--timezone", "UTC",
                         NULL), 1);
    is("clinic id", fx->err, "smpctl clinic add: clinic id 'main/street' holds '/', '+' or '#'; "
                             "a clinic is one MQTT topic level (smp/v1/alerts/<clinic>): use e.g. "
                             "main-street\n");
    assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "M", "--timezone", "UTC",
                         "--address", "1 Main St\nSpringfield", NULL), 1);
    is("address", fx->err, "smpctl clinic add: --address has a control character (a line "
                           "break?); write it on one line of plain text\n");
    assert_int_equal(run(fx, "clinic", "add", "c1", "--name", "M", "--timezone", "UTC",
                         "--licence", long_licence, NULL), 1);
    is("licence", fx->err, "smpctl clinic add: --licence is 129 bytes; the limit is 128\n");
    assert_int_equal(run(fx, "clinic", "add", "c1", "--timezone", "UTC", NULL), 2);
    is("no name", fx->err, "smpctl clinic add: --name is required\n");
    assert_int_equal(run(fx, "clinic", "set", "c1", NULL), 2);
    is("set nothing", fx->err,
       "smpctl clinic set: nothing to change: give --name, --timezone, --address or --licence\n"
       "usage: smpctl clinic set <id> [--name N] [--timezone TZ] [--address A] [--licence L] "
       "--db PATH|URI\n"
       "    changes what is given (--address '' removes the address); a new timezone\n"
       "    applies to records judged from then on and to every report made after it\n");
    table_is(fx, "");
}

/* ---- clinics nobody registered --------------------------------------------------- */

static void test_device_add_names_unregistered_clinic(void **state)
{
    fixture *fx = *state;
    char want[1024];

    assert_int_equal(run(fx, "device", "add", "dev-1", "--clinic", "clinic-west", NULL), 0);
    is("device add stdout", fx->out, "device dev-1 added to clinic 'clinic-west'\n");
    snprintf(want, sizeof want,
             "smpctl device add: clinic 'clinic-west' is not registered: its calendar is UTC "
             "until smpctl clinic add clinic-west --name NAME --timezone ZONE --db %s\n",
             fx->shown);
    is("device add stderr", fx->err, want);
    assert_int_equal(run(fx, "device", "add", "dev-2", "--clinic", "clinic-west", NULL), 0);
    assert_int_equal(run(fx, "clinic", "list", NULL), 0);
    is("list stdout", fx->out, "id  name  timezone  devices  licence  address\n");
    snprintf(want, sizeof want,
             "smpctl clinic list: clinic 'clinic-west' is not registered: its calendar is UTC "
             "until smpctl clinic add clinic-west --name NAME --timezone ZONE --db %s (2 "
             "devices)\n", fx->shown);
    is("list stderr", fx->err, want);

    /* Registered: the device is added without a word about it. */
    assert_int_equal(run(fx, "clinic", "add", "clinic-west", "--name", "West", "--timezone",
                         "Pacific/Auckland", NULL), 0);
    assert_int_equal(run(fx, "device", "add", "dev-3", "--clinic", "clinic-west", NULL), 0);
    is("device add stdout", fx->out, "device dev-3 added to clinic 'clinic-west'\n");
    is("device add stderr", fx->err, "");
    assert_int_equal(run(fx, "clinic", "list", NULL), 0);
    is("list stdout", fx->out,
       "id           name  timezone          devices  licence  address\n"
       "clinic-west  West  Pacific/Auckland  3        -        -\n");
    is("list stderr", fx->err, "");
}

/* ---- sterilizers ----------------------------------------------------------- */

/* A fleet PKI in fx->dir/pki with a certificate for id (CN = id). */
static void issue_cert(fixture *fx, const char *id, char *path, size_t cap)
{
    char pki[300];
    char *init[] = {"init", "--dir", pki, NULL};
    char *issue[] = {"issue-device", (char *)id, "--dir", pki, NULL};
    int so, se, fo, fe;

    snprintf(pki, sizeof pki, "%s/pki", fx->dir);
    fo = capture_to(fx, "out", STDOUT_FILENO, &so);
    fe = capture_to(fx, "err", STDERR_FILENO, &se);
    if (access(pki, F_OK) != 0)
        assert_int_equal(pki_cmd(3, init), 0);
    assert_int_equal(pki_cmd(4, issue), 0);
    restore(fo, STDOUT_FILENO, so, fx->out, sizeof fx->out);
    restore(fe, STDERR_FILENO, se, fx->err, sizeof fx->err);
    snprintf(path, cap, "%s/devices/%s.crt", pki, id);
}

/* One autoclave with its own agent (a device of kind sterilizer), one
 * logged through the machines; the list says which is which. */
static void test_sterilizer_add_and_list(void **state)
{
    fixture *fx = *state;
    char cert[400];

    issue_cert(fx, "ac-north", cert, sizeof cert);
    assert_int_equal(run(fx, "sterilizer", "add", "ac-north", "--clinic", "north", "--model",
                         "Melag Vacuklav 23-B", "--serial", "M-2231", "--cert", cert, NULL), 0);
    is("add stdout", fx->out, "sterilizer ac-north added to clinic 'north', reporting through its "
                              "own agent (device of kind sterilizer)\n");
    assert_int_equal(run(fx, "sterilizer", "add", "ac-south", "--clinic", "south", NULL), 0);
    is("add stdout", fx->out, "sterilizer ac-south added to clinic 'south', logged through the "
                              "clinic's machines\n");
    assert_int_equal(run(fx, "sterilizer", "list", NULL), 0);
    is("list", fx->out,
       "id        clinic  model                serial  reports through\n"
       "ac-north  north   Melag Vacuklav 23-B  M-2231  its own agent ac-north\n"
       "ac-south  south   -                    -       the clinic's machines\n");
    assert_int_equal(run(fx, "sterilizer", "list", "--clinic", "south", NULL), 0);
    is("list --clinic", fx->out,
       "id        clinic  model  serial  reports through\n"
       "ac-south  south   -      -       the clinic's machines\n");
    assert_int_equal(testdb_int(fx->db, "SELECT count(*) FROM devices WHERE device_id = 'ac-north' "
                                        "AND kind = 'sterilizer' AND cert_pem IS NOT NULL"), 1);
    assert_int_equal(testdb_int(fx->db, "SELECT count(*) FROM devices"), 1);
    assert_int_equal(run(fx, "device", "list", NULL), 0);
    assert_non_null(strstr(fx->out, "active, autoclave logger"));
}

/* Ids are one namespace with device ids and never reused; bad input is
 * refused before anything is written. */
static void test_sterilizer_refusals(void **state)
{
    fixture *fx = *state;
    char want[1024], cert[400];

    assert_int_equal(run(fx, "device", "add", "m-01", "--clinic", "north", NULL), 0);
    assert_int_equal(run(fx, "sterilizer", "add", "m-01", "--clinic", "north", NULL), 1);
    is("taken by a device", fx->err, "smpctl sterilizer add: 'm-01' is already registered as a "
       "device of clinic 'north' (smpctl device list); ids are never reused: choose another id\n");
    assert_int_equal(run(fx, "sterilizer", "add", "ac-1", "--clinic", "north", NULL), 0);
    assert_int_equal(run(fx, "sterilizer", "add", "ac-1", "--clinic", "south", NULL), 1);
    is("taken by a sterilizer", fx->err, "smpctl sterilizer add: 'ac-1' is already registered as "
       "a sterilizer of clinic 'north' (smpctl sterilizer list); ids are never reused: choose "
       "another id\n");
    assert_int_equal(run(fx, "device", "add", "ac-1", "--clinic", "north", NULL), 1);
    is("device id of a sterilizer", fx->err, "smpctl device add: 'ac-1' is a sterilizer of clinic "
       "'north' (smpctl sterilizer list); device and sterilizer ids share one namespace: choose "
       "another id\n");
    assert_int_equal(run(fx, "sterilizer", "add", "AC:1", "--clinic", "north", NULL), 1);
    assert_non_null(strstr(fx->err, "smpctl sterilizer add: invalid sterilizer id: "));
    assert_int_equal(run(fx, "sterilizer", "add", "ac-2", "--clinic", "a/b", NULL), 1);
    assert_non_null(strstr(fx->err, "--clinic"));
    issue_cert(fx, "ac-3", cert, sizeof cert);
    assert_int_equal(run(fx, "sterilizer", "add", "ac-4", "--clinic", "north", "--cert", cert, NULL), 1);
    snprintf(want, sizeof want, "smpctl sterilizer add: --cert %s: ", cert);
    assert_non_null(strstr(fx->err, want));
    assert_int_equal(run(fx, "sterilizer", "add", "--clinic", "north", NULL), 2);
    assert_int_equal(testdb_int(fx->db, "SELECT count(*) FROM sterilizers"), 1);
    assert_int_equal(testdb_int(fx->db, "SELECT count(*) FROM devices"), 1);
}

/* Registering a sterilizer moves the alerts its clinic filed about it under
 * the machine that first logged it, so that its next spore test clears
 * them where the rules now look; other clinics' and other rules' stay. */
static void test_sterilizer_add_moves_its_alerts(void **state)
{
    fixture *fx = *state;

    testdb_exec(fx->db,
        "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence, raised_at) VALUES"
        " ('R6', 'warning', 'm-01', 'north', 'spore-overdue:ac-1', 'm', '{\"sterilizer_id\":\"ac-1\"}', 't'),"
        " ('R4', 'cycle-failed', 'm-02', 'north', 'load:L1', 'm', '{\"sterilizer_id\":\"ac-1\"}', 't'),"
        " ('R6', 'warning', 'm-09', 'south', 'spore-overdue:ac-1', 'm', '{\"sterilizer_id\":\"ac-1\"}', 't'),"
        " ('R6', 'warning', 'm-01', 'north', 'spore-overdue:ac-2', 'm', '{\"sterilizer_id\":\"ac-2\"}', 't'),"
        " ('R9', 'integrity', 'm-01', 'north', 'gap', 'm', '{\"device\":\"m-01\"}', 't')");
    assert_int_equal(run(fx, "sterilizer", "add", "ac-1", "--clinic", "north", NULL), 0);
    is("add stdout", fx->out, "sterilizer ac-1 added to clinic 'north', logged through the "
                              "clinic's machines\n2 alerts about it moved to it from the machines "
                              "that logged it\n");
    assert_int_equal(testdb_int(fx->db, "SELECT count(*) FROM alerts WHERE device_id = 'ac-1' "
                                        "AND clinic = 'north' AND rule IN ('R4', 'R6')"), 2);
    assert_int_equal(testdb_int(fx->db, "SELECT count(*) FROM alerts WHERE device_id = 'ac-1'"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_set_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_timezone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_clinic_on_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_add, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_device_add_names_unregistered_clinic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sterilizer_add_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sterilizer_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sterilizer_add_moves_its_alerts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
