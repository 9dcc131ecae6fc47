/* Unit tests of the audit export (export.c, export_logs.c, export_chain.c,
 * bundle.c), smpctl verify (verify.c) and smpctl pki issue-export, against
 * a real store (SQLite, or PostgreSQL when SMP_TEST_PG is set: testdb.h)
 * holding real hash chains and signed checkpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "export.h"
#include "pki.h"
#include "record.h"
#include "registry.h"
#include "sign.h"
#include "testdb.h"
#include "verify.h"

typedef struct fixture {
    char dir[256];
    char db_path[TESTDB_TARGET_MAX], pki[320], key[340], out[320];
    sqldb *db;
} fixture;

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* One device's chain while the test writes it. */
typedef struct chain {
    const char *device;
    uint64_t seq;
    char head[RECORD_HASH_HEX];
    signer *key;
} chain;

static void run_quiet(const char *cmd)
{
    char line[1400];
    snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
    assert_int_equal(system(line), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static char *bundle_file(const fixture *fx, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", fx->out, name);
    return slurp(path);
}

static int pki(const char *sub, const char *arg, const char *dir)
{
    char *argv[4];
    int argc = 0;

    argv[argc++] = (char *)sub;
    if (arg)
        argv[argc++] = (char *)arg;
    argv[argc++] = "--dir";
    argv[argc++] = (char *)dir;
    return pki_cmd(argc, argv);
}

static sqldb_stmt *prepare(sqldb *db, const char *sql)
{
    sqldb_stmt *st = NULL;
    if (sqldb_prepare(db, sql, &st) != 0)
        fail_msg("prepare failed: %s: %s", sql, sqldb_errmsg(db));
    return st;
}

/* Runs st (bound) to its end and finalizes it; fails the test on error. */
static void run_stmt(sqldb *db, sqldb_stmt *st)
{
    if (sqldb_step(st) != 0)
        fail_msg("sql failed: %s", sqldb_errmsg(db));
    sqldb_finalize(st);
}

static void add_device(fixture *fx, const char *id, const char *clinic, bool with_cert)
{
    char path[600];
    char *pem = NULL;
    sqldb_stmt *st;

    if (with_cert) {
        snprintf(path, sizeof path, "%s/devices/%s.crt", fx->pki, id);
        pem = slurp(path);
    }
    st = prepare(fx->db, "INSERT INTO devices(device_id, clinic, cert_pem, added_at)"
                         " VALUES (?1, ?2, ?3, '2026-01-01T00:00:00.000Z')");
    assert_int_equal(sqldb_bind_text(st, 1, id), 0);
    assert_int_equal(sqldb_bind_text(st, 2, clinic), 0);
    assert_int_equal(sqldb_bind_text(st, 3, pem), 0);
    run_stmt(fx->db, st);
    free(pem);
}

/* Gives r its chain fields and stores it as the collector does. */
static void append(fixture *fx, chain *c, const char *ts, record *r)
{
    char body[RECORD_CANON_MAX], hash[RECORD_HASH_HEX];
    sqldb_stmt *st;
    int len;

    r->seq = ++c->seq;
    snprintf(r->ts, sizeof r->ts, "%s", ts);
    memcpy(r->prev, c->head, sizeof c->head);
    len = record_canonical(r, body, sizeof body);
    assert_true(len > 0);
    record_sha256_hex(body, (size_t)len, hash);
    st = prepare(fx->db, "INSERT INTO records(device_id, seq, ts, received_at, type, prev, hash,"
                         " body) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7)");
    assert_int_equal(sqldb_bind_text(st, 1, c->device), 0);
    assert_int_equal(sqldb_bind_int64(st, 2, (int64_t)r->seq), 0);
    assert_int_equal(sqldb_bind_text(st, 3, ts), 0);
    assert_int_equal(sqldb_bind_text(st, 4, record_type_name(r->type)), 0);
    assert_int_equal(sqldb_bind_text(st, 5, r->prev), 0);
    assert_int_equal(sqldb_bind_text(st, 6, hash), 0);
    assert_int_equal(sqldb_bind_textn(st, 7, body, (size_t)len), 0);
    run_stmt(fx->db, st);
    memcpy(c->head, hash, sizeof hash);
}

static record *rec(record *r, record_type type)
{
    record_init(r, type);
    return r;
}

static void put(fixture *fx, chain *c, const char *ts, record *r)
{
    record_error e;
    if (record_check(r, &e) != 0)
        fail_msg("fixture record invalid: %s: %s", e.field, e.reason);
    append(fx, c, ts, r);
}

static void checkpoint(fixture *fx, chain *c, const char *ts)
{
    char msg[256], sig[SIGN_B64_MAX], err[256];
    record r;

    int len = sign_checkpoint_message(c->device, c->seq, c->head, msg, sizeof msg);
    assert_int_equal(signer_sign(c->key, msg, (size_t)len, sig, err, sizeof err), 0);
    rec(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)c->seq);
    record_set_str(&r, "head_hash", c->head);
    record_set_str(&r, "sig", sig);
    put(fx, c, ts, &r);
}

static void session(fixture *fx, chain *c, const char *ts, const char *id, const char *client)
{
    record r;
    rec(&r, RT_SESSION_START);
    record_set_str(&r, "session_id", id);
    record_set_str(&r, "operator_id", "op-1");
    record_set_str(&r, "client_ref", client);
    record_set_int(&r, "treatment_no", 2);
    put(fx, c, ts, &r);
}

static void session_end(fixture *fx, chain *c, const char *ts, const char *id, int64_t strokes)
{
    record r;
    rec(&r, RT_SESSION_END);
    record_set_str(&r, "session_id", id);
    record_set_int(&r, "run_s", 3600);
    record_set_int(&r, "strokes", strokes);
    put(fx, c, ts, &r);
}

static void cartridge(fixture *fx, chain *c, const char *ts, const char *uid, const char *lot,
                      const char *expiry, const char *session_id)
{
    record r;
    rec(&r, RT_CARTRIDGE_INSERT);
    record_set_str(&r, "cartridge_uid", uid);
    record_set_str(&r, "sku", "0603RL");
    record_set_int(&r, "needles", 3);
    record_set_str(&r, "config", "3RL");
    if (lot)
        record_set_str(&r, "lot", lot);
    record_set_str(&r, "expiry", expiry);
    record_set_str(&r, "session_id", session_id);
    put(fx, c, ts, &r);
}

static void removal(fixture *fx, chain *c, const char *ts, const char *uid, const char *session_id,
                    const char *reason)
{
    record r;
    rec(&r, RT_CARTRIDGE_REMOVE);
    record_set_str(&r, "cartridge_uid", uid);
    record_set_str(&r, "session_id", session_id);
    record_set_int(&r, "run_s", 600);
    record_set_int(&r, "strokes", 54000);
    record_set_str(&r, "reason", reason);
    put(fx, c, ts, &r);
}

static void cycle(fixture *fx, chain *c, const char *ts, int64_t no, const char *load,
                  const char *result)
{
    record r;
    rec(&r, RT_STERILIZATION_CYCLE);
    record_set_str(&r, "sterilizer_id", "ac-w");
    record_set_int(&r, "cycle_no", no);
    record_set_str(&r, "load_id", load);
    record_set_str(&r, "program", "prevac_134");
    record_set_int(&r, "setpoint_c", 1340);
    record_set_int(&r, "temp_min_c", strcmp(result, "pass") ? 1290 : 1343);
    record_set_int(&r, "temp_max_c", 1361);
    record_set_int(&r, "exposure_s", 250);
    record_set_int(&r, "pressure_min_kpa", 3010);
    record_set_int(&r, "pressure_max_kpa", 3100);
    record_set_int(&r, "dry_s", 1400);
    record_set_str(&r, "operator_id", "op-2");
    record_set_str(&r, "ci_result", result);
    record_set_str(&r, "result", result);
    put(fx, c, ts, &r);
}

/* West: dev-w1 with a chain around and across 2026-11-02..03 (signed
 * checkpoint included), dev-w2 registered but silent. */
static void fill_west(fixture *fx, chain *c)
{
    record r;

    add_device(fx, "dev-w1", "West", true);
    add_device(fx, "dev-w2", "West", true);
    rec(&r, RT_USAGE_COUNTERS);
    record_set_int(&r, "motor_s_total", 10);
    record_set_int(&r, "strokes_total", 10);
    record_set_int(&r, "cartridge_run_s", 0);
    record_set_int(&r, "cartridge_strokes", 0);
    put(fx, c, "2026-11-01T20:00:00.000Z", &r);                      /* 1: before */
    cycle(fx, c, "2026-11-02T07:00:00.000Z", 1, "W-L1", "pass");      /* 2 */
    session(fx, c, "2026-11-02T08:00:00.000Z", "W-S1", "c-77");       /* 3 */
    rec(&r, RT_GRIP_ASSIGN);
    record_set_str(&r, "grip_id", "grip-1");
    record_set_str(&r, "load_id", "W-L1");
    record_set_str(&r, "session_id", "W-S1");
    put(fx, c, "2026-11-02T08:00:01.000Z", &r);                       /* 4 */
    cartridge(fx, c, "2026-11-02T08:00:02.000Z", "W-C1", "L-1", "2027-01-01", "W-S1"); /* 5 */
    removal(fx, c, "2026-11-02T08:30:00.000Z", "W-C1", "W-S1", "worn");                /* 6 */
    cartridge(fx, c, "2026-11-02T08:30:01.000Z", "W-C2", NULL, "2026-10-01", "W-S1");  /* 7 */
    removal(fx, c, "2026-11-02T09:00:00.000Z", "W-C2", "W-S1", "session_end");         /* 8 */
    session_end(fx, c, "2026-11-02T09:00:01.000Z", "W-S1", 300000);   /* 9 */
    checkpoint(fx, c, "2026-11-02T09:00:02.000Z");                    /* 10 */
    cycle(fx, c, "2026-11-03T07:00:00.000Z", 2, "W-L2", "fail");      /* 11 */
    session(fx, c, "2026-11-03T23:00:00.000Z", "W-S2", "c-78");       /* 12: ends next day */
    cartridge(fx, c, "2026-11-04T00:10:00.000Z", "W-C3", "L-1", "2027-01-01", "W-S2"); /* 13 */
    session_end(fx, c, "2026-11-04T01:00:00.000Z", "W-S2", 1000);     /* 14: after */
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    char err[512], key[600];
    chain c = {.device = "dev-w1"};

    if (fx == NULL)
        return -1;
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-export-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(fx->dir) == NULL)
        return -1;
    snprintf(fx->pki, sizeof fx->pki, "%s/pki", fx->dir);
    snprintf(fx->key, sizeof fx->key, "%s/export.key", fx->pki);
    snprintf(fx->out, sizeof fx->out, "%s/bundle", fx->dir);
    if (pki("init", NULL, fx->pki) != 0 || pki("issue-device", "dev-w1", fx->pki) != 0 ||
        pki("issue-device", "dev-w2", fx->pki) != 0 || pki("issue-export", NULL, fx->pki) != 0)
        return -1;
    testdb_new(fx->db_path, sizeof fx->db_path);
    fx->db = testdb_open(fx->db_path);
    snprintf(key, sizeof key, "%s/devices/dev-w1.key", fx->pki);
    if (signer_open(key, &c.key, err, sizeof err) != 0)
        return -1;
    memcpy(c.head, RECORD_GENESIS_PREV, sizeof c.head);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    fill_west(fx, &c);
    assert_int_equal(sqldb_commit(fx->db), 0);
    signer_free(c.key);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[400];

    sqldb_close(fx->db);
    testdb_drop(fx->db_path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    run_quiet(cmd);
    free(fx);
    return 0;
}

static int export_to(fixture *fx, const char *out)
{
    char *argv[] = {"--db", fx->db_path, "--clinic", "West", "--from", "2026-11-02", "--to",
                    "2026-11-03", "--out", (char *)out, "--key", fx->key};
    return export_cmd(12, argv);
}

static void expect_intact(const fixture *fx)
{
    verify_result r;
    int rc = verify_bundle(fx->out, &r);

    if (rc != 0)
        fail_msg("bundle not intact: %s", r.problems[0]);
    assert_int_equal(r.nproblems, 0);
    assert_int_equal(r.files_checked, 9);
}

/* verify fails and one of its problems is about name. */
static void expect_problem(const fixture *fx, const char *name)
{
    verify_result r;
    char prefix[128];
    bool named = false;

    assert_int_equal(verify_bundle(fx->out, &r), 1);
    snprintf(prefix, sizeof prefix, "%s:", name);
    for (size_t i = 0; i < r.nproblems && i < VERIFY_PROBLEMS_MAX; i++)
        named = named || strstr(r.problems[i], prefix) != NULL;
    if (!named)
        fail_msg("no problem names %s; first: %s", name, r.nproblems ? r.problems[0] : "-");
}

static cJSON *manifest(const fixture *fx)
{
    char *text = bundle_file(fx, "manifest.json");
    cJSON *m = cJSON_Parse(text);
    free(text);
    assert_non_null(m);
    return m;
}

static const cJSON *device_status(const cJSON *m, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(m, "devices"), i);
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v))
        fail_msg("no string %s", key);
    return v->valuestring;
}

static int64_t int_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("no number %s", key);
    return (int64_t)v->valuedouble;
}

/* ---- tests ---- */

static void test_bundle_files_and_verify(void **state)
{
    fixture *fx = *state;
    char path[600];
    struct stat st;

    assert_int_equal(export_to(fx, fx->out), 0);
    for (const char *const *f = export_files; *f; f++) {
        snprintf(path, sizeof path, "%s/%s", fx->out, *f);
        assert_int_equal(stat(path, &st), 0);
        assert_true(st.st_size > 0);
    }
    expect_intact(fx);
    char *pdf = bundle_file(fx, "report.pdf");
    assert_int_equal(strncmp(pdf, "%PDF-", 5), 0);
    free(pdf);
}

static void test_chain_status_in_manifest(void **state)
{
    fixture *fx = *state;
    cJSON *m;
    const cJSON *w1, *w2, *ck;

    assert_int_equal(export_to(fx, fx->out), 0);
    m = manifest(fx);
    assert_string_equal(str_of(m, "clinic"), "West");
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(m, "period"), "from"), "2026-11-02");
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "device_id"), "dev-w1");
    assert_string_equal(str_of(w1, "chain"), "intact");
    assert_int_equal(int_of(w1, "records_in_period"), 11);   /* seq 2..12 */
    assert_int_equal(int_of(w1, "first_seq"), 2);
    assert_int_equal(int_of(w1, "last_seq"), 12);
    assert_int_equal(int_of(w1, "links_checked"), 12);       /* 1->2 .. 12->13 */
    assert_string_equal(str_of(w1, "predecessor"), "linked");
    assert_string_equal(str_of(w1, "successor"), "linked");
    assert_int_equal(int_of(w1, "missing_records"), 0);
    ck = cJSON_GetObjectItemCaseSensitive(w1, "last_checkpoint");
    assert_int_equal(int_of(ck, "seq"), 10);
    assert_int_equal(int_of(ck, "head_seq"), 9);
    assert_string_equal(str_of(ck, "signature"), "valid");
    assert_string_equal(str_of(cJSON_GetObjectItemCaseSensitive(ck, "certificate"), "registered"),
                        "current");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ck, "head_matches_chain")));
    assert_int_equal(int_of(ck, "records_after_head"), 3);
    /* Stored straight into records: the collector never queued it. */
    assert_string_equal(str_of(ck, "signature_checked_by"), "export");
    assert_string_equal(str_of(ck, "collector_state"), "not recorded");
    w2 = device_status(m, 1);
    assert_string_equal(str_of(w2, "chain"), "no records");
    assert_int_equal(int_of(cJSON_GetObjectItemCaseSensitive(m, "chains"), "intact"), 1);
    cJSON_Delete(m);
}

/* The collector verifies checkpoint signatures after it acks their
 * records (collector/verifier.c): the export must say whose verification
 * each signature rests on, and verify itself any the collector has not. */
static const cJSON *checkpoints_of(const cJSON *w)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(w, "checkpoints");
    assert_true(cJSON_IsObject(c));
    return c;
}

static void test_checkpoint_collector_state(void **state)
{
    fixture *fx = *state;
    cJSON *m;
    const cJSON *w1, *ck, *cs, *by;

    /* As the collector queues it: pending, its verification not done. */
    testdb_exec(fx->db, "INSERT INTO checkpoints(device_id, head_seq, head_hash, sig, received_at,"
                        " state) SELECT device_id, seq - 1, json_extract(body, '$.head_hash'),"
                        " json_extract(body, '$.sig'), received_at, 'pending' FROM records"
                        " WHERE type = 'checkpoint'");
    assert_int_equal(export_to(fx, fx->out), 0);
    expect_intact(fx);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "intact");
    ck = cJSON_GetObjectItemCaseSensitive(w1, "last_checkpoint");
    assert_string_equal(str_of(ck, "signature"), "valid");
    assert_string_equal(str_of(ck, "signature_checked_by"), "export");
    assert_string_equal(str_of(ck, "collector_state"), "pending");
    cs = checkpoints_of(w1);
    assert_int_equal(int_of(cs, "in_period"), 1);
    by = cJSON_GetObjectItemCaseSensitive(cs, "collector");
    assert_int_equal(int_of(by, "pending"), 1);
    assert_int_equal(int_of(by, "verified"), 0);
    assert_int_equal(int_of(by, "failed"), 0);
    assert_int_equal(int_of(by, "not_recorded"), 0);
    assert_int_equal(int_of(cs, "checked_by_export"), 1);
    assert_int_equal(int_of(cs, "invalid_signatures_total"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cs, "invalid_signatures")), 0);
    cJSON_Delete(m);

    /* Verified by the collector since. */
    testdb_exec(fx->db, "UPDATE checkpoints SET state = 'verified', checked_at = '2026-11-04T00:00:00.000Z'");
    snprintf(fx->out, sizeof fx->out, "%s/bundle2", fx->dir);
    assert_int_equal(export_to(fx, fx->out), 0);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "intact");
    ck = cJSON_GetObjectItemCaseSensitive(w1, "last_checkpoint");
    assert_string_equal(str_of(ck, "collector_state"), "verified");
    by = cJSON_GetObjectItemCaseSensitive(checkpoints_of(w1), "collector");
    assert_int_equal(int_of(by, "verified"), 1);
    assert_int_equal(int_of(by, "pending"), 0);
    cJSON_Delete(m);
}

/* dev-w1 gets a renewed certificate, registered (smpctl device replace) at
 * until; returns the serial of the one it replaced. */
static void renew_w1(fixture *fx, const char *until, char *old_serial, size_t cap)
{
    char path[600], err[512], cmd[700];
    char *old_pem, *new_pem;
    registry_cert_change change;
    FILE *p;

    snprintf(path, sizeof path, "%s/devices/dev-w1.crt", fx->pki);
    old_pem = slurp(path);
    snprintf(cmd, sizeof cmd, "openssl x509 -noout -serial -in '%s'", path);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(err, sizeof err, p));
    pclose(p);
    assert_int_equal(strncmp(err, "serial=", 7), 0);
    snprintf(old_serial, cap, "%.*s", (int)strcspn(err + 7, "\n"), err + 7);
    assert_int_equal(pki("renew-device", "dev-w1", fx->pki), 0);
    new_pem = slurp(path);
    assert_string_not_equal(old_pem, new_pem);
    if (registry_set_cert(fx->db, "dev-w1", new_pem, until, false, &change, err, sizeof err) != 0)
        fail_msg("registry_set_cert: %s", err);
    assert_int_equal(change, REGISTRY_CERT_REPLACED);
    free(old_pem);
    free(new_pem);
}

/* A period before a certificate switch: its last checkpoint, signed with
 * the previous key, verifies with the previous certificate, and the
 * manifest names that one. */
static void test_checkpoint_after_certificate_switch(void **state)
{
    fixture *fx = *state;
    char serial[80];
    cJSON *m;
    const cJSON *w1, *ck, *cert;

    renew_w1(fx, "2026-11-05T00:00:00.000Z", serial, sizeof serial);
    assert_int_equal(export_to(fx, fx->out), 0);
    expect_intact(fx);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "intact");
    ck = cJSON_GetObjectItemCaseSensitive(w1, "last_checkpoint");
    assert_string_equal(str_of(ck, "signature"), "valid");
    cert = cJSON_GetObjectItemCaseSensitive(ck, "certificate");
    assert_string_equal(str_of(cert, "registered"), "previous");
    assert_string_equal(str_of(cert, "registered_until"), "2026-11-05T00:00:00.000Z");
    assert_string_equal(str_of(cert, "serial"), serial);
    assert_int_equal(strlen(str_of(cert, "sha256")), 64);
    cJSON_Delete(m);
}

/* Replaced more than a week before the checkpoint was signed: the old key
 * no longer counts, the current one does not verify, so nothing does and
 * the chain is reported broken, never verified. */
static void test_checkpoint_previous_certificate_too_old(void **state)
{
    fixture *fx = *state;
    char serial[80];
    cJSON *m;
    const cJSON *w1, *ck;

    renew_w1(fx, "2026-10-20T00:00:00.000Z", serial, sizeof serial);
    assert_int_equal(export_to(fx, fx->out), 0);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "broken");
    ck = cJSON_GetObjectItemCaseSensitive(w1, "last_checkpoint");
    assert_string_equal(str_of(ck, "signature"), "invalid");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ck, "certificate")));
    cJSON_Delete(m);
}

static void test_procedure_and_cartridge_logs(void **state)
{
    fixture *fx = *state;
    char *procs, *carts, *ster;

    assert_int_equal(export_to(fx, fx->out), 0);
    procs = bundle_file(fx, "procedure_log.csv");
    assert_string_equal(procs,
        "session_id,device_id,start_ts,start_local,end_ts,end_local,operator_id,client_ref,"
        "treatment_no,run_s,strokes,cartridges,cartridge_details,grips,start_seq\r\n"
        "W-S1,dev-w1,2026-11-02T08:00:00.000Z,2026-11-02 08:00 UTC,2026-11-02T09:00:01.000Z,"
        "2026-11-02 09:00 UTC,op-1,c-77,2,3600,300000,2,"
        "W-C1 0603RL lot L-1 exp 2027-01-01; W-C2 0603RL lot (none) exp 2026-10-01,"
        "grip-1 from load W-L1,3\r\n"
        "W-S2,dev-w1,2026-11-03T23:00:00.000Z,2026-11-03 23:00 UTC,2026-11-04T01:00:00.000Z,"
        "2026-11-04 01:00 UTC,op-1,c-78,2,3600,1000,1,W-C3 0603RL lot L-1 exp 2027-01-01,,12\r\n");
    carts = bundle_file(fx, "cartridge_log.csv");
    assert_string_equal(carts,
        "inserted_ts,inserted_local,device_id,session_id,cartridge_uid,sku,needles,config,lot,"
        "expiry,expired_at_insert,removed_ts,removed_local,run_s,strokes,remove_reason,insert_seq,"
        "remove_seq\r\n"
        "2026-11-02T08:00:02.000Z,2026-11-02 08:00 UTC,dev-w1,W-S1,W-C1,0603RL,3,3RL,L-1,"
        "2027-01-01,no,2026-11-02T08:30:00.000Z,2026-11-02 08:30 UTC,600,54000,worn,5,6\r\n"
        "2026-11-02T08:30:01.000Z,2026-11-02 08:30 UTC,dev-w1,W-S1,W-C2,0603RL,3,3RL,,"
        "2026-10-01,yes,2026-11-02T09:00:00.000Z,2026-11-02 09:00 UTC,600,54000,session_end,7,"
        "8\r\n"
        "2026-11-04T00:10:00.000Z,2026-11-04 00:10 UTC,dev-w1,W-S2,W-C3,0603RL,3,3RL,L-1,"
        "2027-01-01,no,,,0,0,,13,\r\n");
    ster = bundle_file(fx, "sterilizer_log.csv");
    assert_non_null(strstr(ster, "\r\nWest,dev-w1,ac-w,1,2026-11-02,07:00:00,2026-11-02 07:00 UTC,"
                                 "W-L1,prevac_134,134.0,134.3,136.1,250,301.0,310.0,1400,pass,op-2,"
                                 "pass,,,,,,,2,dev-w1:2\r\n"));
    assert_non_null(strstr(ster, "\r\nWest,dev-w1,ac-w,2,2026-11-03,07:00:00,2026-11-03 07:00 UTC,"
                                 "W-L2,prevac_134,134.0,129.0,136.1,250,301.0,310.0,1400,fail,op-2,"
                                 "fail,,,,,,,11,dev-w1:11\r\n"));
    free(procs);
    free(carts);
    free(ster);
}

/* Clinic Coast in Los Angeles (PST, UTC-8, in November after the 1st):
 * dev-c1 logs a session at 23:30-23:50 local on 2026-11-02 (07:30-07:50Z
 * on the 3rd: UTC's 3rd, the clinic's 2nd) and an evening session
 * 18:00-22:00 local on 2026-11-03 (02:00-06:00Z on the 4th), whose
 * cartridge expires on 2026-11-03: not yet expired by the local date of
 * its insert (the 3rd), though by its UTC date (the 4th) it would be. */
static void fill_coast(fixture *fx)
{
    chain c = {.device = "dev-c1"};

    memcpy(c.head, RECORD_GENESIS_PREV, sizeof c.head);
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    testdb_exec(fx->db, "INSERT INTO clinics(clinic_id, name, timezone, added_at, updated_at)"
                        " VALUES ('Coast', 'Coast Ink', 'America/Los_Angeles',"
                        " '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')");
    add_device(fx, "dev-c1", "Coast", false);
    session(fx, &c, "2026-11-03T07:30:00.000Z", "C-S0", "c-1");                         /* 1 */
    cartridge(fx, &c, "2026-11-03T07:31:00.000Z", "C-C0", "L-1", "2027-01-01", "C-S0"); /* 2 */
    session_end(fx, &c, "2026-11-03T07:50:00.000Z", "C-S0", 100);                       /* 3 */
    session(fx, &c, "2026-11-04T02:00:00.000Z", "C-S1", "c-2");                         /* 4 */
    cartridge(fx, &c, "2026-11-04T02:00:05.000Z", "C-C1", "L-2", "2026-11-03", "C-S1"); /* 5 */
    removal(fx, &c, "2026-11-04T05:59:00.000Z", "C-C1", "C-S1", "session_end");        /* 6 */
    session_end(fx, &c, "2026-11-04T06:00:00.000Z", "C-S1", 200);                       /* 7 */
    assert_int_equal(sqldb_commit(fx->db), 0);
}

/* The procedure and cartridge logs and the chain status take the clinic's
 * local days, as the report does: the evening session of the 3rd is in
 * the export of the 3rd, once; the 23:30 session of the 2nd is not. */
static void test_logs_take_the_clinics_local_days(void **state)
{
    fixture *fx = *state;
    char *argv[] = {"--db", fx->db_path, "--clinic", "Coast", "--from", "2026-11-03", "--to",
                    "2026-11-03", "--out", fx->out, "--key", fx->key};
    char *procs, *carts;
    cJSON *m;

    fill_coast(fx);
    assert_int_equal(export_cmd(12, argv), 0);
    procs = bundle_file(fx, "procedure_log.csv");
    assert_string_equal(procs,
        "session_id,device_id,start_ts,start_local,end_ts,end_local,operator_id,client_ref,"
        "treatment_no,run_s,strokes,cartridges,cartridge_details,grips,start_seq\r\n"
        "C-S1,dev-c1,2026-11-04T02:00:00.000Z,2026-11-03 18:00 PST,2026-11-04T06:00:00.000Z,"
        "2026-11-03 22:00 PST,op-1,c-2,2,3600,200,1,C-C1 0603RL lot L-2 exp 2026-11-03,,4\r\n");
    carts = bundle_file(fx, "cartridge_log.csv");
    assert_string_equal(carts,
        "inserted_ts,inserted_local,device_id,session_id,cartridge_uid,sku,needles,config,lot,"
        "expiry,expired_at_insert,removed_ts,removed_local,run_s,strokes,remove_reason,insert_seq,"
        "remove_seq\r\n"
        "2026-11-04T02:00:05.000Z,2026-11-03 18:00 PST,dev-c1,C-S1,C-C1,0603RL,3,3RL,L-2,"
        "2026-11-03,no,2026-11-04T05:59:00.000Z,2026-11-03 21:59 PST,600,54000,session_end,5,"
        "6\r\n");
    m = manifest(fx);
    const cJSON *dev = device_status(m, 0);
    assert_string_equal(str_of(dev, "device_id"), "dev-c1");
    assert_int_equal(int_of(dev, "records_in_period"), 4);
    assert_int_equal(int_of(dev, "first_seq"), 4);
    assert_int_equal(int_of(dev, "last_seq"), 7);
    assert_string_equal(str_of(dev, "predecessor"), "linked");
    assert_string_equal(str_of(dev, "chain"), "intact");
    cJSON_Delete(m);
    free(procs);
    free(carts);
}

/* Flip one byte in the middle of name. */
static void flip(const fixture *fx, const char *name)
{
    char path[600];
    FILE *f;
    long n;
    int c;

    snprintf(path, sizeof path, "%s/%s", fx->out, name);
    f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, n / 2, SEEK_SET);
    c = fgetc(f);
    fseek(f, n / 2, SEEK_SET);
    fputc(c ^ 0x01, f);
    fclose(f);
}

static void test_any_changed_byte_names_its_file(void **state)
{
    fixture *fx = *state;

    assert_int_equal(export_to(fx, fx->out), 0);
    for (const char *const *f = export_files; *f; f++) {
        flip(fx, *f);
        expect_problem(fx, *f);
        flip(fx, *f);   /* the same flip undoes it */
        expect_intact(fx);
    }
}

static void test_extra_or_missing_file(void **state)
{
    fixture *fx = *state;
    char path[600], moved[600];
    FILE *f;

    assert_int_equal(export_to(fx, fx->out), 0);
    snprintf(path, sizeof path, "%s/notes.txt", fx->out);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("added later\n", f);
    fclose(f);
    expect_problem(fx, "notes.txt");
    unlink(path);
    expect_intact(fx);

    snprintf(path, sizeof path, "%s/report.pdf", fx->out);
    snprintf(moved, sizeof moved, "%s/report.pdf.moved", fx->dir);
    assert_int_equal(rename(path, moved), 0);
    expect_problem(fx, "report.pdf");
    assert_int_equal(rename(moved, path), 0);
    expect_intact(fx);
}

static void test_openssl_and_sha256sum_agree(void **state)
{
    fixture *fx = *state;
    char cmd[1200], *out;

    assert_int_equal(export_to(fx, fx->out), 0);
    snprintf(cmd, sizeof cmd, "cd '%s' && openssl dgst -sha256 -verify export-pub.pem "
             "-signature manifest.sig manifest.json > '%s/openssl.out' 2>&1", fx->out, fx->dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/openssl.out", fx->dir);
    out = slurp(cmd);
    assert_string_equal(out, "Verified OK\n");
    free(out);
    snprintf(cmd, sizeof cmd, "cd '%s' && sha256sum --quiet -c SHA256SUMS", fx->out);
    run_quiet(cmd);
    /* The fingerprint manifest.json names is openssl's view of the key. */
    snprintf(cmd, sizeof cmd, "cd '%s' && grep -q \"$(openssl pkey -pubin -in export-pub.pem "
             "-outform DER | sha256sum | cut -c1-64)\" manifest.json", fx->out);
    run_quiet(cmd);
    /* And a changed manifest fails openssl too. */
    flip(fx, "manifest.json");
    snprintf(cmd, sizeof cmd, "cd '%s' && openssl dgst -sha256 -verify export-pub.pem "
             "-signature manifest.sig manifest.json >/dev/null 2>&1", fx->out);
    assert_int_not_equal(system(cmd), 0);
}

static void test_out_dir_never_overwritten(void **state)
{
    fixture *fx = *state;
    char path[600];
    FILE *f;
    DIR *d;
    struct dirent *e;
    int entries = 0;

    assert_int_equal(mkdir(fx->out, 0755), 0);
    snprintf(path, sizeof path, "%s/keep.txt", fx->out);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(export_to(fx, fx->out), 1);
    d = opendir(fx->out);
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);                    /* only keep.txt */
    unlink(path);
    assert_int_equal(export_to(fx, fx->out), 0);     /* an empty directory is fine */
    expect_intact(fx);
    /* No temporary directory is left beside it. */
    d = opendir(fx->dir);
    while ((e = readdir(d)) != NULL)
        assert_null(strstr(e->d_name, ".tmp-"));
    closedir(d);
}

static void test_tampered_store_shows(void **state)
{
    fixture *fx = *state;
    cJSON *m;
    const cJSON *w1;

    /* A body changed in the store after it was stored. */
    testdb_exec(fx->db, "UPDATE records SET body = replace(body, 'c-77', 'c-99')"
                        " WHERE device_id = 'dev-w1' AND seq = 3");
    assert_int_equal(export_to(fx, fx->out), 0);
    expect_intact(fx);    /* the bundle itself is fine: it reports the break */
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "broken");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(w1, "broken_links"), 0)
                         ->valueint, 4);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(w1, "hash_mismatches"), 0)
                         ->valueint, 3);
    cJSON_Delete(m);
}

static void test_removed_record_is_a_gap(void **state)
{
    fixture *fx = *state;
    cJSON *m;
    const cJSON *w1, *gap;

    testdb_exec(fx->db, "DELETE FROM records WHERE device_id = 'dev-w1' AND seq = 6");
    assert_int_equal(export_to(fx, fx->out), 0);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "gaps");
    assert_int_equal(int_of(w1, "missing_records"), 1);
    gap = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(w1, "gaps"), 0);
    assert_int_equal(int_of(gap, "from"), 6);
    assert_int_equal(int_of(gap, "to"), 6);
    cJSON_Delete(m);
}

/* Moves dev-w1's stored record seq to quarantined_records as the collector
 * keeps a record it refused on its own: its exact bytes, as a blob. */
static void quarantine_w1(fixture *fx, int64_t seq)
{
    sqldb_stmt *get, *put;

    get = prepare(fx->db, "SELECT received_at, prev, hash, body FROM records"
                          " WHERE device_id = 'dev-w1' AND seq = ?1");
    assert_int_equal(sqldb_bind_int64(get, 1, seq), 0);
    assert_int_equal(sqldb_step(get), 1);
    put = prepare(fx->db, "INSERT INTO quarantined_records(device_id, seq, received_at, reason,"
                          " prev, hash, body) VALUES ('dev-w1', ?1, ?2,"
                          " 'records[0].colour: unknown field for this record type', ?3, ?4, ?5)");
    assert_int_equal(sqldb_bind_int64(put, 1, seq), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sqldb_bind_text(put, i + 2, sqldb_column_text(get, i)), 0);
    assert_int_equal(sqldb_bind_blob(put, 5, sqldb_column_text(get, 3),
                                     sqldb_column_bytes(get, 3)), 0);
    sqldb_finalize(get);
    run_stmt(fx->db, put);
    put = prepare(fx->db, "DELETE FROM records WHERE device_id = 'dev-w1' AND seq = ?1");
    assert_int_equal(sqldb_bind_int64(put, 1, seq), 0);
    run_stmt(fx->db, put);
}

/* Changes the kept bytes of dev-w1's quarantined record seq (one space
 * appended) and its hash column (zeros). */
static void tamper_quarantined_w1(fixture *fx, int64_t seq)
{
    char body[RECORD_CANON_MAX + 2];
    size_t len;
    sqldb_stmt *st;

    st = prepare(fx->db, "SELECT body FROM quarantined_records WHERE device_id = 'dev-w1'"
                         " AND seq = ?1");
    assert_int_equal(sqldb_bind_int64(st, 1, seq), 0);
    assert_int_equal(sqldb_step(st), 1);
    len = sqldb_column_bytes(st, 0);
    assert_true(len + 1 < sizeof body);
    memcpy(body, sqldb_column_blob(st, 0), len);
    body[len++] = ' ';
    sqldb_finalize(st);
    st = prepare(fx->db, "UPDATE quarantined_records SET body = ?1, hash = ?2"
                         " WHERE device_id = 'dev-w1' AND seq = ?3");
    assert_int_equal(sqldb_bind_blob(st, 1, body, len), 0);
    assert_int_equal(sqldb_bind_text(st, 2, ZERO_HASH), 0);
    assert_int_equal(sqldb_bind_int64(st, 3, seq), 0);
    run_stmt(fx->db, st);
}

/* A record the collector refused on its own (quarantined_records keeps its
 * exact bytes, and the chain passes over it by their hash) is no gap: the
 * chain through it is checked and it is listed as rejected. */
static void test_rejected_record_is_listed_not_a_gap(void **state)
{
    fixture *fx = *state;
    cJSON *m;
    const cJSON *w1, *rejected;

    quarantine_w1(fx, 6);
    assert_int_equal(export_to(fx, fx->out), 0);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "intact");
    assert_int_equal(int_of(w1, "missing_records"), 0);
    assert_int_equal(int_of(w1, "broken_links_total"), 0);
    assert_int_equal(int_of(w1, "rejected_records_total"), 1);
    rejected = cJSON_GetObjectItemCaseSensitive(w1, "rejected_records");
    assert_int_equal(cJSON_GetArraySize(rejected), 1);
    assert_int_equal((int64_t)cJSON_GetArrayItem(rejected, 0)->valuedouble, 6);
    cJSON_Delete(m);

    /* Its bytes changed in the table: the link to the next record breaks. */
    tamper_quarantined_w1(fx, 6);
    /* A second bundle, into the now non-empty dir's sibling. */
    size_t len = strlen(fx->out);
    assert_true(len + 2 < sizeof fx->out);
    memcpy(fx->out + len, "-2", 3);
    assert_int_equal(export_to(fx, fx->out), 0);
    m = manifest(fx);
    w1 = device_status(m, 0);
    assert_string_equal(str_of(w1, "chain"), "broken");
    cJSON_Delete(m);
}

static void test_export_errors(void **state)
{
    fixture *fx = *state;
    char bad_key[400];
    char *no_key[] = {"--db", fx->db_path, "--clinic", "West", "--from", "2026-11-02", "--to",
                      "2026-11-03", "--out", fx->out};
    char *wrong_key[] = {"--db", fx->db_path, "--clinic", "West", "--from", "2026-11-02", "--to",
                         "2026-11-03", "--out", fx->out, "--key", bad_key};
    char *unknown[] = {"--db", fx->db_path, "--clinic", "Nowhere", "--from", "2026-11-02",
                       "--to", "2026-11-03", "--out", fx->out, "--key", fx->key};
    char *bad_period[] = {"--db", fx->db_path, "--clinic", "West", "--from", "2026-11-04",
                          "--to", "2026-11-03", "--out", fx->out, "--key", fx->key};

    snprintf(bad_key, sizeof bad_key, "%s/devices/dev-w1.crt", fx->pki);  /* not a key */
    assert_int_equal(export_cmd(10, no_key), 2);
    assert_int_equal(export_cmd(12, wrong_key), 1);
    assert_int_equal(export_cmd(12, unknown), 1);
    assert_int_equal(export_cmd(12, bad_period), 1);
    assert_int_equal(access(fx->out, F_OK), -1);
}

static void test_issue_export_key(void **state)
{
    fixture *fx = *state;
    char path[600];
    struct stat st;

    assert_int_equal(stat(fx->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/export-pub.pem", fx->pki);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char *pub = slurp(path);
    assert_int_equal(strncmp(pub, "-----BEGIN PUBLIC KEY-----\n", 27), 0);
    free(pub);
    assert_int_equal(pki("issue-export", NULL, fx->pki), 1);   /* never overwritten */
}

static void test_verify_usage(void **state)
{
    char *none[] = {NULL};
    char *two[] = {"a", "b"};
    char *missing[] = {"/nonexistent/bundle"};
    (void)state;

    assert_int_equal(verify_cmd(0, none), 2);
    assert_int_equal(verify_cmd(2, two), 2);
    assert_int_equal(verify_cmd(1, missing), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bundle_files_and_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain_status_in_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_collector_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_after_certificate_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_previous_certificate_too_old, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_procedure_and_cartridge_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_take_the_clinics_local_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any_changed_byte_names_its_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_extra_or_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_openssl_and_sha256sum_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_dir_never_overwritten, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejected_record_is_listed_not_a_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_store_shows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_record_is_a_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_export_key, setup, teardown),
        cmocka_unit_test(test_verify_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
