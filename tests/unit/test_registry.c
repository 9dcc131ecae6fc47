/* Unit tests of the device registry (registry.c) and `smpctl device`
 * (device_cmd.c) against a real temporary database: SQLite, or PostgreSQL
 * when SMP_TEST_PG is set (testdb.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "device_cmd.h"
#include "device_recover.h"
#include "registry.h"
#include "testdb.h"

#define T0 "2026-11-23T09:00:00.000Z"
#define T1 "2026-11-24T10:30:00.000Z"

/* Self-signed EC P-256 test certificates made for these tests with
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
 *  -subj "/O=smpfleet test/CN=<cn>" -days 36500`; keys discarded. */
static const char cert_dev_cert_1[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBsTCCAVegAwIBAgIURWtXJG/3LDrll6imyFyHwrvqx00wCgYIKoZIzj0EAwIw\n"
    "LTEWMBQGA1UECgwNc21wZmxlZXQgdGVzdDETMBEGA1UEAwwKZGV2LWNlcnQtMTAg\n"
    "Fw0yNjExMjMxOTU5MzVaGA8yMTI2MTAzMDE5NTkzNVowLTEWMBQGA1UECgwNc21w\n"
    "ZmxlZXQgdGVzdDETMBEGA1UEAwwKZGV2LWNlcnQtMTBZMBMGByqGSM49AgEGCCqG\n"
    "SM49AwEHA0IABF1Z3LgBv66MCMCTxHf4gayv7b04+JK0MrNI/ej88SX6hfSoSxts\n"
    "29Nt5+D04q2tisIYcf+oVbwtLEIotCMt0OejUzBRMB0GA1UdDgQWBBS6JzpMGiBf\n"
    "DiekJMaxZFOK8xruBjAfBgNVHSMEGDAWgBS6JzpMGiBfDiekJMaxZFOK8xruBjAP\n"
    "BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIFTT2wxMYBL2T/ZfPo33\n"
    "6/BAzcdPk/bcR2gElxtwEx5HAiEA6oIVlSO8mMOm+/mvLnxMWb01oWAUhiu5Sf78\n"
    "8ptj6WQ=\n"
    "-----END CERTIFICATE-----\n";

static const char cert_other_dev[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBrzCCAVWgAwIBAgIUZDiuu092+wwJ2DYrlMhbXnpP8MkwCgYIKoZIzj0EAwIw\n"
    "LDEWMBQGA1UECgwNc21wZmxlZXQgdGVzdDESMBAGA1UEAwwJb3RoZXItZGV2MCAX\n"
    "DTI2MTEyMzE5NTkzNVoYDzIxMjYxMDMwMTk1OTM1WjAsMRYwFAYDVQQKDA1zbXBm\n"
    "bGVldCB0ZXN0MRIwEAYDVQQDDAlvdGhlci1kZXYwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAR4FyzNhaGy9aInHSU6NfbAe4BWbdumIv1zBjwiAewf+kPOV4DbstmR\n"
    "tA0Ir8UM8iAgBS/mqI1PQdqd1W63yjavo1MwUTAdBgNVHQ4EFgQUDHZ5NO364LMP\n"
    "DbNPgAiyE40Z1ZUwHwYDVR0jBBgwFoAUDHZ5NO364LMPDbNPgAiyE40Z1ZUwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiB5uV5HyIOI1Lj5tJqKN30f\n"
    "jy73H1MG6xaQpKAtIjQ2EQIhAPko76BUX9qOwHYEvwPDDhljrvmP3YqYdnIFVVTj\n"
    "ujVJ\n"
    "-----END CERTIFICATE-----\n";

/* A second certificate for dev-cert-1 (made the same way, another key): the
 * device's renewed certificate in the replace tests. */
static const char cert_dev_cert_1_new[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBsDCCAVegAwIBAgIUYVoE4TQ5Nxhp+0/5q4SS+sfgGoswCgYIKoZIzj0EAwIw\n"
    "LTEWMBQGA1UECgwNc21wZmxlZXQgdGVzdDETMBEGA1UEAwwKZGV2LWNlcnQtMTAg\n"
    "Fw0yNjExMjkyMjM5MDFaGA8yMTI2MTEwNTIyMzkwMVowLTEWMBQGA1UECgwNc21w\n"
    "ZmxlZXQgdGVzdDETMBEGA1UEAwwKZGV2LWNlcnQtMTBZMBMGByqGSM49AgEGCCqG\n"
    "SM49AwEHA0IABMWBXS52eUzU2qLB1FGVxNZxefdd0JxIs/BCovye04wOowKDKa0e\n"
    "ylZKmgmblyfUELpm9f0i1M+lFpg9eVIPPoqjUzBRMB0GA1UdDgQWBBTGiaLlqwNJ\n"
    "KoKBJJvNHXKrbQv9lDAfBgNVHSMEGDAWgBTGiaLlqwNJKoKBJJvNHXKrbQv9lDAP\n"
    "BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIEDH1yFc8/LlAfetiVbG\n"
    "fA8y3cWVVbhhwjoRncWWe5quAiBdDd3PlAY8pwBZmtvozzEgux9TU4UdqokQ1rf3\n"
    "AukWkw==\n"
    "-----END CERTIFICATE-----\n";

/* dir holds the files a test writes (certificates, captured output);
 * path is the database's target, a file elsewhere or a postgresql:// URI. */
typedef struct fixture {
    char dir[256];
    char path[TESTDB_TARGET_MAX];
    sqldb *db;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    char err[512];

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-registry-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    testdb_new(fx->path, sizeof fx->path);
    if (db_open(fx->path, &fx->db, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static void path_in(const fixture *fx, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", fx->dir, name);
}

static int teardown(void **state)
{
    static const char *const files[] = {"dev.crt", "list.out", "missing.db", "dev-new.crt"};
    fixture *fx = *state;
    char p[400];

    sqldb_close(fx->db);
    testdb_drop(fx->path);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        path_in(fx, files[i], p, sizeof p);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static int add(sqldb *db, const char *id, const char *clinic, char *err, size_t errlen)
{
    registry_new dev = {.device_id = id, .clinic = clinic};
    return registry_add(db, &dev, T0, err, errlen);
}

static int count_devices(sqldb *db)
{
    return (int)testdb_int(db, "SELECT COUNT(*) FROM devices");
}

/* The certificate stored for id, "" when none. */
static const char *stored_cert(sqldb *db, const char *id, char *buf, size_t cap)
{
    sqldb_stmt *st = NULL;

    assert_int_equal(sqldb_prepare(db, "SELECT cert_pem FROM devices WHERE device_id = ?1", &st), 0);
    assert_int_equal(sqldb_bind_text(st, 1, id), 0);
    assert_int_equal(sqldb_step(st), 1);
    sqldb_column_copy(st, 0, buf, cap);
    sqldb_finalize(st);
    return buf;
}

/* A refused device is reported with msg and leaves the table as it was. */
static void expect_add_error(sqldb *db, const registry_new *dev, const char *msg)
{
    char err[512] = "";
    int before = count_devices(db);

    assert_int_equal(registry_add(db, dev, T0, err, sizeof err), -1);
    assert_string_equal(err, msg);
    assert_int_equal(count_devices(db), before);
}

/* ---- registry ---- */

static void test_add_then_get(void **state)
{
    fixture *fx = *state;
    registry_new dev = {.device_id = "dev-a1", .clinic = "clinic-a", .model = "SMP-Pro 2",
                        .serial = "SN-0001"};
    registry_device got;
    char err[512] = "";

    assert_int_equal(registry_add(fx->db, &dev, T0, err, sizeof err), 0);
    assert_int_equal(registry_get(fx->db, "dev-a1", &got, err, sizeof err), 0);
    assert_string_equal(got.device_id, "dev-a1");
    assert_string_equal(got.clinic, "clinic-a");
    assert_string_equal(got.model, "SMP-Pro 2");
    assert_string_equal(got.serial, "SN-0001");
    assert_string_equal(got.added_at, T0);
    assert_string_equal(got.retired_at, "");
    assert_false(got.has_cert);

    assert_int_equal(registry_get(fx->db, "dev-zz", &got, err, sizeof err), 1);
    assert_string_equal(err, "device 'dev-zz' is not registered; see 'smpctl device list'");
}

static void test_duplicate_refused(void **state)
{
    fixture *fx = *state;
    registry_new again = {.device_id = "dev-a1", .clinic = "clinic-b"};
    registry_device got;
    char err[512] = "";

    assert_int_equal(add(fx->db, "dev-a1", "clinic-a", err, sizeof err), 0);
    expect_add_error(fx->db, &again,
                     "device 'dev-a1' is already registered (clinic 'clinic-a', added " T0 ")");
    assert_int_equal(registry_get(fx->db, "dev-a1", &got, err, sizeof err), 0);
    assert_string_equal(got.clinic, "clinic-a");  /* the first registration stands */
}

static void test_retired_id_never_reused(void **state)
{
    fixture *fx = *state;
    registry_new again = {.device_id = "dev-a1", .clinic = "clinic-a"};
    char err[512] = "";

    assert_int_equal(add(fx->db, "dev-a1", "clinic-a", err, sizeof err), 0);
    assert_int_equal(registry_retire(fx->db, "dev-a1", T1, err, sizeof err), 0);
    expect_add_error(fx->db, &again,
                     "device 'dev-a1' was retired at " T1 "; ids are never reused, register the "
                     "machine under a new id");
}

static void test_bad_id_refused(void **state)
{
    fixture *fx = *state;
    registry_new d = {.clinic = "clinic-a"};

    d.device_id = "ab";
    expect_add_error(fx->db, &d, "invalid device id: device id must be 3..64 characters, got 2");
    d.device_id = "Dev-1";
    expect_add_error(fx->db, &d,
                     "invalid device id: device id may hold only a-z, 0-9 and '-' (bad character at 0)");
    d.device_id = "smp-collector";
    expect_add_error(fx->db, &d, "invalid device id: device id may not start with 'smp-' "
                                 "(reserved for fleet services)");
    assert_int_equal(count_devices(fx->db), 0);
}

static void test_text_fields_checked(void **state)
{
    fixture *fx = *state;
    char long_clinic[REGISTRY_TEXT_MAX + 2];
    registry_new d = {.device_id = "dev-t1", .clinic = ""};
    char err[512] = "";

    expect_add_error(fx->db, &d, "clinic is empty; give a non-empty value");
    memset(long_clinic, 'c', REGISTRY_TEXT_MAX + 1);
    long_clinic[REGISTRY_TEXT_MAX + 1] = '\0';
    d.clinic = long_clinic;
    expect_add_error(fx->db, &d, "clinic is 129 bytes; the limit is 128");
    d.clinic = "North\nSouth";
    expect_add_error(fx->db, &d, "clinic has a control character; use plain text");
    d.clinic = "Caf\xe9";   /* Latin-1, not UTF-8 */
    expect_add_error(fx->db, &d, "clinic is not valid UTF-8; re-type it in a UTF-8 terminal");
    d.clinic = "North";
    d.model = "";
    expect_add_error(fx->db, &d, "model is empty; give a non-empty value");
    d.model = NULL;
    d.serial = "S\t1";
    expect_add_error(fx->db, &d, "serial has a control character; use plain text");

    long_clinic[REGISTRY_TEXT_MAX] = '\0';  /* exactly the limit is fine */
    assert_int_equal(add(fx->db, "dev-t1", long_clinic, err, sizeof err), 0);
    assert_int_equal(add(fx->db, "dev-t2", "Caf\xc3\xa9-<&>-\"Ost\"", err, sizeof err), 0);
}

static void test_retire(void **state)
{
    fixture *fx = *state;
    registry_device got;
    char err[512] = "";

    assert_int_equal(add(fx->db, "dev-a1", "clinic-a", err, sizeof err), 0);
    assert_int_equal(registry_retire(fx->db, "dev-a1", T1, err, sizeof err), 0);
    assert_int_equal(registry_get(fx->db, "dev-a1", &got, err, sizeof err), 0);
    assert_string_equal(got.retired_at, T1);

    assert_int_equal(registry_retire(fx->db, "dev-a1", "2027-01-01T00:00:00.000Z", err,
                                     sizeof err), -1);
    assert_string_equal(err, "device 'dev-a1' was already retired at " T1);
    assert_int_equal(registry_get(fx->db, "dev-a1", &got, err, sizeof err), 0);
    assert_string_equal(got.retired_at, T1);  /* the first retirement stands */

    assert_int_equal(registry_retire(fx->db, "dev-zz", T1, err, sizeof err), -1);
    assert_string_equal(err, "device 'dev-zz' is not registered; see 'smpctl device list'");
}

static void test_list(void **state)
{
    fixture *fx = *state;
    registry_device *devs = NULL;
    size_t n = 99;
    char err[512] = "";

    assert_int_equal(add(fx->db, "dev-c", "North", err, sizeof err), 0);
    assert_int_equal(add(fx->db, "dev-a", "South", err, sizeof err), 0);
    assert_int_equal(add(fx->db, "dev-b", "North", err, sizeof err), 0);
    assert_int_equal(registry_retire(fx->db, "dev-b", T1, err, sizeof err), 0);

    assert_int_equal(registry_list(fx->db, NULL, &devs, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(devs[0].device_id, "dev-a");
    assert_string_equal(devs[1].device_id, "dev-b");
    assert_string_equal(devs[2].device_id, "dev-c");
    assert_string_equal(devs[0].clinic, "South");
    assert_string_equal(devs[1].retired_at, T1);
    assert_string_equal(devs[2].retired_at, "");
    free(devs);

    assert_int_equal(registry_list(fx->db, "North", &devs, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(devs[0].device_id, "dev-b");
    assert_string_equal(devs[1].device_id, "dev-c");
    free(devs);

    assert_int_equal(registry_list(fx->db, "Nowhere", &devs, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_null(devs);
}

/* ---- certificates ---- */

static void test_cert_stored_when_cn_matches(void **state)
{
    fixture *fx = *state;
    registry_new d = {.device_id = "dev-cert-1", .clinic = "North", .cert_pem = cert_dev_cert_1};
    registry_device got;
    char err[512] = "", buf[4096];

    assert_int_equal(registry_add(fx->db, &d, T0, err, sizeof err), 0);
    assert_int_equal(registry_get(fx->db, "dev-cert-1", &got, err, sizeof err), 0);
    assert_true(got.has_cert);
    assert_string_equal(stored_cert(fx->db, "dev-cert-1", buf, sizeof buf), cert_dev_cert_1);
}

static void test_cert_refused(void **state)
{
    fixture *fx = *state;
    char two[sizeof cert_dev_cert_1 + sizeof cert_other_dev];
    char with_key[sizeof cert_dev_cert_1 + 64];
    char broken[sizeof cert_dev_cert_1];
    registry_new d = {.device_id = "dev-cert-1", .clinic = "North"};
    char err[512] = "";

    d.cert_pem = cert_other_dev;
    expect_add_error(fx->db, &d, "certificate CN 'other-dev' does not match device id "
                                 "'dev-cert-1'; issue one with 'smpctl pki issue-device dev-cert-1'");
    d.cert_pem = "hello";
    expect_add_error(fx->db, &d, "not a PEM certificate (no '-----BEGIN CERTIFICATE-----' line); "
                                 "a DER file converts with 'openssl x509 -inform der'");
    snprintf(two, sizeof two, "%s%s", cert_dev_cert_1, cert_other_dev);
    d.cert_pem = two;
    expect_add_error(fx->db, &d,
                     "file holds more than one certificate; give only the device's own");
    snprintf(with_key, sizeof with_key, "%s-----BEGIN PRIVATE KEY-----\n", cert_dev_cert_1);
    d.cert_pem = with_key;
    expect_add_error(fx->db, &d, "file holds a private key; give the certificate (.crt) alone");

    memcpy(broken, cert_dev_cert_1, sizeof broken);
    broken[40] = '*';  /* not base64: the PEM body no longer decodes */
    assert_int_equal(registry_check_cert(broken, "dev-cert-1", err, sizeof err), -1);
    assert_int_equal(strncmp(err, "certificate does not parse: ", 28), 0);
}

/* ---- smpctl device ---- */

/* Runs device_cmd with stdout (and, with_stderr, stderr too) captured
 * into a file; returns its exit code. */
static int run_into(fixture *fx, int argc, char **argv, bool with_stderr, char *out, size_t cap)
{
    char p[400];
    int saved, saved_err = -1, fd, rc;
    ssize_t n;

    path_in(fx, "list.out", p, sizeof p);
    fflush(stdout);
    fflush(stderr);
    saved = dup(STDOUT_FILENO);
    if (with_stderr)
        saved_err = dup(STDERR_FILENO);
    fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0 && (!with_stderr || saved_err >= 0));
    assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    if (with_stderr)
        assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    rc = device_cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);
    if (with_stderr) {
        assert_int_equal(dup2(saved_err, STDERR_FILENO), STDERR_FILENO);
        close(saved_err);
    }
    n = pread(fd, out, cap - 1, 0);
    close(fd);
    assert_true(n >= 0);
    out[n] = '\0';
    return rc;
}

static int run_captured(fixture *fx, int argc, char **argv, char *out, size_t cap)
{
    return run_into(fx, argc, argv, false, out, cap);
}

/* A PostgreSQL target made from fx's: its database name replaced by
 * dbname (NULL: the same database), and with_password: the password
 * "secret" both in the user part and as a password= parameter (the test
 * cluster trusts every local connection, so it is never checked). */
static void pg_target(const fixture *fx, const char *dbname, bool with_password, char *out,
                      size_t cap)
{
    const char *auth = strstr(fx->path, "://") + 3;
    const char *path = auth + strcspn(auth, "/?#");
    const char *query = path + strcspn(path, "?#");
    const char *at = memchr(auth, '@', (size_t)(path - auth));
    int n;

    if (with_password && at)
        n = snprintf(out, cap, "%.*s:secret%.*s", (int)(at - fx->path), fx->path, (int)(path - at), at);
    else
        n = snprintf(out, cap, "%.*s", (int)(path - fx->path), fx->path);
    assert_true(n > 0 && (size_t)n < cap);
    if (dbname)
        n += snprintf(out + n, cap - (size_t)n, "/%s", dbname);
    else
        n += snprintf(out + n, cap - (size_t)n, "%.*s", (int)(query - path), path);
    assert_true((size_t)n < cap);
    n += snprintf(out + n, cap - (size_t)n, "%s%s", query,
                  !with_password ? "" : *query == '?' ? "&password=secret" : "?password=secret");
    assert_true((size_t)n < cap);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_cmd_add_list_retire(void **state)
{
    fixture *fx = *state;
    char crt[400], out[4096], expected[1024];
    registry_device a, b;
    char err[512];
    char *add_cert[] = {"add", "dev-cert-1", "--clinic", "North", "--db", fx->path, "--model",
                        "M1", "--cert", crt};
    char *add_plain[] = {"add", "dev-b2", "--db", fx->path, "--clinic", "North"};
    char *retire[] = {"retire", "dev-b2", "--db", fx->path};
    char *list[] = {"list", "--db", fx->path, "--clinic", "North"};

    path_in(fx, "dev.crt", crt, sizeof crt);
    write_file(crt, cert_dev_cert_1);
    assert_int_equal(run_captured(fx, 10, add_cert, out, sizeof out), 0);
    assert_string_equal(out, "device dev-cert-1 added to clinic 'North' with its certificate\n");
    assert_int_equal(run_captured(fx, 6, add_plain, out, sizeof out), 0);
    assert_int_equal(run_captured(fx, 6, add_plain, out, sizeof out), 1);  /* duplicate */
    assert_int_equal(run_captured(fx, 4, retire, out, sizeof out), 0);
    assert_int_equal(run_captured(fx, 4, retire, out, sizeof out), 1);     /* twice */

    assert_int_equal(registry_get(fx->db, "dev-b2", &b, err, sizeof err), 0);
    assert_int_equal(registry_get(fx->db, "dev-cert-1", &a, err, sizeof err), 0);
    assert_true(a.has_cert);
    assert_int_equal(run_captured(fx, 5, list, out, sizeof out), 0);
    snprintf(expected, sizeof expected,
             "id          clinic  model  serial  added                     status\n"
             "dev-b2      North   -      -       %s  retired %s\n"
             "dev-cert-1  North   M1     -       %s  active\n",
             b.added_at, b.retired_at, a.added_at);
    assert_string_equal(out, expected);
}

/* A database target that does not exist: a file in fx->dir, or a
 * database the PostgreSQL cluster does not have. */
static void missing_target(const fixture *fx, char *out, size_t cap)
{
    if (testdb_is_postgres())
        pg_target(fx, "smp_no_such_db", false, out, cap);
    else
        path_in(fx, "missing.db", out, cap);
}

/* Whether target opens (without creating anything). */
static bool opens(const char *target)
{
    char err[512];
    sqldb *db = NULL;

    if (sqldb_open(target, 0, &db, err, sizeof err) != 0)
        return false;
    sqldb_close(db);
    return true;
}

static void test_cmd_errors(void **state)
{
    fixture *fx = *state;
    char crt[400], missing[400], nodb[TESTDB_TARGET_MAX + 64], out[1024];
    char *bad_id[] = {"add", "Bad_Id", "--clinic", "North", "--db", fx->path};
    char *no_clinic[] = {"add", "dev-x1", "--db", fx->path};
    char *no_id[] = {"add", "--clinic", "North", "--db", fx->path};
    char *wrong_cn[] = {"add", "dev-x1", "--clinic", "North", "--db", fx->path, "--cert", crt};
    char *no_cert_file[] = {"add", "dev-x1", "--clinic", "North", "--db", fx->path, "--cert",
                            missing};
    char *unknown_sub[] = {"rename", "dev-x1"};
    char *list_no_db[] = {"list", "--db", nodb};
    char *retire_unknown[] = {"retire", "dev-x1", "--db", fx->path};
    registry_device got;
    char err[512];

    path_in(fx, "dev.crt", crt, sizeof crt);
    path_in(fx, "missing.crt", missing, sizeof missing);
    missing_target(fx, nodb, sizeof nodb);
    write_file(crt, cert_other_dev);
    assert_int_equal(run_captured(fx, 6, bad_id, out, sizeof out), 1);
    assert_int_equal(run_captured(fx, 4, no_clinic, out, sizeof out), 2);
    assert_int_equal(run_captured(fx, 5, no_id, out, sizeof out), 2);
    assert_int_equal(run_captured(fx, 8, wrong_cn, out, sizeof out), 1);
    assert_int_equal(run_captured(fx, 8, no_cert_file, out, sizeof out), 1);
    assert_int_equal(run_captured(fx, 2, unknown_sub, out, sizeof out), 2);
    assert_int_equal(run_captured(fx, 0, NULL, out, sizeof out), 2);
    assert_int_equal(run_captured(fx, 3, list_no_db, out, sizeof out), 1);
    assert_false(opens(nodb));  /* list never creates a database */
    assert_int_equal(run_captured(fx, 4, retire_unknown, out, sizeof out), 1);
    assert_int_equal(registry_get(fx->db, "dev-x1", &got, err, sizeof err), 1);
}

/* PostgreSQL: a password in --db never reaches the terminal, whichever
 * subcommand fails to open the database; db_open's own message masks it. */
static void test_cmd_password_never_shown(void **state)
{
    fixture *fx = *state;
    char uri[TESTDB_TARGET_MAX + 64], crt[400], out[4096], err[512];
    char *cmds[][11] = {
        {"add", "dev-cert-1", "--clinic", "North", "--db", uri},
        {"list", "--db", uri},
        {"retire", "dev-cert-1", "--db", uri},
        {"replace", "dev-cert-1", "--cert", crt, "--db", uri},
        {"set-cert", "dev-cert-1", "--cert", crt, "--db", uri},
        {"recover-chain", "dev-cert-1", "--from-seq", "5", "--by", "it", "--reason", "test",
         "--db", uri},
        {"history", "dev-cert-1", "--db", uri},
    };
    sqldb *db = NULL;

    if (!testdb_is_postgres())
        skip();
    pg_target(fx, "smp_no_such_db", true, uri, sizeof uri);
    assert_int_equal(db_open(uri, &db, err, sizeof err), -1);
    assert_null(db);
    assert_non_null(strstr(err, "smptest:***@"));
    assert_non_null(strstr(err, "password=***"));
    assert_null(strstr(err, "secret"));
    path_in(fx, "dev.crt", crt, sizeof crt);
    write_file(crt, cert_dev_cert_1);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int argc = 0;
        while (argc < 11 && cmds[i][argc])
            argc++;
        assert_int_equal(run_into(fx, argc, cmds[i], true, out, sizeof out), 1);
        if (!strstr(out, "***") || strstr(out, "secret"))
            fail_msg("device %s: %s", cmds[i][0], out);
    }
}

/* ---- certificate changes ---- */

static void test_set_cert_first_then_replace(void **state)
{
    fixture *fx = *state;
    registry_cert_change ch;
    registry_device got;
    char err[512] = "", buf[4096];
    sqldb_stmt *st = NULL;

    assert_int_equal(add(fx->db, "dev-cert-1", "North", err, sizeof err), 0);
    assert_int_equal(registry_cert_history_count(fx->db, "dev-cert-1", err, sizeof err), 0);
    /* A device added without --cert gets its first one. */
    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_dev_cert_1, T0, true, &ch,
                                       err, sizeof err), 0);
    assert_int_equal(ch, REGISTRY_CERT_FIRST);
    assert_int_equal(registry_get(fx->db, "dev-cert-1", &got, err, sizeof err), 0);
    assert_true(got.has_cert);
    assert_int_equal(registry_cert_history_count(fx->db, "dev-cert-1", err, sizeof err), 0);
    /* set-cert never overwrites. */
    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_dev_cert_1_new, T1, true, &ch,
                                       err, sizeof err), -1);
    assert_non_null(strstr(err, "already has a certificate; use 'smpctl device replace"));
    assert_string_equal(stored_cert(fx->db, "dev-cert-1", buf, sizeof buf), cert_dev_cert_1);
    /* replace does, keeping the previous one with the time it stopped. */
    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_dev_cert_1_new, T1, false, &ch,
                                       err, sizeof err), 0);
    assert_int_equal(ch, REGISTRY_CERT_REPLACED);
    assert_string_equal(stored_cert(fx->db, "dev-cert-1", buf, sizeof buf), cert_dev_cert_1_new);
    assert_int_equal(registry_cert_history_count(fx->db, "dev-cert-1", err, sizeof err), 1);
    assert_int_equal(sqldb_prepare(fx->db, "SELECT cert_pem, registered_until FROM "
                                   "device_cert_history", &st), 0);
    assert_int_equal(sqldb_step(st), 1);
    assert_string_equal(sqldb_column_text(st, 0), cert_dev_cert_1);
    assert_string_equal(sqldb_column_text(st, 1), T1);
    sqldb_finalize(st);
    /* The same certificate again changes nothing and adds no history. */
    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_dev_cert_1_new, T1, false, &ch,
                                       err, sizeof err), 0);
    assert_int_equal(ch, REGISTRY_CERT_UNCHANGED);
    assert_int_equal(registry_cert_history_count(fx->db, "dev-cert-1", err, sizeof err), 1);
}

static void test_set_cert_refused(void **state)
{
    fixture *fx = *state;
    registry_cert_change ch;
    char err[512] = "", buf[4096];

    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_dev_cert_1, T0, false, &ch,
                                       err, sizeof err), -1);
    assert_non_null(strstr(err, "device 'dev-cert-1' is not registered"));
    assert_int_equal(add(fx->db, "dev-cert-1", "North", err, sizeof err), 0);
    /* Wrong CN: nothing stored. */
    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_other_dev, T0, false, &ch,
                                       err, sizeof err), -1);
    assert_non_null(strstr(err, "certificate CN 'other-dev' does not match device id"));
    assert_string_equal(stored_cert(fx->db, "dev-cert-1", buf, sizeof buf), "");
    assert_int_equal(registry_retire(fx->db, "dev-cert-1", T1, err, sizeof err), 0);
    assert_int_equal(registry_set_cert(fx->db, "dev-cert-1", cert_dev_cert_1, T1, false, &ch,
                                       err, sizeof err), -1);
    assert_non_null(strstr(err, "was retired at " T1));
    assert_string_equal(stored_cert(fx->db, "dev-cert-1", buf, sizeof buf), "");
}

static void test_cmd_replace_and_set_cert(void **state)
{
    fixture *fx = *state;
    char crt[400], crt2[400], out[2048], buf[4096];
    char *set_cert[] = {"set-cert", "dev-cert-1", "--cert", crt, "--db", fx->path};
    char *replace[] = {"replace", "dev-cert-1", "--cert", crt2, "--db", fx->path};
    char *wrong[] = {"replace", "other-dev", "--cert", crt2, "--db", fx->path};
    char *help[] = {"replace", "--help"};
    char *help2[] = {"set-cert", "-h"};
    char *no_db[] = {"replace", "dev-cert-1", "--cert", crt2};
    char err[512];

    path_in(fx, "dev.crt", crt, sizeof crt);
    path_in(fx, "dev-new.crt", crt2, sizeof crt2);
    write_file(crt, cert_dev_cert_1);
    write_file(crt2, cert_dev_cert_1_new);
    assert_int_equal(add(fx->db, "dev-cert-1", "North", err, sizeof err), 0);
    assert_int_equal(add(fx->db, "other-dev", "North", err, sizeof err), 0);

    assert_int_equal(run_captured(fx, 2, help, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: smpctl device replace <id> --cert FILE --db PATH"));
    assert_int_equal(run_captured(fx, 2, help2, out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: smpctl device set-cert"));
    assert_int_equal(run_captured(fx, 4, no_db, out, sizeof out), 2);

    assert_int_equal(run_captured(fx, 6, set_cert, out, sizeof out), 0);
    assert_non_null(strstr(out, "certificate registered (it had none)"));
    assert_int_equal(run_captured(fx, 6, set_cert, out, sizeof out), 1);
    assert_int_equal(run_captured(fx, 6, replace, out, sizeof out), 0);
    assert_non_null(strstr(out, "certificate replaced"));
    assert_string_equal(stored_cert(fx->db, "dev-cert-1", buf, sizeof buf), cert_dev_cert_1_new);
    assert_int_equal(registry_cert_history_count(fx->db, "dev-cert-1", err, sizeof err), 1);
    /* CN != id: refused before the database is touched. */
    assert_int_equal(run_captured(fx, 6, wrong, out, sizeof out), 1);
    assert_string_equal(stored_cert(fx->db, "other-dev", buf, sizeof buf), "");
}

/* ---- smpctl device recover-chain / history ---- */

/* dev-r1 acked up to seq 3 with records 1..6 stored, rule state from seqs
 * 2 and 5, and R9 alerts on both sides of seq 4. */
static void wedged_device(fixture *fx)
{
    char err[512];

    assert_int_equal(add(fx->db, "dev-r1", "North", err, sizeof err), 0);
    testdb_exec(fx->db, "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen)"
                        " VALUES ('dev-r1', 3, 'h3', '" T0 "')");
    for (int seq = 1; seq <= 6; seq++) {
        char sql[400];
        snprintf(sql, sizeof sql, "INSERT INTO records(device_id, seq, ts, received_at, type, prev,"
                 " hash, body) VALUES ('dev-r1', %d, '" T0 "', '" T0 "', 'counter', 'h%d', 'h%d',"
                 " '{\"seq\":%d}')", seq, seq - 1, seq, seq);
        testdb_exec(fx->db, sql);
    }
    testdb_exec(fx->db,
                "INSERT INTO rule_grips(device_id, seq, clinic, load_id, grip_id, session_id, ts)"
                " VALUES ('dev-r1', 2, 'North', 'L1', 'G1', 'S1', '" T0 "'),"
                " ('dev-r1', 5, 'North', 'L1', 'G2', 'S2', '" T0 "');"
                "INSERT INTO rule_cartridges(cartridge_uid, device_id, session_id, seq, ts)"
                " VALUES ('C1', 'dev-r1', 'S1', 2, '" T0 "'), ('C2', 'dev-r1', 'S2', 5, '" T0 "');"
                "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence,"
                " raised_at) VALUES"
                " ('R9', 'critical', 'dev-r1', 'North', 'chain-break:seq=5', 'm', '{}', '" T0 "'),"
                " ('R9', 'critical', 'dev-r1', 'North', 'conflict:seq=4', 'm', '{}', '" T0 "'),"
                " ('R9', 'critical', 'dev-r1', 'North', 'conflict:seq=2', 'm', '{}', '" T0 "'),"
                " ('R9', 'critical', 'dev-r1', 'North', 'checkpoint:seq=6', 'm', '{}', '" T0 "'),"
                " ('R1', 'critical', 'dev-r1', 'North', 'chain-break:seq=9', 'm', '{}', '" T0 "')");
}

static void test_cmd_recover_chain_and_history(void **state)
{
    fixture *fx = *state;
    char out[4096];
    char *below_ack[] = {"recover-chain", "dev-r1", "--from-seq", "3", "--by", "it", "--reason",
                         "stray", "--db", fx->path};
    char *recover[] = {"recover-chain", "dev-r1", "--from-seq", "4", "--by", "J. Smith",
                       "--reason", "cloned unit", "--db", fx->path};
    char *history[] = {"history", "dev-r1", "--db", fx->path};
    char *history_none[] = {"history", "dev-zz", "--db", fx->path};

    wedged_device(fx);
    assert_int_equal(run_into(fx, 10, below_ack, true, out, sizeof out), 1);
    assert_non_null(strstr(out, "device dev-r1 is acked up to seq 3"));
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM chain_recoveries"), 0);

    assert_int_equal(run_captured(fx, 10, recover, out, sizeof out), 0);
    assert_non_null(strstr(out, "3 stored records moved to superseded_records, 2 R9 alerts cleared"));
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM records"), 3);
    assert_int_equal(testdb_int(fx->db, "SELECT MAX(seq) FROM records"), 3);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM superseded_records s JOIN"
                                        " chain_recoveries c ON c.id = s.recovery_id"
                                        " WHERE c.records_moved = 3 AND s.seq >= 4"), 3);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM rule_grips"), 1);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM rule_cartridges"), 1);
    assert_int_equal(testdb_int(fx->db, "SELECT COUNT(*) FROM alerts WHERE cleared_at IS NULL"), 3);
    assert_int_equal(testdb_int_s(fx->db, "SELECT COUNT(*) FROM alerts WHERE cleared_at IS NULL"
                                          " AND cause = ?1", "conflict:seq=2"), 1);
    assert_int_equal(testdb_int(fx->db, "SELECT acked_seq FROM device_state"), 3);

    assert_int_equal(run_captured(fx, 4, history, out, sizeof out), 0);
    assert_non_null(strstr(out, "id  at  by  from_seq  acked_seq  moved  reason\n"));
    assert_non_null(strstr(out, "  J. Smith  4  3  3  cloned unit\n"));
    assert_int_equal(run_captured(fx, 4, history_none, out, sizeof out), 0);
    assert_string_equal(out, "device dev-zz: no chain recoveries\n");
}

typedef struct recover_run {
    const char *target;
    int rc;
    _Atomic bool done;
} recover_run;

/* recover-chain on a connection of its own (a thread: it may wait). */
static void *recover_thread(void *arg)
{
    recover_run *r = arg;
    char err[512], now[REGISTRY_TS_LEN + 1];
    device_recovery rec;
    sqldb *db = NULL;

    registry_now(now);
    r->rc = db_open(r->target, &db, err, sizeof err) == 0
                ? device_recover_chain(db, "dev-r1", 4, "it", "stray", now, &rec, err, sizeof err)
                : -1;
    sqldb_close(db);
    r->done = true;
    return NULL;
}

/* PostgreSQL: recover-chain waits for the device's lock, which a collector
 * holds while it stores that device's records. */
static void test_recover_chain_waits_for_device_lock(void **state)
{
    fixture *fx = *state;
    recover_run r = {.target = fx->path, .rc = -2};
    sqldb *collector = NULL;
    pthread_t t;

    if (!testdb_is_postgres())
        skip();
    wedged_device(fx);
    collector = testdb_open(fx->path);
    assert_int_equal(sqldb_begin(collector, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_lock(collector, "device:dev-r1"), 0);
    assert_int_equal(pthread_create(&t, NULL, recover_thread, &r), 0);
    usleep(300 * 1000);
    assert_false(r.done);
    assert_int_equal(testdb_int(collector, "SELECT COUNT(*) FROM records"), 6);
    sqldb_rollback(collector);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(testdb_int(collector, "SELECT COUNT(*) FROM records"), 3);
    sqldb_close(collector);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_then_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retired_id_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_id_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_fields_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_stored_when_cn_matches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cert_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_add_list_retire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_password_never_shown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_cert_first_then_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_cert_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_replace_and_set_cert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_recover_chain_and_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_chain_waits_for_device_lock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
