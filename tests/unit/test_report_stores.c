/* test_report_stores: the same data gives the same report and the same
 * audit export content from SQLite and from PostgreSQL.
 *
 * One set of rows is made once (signatures are randomized, so they are
 * made once too): a few simulated clinic days of three machines with real
 * hash chains and signed checkpoints, alerts of the shapes the rules raise
 * (ties in time included, so the order of equal keys is tested), a
 * withdrawn, a pending, an acknowledged alert and maintenance notices, a
 * quarantined record, a renewed certificate, a retired machine and another
 * clinic's. The rows go into a new SQLite file and a new PostgreSQL
 * database through sqldb, then:
 *   - the report in JSON, CSV, HTML and PDF, rendered with the same
 *     generation time, is byte for byte the same from both;
 *   - smpctl export on both gives bundles that smpctl verify finds intact,
 *     whose CSV files are byte for byte the same, whose README.txt differs
 *     only in its "Generated:" line and whose manifest.json only in
 *     generated_at and the hashes of the files that carry that time
 *     (README.txt, report.pdf, SHA256SUMS).
 * Needs SMP_TEST_PG (testdb.h); skips without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "export.h"
#include "pki.h"
#include "record.h"
#include "registry.h"
#include "report_csv.h"
#include "report_data.h"
#include "report_html.h"
#include "report_json.h"
#include "report_pdf.h"
#include "sign.h"
#include "simulator.h"
#include "testdb.h"
#include "verify.h"

#define CLINIC "Zahnärzte Süd <&> \"Nord\""
#define START_DAY "2026-03-02"
#define DAYS 3
#define TIE_TS "2026-03-04T23:30:00.000Z"       /* every machine logs at this ts */
#define RENEWED_UNTIL "2026-03-20T00:00:00.000Z"
#define GEN_AT "2026-04-01T08:00:00.000Z"
#define CKPT_EVERY 100
#define CKPT_EVERY_MS (10 * 60 * 1000LL)

/* The machines of CLINIC whose chains are made; device ids sort one way
 * bytewise ("dev-" before "deva") and another by most locales. */
static const char *const machines[] = {"deva1", "dev-b1", "dev-c1"};
#define NMACHINES (sizeof machines / sizeof machines[0])

typedef struct rec_row {
    char device[IDS_DEVICE_ID_MAX + 1];
    int64_t seq;
    char ts[RECORD_TS_LEN + 1], recv[RECORD_TS_LEN + 1], type[32];
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX];
    char *body;
    bool quarantined;      /* kept in quarantined_records, not records */
} rec_row;

typedef struct alert_row {
    char rule[8], severity[16], device[IDS_DEVICE_ID_MAX + 1], clinic[64];
    char cause[64], message[200], evidence[300], raised[RECORD_TS_LEN + 1];
    const char *acked_at, *acked_by, *cleared_at, *state;   /* NULL: SQL NULL */
} alert_row;

typedef struct rows {
    rec_row *recs;
    size_t nrecs, recs_cap;
    alert_row *alerts;
    size_t nalerts, alerts_cap;
    char *signed_pem;      /* dev-c1's certificate its checkpoints were signed with */
    char *renewed_pem;     /* ... and the one that replaced it */
} rows;

/* One machine's chain while it is made. */
typedef struct maker {
    rows *out;
    const char *device;
    signer *key;
    uint64_t seq, ckpt_seq;
    int64_t ckpt_ms;
    char head[RECORD_HASH_HEX];
} maker;

typedef struct fixture {
    char dir[256], pki[300], key[340];
    char lite[TESTDB_TARGET_MAX], pg[TESTDB_TARGET_MAX];
    sqldb *lite_db, *pg_db;
    rows data;
} fixture;

/* ---- making the rows ----------------------------------------------------- */

static void *grow(void *arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? *cap * 2 : 256;
    arr = realloc(arr, *cap * elem);
    assert_non_null(arr);
    return arr;
}

static alert_row *new_alert(rows *out, const char *rule, const char *severity, const char *device,
                            const char *clinic, const char *cause, const char *raised)
{
    alert_row *a;

    out->alerts = grow(out->alerts, &out->alerts_cap, out->nalerts, sizeof *out->alerts);
    a = &out->alerts[out->nalerts++];
    memset(a, 0, sizeof *a);
    snprintf(a->rule, sizeof a->rule, "%s", rule);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->device, sizeof a->device, "%s", device);
    snprintf(a->clinic, sizeof a->clinic, "%s", clinic);
    snprintf(a->cause, sizeof a->cause, "%s", cause);
    snprintf(a->raised, sizeof a->raised, "%s", raised);
    snprintf(a->message, sizeof a->message, "%s: %s on %s — prüfen", rule, cause, device);
    return a;
}

/* An alert citing record r of m, raised 1.5 s after it. */
static void cite(maker *m, const record *r, const char *rule, const char *severity)
{
    char cause[64], raised[RECORD_TS_LEN + 1];
    int64_t ms;
    alert_row *a;

    assert_int_equal(record_ts_parse(r->ts, &ms), 0);
    record_ts_format(ms + 1500, raised);
    snprintf(cause, sizeof cause, "seq=%" PRIu64, r->seq);
    a = new_alert(m->out, rule, severity, m->device, CLINIC, cause, raised);
    snprintf(a->evidence, sizeof a->evidence,
             "{\"device\":\"%s\",\"seq\":%" PRIu64 ",\"ts\":\"%s\",\"reasons\":[\"temperature\"]}",
             m->device, r->seq, r->ts);
}

/* What the rules would raise for r (a few of them: docs/rules.md). */
static void alerts_for(maker *m, const record *r)
{
    if (r->type == RT_STERILIZATION_CYCLE && strcmp(record_get_str(r, "result"), "pass") != 0)
        cite(m, r, "R4", "cycle_failed");
    else if (r->type == RT_STERILIZATION_TEST && strcmp(record_get_str(r, "result"), "positive") == 0)
        cite(m, r, "R7", "critical");
    else if (r->type == RT_CARTRIDGE_INSERT && record_get_str(r, "lot") == NULL)
        cite(m, r, "R2", "warning");
}

static void put(maker *m, record *r, int64_t at_ms)
{
    char body[RECORD_CANON_MAX];
    rows *out = m->out;
    rec_row *row;
    int len;

    r->seq = ++m->seq;
    record_ts_format(at_ms, r->ts);
    memcpy(r->prev, m->head, sizeof m->head);
    len = record_canonical(r, body, sizeof body);
    assert_true(len > 0);
    out->recs = grow(out->recs, &out->recs_cap, out->nrecs, sizeof *out->recs);
    row = &out->recs[out->nrecs++];
    memset(row, 0, sizeof *row);
    snprintf(row->device, sizeof row->device, "%s", m->device);
    row->seq = (int64_t)r->seq;
    memcpy(row->ts, r->ts, sizeof row->ts);
    record_ts_format(at_ms + 1500, row->recv);
    snprintf(row->type, sizeof row->type, "%s", record_type_name(r->type));
    memcpy(row->prev, r->prev, sizeof row->prev);
    record_sha256_hex(body, (size_t)len, row->hash);
    row->body = strndup(body, (size_t)len);
    assert_non_null(row->body);
    memcpy(m->head, row->hash, sizeof m->head);
}

/* A signed checkpoint when 100 records or 10 minutes passed (the agent's rule). */
static void maybe_checkpoint(maker *m, int64_t now_ms, bool force)
{
    char msg[256], sig[SIGN_B64_MAX], err[256];
    record r;
    int len;

    if (m->seq == m->ckpt_seq ||
        (!force && m->seq - m->ckpt_seq < CKPT_EVERY && now_ms - m->ckpt_ms < CKPT_EVERY_MS))
        return;
    len = sign_checkpoint_message(m->device, m->seq, m->head, msg, sizeof msg);
    assert_int_equal(signer_sign(m->key, msg, (size_t)len, sig, err, sizeof err), 0);
    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)m->seq);
    record_set_str(&r, "head_hash", m->head);
    record_set_str(&r, "sig", sig);
    put(m, &r, now_ms);
    m->ckpt_seq = m->seq;
    m->ckpt_ms = now_ms;
}

/* The same cycle (failed) and spore test at TIE_TS on every machine. */
static void tie_records(maker *m, int64_t tie_ms)
{
    record r;
    record_error e;

    record_init(&r, RT_STERILIZATION_CYCLE);
    record_set_str(&r, "sterilizer_id", "ac-tie");
    record_set_int(&r, "cycle_no", 99);
    record_set_str(&r, "load_id", "L-tie");
    record_set_str(&r, "program", "prevac_134");
    record_set_int(&r, "setpoint_c", 1340);
    record_set_int(&r, "temp_min_c", 1290);
    record_set_int(&r, "temp_max_c", 1361);
    record_set_int(&r, "exposure_s", 250);
    record_set_int(&r, "pressure_min_kpa", 3010);
    record_set_int(&r, "pressure_max_kpa", 3100);
    record_set_int(&r, "dry_s", 1400);
    record_set_str(&r, "operator_id", "op-tie");
    record_set_str(&r, "ci_result", "fail");
    record_set_str(&r, "result", "fail");
    assert_int_equal(record_check(&r, &e), 0);
    put(m, &r, tie_ms);
    alerts_for(m, &r);
    record_init(&r, RT_STERILIZATION_TEST);
    record_set_str(&r, "sterilizer_id", "ac-tie");
    record_set_int(&r, "cycle_no", 99);
    record_set_str(&r, "kind", "spore");
    record_set_str(&r, "bi_lot", "BI-tie");
    record_set_str(&r, "result", "positive");
    record_set_str(&r, "read_ts", TIE_TS);
    assert_int_equal(record_check(&r, &e), 0);
    put(m, &r, tie_ms);
    alerts_for(m, &r);
}

static void make_machine(fixture *fx, const char *device, uint64_t seed)
{
    char path[600], err[512];
    maker m = {.out = &fx->data, .device = device};
    int64_t start_ms, tie_ms, due;
    simulator *sim;
    const record *ev;

    assert_int_equal(record_ts_parse(START_DAY "T00:00:00.000Z", &start_ms), 0);
    assert_int_equal(record_ts_parse(TIE_TS, &tie_ms), 0);
    snprintf(path, sizeof path, "%s/devices/%s.key", fx->pki, device);
    if (signer_open(path, &m.key, err, sizeof err) != 0)
        fail_msg("%s", err);
    memcpy(m.head, RECORD_GENESIS_PREV, sizeof m.head);
    m.ckpt_ms = due = start_ms;
    sim = sim_new(&(sim_config){.seed = seed, .start_ms = start_ms, .days = DAYS,
                                .fault_pct = 25, .device_id = device});
    assert_non_null(sim);
    while (sim_peek(sim, &due, &ev)) {
        record r = *ev;
        sim_pop(sim);
        put(&m, &r, due);
        alerts_for(&m, &r);
        maybe_checkpoint(&m, due, false);
    }
    sim_free(sim);
    tie_records(&m, tie_ms > due ? tie_ms : due);
    maybe_checkpoint(&m, (tie_ms > due ? tie_ms : due) + 1000, true);
    signer_free(m.key);
}

/* The alerts no record calls for: notices, withdrawn, pending, acknowledged,
 * a backlog raised after the period, citations of another clinic's record
 * and of a record the store does not hold. */
static void extra_alerts(rows *out)
{
    alert_row *a;

    a = new_alert(out, "R8", "maintenance", "deva1", CLINIC, "silent", "2026-03-03T06:00:00.000Z");
    snprintf(a->evidence, sizeof a->evidence, "{}");
    a = new_alert(out, "R5", "critical", "dev-b1", CLINIC, "no-cycle:S1:g1", "2026-03-03T06:00:00.000Z");
    snprintf(a->evidence, sizeof a->evidence, "{\"device\":\"dev-b1\",\"seq\":2}");
    a->cleared_at = "2026-03-03T07:00:00.000Z";
    a->state = "withdrawn";
    a = new_alert(out, "R5", "pending", "dev-b1", CLINIC, "pending:9", "2026-03-03T06:00:00.000Z");
    snprintf(a->evidence, sizeof a->evidence, "{}");
    a->cleared_at = "2026-03-03T06:00:00.000Z";
    a->state = "pending";
    a = new_alert(out, "R1", "critical", "dev-c1", CLINIC, "reused:C9", "2026-03-03T06:00:00.000Z");
    snprintf(a->evidence, sizeof a->evidence,
             "{\"first\":{\"device\":\"dev-x1\",\"seq\":1},\"second\":{\"device\":\"dev-c1\","
             "\"seq\":3},\"third\":{\"device\":\"dev-c1\",\"seq\":999999}}");
    a->acked_at = "2026-03-03T08:00:00.000Z";
    a->acked_by = "Schwester Jürgen";
    a = new_alert(out, "R9", "integrity", "deva1", CLINIC, "chain-break:seq=5",
                  "2026-04-20T00:00:00.000Z");
    snprintf(a->evidence, sizeof a->evidence, "{\"seq\":5,\"prev\":\"x\"}");
    a = new_alert(out, "R4", "cycle_failed", "dev-x1", "Other", "cycle:seq=1",
                  "2026-03-03T06:00:00.000Z");
    snprintf(a->evidence, sizeof a->evidence, "{\"seq\":1}");
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

static char *slurp(const char *path, size_t *len)
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
    if (len)
        *len = (size_t)n;
    return buf;
}

static char *cert_of(const fixture *fx, const char *device)
{
    char path[600];
    snprintf(path, sizeof path, "%s/devices/%s.crt", fx->pki, device);
    return slurp(path, NULL);
}

static void make_rows(fixture *fx)
{
    for (size_t i = 0; i < NMACHINES; i++)
        assert_int_equal(pki("issue-device", machines[i], fx->pki), 0);
    assert_int_equal(pki("issue-export", NULL, fx->pki), 0);
    for (size_t i = 0; i < NMACHINES; i++)
        make_machine(fx, machines[i], 40 + i);
    extra_alerts(&fx->data);
    /* dev-b1's record 50 was refused on its own: the collector keeps it apart. */
    for (size_t i = 0; i < fx->data.nrecs; i++)
        fx->data.recs[i].quarantined =
            strcmp(fx->data.recs[i].device, "dev-b1") == 0 && fx->data.recs[i].seq == 50;
    /* dev-c1's certificate is renewed after its checkpoints were signed. */
    fx->data.signed_pem = cert_of(fx, "dev-c1");
    assert_int_equal(pki("renew-device", "dev-c1", fx->pki), 0);
    fx->data.renewed_pem = cert_of(fx, "dev-c1");
}

/* ---- filling a store ----------------------------------------------------- */

static sqldb_stmt *prepare(sqldb *db, const char *sql)
{
    sqldb_stmt *st = NULL;
    if (sqldb_prepare(db, sql, &st) != 0)
        fail_msg("%s: prepare: %s: %s", sqldb_name(db), sql, sqldb_errmsg(db));
    return st;
}

static void step_done(sqldb *db, sqldb_stmt *st)
{
    if (sqldb_step(st) != 0)
        fail_msg("%s: %s", sqldb_name(db), sqldb_errmsg(db));
    sqldb_reset(st);
}

static void put_devices(const fixture *fx, sqldb *db)
{
    sqldb_stmt *st = prepare(db, "INSERT INTO devices(device_id, clinic, model, cert_pem, added_at,"
                                 " retired_at) VALUES (?1, ?2, 'rotary-smp', ?3,"
                                 " '2026-01-01T00:00:00.000Z', ?4)");

    for (size_t i = 0; i < NMACHINES; i++) {
        /* dev-c1 starts with the certificate its checkpoints were signed with. */
        char *pem = strcmp(machines[i], "dev-c1") == 0 ? strdup(fx->data.signed_pem)
                                                        : cert_of(fx, machines[i]);
        assert_int_equal(sqldb_bind_text(st, 1, machines[i]), 0);
        assert_int_equal(sqldb_bind_text(st, 2, CLINIC), 0);
        assert_int_equal(sqldb_bind_text(st, 3, pem), 0);
        step_done(db, st);
        free(pem);
    }
    assert_int_equal(sqldb_bind_text(st, 1, "dev-r1"), 0);
    assert_int_equal(sqldb_bind_text(st, 2, CLINIC), 0);
    assert_int_equal(sqldb_bind_text(st, 4, "2026-02-01T00:00:00.000Z"), 0);
    step_done(db, st);
    assert_int_equal(sqldb_bind_text(st, 1, "dev-x1"), 0);
    assert_int_equal(sqldb_bind_text(st, 2, "Other"), 0);
    step_done(db, st);
    sqldb_finalize(st);
}

static void put_records(const rows *data, sqldb *db)
{
    sqldb_stmt *rec = prepare(db, "INSERT INTO records(device_id, seq, ts, received_at, type, prev,"
                                  " hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    sqldb_stmt *quar = prepare(db, "INSERT INTO quarantined_records(device_id, seq, received_at,"
                                   " reason, prev, hash, body) VALUES (?1, ?2, ?3,"
                                   " 'records[0].colour: unknown field', ?4, ?5, ?6)");

    for (size_t i = 0; i < data->nrecs; i++) {
        const rec_row *r = &data->recs[i];
        sqldb_stmt *st = r->quarantined ? quar : rec;
        int k = 1;
        assert_int_equal(sqldb_bind_text(st, k++, r->device), 0);
        assert_int_equal(sqldb_bind_int64(st, k++, r->seq), 0);
        if (!r->quarantined)
            assert_int_equal(sqldb_bind_text(st, k++, r->ts), 0);
        assert_int_equal(sqldb_bind_text(st, k++, r->recv), 0);
        if (!r->quarantined)
            assert_int_equal(sqldb_bind_text(st, k++, r->type), 0);
        assert_int_equal(sqldb_bind_text(st, k++, r->prev), 0);
        assert_int_equal(sqldb_bind_text(st, k++, r->hash), 0);
        if (r->quarantined)
            assert_int_equal(sqldb_bind_blob(st, k++, r->body, strlen(r->body)), 0);
        else
            assert_int_equal(sqldb_bind_text(st, k++, r->body), 0);
        step_done(db, st);
    }
    sqldb_finalize(rec);
    sqldb_finalize(quar);
}

static void put_alerts(const rows *data, sqldb *db)
{
    sqldb_stmt *st = prepare(db, "INSERT INTO alerts(rule, severity, device_id, clinic, cause,"
                                 " message, evidence, raised_at, acked_at, acked_by, cleared_at,"
                                 " state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");

    for (size_t i = 0; i < data->nalerts; i++) {
        const alert_row *a = &data->alerts[i];
        const char *v[] = {a->rule,     a->severity, a->device,   a->clinic,
                           a->cause,    a->message,  a->evidence, a->raised,
                           a->acked_at, a->acked_by, a->cleared_at, a->state};
        for (int k = 0; k < 12; k++)
            assert_int_equal(sqldb_bind_text(st, k + 1, v[k]), 0);
        step_done(db, st);
    }
    sqldb_finalize(st);
}

static void fill(const fixture *fx, sqldb *db)
{
    char err[512];
    registry_cert_change change;

    assert_int_equal(sqldb_begin(db, SQLDB_WRITE), 0);
    put_devices(fx, db);
    put_records(&fx->data, db);
    put_alerts(&fx->data, db);
    if (sqldb_commit(db) != 0)
        fail_msg("%s: commit: %s", sqldb_name(db), sqldb_errmsg(db));
    /* The renewal as smpctl device replace registers it: the certificate
     * the checkpoints were signed with goes to the history. */
    if (registry_set_cert(db, "dev-c1", fx->data.renewed_pem, RENEWED_UNTIL, false, &change, err,
                          sizeof err) != 0)
        fail_msg("registry_set_cert: %s", err);
    assert_int_equal(change, REGISTRY_CERT_REPLACED);
}

/* ---- comparing ----------------------------------------------------------- */

/* Fails naming what and the first byte where a and b differ. */
static void assert_same(const char *what, const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0;

    while (i < alen && i < blen && a[i] == b[i])
        i++;
    if (i == alen && i == blen)
        return;
    size_t from = i > 60 ? i - 60 : 0;
    fail_msg("%s differs at byte %zu of %zu/%zu\nSQLite:     %.*s\nPostgreSQL: %.*s", what, i,
             alen, blen, (int)((alen - from) < 160 ? alen - from : 160), a + from,
             (int)((blen - from) < 160 ? blen - from : 160), b + from);
}

static char *render(int (*writer)(FILE *, const report_data *), const report_data *d,
                    size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    assert_non_null(f);
    assert_int_equal(writer(f, d), 0);
    assert_int_equal(fclose(f), 0);
    return buf;
}

static void load(sqldb *db, const char *from, const char *to, report_data *d)
{
    char err[512] = "";
    if (report_data_load(db, CLINIC, from, to, GEN_AT, d, err, sizeof err) != 0)
        fail_msg("report_data_load on %s: %s", sqldb_name(db), err);
}

static void compare_report(fixture *fx, const char *from, const char *to)
{
    static const struct {
        const char *name;
        int (*write)(FILE *, const report_data *);
    } formats[] = {{"JSON", report_json_write}, {"CSV", report_csv_write},
                   {"HTML", report_html_write}, {"PDF", report_pdf_write}};
    report_data a, b;
    char what[64];

    load(fx->lite_db, from, to, &a);
    load(fx->pg_db, from, to, &b);
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        size_t alen = 0, blen = 0;
        char *x = render(formats[i].write, &a, &alen), *y = render(formats[i].write, &b, &blen);
        snprintf(what, sizeof what, "report %s..%s as %s", from, to, formats[i].name);
        assert_same(what, x, alen, y, blen);
        free(x);
        free(y);
    }
    report_data_free(&a);
    report_data_free(&b);
}

static void test_report_is_the_same(void **state)
{
    fixture *fx = *state;
    report_data d;

    if (fx == NULL)
        skip();
    /* Not a comparison of two empty reports. */
    load(fx->pg_db, "2026-03-01", "2026-03-31", &d);
    assert_int_equal(d.nrows, NMACHINES + 1);
    assert_true(d.ncycles > 5 && d.ntests > 3 && d.nviolations > 5 && d.nnotices == 1 &&
                d.nwithdrawn == 1 && d.total.count[RC_SESSIONS] > 5);
    report_data_free(&d);
    compare_report(fx, "2026-03-01", "2026-03-31");
    compare_report(fx, "2026-03-03", "2026-03-03");
    compare_report(fx, START_DAY, "2026-03-04");
}

static int export_to(fixture *fx, const char *target, const char *out)
{
    char *argv[] = {"--db", (char *)target, "--clinic", CLINIC, "--from", START_DAY, "--to",
                    "2026-03-04", "--out", (char *)out, "--key", fx->key};
    return export_cmd(12, argv);
}

/* Whether the line [line, line + len) starts with arg ("Generated: "). */
static bool starts_with(const char *line, size_t len, const char *arg)
{
    return len >= strlen(arg) && strncmp(line, arg, strlen(arg)) == 0;
}

/* Whether a SHA256SUMS line "<hex>  NAME\n" names arg. */
static bool names(const char *line, size_t len, const char *arg)
{
    size_t n = strlen(arg);
    return len > n + 2 && line[len - 1] == '\n' && strncmp(line + len - 1 - n, arg, n) == 0 &&
           strncmp(line + len - 3 - n, "  ", 2) == 0;
}

/* Drops from text (in place) its lines that drop(line, len, arg) picks;
 * returns the new length. */
static size_t without_lines(char *text, bool (*drop)(const char *, size_t, const char *),
                            const char *arg)
{
    char *line = text, *out = text;

    while (*line) {
        char *next = line + strcspn(line, "\n");
        if (*next)
            next++;
        if (!drop(line, (size_t)(next - line), arg)) {
            memmove(out, line, (size_t)(next - line));
            out += next - line;
        }
        line = next;
    }
    *out = '\0';
    return (size_t)(out - text);
}

/* manifest.json without generated_at and without the files that hold the
 * generation time. */
static char *manifest_content(const char *dir)
{
    char path[600], *text, *printed;
    cJSON *m, *files, *f;

    snprintf(path, sizeof path, "%s/manifest.json", dir);
    text = slurp(path, NULL);
    m = cJSON_Parse(text);
    free(text);
    assert_non_null(m);
    cJSON_DeleteItemFromObjectCaseSensitive(m, "generated_at");
    files = cJSON_GetObjectItemCaseSensitive(m, "files");
    for (int i = cJSON_GetArraySize(files) - 1; i >= 0; i--) {
        f = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(files, i), "name");
        assert_true(cJSON_IsString(f));
        if (!strcmp(f->valuestring, "README.txt") || !strcmp(f->valuestring, "report.pdf") ||
            !strcmp(f->valuestring, "SHA256SUMS"))
            cJSON_DeleteItemFromArray(files, i);
    }
    printed = cJSON_Print(m);
    cJSON_Delete(m);
    return printed;
}

static void compare_file(const char *a_dir, const char *b_dir, const char *name)
{
    char a_path[600], b_path[600], *a, *b;
    size_t alen, blen;

    snprintf(a_path, sizeof a_path, "%s/%s", a_dir, name);
    snprintf(b_path, sizeof b_path, "%s/%s", b_dir, name);
    a = slurp(a_path, &alen);
    b = slurp(b_path, &blen);
    if (strcmp(name, "README.txt") == 0) {
        alen = without_lines(a, starts_with, "Generated: ");
        blen = without_lines(b, starts_with, "Generated: ");
    } else if (strcmp(name, "SHA256SUMS") == 0) {
        /* The hashes of the files that hold the time differ. */
        for (size_t i = 0; i < 2; i++) {
            const char *timed = i == 0 ? "README.txt" : "report.pdf";
            alen = without_lines(a, names, timed);
            blen = without_lines(b, names, timed);
        }
    }
    assert_same(name, a, alen, b, blen);
    free(a);
    free(b);
}

static void expect_intact(const char *dir)
{
    verify_result r;
    if (verify_bundle(dir, &r) != 0)
        fail_msg("bundle %s not intact: %s", dir, r.nproblems ? r.problems[0] : "?");
}

static void test_export_content_is_the_same(void **state)
{
    fixture *fx = *state;
    char a_dir[400], b_dir[400], *a, *b;

    if (fx == NULL)
        skip();
    snprintf(a_dir, sizeof a_dir, "%s/bundle-sqlite", fx->dir);
    snprintf(b_dir, sizeof b_dir, "%s/bundle-pg", fx->dir);
    assert_int_equal(export_to(fx, fx->lite, a_dir), 0);
    assert_int_equal(export_to(fx, fx->pg, b_dir), 0);
    expect_intact(a_dir);
    expect_intact(b_dir);
    for (const char *const *f = export_files; *f; f++) {
        /* report.pdf holds the time in compressed streams: the report
         * test compares the PDF rendered with one time; the signature
         * signs a manifest that holds the time. */
        if (strcmp(*f, "report.pdf") != 0 && strcmp(*f, "manifest.sig") != 0 &&
            strcmp(*f, "manifest.json") != 0)
            compare_file(a_dir, b_dir, *f);
    }
    a = manifest_content(a_dir);
    b = manifest_content(b_dir);
    assert_same("manifest.json", a, strlen(a), b, strlen(b));
    /* The chains were walked, with the quarantined record and a
     * checkpoint verified by the replaced certificate. */
    assert_non_null(strstr(b, "\"rejected_records_total\":\t1"));
    assert_non_null(strstr(b, "\"registered\":\t\"previous\""));
    assert_non_null(strstr(b, "\"intact\":\t3"));
    cJSON_free(a);
    cJSON_free(b);
}

static void free_rows(rows *data)
{
    for (size_t i = 0; i < data->nrecs; i++)
        free(data->recs[i].body);
    free(data->recs);
    free(data->alerts);
    free(data->signed_pem);
    free(data->renewed_pem);
}

static int setup(void **state)
{
    fixture *fx;
    const char *tmp = getenv("TMPDIR");
    char err[512];

    *state = NULL;
    if (!testdb_is_postgres())
        return 0;
    fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-stores-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->pki, sizeof fx->pki, "%s/pki", fx->dir);
    snprintf(fx->key, sizeof fx->key, "%s/export.key", fx->pki);
    assert_int_equal(pki("init", NULL, fx->pki), 0);
    make_rows(fx);
    snprintf(fx->lite, sizeof fx->lite, "%s/store.db", fx->dir);
    if (db_migrate(fx->lite, &(int){0}, &(int){0}, err, sizeof err) != 0 ||
        db_open(fx->lite, &fx->lite_db, err, sizeof err) != 0)
        fail_msg("%s", err);
    testdb_new(fx->pg, sizeof fx->pg);
    fx->pg_db = testdb_open(fx->pg);
    fill(fx, fx->lite_db);
    fill(fx, fx->pg_db);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char cmd[400];

    if (fx == NULL)
        return 0;
    sqldb_close(fx->lite_db);
    sqldb_close(fx->pg_db);
    testdb_drop(fx->pg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free_rows(&fx->data);
    free(fx);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_is_the_same),
        cmocka_unit_test(test_export_content_is_the_same),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
