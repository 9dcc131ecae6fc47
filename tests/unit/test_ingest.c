/* test_ingest: collector/ingest.c end to end against a real temporary store
 * (store_sql.c, integrity.c) on SQLite, or on PostgreSQL when SMP_TEST_PG
 * names a test cluster (testdb.h): validation and quarantine with exact
 * reasons, store-once per (device, seq), the contiguous ack, R9 (gaps, chain
 * breaks, conflicting resends, checkpoints) and R10 (clock ahead). Checkpoint
 * signatures are verified after the commit (collector/verifier.c): the
 * tests run its pass where the collector's verifier thread would.
 *
 * Keys and certificates come from the real `smpctl pki` (path in $SMPCTL, by
 * default ../../build/bin/smpctl: unit tests run in tests/unit), run once
 * into a temporary directory. Records are built with the same code the agent
 * uses (record_* + canonical form + SHA-256), so the chains are genuine.
 *
 * Test JSON uses ' for " (converted before sending) unless a case is raw.
 * Tests named test_bug_* (if any) show defects that are not fixed yet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "alert.h"
#include "db.h"
#include "device_recover.h"
#include "ingest.h"
#include "linkview.h"
#include "message.h"
#include "policy.h"
#include "record.h"
#include "registry.h"
#include "sign.h"
#include "store.h"
#include "testdb.h"
#include "testpki.h"
#include "verifier.h"

/* ---- fixed times ---------------------------------------------------------- */

#define NOW_TS "2026-03-02T10:00:00.000Z"
#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)

static int64_t now_ms(void)
{
    int64_t ms = 0;
    record_ts_parse(NOW_TS, &ms);
    return ms;
}

/* ---- suite-wide PKI ------------------------------------------------------- */

static char g_root[512];      /* temp dir: pki/ */
static char g_pki[600];
static char *g_cert_a, *g_cert_b;
static char g_key_a[700], g_key_b[700];
/* dev-k: one device, two certificates. ka is its first pair (kept aside
 * before `pki renew-device`), kb the renewed one. */
static char *g_cert_ka, *g_cert_kb;
static char g_key_ka[700], g_key_kb[700];

static const char *smpctl_path(void)
{
    const char *p = getenv("SMPCTL");
    return p && *p ? p : "../../build/bin/smpctl";
}

static int run_smpctl(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null", smpctl_path(), args);
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "test_ingest: '%s' failed (status %d)\n", cmd, rc);
    return rc;
}

static int suite_setup(void **state)
{
    char args[1500], path[800];
    (void)state;

    if (testpki_new(g_root, sizeof g_root, "ingest", (const char *const[]){"dev-a", "dev-b", NULL}) != 0)
        return -1;
    snprintf(g_pki, sizeof g_pki, "%s/pki", g_root);
    snprintf(path, sizeof path, "%s/devices/dev-a.crt", g_pki);
    g_cert_a = testpki_slurp(path);
    snprintf(path, sizeof path, "%s/devices/dev-b.crt", g_pki);
    g_cert_b = testpki_slurp(path);
    snprintf(g_key_a, sizeof g_key_a, "%s/devices/dev-a.key", g_pki);
    snprintf(g_key_b, sizeof g_key_b, "%s/devices/dev-b.key", g_pki);
    if (!g_cert_a || !g_cert_b || access(g_key_a, R_OK) != 0 || access(g_key_b, R_OK) != 0) {
        fprintf(stderr, "test_ingest: smpctl did not leave dev-a/dev-b cert and key in %s\n", g_pki);
        return -1;
    }
    /* dev-k's first pair, copied aside, then renewed in place. */
    snprintf(args, sizeof args, "pki issue-device dev-k --dir '%s'", g_pki);
    if (run_smpctl(args) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/devices/dev-k.crt", g_pki);
    g_cert_ka = testpki_slurp(path);
    snprintf(g_key_ka, sizeof g_key_ka, "%s/dev-k-first.key", g_root);
    snprintf(args, sizeof args, "cp '%s/devices/dev-k.key' '%s'", g_pki, g_key_ka);
    if (system(args) != 0)
        return -1;
    snprintf(args, sizeof args, "pki renew-device dev-k --dir '%s'", g_pki);
    if (run_smpctl(args) != 0)
        return -1;
    g_cert_kb = testpki_slurp(path);
    snprintf(g_key_kb, sizeof g_key_kb, "%s/devices/dev-k.key", g_pki);
    if (!g_cert_ka || !g_cert_kb || strcmp(g_cert_ka, g_cert_kb) == 0 ||
        access(g_key_kb, R_OK) != 0) {
        fprintf(stderr, "test_ingest: smpctl pki renew-device left no second dev-k pair in %s\n",
                g_pki);
        return -1;
    }
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    free(g_cert_a);
    free(g_cert_b);
    free(g_cert_ka);
    free(g_cert_kb);
    testpki_remove(g_root);
    return 0;
}

/* ---- per-test fixture: a fresh database with a device registry ------------ */

typedef struct fixture {
    char path[TESTDB_TARGET_MAX];   /* the database: a SQLite path or a postgresql:// URI */
    sqldb *db;            /* the test's own connection, for setup and checks */
    store *s;
    ingest *in;
    ingest_limits limits;
} fixture;

static const ingest_limits default_limits = {
    .quarantine_max_rows = 1000,
    .quarantine_payload_bytes = 4096,
    .future_skew_ms = DAY_MS,
    .integrity = {.clock_skew_ms = 300000, .gap_grace_ms = 600000},
};

static void sql_exec(fixture *fx, const char *sql)
{
    testdb_exec(fx->db, sql);
}

/* Runs sql with text parameters ?1..?n (NULL binds NULL) and no result. */
static void sql_run(sqldb *db, const char *sql, int n, const char *const *v)
{
    sqldb_stmt *st = NULL;

    if (sqldb_prepare(db, sql, &st) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(db));
    for (int i = 0; i < n; i++)
        if (sqldb_bind_text(st, i + 1, v[i]) != 0)
            fail_msg("%s: %s", sql, sqldb_errmsg(db));
    if (sqldb_step(st) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(db));
    sqldb_finalize(st);
}

static void add_device(fixture *fx, const char *id, const char *clinic, const char *cert,
                       bool retired)
{
    sql_run(fx->db,
            "INSERT INTO devices(device_id, clinic, cert_pem, added_at, retired_at) "
            "VALUES (?1, ?2, ?3, '2026-01-01T00:00:00.000Z', ?4)",
            4, (const char *[]){id, clinic, cert, retired ? "2026-02-01T00:00:00.000Z" : NULL});
}

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char err[600];

    if (!fx)
        return -1;
    testdb_new(fx->path, sizeof fx->path);
    fx->db = testdb_open(fx->path);
    add_device(fx, "dev-a", "clinic-1", g_cert_a, false);
    add_device(fx, "dev-b", "clinic-2", g_cert_b, false);
    add_device(fx, "dev-r", "clinic-1", g_cert_a, true);  /* retired */
    add_device(fx, "dev-n", "clinic-1", NULL, false);     /* no certificate */
    if (store_open(fx->path, &fx->s, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    fx->limits = default_limits;
    if (!(fx->in = ingest_new(fx->s, &fx->limits)))
        return -1;
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *fx = *state;

    ingest_free(fx->in);
    store_close(fx->s);
    sqldb_close(fx->db);
    testdb_drop(fx->path);
    free(fx);
    return 0;
}

static void fx_limits(fixture *fx, const ingest_limits *l)
{
    ingest_free(fx->in);
    fx->limits = *l;
    fx->in = ingest_new(fx->s, &fx->limits);
    assert_non_null(fx->in);
}

/* ---- SQL checks ----------------------------------------------------------- */

/* The query of a printf format; text values go in as '%s' (test values
 * hold no quote). */
static void format_sql(char *sql, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(sql, cap, fmt, ap);
    if (n < 0 || (size_t)n >= cap)
        fail_msg("query longer than %zu bytes: %s", cap, fmt);
}

static int64_t q_int(fixture *fx, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    sqldb_stmt *st;
    int64_t v = -1;
    int rc;

    va_start(ap, fmt);
    format_sql(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (sqldb_prepare(fx->db, sql, &st) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    if ((rc = sqldb_step(st)) == 1)
        v = sqldb_column_int64(st, 0);
    else if (rc < 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    sqldb_finalize(st);
    return v;
}

/* First column of the first row as text ("<null>" for NULL, "<none>" for no row). */
static void q_text(fixture *fx, char *out, size_t cap, const char *fmt, ...)
{
    char sql[4096];
    va_list ap;
    sqldb_stmt *st;
    int rc;

    va_start(ap, fmt);
    format_sql(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (sqldb_prepare(fx->db, sql, &st) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    if ((rc = sqldb_step(st)) == 1) {
        const char *t = sqldb_column_text(st, 0);
        snprintf(out, cap, "%s", t ? t : "<null>");
    } else if (rc == 0) {
        snprintf(out, cap, "<none>");
    } else {
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    }
    sqldb_finalize(st);
}

/* COUNT(*) of sql whose ?1 is the blob p[0..len). */
static int64_t q_count_blob(fixture *fx, const char *sql, const void *p, size_t len)
{
    sqldb_stmt *st;
    int64_t v;

    if (sqldb_prepare(fx->db, sql, &st) != 0 || sqldb_bind_blob(st, 1, p, len) != 0 ||
        sqldb_step(st) != 1)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    v = sqldb_column_int64(st, 0);
    sqldb_finalize(st);
    return v;
}

/* The first column of every row of sql, joined with " | " (messages). */
static void q_joined(fixture *fx, char *out, size_t cap, const char *sql)
{
    sqldb_stmt *st;
    size_t n = 0;

    out[0] = '\0';
    if (sqldb_prepare(fx->db, sql, &st) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    while (sqldb_step(st) == 1) {
        const char *t = sqldb_column_text(st, 0);
        int k = snprintf(out + n, cap - n, "%s%s", n ? " | " : "", t ? t : "<null>");
        if (k < 0 || (size_t)k >= cap - n)
            break;
        n += (size_t)k;
    }
    sqldb_finalize(st);
}

static int64_t record_count(fixture *fx, const char *device)
{
    return q_int(fx, "SELECT COUNT(*) FROM records WHERE device_id = '%s'", device);
}

static int64_t quarantine_count(fixture *fx, const char *key)
{
    char sql[] = "SELECT count FROM quarantine_counts WHERE reason = ?1";
    sqldb_stmt *st;
    int64_t n = 0;
    int rc;

    if (sqldb_prepare(fx->db, sql, &st) != 0 || sqldb_bind_text(st, 1, key) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    if ((rc = sqldb_step(st)) == 1)
        n = sqldb_column_int64(st, 0);
    else if (rc < 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    sqldb_finalize(st);
    return n;
}

static int64_t quarantine_total(fixture *fx)
{
    return q_int(fx, "SELECT COALESCE(SUM(count), 0) FROM quarantine_counts");
}

/* ---- JSON helpers ----------------------------------------------------------- */

/* A copy of text with every ' replaced by ". Owned by the caller. */
static char *jsonq(const char *text)
{
    char *out = strdup(text);
    assert_non_null(out);
    for (char *p = out; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return out;
}

/* ---- chains of genuine records -------------------------------------------- */

#define CHAIN_MAX 200

typedef struct chain {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t n;                                  /* head seq */
    char hash[CHAIN_MAX + 1][RECORD_HASH_HEX];   /* [0] genesis, [i] hash of seq i */
    char canon[CHAIN_MAX + 1][RECORD_CANON_MAX];
    size_t len[CHAIN_MAX + 1];
} chain;

static chain *chain_new(const char *device)
{
    chain *c = calloc(1, sizeof *c);
    assert_non_null(c);
    snprintf(c->device, sizeof c->device, "%s", device);
    memcpy(c->hash[0], RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    return c;
}

/* Canonical bytes and hash of r with the given header. */
static void seal(record *r, uint64_t seq, const char *prev, int64_t ts_ms, char *canon, size_t *len,
                 char hash[RECORD_HASH_HEX])
{
    r->seq = seq;
    memcpy(r->prev, prev, RECORD_HASH_HEX);
    record_ts_format(ts_ms, r->ts);
    int n = record_canonical(r, canon, RECORD_CANON_MAX);
    assert_true(n > 0);
    *len = (size_t)n;
    record_sha256_hex(canon, *len, hash);
}

/* Appends r (payload fields set) as the next record, like the agent's outbox. */
static void chain_push(chain *c, record *r, int64_t ts_ms)
{
    assert_true(c->n < CHAIN_MAX);
    uint64_t seq = c->n + 1;
    seal(r, seq, c->hash[c->n], ts_ms, c->canon[seq], &c->len[seq], c->hash[seq]);
    c->n = seq;
}

/* Parses a producer event (' for ", no seq/prev) into r. */
static void event_from_json(const char *squoted, record *r)
{
    char *text = jsonq(squoted);
    cJSON *obj = cJSON_Parse(text);
    record_error err;

    assert_non_null(obj);
    if (record_from_json(obj, RECORD_EVENT, "", r, &err) != 0)
        fail_msg("bad test event %s: %s: %s", text, err.field, err.reason);
    cJSON_Delete(obj);
    free(text);
}

/* A varied, valid event for seq (types rotate). */
static void default_event(uint64_t seq, record *r)
{
    char buf[512];
    unsigned long long s = (unsigned long long)seq;
    switch (seq % 4) {
    case 1:
        snprintf(buf, sizeof buf, "{'type':'session.start','session_id':'S%llu','operator_id':'op-1',"
                                  "'client_ref':'c-%llu','treatment_no':%llu}", s, s, s % 7 + 1);
        break;
    case 2:
        snprintf(buf, sizeof buf, "{'type':'grip.assign','grip_id':'grip-%llu','load_id':'L%llu',"
                                  "'session_id':'S%llu'}", s, s, s - 1);
        break;
    case 3:
        snprintf(buf, sizeof buf, "{'type':'cartridge.insert','cartridge_uid':'CU-%llu','sku':'0603RL',"
                                  "'needles':3,'config':'3RL','lot':'LOT-7','expiry':'2027-01-31',"
                                  "'session_id':'S%llu'}", s, s - 2);
        break;
    default:
        snprintf(buf, sizeof buf, "{'type':'session.end','session_id':'S%llu','run_s':%llu,"
                                  "'strokes':%llu}", s - 3, 600 + s, 40000 + s);
        break;
    }
    event_from_json(buf, r);
}

/* Default records up to seq `to`, timed an hour before now, a second apart. */
static void chain_fill(chain *c, uint64_t to)
{
    while (c->n < to) {
        record r;
        default_event(c->n + 1, &r);
        chain_push(c, &r, now_ms() - HOUR_MS + (int64_t)(c->n + 1) * 1000);
    }
}

/* A batch of n canonical records (heap). */
static char *batch_of(const char *device, const char *const *canon, const size_t *lens, size_t n,
                      size_t *len_out)
{
    size_t cap = n * RECORD_CANON_MAX + 256;
    char *buf = malloc(cap);
    assert_non_null(buf);
    int len = message_encode_batch(device, canon, lens, n, buf, cap);
    assert_true(len > 0);
    *len_out = (size_t)len;
    return buf;
}

/* The batch of seq from..to of c (heap). */
static char *chain_batch(const chain *c, uint64_t from, uint64_t to, size_t *len_out)
{
    const char *canon[CHAIN_MAX];
    size_t lens[CHAIN_MAX], n = 0;
    assert_true(from >= 1 && to <= c->n && from <= to);
    for (uint64_t s = from; s <= to; s++, n++) {
        canon[n] = c->canon[s];
        lens[n] = c->len[s];
    }
    return batch_of(c->device, canon, lens, n, len_out);
}

static void events_topic(const char *device, char *topic, size_t cap)
{
    snprintf(topic, cap, "smp/v1/dev/%s/events", device);
}

/* Ingests seq from..to of c at now; asserts the call itself succeeded. */
static void send_range(fixture *fx, const chain *c, uint64_t from, uint64_t to, int64_t at_ms,
                       ingest_result *r)
{
    char topic[128];
    size_t len;
    char *payload = chain_batch(c, from, to, &len);
    events_topic(c->device, topic, sizeof topic);
    assert_int_equal(ingest_events(fx->in, topic, payload, len, at_ms, r), 0);
    free(payload);
    if (r->quarantined)
        fail_msg("batch %" PRIu64 "..%" PRIu64 " of %s quarantined: %s", from, to, c->device, r->reason);
    assert_true(r->ack);
    assert_string_equal(r->device, c->device);
}

/* Ingests one canonical record as a batch. */
static void send_one(fixture *fx, const char *device, const char *canon, size_t len, int64_t at_ms,
                     ingest_result *r)
{
    char topic[128];
    size_t plen;
    char *payload = batch_of(device, &canon, &len, 1, &plen);
    events_topic(device, topic, sizeof topic);
    assert_int_equal(ingest_events(fx->in, topic, payload, plen, at_ms, r), 0);
    free(payload);
    if (r->quarantined)
        fail_msg("record of %s quarantined: %s", device, r->reason);
    assert_true(r->ack);
}

static void assert_counts(const ingest_result *r, int stored, int duplicates, int conflicts,
                          uint64_t ack_seq)
{
    assert_false(r->quarantined);
    assert_int_equal(r->stored, stored);
    assert_int_equal(r->duplicates, duplicates);
    assert_int_equal(r->conflicts, conflicts);
    assert_int_equal(r->ack_seq, ack_seq);
}

static void assert_event(const ingest_result *r, size_t i, alert_event_kind kind, const char *rule,
                         const char *cause)
{
    assert_non_null(r->alerts);
    assert_true(i < r->alerts->count);
    const alert_event *ev = &r->alerts->events[i];
    if (ev->kind != kind || strcmp(ev->a.rule, rule) != 0 || strcmp(ev->a.cause, cause) != 0)
        fail_msg("alert event %zu: got %s %s '%s', expected %s %s '%s'", i,
                 ev->kind == ALERT_RAISED ? "raised" : "cleared", ev->a.rule, ev->a.cause,
                 kind == ALERT_RAISED ? "raised" : "cleared", rule, cause);
    assert_true(ev->a.id > 0);
}

/* Alert evidence is a JSON object (it is published inside the alert JSON). */
static void assert_evidence_json(const char *evidence)
{
    cJSON *o = cJSON_Parse(evidence);
    if (!cJSON_IsObject(o))
        fail_msg("alert evidence is not a JSON object: %s", evidence);
    cJSON_Delete(o);
}

static int64_t alert_rows(fixture *fx, const char *rule, const char *cause)
{
    return q_int(fx, "SELECT COUNT(*) FROM alerts WHERE rule = '%s' AND cause = '%s'", rule, cause);
}

/* What the collector's checkpoint verifier (verifier.h) does after the
 * commit: one pass over everything pending, which it must empty. *v gets
 * only its alerts (the R9 events it raised, committed). Returns how many
 * checkpoints it took. */
static alert_batch g_verified;

static int verify_pending(fixture *fx, ingest_result *v)
{
    verifier_tally t = {0};
    int n = verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), &g_verified, &t);

    if (n < 0)
        fail_msg("verifier_pass: %s", store_errmsg(fx->s));
    assert_int_equal(q_int(fx, "SELECT COUNT(*) FROM checkpoints WHERE state = 'pending'"), 0);
    memset(v, 0, sizeof *v);
    v->alerts = &g_verified;
    return n;
}

/* ---- a. rejected messages: the table --------------------------------------- */

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define TS1 "2026-03-02T09:00:00.000Z"
#define HDR(seq) "'seq':" #seq ",'ts':'" TS1 "','prev':'" Z64 "',"
#define GRIP "'type':'grip.assign','grip_id':'g1','load_id':'l1','session_id':'s1'"
#define G(seq) "{" HDR(seq) GRIP "}"
#define ENVD(dev, recs) "{'v':1,'device':'" dev "','records':[" recs "]}"
#define ENV(recs) ENVD("dev-a", recs)
/* One record of header + given payload fields. */
#define R1(fields) ENV("{" HDR(1) fields "}")
#define S129 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

typedef size_t (*payload_gen)(char *buf, size_t cap);

typedef struct bad_case {
    const char *topic;      /* NULL: smp/v1/dev/dev-a/events */
    const char *payload;    /* ' for " unless raw */
    payload_gen gen;        /* instead of payload */
    const char *reason;     /* exact */
    const char *qdevice;    /* device column of the quarantine row; NULL for none */
    bool raw;
    size_t raw_len;         /* raw payload length (0: strlen) */
} bad_case;

static size_t gen_big(char *buf, size_t cap)
{
    /* 300 KB: a valid batch padded with whitespace. */
    size_t n = 300 * 1024;
    assert_true(cap > n);
    char *env = jsonq(ENV(G(1)));
    size_t e = strlen(env);
    memcpy(buf, env, e);
    memset(buf + e, ' ', n - e);
    free(env);
    return n;
}

static size_t gen_65(char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "{\"v\":1,\"device\":\"dev-a\",\"records\":[");
    for (int i = 1; i <= 65; i++) {
        char *rec = jsonq(G(1));
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i > 1 ? "," : "", rec);
        free(rec);
    }
    n += (size_t)snprintf(buf + n, cap - n, "]}");
    assert_true(n < cap);
    return n;
}

static size_t gen_deep(char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 500; i++)
        buf[n++] = '[';
    for (int i = 0; i < 500; i++)
        buf[n++] = ']';
    assert_true(n < cap);
    return n;
}

static size_t gen_nul(char *buf, size_t cap)
{
    char *env = jsonq(R1("'type':'grip.assign','grip_id':'g@1','load_id':'l1','session_id':'s1'"));
    size_t n = strlen(env);
    assert_true(n < cap);
    memcpy(buf, env, n);
    *strchr(buf, '@') = '\0';      /* a raw NUL inside a string */
    free(env);
    return n;
}

static size_t gen_nul_after(char *buf, size_t cap)
{
    /* A valid batch, then a NUL and more bytes: still one message. */
    char *env = jsonq(ENV(G(1)));
    size_t n = strlen(env);
    assert_true(n + 5 < cap);
    memcpy(buf, env, n);
    memcpy(buf + n, "\0junk", 5);
    free(env);
    return n + 5;
}

static const bad_case bad_cases[] = {
    /* raw text */
    {.payload = "{'v':1,'device':'dev-a','records':[{'seq':1,'ts':'" TS1 "','pr",
     .reason = "payload: not valid JSON", .qdevice = "dev-a"},
    {.payload = ENV(G(1)) "x", .reason = "payload: not valid JSON", .qdevice = "dev-a"},
    {.payload = ENV(G(1)) ENV(G(2)), .reason = "payload: not valid JSON", .qdevice = "dev-a"},
    {.payload = "hello, collector", .reason = "payload: not valid JSON", .qdevice = "dev-a"},
    {.payload = "", .reason = "payload: not valid JSON", .qdevice = "dev-a"},
    {.payload = "{'v':1,'device':'dev-a','records':[{'a':{'b':{'c':1}}}]}",
     .reason = "payload: nested deeper than 4 levels", .qdevice = "dev-a"},
    {.gen = gen_deep, .reason = "payload: nested deeper than 4 levels", .qdevice = "dev-a"},
    {.gen = gen_nul, .reason = "payload: contains a NUL byte", .qdevice = "dev-a"},
    {.gen = gen_nul_after, .reason = "payload: contains a NUL byte", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':'g\\u0000','load_id':'l1','session_id':'s1'"),
     .reason = "payload: contains a \\u0000 escape", .qdevice = "dev-a"},
    {.payload = "{\"v\":1,\"device\":\"dev-a\",\"records\":[\"\xff\"]}", .raw = true,
     .reason = "payload: not valid UTF-8", .qdevice = "dev-a"},
    {.payload = "{\"v\":1,\"device\":\"dev-a\",\"x\":\"\xc0\xaf\"}", .raw = true,
     .reason = "payload: not valid UTF-8", .qdevice = "dev-a"},           /* overlong '/' */
    {.payload = "{\"v\":1,\"device\":\"dev-a\",\"x\":\"\xed\xa0\x80\"}", .raw = true,
     .reason = "payload: not valid UTF-8", .qdevice = "dev-a"},           /* UTF-16 surrogate */
    {.payload = "{\"v\":1,\"device\":\"dev-a\",\"x\":\"\xe2\x82\"}", .raw = true,
     .reason = "payload: not valid UTF-8", .qdevice = "dev-a"},           /* truncated sequence */
    {.gen = gen_big, .reason = "payload: larger than 256 KiB", .qdevice = "dev-a"},
    {.payload = "[" G(1) "]", .reason = "payload: must be a JSON object", .qdevice = "dev-a"},
    {.payload = "'dev-a'", .reason = "payload: must be a JSON object", .qdevice = "dev-a"},

    /* envelope */
    {.payload = "{'v':1,'device':'dev-a','records':[" G(1) "],'sig':'x'}",
     .reason = "sig: unknown field in batch", .qdevice = "dev-a"},
    {.payload = "{'v':1,'v':1,'device':'dev-a','records':[" G(1) "]}",
     .reason = "v: duplicate field", .qdevice = "dev-a"},
    {.payload = "{'v':2,'device':'dev-a','records':[" G(1) "]}",
     .reason = "v: unsupported version (expected 1)", .qdevice = "dev-a"},
    {.payload = "{'v':'1','device':'dev-a','records':[" G(1) "]}",
     .reason = "v: unsupported version (expected 1)", .qdevice = "dev-a"},
    {.payload = "{'device':'dev-a','records':[" G(1) "]}", .reason = "v: required",
     .qdevice = "dev-a"},
    {.payload = "{'v':1,'records':[" G(1) "]}", .reason = "device: required", .qdevice = "dev-a"},
    {.payload = "{'v':1,'device':7,'records':[" G(1) "]}", .reason = "device: must be a string",
     .qdevice = "dev-a"},
    {.payload = ENVD("dev-b", G(1)), .reason = "device: does not match the device of the topic",
     .qdevice = "dev-a"},
    {.payload = ENVD("Dev-a", G(1)),
     .reason = "device: device id may hold only a-z, 0-9 and '-' (bad character at 0)",
     .qdevice = "dev-a"},
    {.payload = "{'v':1,'device':'dev-a'}", .reason = "records: required", .qdevice = "dev-a"},
    {.payload = "{'v':1,'device':'dev-a','records':{}}", .reason = "records: must be an array",
     .qdevice = "dev-a"},
    {.payload = ENV(""), .reason = "records: must hold 1..64 records", .qdevice = "dev-a"},
    {.gen = gen_65, .reason = "records: must hold 1..64 records", .qdevice = "dev-a"},

    /* record shape */
    {.payload = ENV("1"), .reason = "records[0]: record must be a JSON object", .qdevice = "dev-a"},
    {.payload = ENV("{" HDR(1) "'grip_id':'g1','load_id':'l1','session_id':'s1'}"),
     .reason = "records[0].type: required", .qdevice = "dev-a"},
    {.payload = R1("'type':9"), .reason = "records[0].type: must be a string", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.unassign'"), .reason = "records[0].type: unknown record type",
     .qdevice = "dev-a"},
    {.payload = R1(GRIP ",'colour':'red'"),
     .reason = "records[0].colour: unknown field for this record type", .qdevice = "dev-a"},
    {.payload = R1(GRIP ",'strokes':5"),
     .reason = "records[0].strokes: unknown field for this record type", .qdevice = "dev-a"},
    {.payload = R1(GRIP ",'grip_id':'g2'"), .reason = "records[0].grip_id: duplicate field",
     .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'seq':1,'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: duplicate field", .qdevice = "dev-a"},

    /* header fields */
    {.payload = ENV("{'seq':0,'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: out of range", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':-1,'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: must not be negative", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':9007199254740992,'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: out of range", .qdevice = "dev-a"},                /* 2^53 */
    {.payload = ENV("{'seq':1e400,'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: must be a finite number", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1.5,'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: must be an integer", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':'1','ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: must be a number", .qdevice = "dev-a"},
    {.payload = ENV("{'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].seq: required", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'prev':'" Z64 "'," GRIP "}"), .reason = "records[0].ts: required",
     .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'ts':'" TS1 "'," GRIP "}"), .reason = "records[0].prev: required",
     .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'ts':'2026-03-02 09:00:00','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].ts: must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'ts':'2026-02-30T09:00:00.000Z','prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].ts: must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'ts':1772442000000,'prev':'" Z64 "'," GRIP "}"),
     .reason = "records[0].ts: must be a string", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'ts':'" TS1 "','prev':'" "ABCDEF" Z64 "'," GRIP "}"),
     .reason = "records[0].prev: must be 64 lowercase hex digits", .qdevice = "dev-a"},
    {.payload = ENV("{'seq':1,'ts':'" TS1 "','prev':'00'," GRIP "}"),
     .reason = "records[0].prev: must be 64 lowercase hex digits", .qdevice = "dev-a"},

    /* payload values */
    {.payload = ENV(G(1) "," G(2) "," G(3) ",{" HDR(4) "'type':'session.end','session_id':'s1',"
                    "'run_s':10,'strokes':-1}"),
     .reason = "records[3].strokes: must not be negative", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':-0.5,'strokes':1"),
     .reason = "records[0].run_s: must not be negative", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':1,'strokes':1e400"),
     .reason = "records[0].strokes: must be a finite number", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':1,'strokes':-1e400"),
     .reason = "records[0].strokes: must be a finite number", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':1,'strokes':9007199254740992"),
     .reason = "records[0].strokes: out of range", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':1,'strokes':2.5"),
     .reason = "records[0].strokes: must be an integer", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':1,'strokes':'10'"),
     .reason = "records[0].strokes: must be a number", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':true,'strokes':1"),
     .reason = "records[0].run_s: must be a number", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.end','session_id':'s1','run_s':null,'strokes':1"),
     .reason = "records[0].run_s: must be a number", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':5,'load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: must be a string", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':['g'],'load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: must be a string", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':{},'load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: must be a string", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':'','load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: must not be empty", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':'" S129 "','load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: longer than 128 bytes", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':'g\\u0007','load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: contains a control character", .qdevice = "dev-a"},
    {.payload = R1("'type':'grip.assign','grip_id':'g\\n','load_id':'l1','session_id':'s1'"),
     .reason = "records[0].grip_id: contains a control character", .qdevice = "dev-a"},
    {.payload = R1("'type':'cartridge.remove','reason':'lost'"),
     .reason = "records[0].reason: not one of the allowed values", .qdevice = "dev-a"},
    {.payload = R1("'type':'sterilization.cycle','program':'steam'"),
     .reason = "records[0].program: not one of the allowed values", .qdevice = "dev-a"},
    {.payload = R1("'type':'sterilization.test','kind':'Spore'"),
     .reason = "records[0].kind: not one of the allowed values", .qdevice = "dev-a"},
    {.payload = R1("'type':'session.start','treatment_no':0"),
     .reason = "records[0].treatment_no: out of range", .qdevice = "dev-a"},
    {.payload = R1("'type':'cartridge.insert','needles':100"),
     .reason = "records[0].needles: out of range", .qdevice = "dev-a"},
    {.payload = R1("'type':'cartridge.insert','expiry':'2027-02-29'"),
     .reason = "records[0].expiry: must be a calendar date YYYY-MM-DD", .qdevice = "dev-a"},
    {.payload = R1("'type':'sterilization.cycle','setpoint_c':121.25"),
     .reason = "records[0].setpoint_c: at most one decimal place", .qdevice = "dev-a"},
    {.payload = R1("'type':'sterilization.cycle','temp_min_c':-50.1"),
     .reason = "records[0].temp_min_c: out of range", .qdevice = "dev-a"},
    {.payload = R1("'type':'sterilization.test','read_ts':'2026-03-02T09:00:00Z'"),
     .reason = "records[0].read_ts: must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ", .qdevice = "dev-a"},
    {.payload = R1("'type':'checkpoint','head_hash':'" Z64 "0'"),
     .reason = "records[0].head_hash: must be 64 lowercase hex digits", .qdevice = "dev-a"},
    {.payload = R1("'type':'checkpoint','sig':'not base64!'"),
     .reason = "records[0].sig: must be base64", .qdevice = "dev-a"},

    /* A record timed more than future_skew_s ahead is no longer refused: it is
     * stored, acked and flagged (test_future_ts_*). */

    /* registry */
    {.topic = "smp/v1/dev/dev-x/events", .payload = ENVD("dev-x", G(1)),
     .reason = "device: dev-x is not registered; add it with smpctl device add", .qdevice = "dev-x"},
    {.topic = "smp/v1/dev/dev-r/events", .payload = ENVD("dev-r", G(1)),
     .reason = "device: dev-r is retired", .qdevice = "dev-r"},
    /* the registry is consulted before the payload is even parsed */
    {.topic = "smp/v1/dev/dev-x/events", .payload = "garbage",
     .reason = "device: dev-x is not registered; add it with smpctl device add", .qdevice = "dev-x"},

    /* topic */
    {.topic = "smp/v1/dev/dev-a/status", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v1/dev/dev-a/ack", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v1/dev/dev-a/events/extra", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v1/dev/dev-a", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v2/dev/dev-a/events", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v1/dev/Dev-A/events", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v1/dev/smp-collector/events", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
    {.topic = "smp/v1/dev//events", .payload = ENV(G(1)),
     .reason = "topic: not smp/v1/dev/<device>/events", .qdevice = NULL},
};

/* The counter key the protocol documents: reason with the digits of every
 * [index] removed ("records[12].x: ..." -> "records[].x: ..."), nothing else. */
static void spec_key(const char *reason, char *out, size_t cap)
{
    size_t n = 0;
    bool in_index = false;
    for (const char *p = reason; *p && n + 1 < cap; p++) {
        if (*p == '[')
            in_index = true;
        else if (*p == ']')
            in_index = false;
        else if (in_index && *p >= '0' && *p <= '9')
            continue;
        out[n++] = *p;
    }
    out[n] = '\0';
}

/* Whether a reason is about one record whose seq is still readable: such a
 * record is quarantined alone (quarantined_records, with its seq) and the
 * rest of its message stored, so a genuine device is never wedged by it
 * (docs/collector.md, "Bad input"). A record without a readable seq, or
 * anything about the payload, envelope, topic or registry, quarantines the
 * whole message. */
static bool record_level(const char *reason)
{
    return strncmp(reason, "records[", 8) == 0 && strstr(reason, "].seq: ") == NULL &&
           strstr(reason, "]: ") == NULL;
}

/* Whether needle occurs in hay (bytes). */
static bool contains(const void *hay, size_t n, const void *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++) {
        if (memcmp((const char *)hay + i, needle, m) == 0)
            return true;
    }
    return false;
}

/* Empties what one record-level case leaves behind, so the next case starts
 * from a device with no chain (every case reuses dev-a's seq 1). */
static void reset_device_tables(fixture *fx)
{
    sql_exec(fx, "DELETE FROM records; DELETE FROM device_state; DELETE FROM alerts; "
                 "DELETE FROM quarantined_records; DELETE FROM rule_devices;");
}

/* A record-level rejection: the message is not quarantined, the record is
 * kept alone with its reason and its exact bytes, counted, and flagged by
 * R9 rejected:seq=N; the ack is published. */
static void check_record_rejected(fixture *fx, const char *label, const char *topic,
                                  const char *payload, size_t len, const char *reason)
{
    ingest_result r;
    char key[256], got[512];
    int64_t rows_before = q_int(fx, "SELECT count(*) FROM quarantine");
    int64_t total_before = quarantine_total(fx);
    sqldb_stmt *st;

    spec_key(reason, key, sizeof key);
    int64_t key_before = quarantine_count(fx, key);

    assert_int_equal(ingest_events(fx->in, topic, payload, len, now_ms(), &r), 0);
    if (r.quarantined || r.rejected != 1)
        fail_msg("%s: quarantined=%d (\"%s\") rejected=%d, expected the record alone rejected "
                 "with \"%s\"", label, r.quarantined, r.reason, r.rejected, reason);
    assert_true(r.ack);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), rows_before);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantined_records"), 1);
    q_text(fx, got, sizeof got, "SELECT reason FROM quarantined_records");
    if (strcmp(got, reason) != 0)
        fail_msg("%s: quarantined_records reason \"%s\", expected \"%s\"", label, got, reason);
    q_text(fx, got, sizeof got, "SELECT device_id FROM quarantined_records");
    assert_string_equal(got, "dev-a");
    /* the record's own bytes, exactly as they were in the message */
    assert_int_equal(sqldb_prepare(fx->db, "SELECT body, hash FROM quarantined_records", &st), 0);
    assert_int_equal(sqldb_step(st), 1);
    {
        const void *body = sqldb_column_blob(st, 0);
        size_t blen = sqldb_column_bytes(st, 0);
        char hash[RECORD_HASH_HEX];
        assert_true(blen > 1);
        assert_true(contains(payload, len, body, blen));
        assert_int_equal(((const char *)body)[0], '{');
        record_sha256_hex(body, blen, hash);
        assert_string_equal(sqldb_column_text(st, 1), hash);
    }
    sqldb_finalize(st);
    assert_int_equal(quarantine_total(fx), total_before + 1);
    if (quarantine_count(fx, key) != key_before + 1)
        fail_msg("%s: quarantine_counts['%s'] not incremented", label, key);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule = 'R9' AND cause = "
                               "'rejected:seq=' || (SELECT seq FROM quarantined_records)"), 1);
    reset_device_tables(fx);
}

/* Sends one bad message and checks everything the protocol promises about it. */
static void check_rejected(fixture *fx, const char *label, const char *topic, const char *payload,
                           size_t len, const char *reason, const char *qdevice)
{
    ingest_result r;
    char key[256], got[512];
    int64_t rows_before = q_int(fx, "SELECT count(*) FROM quarantine");
    int64_t total_before = quarantine_total(fx);

    if (record_level(reason)) {
        check_record_rejected(fx, label, topic, payload, len, reason);
        return;
    }
    spec_key(reason, key, sizeof key);
    int64_t key_before = quarantine_count(fx, key);

    assert_int_equal(ingest_events(fx->in, topic, payload, len, now_ms(), &r), 0);
    if (!r.quarantined || strcmp(r.reason, reason) != 0)
        fail_msg("%s: quarantined=%d reason \"%s\", expected \"%s\"", label, r.quarantined, r.reason,
                 reason);
    assert_false(r.ack);
    assert_int_equal(r.stored, 0);
    assert_non_null(r.alerts);
    assert_int_equal(r.alerts->count, 0);

    /* nothing stored, no chain state */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM device_state"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantined_records"), 0);

    /* the quarantine row: device, topic, reason, payload prefix */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), rows_before + 1);
    q_text(fx, got, sizeof got, "SELECT coalesce(device_id, '<null>') FROM quarantine ORDER BY id DESC LIMIT 1");
    if (strcmp(got, qdevice ? qdevice : "<null>") != 0)
        fail_msg("%s: quarantine device '%s', expected '%s'", label, got, qdevice ? qdevice : "<null>");
    q_text(fx, got, sizeof got, "SELECT topic FROM quarantine ORDER BY id DESC LIMIT 1");
    assert_string_equal(got, topic);
    q_text(fx, got, sizeof got, "SELECT reason FROM quarantine ORDER BY id DESC LIMIT 1");
    assert_string_equal(got, reason);
    size_t kept = len < fx->limits.quarantine_payload_bytes ? len : fx->limits.quarantine_payload_bytes;
    {
        sqldb_stmt *st;
        assert_int_equal(sqldb_prepare(fx->db, "SELECT payload FROM quarantine ORDER BY id DESC LIMIT 1",
                                       &st), 0);
        assert_int_equal(sqldb_step(st), 1);
        assert_int_equal(sqldb_column_bytes(st, 0), kept);
        if (kept)
            assert_memory_equal(sqldb_column_blob(st, 0), payload, kept);
        sqldb_finalize(st);
    }

    /* counted once, under the index-stripped reason */
    assert_int_equal(quarantine_total(fx), total_before + 1);
    if (quarantine_count(fx, key) != key_before + 1) {
        char keys[2048];
        q_joined(fx, keys, sizeof keys, "SELECT reason FROM quarantine_counts ORDER BY reason");
        fail_msg("%s: quarantine_counts['%s'] not incremented (keys: %s)", label, key, keys);
    }
}

static void test_rejects_table(void **state)
{
    fixture *fx = *state;
    size_t cap = 400 * 1024;
    char *buf = malloc(cap);
    assert_non_null(buf);

    assert_true(sizeof bad_cases / sizeof bad_cases[0] >= 40);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        char label[64];
        size_t len;

        snprintf(label, sizeof label, "bad_cases[%zu]", i);
        if (c->gen) {
            len = c->gen(buf, cap);
        } else if (c->raw) {
            len = c->raw_len ? c->raw_len : strlen(c->payload);
            memcpy(buf, c->payload, len);
        } else {
            char *p = jsonq(c->payload);
            len = strlen(p);
            memcpy(buf, p, len + 1);
            free(p);
        }
        check_rejected(fx, label, c->topic ? c->topic : "smp/v1/dev/dev-a/events", buf, len,
                       c->reason, c->qdevice);
    }
    /* the per-index key: records[3] and records[0] count together */
    assert_int_equal(quarantine_count(fx, "records[].strokes: must not be negative"), 1);
    assert_int_equal(quarantine_count(fx, "records[].grip_id: must be a string"), 3);
    assert_int_equal(quarantine_count(fx, "payload: not valid JSON"), 5);
    assert_int_equal(quarantine_count(fx, "topic: not smp/v1/dev/<device>/events"), 8);
    free(buf);
}

/* a (cont.): every required field of every type, and every header field,
 * missing in turn; the complete record is valid (so only the gap fails). */
typedef struct type_fields {
    const char *type;
    const char *const fields[20];   /* "'name':value"; optional ones marked with a leading ? */
} type_fields;

static const type_fields all_types[] = {
    {"session.start", {"'session_id':'S1'", "'operator_id':'op-1'", "'client_ref':'c-1'",
                       "'treatment_no':2", NULL}},
    {"session.end", {"'session_id':'S1'", "'run_s':7200", "'strokes':500000", NULL}},
    {"cartridge.insert", {"'cartridge_uid':'CU-1'", "'sku':'0603RL'", "'needles':3", "'config':'3RL'",
                          "?'lot':'LOT-1'", "'expiry':'2027-01-31'", "'session_id':'S1'", NULL}},
    {"cartridge.remove", {"'cartridge_uid':'CU-1'", "'session_id':'S1'", "'run_s':1800",
                          "'strokes':200000", "'reason':'worn'", NULL}},
    {"usage.counters", {"'motor_s_total':36000", "'strokes_total':4000000", "?'cartridge_uid':'CU-1'",
                        "'cartridge_run_s':1800", "'cartridge_strokes':200000", NULL}},
    {"grip.assign", {"'grip_id':'grip-3'", "'load_id':'L1'", "'session_id':'S1'", NULL}},
    {"sterilization.cycle", {"'sterilizer_id':'ST-1'", "'cycle_no':42", "'load_id':'L1'",
                             "'program':'prevac_134'", "'setpoint_c':134", "'temp_min_c':134.2",
                             "'temp_max_c':135.5", "'exposure_s':240", "'pressure_min_kpa':304.1",
                             "'pressure_max_kpa':310", "'dry_s':1200", "'operator_id':'op-1'",
                             "'ci_result':'pass'", "'result':'pass'", "?'alarm_code':'E12'", NULL}},
    {"sterilization.test", {"'sterilizer_id':'ST-1'", "'kind':'spore'", "'cycle_no':42",
                            "'bi_lot':'BI-9'", "'result':'negative'",
                            "'read_ts':'2026-03-03T09:00:00.000Z'", NULL}},
    {"checkpoint", {"'head_seq':41", "'head_hash':'" Z64 "'",
                    "'sig':'MEUCIQDs5A3hV0n0yY1Q2l3gq5bN9m3yC3Kc5N9m3yC3Kc5NAiA='", NULL}},
};

/* Writes a one-record batch of t's fields, header included, leaving out
 * field `skip` (index into fields, or -1..-4 for seq/ts/prev/type; 99: none). */
static char *type_batch(const type_fields *t, int skip)
{
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof buf, "{'v':1,'device':'dev-a','records':[{");
    const char *hdr[4] = {"'seq':1", "'ts':'" TS1 "'", "'prev':'" Z64 "'", NULL};
    char type[64];
    bool first = true;

    snprintf(type, sizeof type, "'type':'%s'", t->type);
    hdr[3] = type;
    for (int h = 0; h < 4; h++) {
        if (skip == -1 - h)
            continue;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", first ? "" : ",", hdr[h]);
        first = false;
    }
    for (int i = 0; t->fields[i]; i++) {
        const char *f = t->fields[i][0] == '?' ? t->fields[i] + 1 : t->fields[i];
        if (i == skip)
            continue;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", first ? "" : ",", f);
        first = false;
    }
    snprintf(buf + n, sizeof buf - n, "}]}");
    return jsonq(buf);
}

static void test_rejects_missing_required_fields(void **state)
{
    fixture *fx = *state;
    message_batch *b = malloc(sizeof *b);
    record_error err;
    int cases = 0;

    assert_non_null(b);
    for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++) {
        const type_fields *tf = &all_types[t];
        char *full = type_batch(tf, 99);
        if (message_parse_batch(full, strlen(full), "dev-a", b, &err) != 0)
            fail_msg("complete %s record rejected: %s: %s", tf->type, err.field, err.reason);
        free(full);

        static const char *const header_names[] = {"seq", "ts", "prev", "type"};
        for (int h = 0; h < 4; h++) {
            char *p = type_batch(tf, -1 - h), reason[128], label[96];
            snprintf(reason, sizeof reason, "records[0].%s: required", header_names[h]);
            snprintf(label, sizeof label, "%s without %s", tf->type, header_names[h]);
            check_rejected(fx, label, "smp/v1/dev/dev-a/events", p, strlen(p), reason, "dev-a");
            free(p);
            cases++;
        }
        for (int i = 0; tf->fields[i]; i++) {
            char *p = type_batch(tf, i);
            if (tf->fields[i][0] == '?') {
                /* optional: still a valid record */
                if (message_parse_batch(p, strlen(p), "dev-a", b, &err) != 0)
                    fail_msg("%s without optional %s rejected: %s: %s", tf->type, tf->fields[i],
                             err.field, err.reason);
            } else {
                char name[64], reason[128], label[128];
                const char *q = strchr(tf->fields[i] + 1, '\'');
                snprintf(name, sizeof name, "%.*s", (int)(q - tf->fields[i] - 1), tf->fields[i] + 1);
                snprintf(reason, sizeof reason, "records[0].%s: required", name);
                snprintf(label, sizeof label, "%s without %s", tf->type, name);
                check_rejected(fx, label, "smp/v1/dev/dev-a/events", p, strlen(p), reason, "dev-a");
                cases++;
            }
            free(p);
        }
    }
    assert_true(cases >= 60);
    free(b);
}

/* Edge values that must be accepted: 128-byte strings, exactly 24 h ahead,
 * 2^53-1, 64 records. */
static void test_accepts_limits(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;
    char s128[129];

    memset(s128, 'y', 128);
    s128[128] = '\0';
    record_init(&ev, RT_GRIP_ASSIGN);
    record_set_str(&ev, "grip_id", s128);
    record_set_str(&ev, "load_id", "L1");
    record_set_str(&ev, "session_id", "S1");
    chain_push(c, &ev, now_ms() + DAY_MS);               /* exactly the limit */
    record_init(&ev, RT_SESSION_END);
    record_set_str(&ev, "session_id", "S1");
    record_set_int(&ev, "run_s", RECORD_INT_MAX);
    record_set_int(&ev, "strokes", 0);
    chain_push(c, &ev, now_ms());
    chain_fill(c, 64);
    send_range(fx, c, 1, 64, now_ms(), &r);
    assert_counts(&r, 64, 0, 0, 64);
    assert_int_equal(record_count(fx, "dev-a"), 64);
    free(c);
}

/* ---- b. good path, duplicates, seq going backwards ------------------------- */

static void test_good_batch_then_duplicates(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char got[RECORD_CANON_MAX + 1];

    chain_fill(c, 10);
    send_range(fx, c, 1, 10, now_ms(), &r);
    assert_counts(&r, 10, 0, 0, 10);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(record_count(fx, "dev-a"), 10);
    for (uint64_t s = 1; s <= 10; s++) {
        q_text(fx, got, sizeof got, "SELECT body FROM records WHERE device_id='dev-a' AND seq=%llu",
               (unsigned long long)s);
        assert_string_equal(got, c->canon[s]);
        q_text(fx, got, sizeof got, "SELECT hash FROM records WHERE device_id='dev-a' AND seq=%llu",
               (unsigned long long)s);
        assert_string_equal(got, c->hash[s]);
    }
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 10);
    q_text(fx, got, sizeof got, "SELECT acked_hash FROM device_state WHERE device_id='dev-a'");
    assert_string_equal(got, c->hash[10]);

    /* the same batch again: duplicates, not second events */
    send_range(fx, c, 1, 10, now_ms() + 1000, &r);
    assert_counts(&r, 0, 10, 0, 10);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(record_count(fx, "dev-a"), 10);

    /* seq going backwards: 3..5 after 1..10 */
    send_range(fx, c, 3, 5, now_ms() + 2000, &r);
    assert_counts(&r, 0, 3, 0, 10);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(record_count(fx, "dev-a"), 10);

    /* a batch mixing old and new records stores only the new ones */
    chain_fill(c, 12);
    send_range(fx, c, 9, 12, now_ms() + 3000, &r);
    assert_counts(&r, 2, 2, 0, 12);
    assert_int_equal(record_count(fx, "dev-a"), 12);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), 0);
    free(c);
}

/* Every record type, in one chain, with optional fields left out. */
static void test_all_types_stored(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;

    for (size_t t = 0; t < sizeof all_types / sizeof all_types[0]; t++) {
        char buf[2048];
        size_t n;
        if (strcmp(all_types[t].type, "checkpoint") == 0)
            continue;   /* its signature has its own tests */
        for (int skip_optional = 0; skip_optional < 2; skip_optional++) {
            n = (size_t)snprintf(buf, sizeof buf, "{'type':'%s'", all_types[t].type);
            for (int i = 0; all_types[t].fields[i]; i++) {
                const char *f = all_types[t].fields[i];
                if (f[0] == '?' && skip_optional)
                    continue;
                n += (size_t)snprintf(buf + n, sizeof buf - n, ",%s", f[0] == '?' ? f + 1 : f);
            }
            snprintf(buf + n, sizeof buf - n, "}");
            event_from_json(buf, &ev);
            chain_push(c, &ev, now_ms() - HOUR_MS + (int64_t)c->n * 1000);
        }
    }
    send_range(fx, c, 1, c->n, now_ms(), &r);
    assert_counts(&r, (int)c->n, 0, 0, c->n);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(DISTINCT type) FROM records"), 8);
    free(c);
}

static size_t tamper(const char *canon, char *out);

/* Records of a batch in any order: all stored, the ack covers them all. */
static void test_out_of_order_batch(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    const char *canon[5];
    size_t lens[5], plen;
    static const int order[5] = {5, 3, 1, 4, 2};

    chain_fill(c, 5);
    for (int i = 0; i < 5; i++) {
        canon[i] = c->canon[order[i]];
        lens[i] = c->len[order[i]];
    }
    char *payload = batch_of("dev-a", canon, lens, 5, &plen);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
    free(payload);
    assert_counts(&r, 5, 0, 0, 5);
    assert_int_equal(r.alerts->count, 0);
    free(c);
}

/* The same seq twice in one batch: once as a duplicate, once as a conflict. */
static void test_same_seq_twice_in_one_batch(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char forged[RECORD_CANON_MAX];
    const char *canon[4];
    size_t lens[4], plen;

    chain_fill(c, 2);
    canon[0] = c->canon[1], lens[0] = c->len[1];
    canon[1] = c->canon[2], lens[1] = c->len[2];
    canon[2] = c->canon[2], lens[2] = c->len[2];
    lens[3] = tamper(c->canon[2], forged);
    canon[3] = forged;
    char *payload = batch_of("dev-a", canon, lens, 4, &plen);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
    free(payload);
    assert_counts(&r, 2, 1, 1, 2);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "conflict:seq=2");
    free(c);
}

/* More alert events than one commit group may publish: all stored,
 * ALERT_BATCH_MAX queued, the rest counted as dropped (for the log). Three
 * messages of 64 tampered records each, in one group. */
static void test_alert_batch_overflow(void **state)
{
    enum { PER_MSG = 64, MSGS = 3, TOTAL = PER_MSG * MSGS };
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    static char forged[TOTAL][RECORD_CANON_MAX];
    const char *canon[PER_MSG];
    size_t lens[PER_MSG], plen;

    assert_true(TOTAL > ALERT_BATCH_MAX);
    chain_fill(c, TOTAL);
    for (int m = 0; m < MSGS; m++)
        send_range(fx, c, 1 + m * PER_MSG, (m + 1) * PER_MSG, now_ms(), &r);
    assert_int_equal(ingest_group_begin(fx->in), 0);
    for (int m = 0; m < MSGS; m++) {
        for (int i = 0; i < PER_MSG; i++) {
            int k = m * PER_MSG + i;
            lens[i] = tamper(c->canon[k + 1], forged[k]);
            canon[i] = forged[k];
        }
        char *payload = batch_of("dev-a", canon, lens, PER_MSG, &plen);
        assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
        free(payload);
        assert_counts(&r, 0, 0, PER_MSG, TOTAL);
    }
    assert_int_equal(ingest_group_commit(fx->in), 0);
    assert_int_equal(ingest_alerts(fx->in)->count, ALERT_BATCH_MAX);
    assert_int_equal(ingest_alerts(fx->in)->dropped, TOTAL - ALERT_BATCH_MAX);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9' AND substr(cause, 1, 13) = 'conflict:seq='"), TOTAL);
    free(c);
}

/* The store refuses every record for which cond (on NEW) holds (a trigger
 * standing in for a failure of the store's own, a full disk under one
 * page, say): an error that running again does not cure (store_retryable
 * is false). */
static void refuse_records_when(sqldb *db, const char *cond)
{
    char sql[512];

    if (testdb_is_postgres()) {
        testdb_exec(db, "CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS "
                        "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$");
        snprintf(sql, sizeof sql, "CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW "
                 "WHEN (%s) EXECUTE FUNCTION refuse_record()", cond);
    } else {
        snprintf(sql, sizeof sql, "CREATE TRIGGER refuse BEFORE INSERT ON records "
                 "WHEN %s BEGIN SELECT RAISE(ABORT, 'refused by the test'); END", cond);
    }
    testdb_exec(db, sql);
}

static void refuse_records_of(sqldb *db, const char *device)
{
    char cond[128];

    snprintf(cond, sizeof cond, "NEW.device_id = '%s'", device);
    refuse_records_when(db, cond);
}

static void stop_refusing_records(sqldb *db)
{
    testdb_exec(db, testdb_is_postgres() ? "DROP TRIGGER refuse ON records" : "DROP TRIGGER refuse");
}

/* A group runs its messages without savepoints, two statements fewer each
 * than a careful group, and a plain message takes few; a message the store fails on there cannot be
 * undone alone (INGEST_RETRY_CAREFULLY). Run again as a careful group, it
 * is undone alone (-1, not acked) and the message before it commits. */
/* Ingests seq from..to of c inside the open group, after telling ingest the
 * device of the message that follows (NULL: none); asserts it was acked and
 * returns the round trips it waited for. */
static int64_t send_expecting(fixture *fx, const chain *c, uint64_t from, uint64_t to,
                              const char *next)
{
    char topic[128], next_topic[128];
    size_t len;
    char *payload = chain_batch(c, from, to, &len);
    ingest_result r;
    int64_t r0 = store_round_trips(fx->s);

    events_topic(c->device, topic, sizeof topic);
    if (next)
        events_topic(next, next_topic, sizeof next_topic);
    ingest_expect_next(fx->in, next ? next_topic : NULL);
    assert_int_equal(ingest_message(fx->in, topic, payload, len, now_ms(), &r), 0);
    free(payload);
    if (!r.ack)
        fail_msg("%s %" PRIu64 "..%" PRIu64 " not acked: %s", c->device, from, to, r.reason);
    return store_round_trips(fx->s) - r0;
}

/* Told the next message's device, ingest sends that device's view ahead
 * (PostgreSQL) while it stores the current one: the next message then
 * waits for no round trip at all where it waited for one (its view). The
 * view read ahead is the device's state after its messages sent before
 * (each message continues right above the stored top and is acked); a
 * next message of the same device reads its own view after this one's
 * writes; a view sent ahead for a message that does not come is dropped
 * with the group, and the device's next message reads afresh. SQLite:
 * the same outcome, nothing sent ahead. */
static void test_next_view_sent_ahead(void **state)
{
    fixture *fx = *state;
    bool pg = testdb_is_postgres();
    chain *a = chain_new("dev-a"), *n = chain_new("dev-n");
    int64_t alone, after;

    chain_fill(a, 12);
    chain_fill(n, 8);
    assert_int_equal(ingest_group_begin(fx->in), 0);
    send_expecting(fx, a, 1, 2, NULL);
    alone = send_expecting(fx, n, 1, 2, NULL);        /* its view read at once */
    assert_int_equal(ingest_group_commit(fx->in), 0);

    assert_int_equal(ingest_group_begin(fx->in), 0);
    send_expecting(fx, a, 3, 4, "dev-n");
    after = send_expecting(fx, n, 3, 4, "dev-a");
    assert_int_equal(send_expecting(fx, a, 5, 6, "dev-n"), after);
    assert_int_equal(send_expecting(fx, n, 5, 6, "dev-a"), after);
    /* The same device next: nothing sent ahead, its view read after. */
    send_expecting(fx, a, 7, 8, "dev-a");
    assert_int_equal(send_expecting(fx, a, 9, 10, "dev-n"), alone);
    assert_int_equal(ingest_group_commit(fx->in), 0);

    assert_int_equal(alone, pg ? 1 : 4);
    assert_int_equal(after, pg ? 0 : 4);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id = 'dev-a'"), 10);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id = 'dev-n'"), 6);

    /* dev-n's view was sent ahead with the last message; dev-n's next
     * message comes in the next group and reads what is stored then. */
    assert_int_equal(ingest_group_begin(fx->in), 0);
    assert_int_equal(send_expecting(fx, a, 11, 12, NULL), alone);
    assert_int_equal(send_expecting(fx, n, 7, 8, NULL), alone);
    assert_int_equal(ingest_group_commit(fx->in), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), 20);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id = 'dev-n'"), 8);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    free(a);
    free(n);
}

static void test_group_careful_only_after_a_failure(void **state)
{
    fixture *fx = *state;
    chain *a = chain_new("dev-a"), *b = chain_new("dev-b"), *n = chain_new("dev-n");
    char *pa, *pa2, *pb, *pn;
    size_t la, la2, lb, ln;
    ingest_result r;
    int64_t t0, r0, plain, like_it, like_it_trips, careful;
    int rc;

    chain_fill(a, 4);
    chain_fill(b, 2);
    chain_fill(n, 2);
    pa = chain_batch(a, 1, 2, &la);
    pa2 = chain_batch(a, 3, 4, &la2);
    pb = chain_batch(b, 1, 2, &lb);
    pn = chain_batch(n, 1, 2, &ln);
    refuse_records_of(fx->db, "dev-b");

    assert_int_equal(ingest_group_begin(fx->in), 0);
    t0 = store_statements(fx->s);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", pa, la, now_ms(), &r), 0);
    plain = store_statements(fx->s) - t0;
    assert_true(r.ack);
    /* The same again for another device, its statements prepared now. */
    t0 = store_statements(fx->s);
    r0 = store_round_trips(fx->s);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-n/events", pn, ln, now_ms(), &r), 0);
    like_it = store_statements(fx->s) - t0;
    like_it_trips = store_round_trips(fx->s) - r0;
    assert_true(r.ack);
    /* The device, its chain head, top record and open alerts are one
     * read; a message that continues right above the top record (here the
     * genesis) reads no range of links, nothing above the head is looked
     * for when the head reached the top, and the alerts no message of it
     * has to clear (none open) are not cleared: 4 statements, where the
     * range read, the head's own read, the quarantined lookup, the look
     * above the head and the two clears took six more (each a round trip
     * on PostgreSQL). */
    assert_true(plain <= 4);
    assert_int_equal(like_it, plain);
    /* PostgreSQL sends the device's lock, the record insert and the chain
     * head's update ahead: they wait for no answer of their own, the next
     * statement carries them (the device's read is the round trip left). */
    assert_int_equal(like_it_trips, testdb_is_postgres() ? plain - 3 : plain);
    rc = ingest_message(fx->in, "smp/v1/dev/dev-b/events", pb, lb, now_ms(), &r);
    if (testdb_is_postgres()) {
        /* Its insert was sent ahead: the commit finds the failure, and
         * cannot tell whose it was either. */
        assert_int_equal(rc, 0);
        assert_int_equal(ingest_group_commit(fx->in), INGEST_RETRY_CAREFULLY);
    } else {
        assert_int_equal(rc, INGEST_RETRY_CAREFULLY);
        assert_false(r.ack);
        ingest_group_rollback(fx->in);
    }
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), 0);

    assert_int_equal(ingest_group_begin(fx->in), 0);
    ingest_group_careful(fx->in);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", pa, la, now_ms(), &r), 0);
    assert_true(r.ack);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-b/events", pb, lb, now_ms(), &r), -1);
    assert_false(r.ack);
    t0 = store_statements(fx->s);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", pa2, la2, now_ms(), &r), 0);
    careful = store_statements(fx->s) - t0;
    assert_true(r.ack);
    assert_int_equal(ingest_group_commit(fx->in), 0);

    assert_int_equal(careful, plain + 2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id = 'dev-a'"), 4);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id = 'dev-b'"), 0);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id = 'dev-a'"), 4);
    free(pa);
    free(pa2);
    free(pb);
    free(pn);
    free(a);
    free(b);
    free(n);
}

/* A careful group's failed message is undone whole, its move of the chain
 * head with it: the head stays below the records that were undone (else
 * the next ack would tell the agent to delete them). On PostgreSQL the
 * refused insert, sent ahead, is found only at the savepoint's release,
 * after the message had moved the head. The resend then fills the hole
 * and one group moves the head over all of it. */
static void test_careful_failed_message_leaves_the_head_below_it(void **state)
{
    fixture *fx = *state;
    chain *a = chain_new("dev-a");
    char *p1, *p2, *p3;
    size_t l1, l2, l3;
    ingest_result r;

    chain_fill(a, 6);
    p1 = chain_batch(a, 1, 2, &l1);
    p2 = chain_batch(a, 3, 4, &l2);
    p3 = chain_batch(a, 5, 6, &l3);
    refuse_records_when(fx->db, "NEW.device_id = 'dev-a' AND NEW.seq = 4");

    assert_int_equal(ingest_group_begin(fx->in), 0);
    ingest_group_careful(fx->in);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", p1, l1, now_ms(), &r), 0);
    assert_int_equal(r.ack_seq, 2);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", p2, l2, now_ms(), &r), -1);
    assert_false(r.ack);
    assert_int_equal(ingest_group_commit(fx->in), 0);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id = 'dev-a'"), 2);
    assert_int_equal(record_count(fx, "dev-a"), 2);

    stop_refusing_records(fx->db);
    assert_int_equal(ingest_group_begin(fx->in), 0);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", p3, l3, now_ms(), &r), 0);
    assert_int_equal(r.ack_seq, 2);
    assert_int_equal(ingest_message(fx->in, "smp/v1/dev/dev-a/events", p2, l2, now_ms(), &r), 0);
    assert_int_equal(r.ack_seq, 6);
    assert_int_equal(ingest_group_commit(fx->in), 0);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id = 'dev-a'"), 6);
    free(p1);
    free(p2);
    free(p3);
    free(a);
}

/* ---- c. gaps ---------------------------------------------------------------- */

static void test_gap_ack_waits_and_alert(void **state)
{
    fixture *fx = *state;
    ingest_limits l = default_limits;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char ev[ALERT_EVIDENCE_MAX];

    l.integrity.gap_grace_ms = 0;
    fx_limits(fx, &l);
    chain_fill(c, 10);

    send_range(fx, c, 1, 5, now_ms(), &r);
    assert_counts(&r, 5, 0, 0, 5);
    assert_int_equal(r.alerts->count, 0);

    send_range(fx, c, 8, 10, now_ms() + 1000, &r);
    assert_counts(&r, 3, 0, 0, 5);
    assert_int_equal(record_count(fx, "dev-a"), 8);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "gap");
    assert_string_equal(r.alerts->events[0].a.device, "dev-a");
    assert_string_equal(r.alerts->events[0].a.clinic, "clinic-1");
    assert_string_equal(r.alerts->events[0].a.severity, "integrity");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_non_null(strstr(r.alerts->events[0].a.evidence, "\"missing_seq\":6"));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9' AND cause='gap' "
                               "AND device_id='dev-a' AND cleared_at IS NULL"), 1);
    q_text(fx, ev, sizeof ev, "SELECT evidence FROM alerts WHERE cause='gap'");
    assert_non_null(strstr(ev, "\"missing_seq\":6"));

    /* the gap persists: raised once, not per message */
    send_range(fx, c, 9, 10, now_ms() + 2000, &r);
    assert_counts(&r, 0, 2, 0, 5);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(alert_rows(fx, "R9", "gap"), 1);

    /* filling it moves the ack over everything and clears the alert */
    send_range(fx, c, 6, 7, now_ms() + 3000, &r);
    assert_counts(&r, 2, 0, 0, 10);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_CLEARED, "R9", "gap");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE cause='gap' AND cleared_at IS NOT NULL"), 1);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 10);
    /* no chain break was reported on the way */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 1);
    free(c);
}

/* With the default grace a young gap raises nothing; one older than the
 * grace does, on the device's next message. */
static void test_gap_grace(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;

    chain_fill(c, 12);
    send_range(fx, c, 1, 5, now_ms(), &r);
    send_range(fx, c, 8, 10, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 5);
    assert_int_equal(r.alerts->count, 0);
    send_range(fx, c, 8, 10, now_ms() + 599 * 1000, &r);
    assert_int_equal(r.alerts->count, 0);
    send_range(fx, c, 11, 12, now_ms() + 600 * 1000, &r);
    assert_counts(&r, 2, 0, 0, 5);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "gap");
    free(c);
}

/* ---- d. tampered resend ---------------------------------------------------- */

/* A copy of canonical record text with one payload field changed, same seq
 * and prev. */
static size_t tamper(const char *canon, char *out)
{
    char *text = strdup(canon);
    cJSON *obj = cJSON_Parse(text);
    record r;
    record_error err;

    assert_non_null(obj);
    assert_int_equal(record_from_json(obj, RECORD_FULL, "", &r, &err), 0);
    for (size_t i = 0; i < r.nfields; i++) {
        field_value *v = &r.fields[i];
        if (!v->present)
            continue;
        if (v->spec->kind == FK_STR) {
            size_t n = strlen(v->s);
            v->s[n > 120 ? 120 : n] = '\0';
            strcat(v->s, "-x");
            break;
        }
        if (v->spec->kind == FK_UINT) {
            v->i = v->i > v->spec->min ? v->i - 1 : v->i + 1;
            break;
        }
    }
    int n = record_canonical(&r, out, RECORD_CANON_MAX);
    assert_true(n > 0);
    assert_string_not_equal(out, canon);
    cJSON_Delete(obj);
    free(text);
    return (size_t)n;
}

static void test_tampered_resend_conflict_once(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char forged[RECORD_CANON_MAX], forged_hash[RECORD_HASH_HEX], got[RECORD_CANON_MAX + 1];

    chain_fill(c, 10);
    send_range(fx, c, 1, 10, now_ms(), &r);
    size_t flen = tamper(c->canon[7], forged);
    record_sha256_hex(forged, flen, forged_hash);

    send_one(fx, "dev-a", forged, flen, now_ms() + 1000, &r);
    assert_counts(&r, 0, 0, 1, 10);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "conflict:seq=7");
    assert_string_equal(r.alerts->events[0].a.clinic, "clinic-1");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_non_null(strstr(r.alerts->events[0].a.evidence, c->hash[7]));
    assert_non_null(strstr(r.alerts->events[0].a.evidence, forged_hash));
    assert_int_equal(alert_rows(fx, "R9", "conflict:seq=7"), 1);

    /* the stored record is untouched */
    q_text(fx, got, sizeof got, "SELECT body FROM records WHERE device_id='dev-a' AND seq=7");
    assert_string_equal(got, c->canon[7]);
    q_text(fx, got, sizeof got, "SELECT hash FROM records WHERE device_id='dev-a' AND seq=7");
    assert_string_equal(got, c->hash[7]);

    /* again: still a conflict, but the alert is not raised a second time */
    send_one(fx, "dev-a", forged, flen, now_ms() + 2000, &r);
    assert_counts(&r, 0, 0, 1, 10);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(alert_rows(fx, "R9", "conflict:seq=7"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 1);

    /* the genuine record is still a plain duplicate */
    send_range(fx, c, 7, 7, now_ms() + 3000, &r);
    assert_counts(&r, 0, 1, 0, 10);
    assert_int_equal(r.alerts->count, 0);
    free(c);
}

/* ---- e. broken chain --------------------------------------------------------- */

static void check_chain_break_evidence(const char *evidence, uint64_t seq, const char *prev,
                                       const char *hash_of_previous)
{
    cJSON *ev = cJSON_Parse(evidence);
    if (!ev)
        fail_msg("evidence is not JSON: %s", evidence);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ev, "seq");
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(ev, "prev");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(ev, "hash_of_previous");
    assert_true(cJSON_IsNumber(s));
    assert_int_equal((uint64_t)s->valuedouble, seq);
    assert_true(cJSON_IsString(p) && cJSON_IsString(h));
    assert_string_equal(p->valuestring, prev);
    assert_string_equal(h->valuestring, hash_of_previous);
    cJSON_Delete(ev);
}

static void test_chain_break(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;
    char canon[RECORD_CANON_MAX], hash[RECORD_HASH_HEX], got[ALERT_EVIDENCE_MAX];
    size_t len;

    chain_fill(c, 3);
    send_range(fx, c, 1, 3, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 3);

    /* seq 4 claims the hash of seq 2 as its prev */
    default_event(4, &ev);
    seal(&ev, 4, c->hash[2], now_ms() - 1000, canon, &len, hash);
    send_one(fx, "dev-a", canon, len, now_ms(), &r);
    assert_counts(&r, 1, 0, 0, 3);                   /* kept as evidence, never acked */
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "chain-break:seq=4");
    check_chain_break_evidence(r.alerts->events[0].a.evidence, 4, c->hash[2], c->hash[3]);
    q_text(fx, got, sizeof got, "SELECT evidence FROM alerts WHERE cause='chain-break:seq=4'");
    check_chain_break_evidence(got, 4, c->hash[2], c->hash[3]);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 3);

    /* the genuine seq 4 now conflicts with the broken one; the ack stays */
    chain_fill(c, 4);
    send_range(fx, c, 4, 4, now_ms() + 1000, &r);
    assert_counts(&r, 0, 0, 1, 3);
    assert_event(&r, 0, ALERT_RAISED, "R9", "conflict:seq=4");
    free(c);
}

/* The break is found whichever side arrives second: seq 6 stored first,
 * then a seq 5 that seq 6 does not point at. */
static void test_chain_break_found_from_the_later_record(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;
    char canon[RECORD_CANON_MAX], hash[RECORD_HASH_HEX];
    size_t len;

    chain_fill(c, 6);
    send_range(fx, c, 1, 4, now_ms(), &r);
    send_range(fx, c, 6, 6, now_ms(), &r);
    assert_counts(&r, 1, 0, 0, 4);
    assert_int_equal(r.alerts->count, 0);

    /* a different seq 5 that still links to seq 4 */
    default_event(5, &ev);
    assert_int_equal(record_set_str(&ev, "session_id", "S-other"), 0);
    seal(&ev, 5, c->hash[4], now_ms() - 1000, canon, &len, hash);
    assert_string_not_equal(hash, c->hash[5]);
    send_one(fx, "dev-a", canon, len, now_ms(), &r);
    /* Stored as evidence, but not acked: seq 6 was chained to another 5,
     * which the agent must keep (test_stray_filling_a_gap_is_never_acked). */
    assert_counts(&r, 1, 0, 0, 4);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "chain-break:seq=6");
    check_chain_break_evidence(r.alerts->events[0].a.evidence, 6, c->hash[5], hash);
    free(c);
}

static void test_chain_break_seq1_not_genesis(void **state)
{
    fixture *fx = *state;
    ingest_result r;
    record ev;
    char canon[RECORD_CANON_MAX], hash[RECORD_HASH_HEX];
    size_t len;

    default_event(1, &ev);
    seal(&ev, 1, "1111111111111111111111111111111111111111111111111111111111111111",
         now_ms() - 1000, canon, &len, hash);
    send_one(fx, "dev-a", canon, len, now_ms(), &r);
    assert_counts(&r, 1, 0, 0, 0);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "chain-break:seq=1");
}

/* ---- f. checkpoints ---------------------------------------------------------- */

/* Appends a checkpoint of head (seq, hash) signed by key_file as device,
 * timed ts_ms. */
static void push_checkpoint_at(chain *c, const char *key_file, const char *sign_as,
                               uint64_t head_seq, const char *head_hash, int64_t ts_ms)
{
    signer *sg = NULL;
    char err[256], msg[256], sig[SIGN_B64_MAX], expect[256];
    record r;

    if (signer_open(key_file, &sg, err, sizeof err) != 0)
        fail_msg("signer_open %s: %s", key_file, err);
    int len = sign_checkpoint_message(sign_as, head_seq, head_hash, msg, sizeof msg);
    snprintf(expect, sizeof expect, "smp-ckpt-v1|%s|%llu|%s", sign_as, (unsigned long long)head_seq,
             head_hash);
    assert_int_equal(len, (int)strlen(expect));
    assert_string_equal(msg, expect);
    if (signer_sign(sg, msg, (size_t)len, sig, err, sizeof err) != 0)
        fail_msg("signer_sign: %s", err);
    signer_free(sg);
    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)head_seq);
    record_set_str(&r, "head_hash", head_hash);
    record_set_str(&r, "sig", sig);
    chain_push(c, &r, ts_ms);
}

/* The same, timed like chain_fill's records. */
static void push_checkpoint(chain *c, const char *key_file, const char *sign_as, uint64_t head_seq,
                            const char *head_hash)
{
    push_checkpoint_at(c, key_file, sign_as, head_seq, head_hash,
                       now_ms() - HOUR_MS + (int64_t)(c->n + 1) * 1000);
}

static void test_checkpoint_valid(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;

    chain_fill(c, 5);
    push_checkpoint(c, g_key_a, "dev-a", 5, c->hash[5]);
    chain_fill(c, 8);
    send_range(fx, c, 1, 8, now_ms(), &r);
    assert_counts(&r, 8, 0, 0, 8);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE type='checkpoint'"), 1);
    /* Queued with the record, verified after the commit. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE device_id = 'dev-a' "
                               "AND head_seq = 5 AND state = 'pending' AND checked_at IS NULL"), 1);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE head_seq = 5 "
                               "AND state = 'verified' AND checked_at = '%s'", NOW_TS), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    free(c);
}

static void test_checkpoint_wrong_key(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;

    chain_fill(c, 5);
    push_checkpoint(c, g_key_b, "dev-a", 5, c->hash[5]);
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_counts(&r, 6, 0, 0, 6);     /* stored and chained: the record itself is intact */
    assert_int_equal(r.alerts->count, 0);   /* acked before its signature is checked */
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "checkpoint:seq=6");
    assert_string_equal(r.alerts->events[0].a.message,
                        "checkpoint signature does not verify with the device's registered key");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_int_equal(alert_rows(fx, "R9", "checkpoint:seq=6"), 1);
    free(c);
}

/* dev-a's key signing dev-b's statement is not dev-a's checkpoint either. */
static void test_checkpoint_signed_for_other_device(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;

    chain_fill(c, 5);
    push_checkpoint(c, g_key_a, "dev-b", 5, c->hash[5]);
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_int_equal(r.alerts->count, 0);
    verify_pending(fx, &r);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "checkpoint:seq=6");
    free(c);
}

static void test_checkpoint_wrong_head(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;

    chain_fill(c, 5);
    /* head_hash is seq 4's hash while prev (the record before) is seq 5 */
    push_checkpoint(c, g_key_a, "dev-a", 5, c->hash[4]);
    /* head_hash is the right one (seq 6's) but head_seq says 4 */
    push_checkpoint(c, g_key_a, "dev-a", 4, c->hash[6]);
    send_range(fx, c, 1, 7, now_ms(), &r);
    assert_counts(&r, 7, 0, 0, 7);
    /* Checked at the commit (no crypto): raised with the records. */
    assert_int_equal(r.alerts->count, 2);
    assert_event(&r, 0, ALERT_RAISED, "R9", "checkpoint:seq=6");
    assert_string_equal(r.alerts->events[0].a.message, "checkpoint does not describe the record before it");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_event(&r, 1, ALERT_RAISED, "R9", "checkpoint:seq=7");
    assert_string_equal(r.alerts->events[1].a.message, "checkpoint does not describe the record before it");
    /* No signature can make them right: not queued for the verifier. */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints"), 0);
    free(c);
}

static void test_checkpoint_no_certificate(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-n");
    ingest_result r;

    chain_fill(c, 5);
    push_checkpoint(c, g_key_a, "dev-n", 5, c->hash[5]);
    chain_fill(c, 7);
    push_checkpoint(c, g_key_a, "dev-n", 7, c->hash[7]);
    send_range(fx, c, 1, 8, now_ms(), &r);
    assert_counts(&r, 8, 0, 0, 8);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(verify_pending(fx, &r), 2);
    assert_int_equal(r.alerts->count, 1);        /* one cause for the device, not per checkpoint */
    assert_event(&r, 0, ALERT_RAISED, "R9", "no-certificate");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_string_equal(r.alerts->events[0].a.evidence, "{\"seq\":6}");
    assert_int_equal(alert_rows(fx, "R9", "no-certificate"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'failed'"), 2);
    free(c);
}

/* A registered certificate that does not parse: every checkpoint is flagged,
 * with the reason in the evidence. */
static void test_checkpoint_unparsable_certificate(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-g");
    ingest_result r;

    add_device(fx, "dev-g", "clinic-1", "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n",
               false);
    chain_fill(c, 2);
    push_checkpoint(c, g_key_a, "dev-g", 2, c->hash[2]);
    send_range(fx, c, 1, 3, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 3);
    assert_int_equal(r.alerts->count, 0);
    verify_pending(fx, &r);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "checkpoint:seq=3");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_non_null(strstr(r.alerts->events[0].a.evidence, "cannot be parsed"));
    free(c);
}

/* ---- f2. checkpoints across a certificate renewal ---------------------------- */

/* dev-k registered with its first certificate, then switched to the
 * renewed one through the registry (smpctl device replace) at until_ms. */
static void switch_k(fixture *fx, int64_t until_ms)
{
    char until[RECORD_TS_LEN + 1], err[512];
    registry_cert_change change;

    record_ts_format(until_ms, until);
    if (registry_set_cert(fx->db, "dev-k", g_cert_kb, until, false, &change, err, sizeof err) != 0)
        fail_msg("registry_set_cert: %s", err);
    assert_int_equal(change, REGISTRY_CERT_REPLACED);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM device_cert_history WHERE device_id = 'dev-k'"),
                     1);
}

static int64_t evidence_int(const char *evidence, const char *key)
{
    cJSON *o = cJSON_Parse(evidence);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t n;

    if (!cJSON_IsNumber(v))
        fail_msg("evidence has no number %s: %s", key, evidence);
    n = (int64_t)v->valuedouble;
    cJSON_Delete(o);
    return n;
}

/* After `device replace`, the old key's backlog and its checkpoints until
 * the new pair is installed still verify (from the history), the new key's
 * verify (current), an unrelated key's do not: R9 on that checkpoint alone. */
static void test_checkpoint_across_certificate_switch(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-k");
    int64_t switch_ms = now_ms() - 30 * 60 * 1000;
    ingest_result r;

    add_device(fx, "dev-k", "clinic-1", g_cert_ka, false);
    chain_fill(c, 5);
    push_checkpoint(c, g_key_ka, "dev-k", 5, c->hash[5]);               /* 6: A, before */
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_counts(&r, 6, 0, 0, 6);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);

    switch_k(fx, switch_ms);
    /* The journal's backlog, signed with A before the switch. */
    chain_fill(c, 8);
    push_checkpoint(c, g_key_ka, "dev-k", 8, c->hash[8]);               /* 9 */
    send_range(fx, c, 7, 9, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 9);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    /* Signed with A after the switch: the new pair is not installed yet. */
    chain_fill(c, 10);
    push_checkpoint_at(c, g_key_ka, "dev-k", 10, c->hash[10], switch_ms + 20 * 60 * 1000); /* 11 */
    send_range(fx, c, 10, 11, now_ms(), &r);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    /* The new key. */
    chain_fill(c, 12);
    push_checkpoint(c, g_key_kb, "dev-k", 12, c->hash[12]);             /* 13: B */
    send_range(fx, c, 12, 13, now_ms(), &r);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    /* A key that never was dev-k's. */
    chain_fill(c, 14);
    push_checkpoint(c, g_key_b, "dev-k", 14, c->hash[14]);              /* 15: C */
    chain_fill(c, 16);
    send_range(fx, c, 14, 16, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 16);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "checkpoint:seq=15");
    assert_string_equal(r.alerts->events[0].a.message,
                        "checkpoint signature does not verify with the device's registered key");
    assert_int_equal(evidence_int(r.alerts->events[0].a.evidence, "seq"), 15);
    assert_int_equal(evidence_int(r.alerts->events[0].a.evidence, "previous_certificates_tried"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 1);
    assert_int_equal(alert_rows(fx, "R9", "checkpoint:seq=15"), 1);
    free(c);
}

/* A previous certificate verifies only checkpoints timed less than a week
 * after it was replaced: an old key is not trusted for ever. */
static void test_checkpoint_previous_certificate_after_grace(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-k");
    ingest_result r;

    add_device(fx, "dev-k", "clinic-1", g_cert_ka, false);
    /* Replaced 8 days before the checkpoints are signed (an hour ago). */
    switch_k(fx, now_ms() - HOUR_MS - 8 * DAY_MS);
    chain_fill(c, 5);
    push_checkpoint(c, g_key_ka, "dev-k", 5, c->hash[5]);               /* 6: A, too late */
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_int_equal(r.alerts->count, 0);
    verify_pending(fx, &r);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "checkpoint:seq=6");
    assert_int_equal(evidence_int(r.alerts->events[0].a.evidence, "previous_certificates_tried"), 0);
    chain_fill(c, 7);
    push_checkpoint(c, g_key_kb, "dev-k", 7, c->hash[7]);               /* 8: B */
    send_range(fx, c, 7, 8, now_ms(), &r);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    free(c);
}

/* Six days after the switch is still inside the grace. */
static void test_checkpoint_previous_certificate_within_grace(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-k");
    ingest_result r;

    add_device(fx, "dev-k", "clinic-1", g_cert_ka, false);
    switch_k(fx, now_ms() - HOUR_MS - 6 * DAY_MS);
    chain_fill(c, 5);
    push_checkpoint(c, g_key_ka, "dev-k", 5, c->hash[5]);
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_counts(&r, 6, 0, 0, 6);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'verified'"), 1);
    free(c);
}

/* ---- g. R10: device clock ahead ---------------------------------------------- */

static void test_clock_ahead_raised_once_then_cleared(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;

    default_event(1, &ev);
    chain_push(c, &ev, now_ms() + 10 * 60 * 1000);
    send_range(fx, c, 1, 1, now_ms(), &r);
    assert_counts(&r, 1, 0, 0, 1);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R10", "clock-ahead");
    assert_string_equal(r.alerts->events[0].a.severity, "warning");
    assert_string_equal(r.alerts->events[0].a.message, "device clock is 600 s ahead of the collector");
    assert_evidence_json(r.alerts->events[0].a.evidence);

    /* still ahead: the same cause, not raised again */
    default_event(2, &ev);
    chain_push(c, &ev, now_ms() + 11 * 60 * 1000);
    send_range(fx, c, 2, 2, now_ms() + 1000, &r);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(alert_rows(fx, "R10", "clock-ahead"), 1);

    /* a record timed at the receive time: the clock is right again */
    default_event(3, &ev);
    chain_push(c, &ev, now_ms() + 2000);
    send_range(fx, c, 3, 3, now_ms() + 2000, &r);
    assert_counts(&r, 1, 0, 0, 3);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_CLEARED, "R10", "clock-ahead");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R10' AND cleared_at IS NOT NULL"), 1);
    free(c);
}

static void test_clock_within_limit_no_alert(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;

    default_event(1, &ev);
    chain_push(c, &ev, now_ms() + 300000);        /* exactly clock_skew_ms ahead */
    send_range(fx, c, 1, 1, now_ms(), &r);
    assert_int_equal(r.alerts->count, 0);
    default_event(2, &ev);
    chain_push(c, &ev, now_ms() - 3 * DAY_MS);    /* a backlog: far behind is no alert */
    send_range(fx, c, 2, 2, now_ms(), &r);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    free(c);
}

/* ---- h. bounded quarantine ----------------------------------------------------- */

static void test_quarantine_bounded(void **state)
{
    fixture *fx = *state;
    ingest_limits l = default_limits;
    ingest_result r;

    l.quarantine_max_rows = 5;
    fx_limits(fx, &l);
    for (int i = 1; i <= 12; i++) {
        char payload[64];
        int n = snprintf(payload, sizeof payload, "not json #%02d", i);
        assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, (size_t)n,
                                       now_ms() + i, &r), 0);
        assert_true(r.quarantined);
    }
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), 5);
    /* the newest five */
    for (int i = 8; i <= 12; i++) {
        char payload[64];
        snprintf(payload, sizeof payload, "not json #%02d", i);
        assert_int_equal(q_count_blob(fx, "SELECT COUNT(*) FROM quarantine WHERE payload = ?1",
                                      payload, strlen(payload)), 1);
    }
    assert_int_equal(quarantine_count(fx, "payload: not valid JSON"), 12);
}

/* The payload kept is cut at quarantine_payload_bytes. */
static void test_quarantine_payload_cut(void **state)
{
    fixture *fx = *state;
    ingest_limits l = default_limits;
    ingest_result r;
    char payload[100];

    l.quarantine_payload_bytes = 10;
    fx_limits(fx, &l);
    memset(payload, 'z', sizeof payload);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, sizeof payload,
                                   now_ms(), &r), 0);
    assert_true(r.quarantined);
    assert_int_equal(q_int(fx, "SELECT length(payload) FROM quarantine"), 10);
}

/* ---- i. one device's bad message does not hold up another -------------------- */

static void test_bad_device_does_not_block_others(void **state)
{
    fixture *fx = *state;
    chain *a = chain_new("dev-a"), *b = chain_new("dev-b");
    ingest_result r;
    char *bad = jsonq(ENV("{'ts':'" TS1 "','prev':'" Z64 "'," GRIP "}"));   /* no seq: not a record */

    chain_fill(a, 3);
    chain_fill(b, 4);
    send_range(fx, a, 1, 3, now_ms(), &r);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", bad, strlen(bad), now_ms(), &r), 0);
    assert_true(r.quarantined);
    assert_string_equal(r.reason, "records[0].seq: required");

    send_range(fx, b, 1, 4, now_ms(), &r);
    assert_counts(&r, 4, 0, 0, 4);
    assert_string_equal(r.device, "dev-b");
    assert_int_equal(record_count(fx, "dev-b"), 4);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-b'"), 4);
    /* dev-a is unaffected too and carries on */
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 3);
    chain_fill(a, 5);
    send_range(fx, a, 4, 5, now_ms(), &r);
    assert_counts(&r, 2, 0, 0, 5);
    /* the same seq numbers on two devices are independent */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE seq = 1"), 2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    free(bad);
    free(a);
    free(b);
}

/* A record that breaks the record schema but whose seq is readable (here
 * seq 3's prev in upper case) is quarantined alone with its seq and exact
 * bytes; the records around it are stored. The chain passes over it by the
 * hash of those bytes (what the agent hashed), so the ack moves on and the
 * agent is never stuck resending it. */
static void test_bad_record_quarantined_alone(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char canon_bad[RECORD_CANON_MAX], hash_bad[RECORD_HASH_HEX];
    const char *canon[5];
    size_t lens[5], plen;

    chain_fill(c, 3);
    snprintf(canon_bad, sizeof canon_bad, "%s", c->canon[3]);
    /* turn seq 3's "prev" into uppercase hex: invalid */
    char *p = strstr(canon_bad, "\"prev\":\"");
    assert_non_null(p);
    for (p += 8; *p != '"'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    /* seq 4 and 5 were chained by the agent onto the bytes it sent as seq 3 */
    memcpy(c->canon[3], canon_bad, strlen(canon_bad) + 1);
    c->len[3] = strlen(canon_bad);
    record_sha256_hex(canon_bad, c->len[3], hash_bad);
    memcpy(c->hash[3], hash_bad, RECORD_HASH_HEX);
    chain_fill(c, 5);
    for (int i = 0; i < 5; i++) {
        canon[i] = c->canon[i + 1];
        lens[i] = c->len[i + 1];
    }
    char *payload = batch_of("dev-a", canon, lens, 5, &plen);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
    assert_false(r.quarantined);
    assert_int_equal(r.rejected, 1);
    assert_counts(&r, 4, 0, 0, 5);
    assert_int_equal(record_count(fx, "dev-a"), 4);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id='dev-a' AND seq=3"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), 0);
    {
        char sql[512];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM quarantined_records WHERE device_id='dev-a' "
                 "AND seq=3 AND reason='records[2].prev: must be 64 lowercase hex digits' "
                 "AND hash='%s' AND body = ?1", hash_bad);
        assert_int_equal(q_count_blob(fx, sql, canon_bad, strlen(canon_bad)), 1);
    }
    assert_int_equal(quarantine_count(fx, "records[].prev: must be 64 lowercase hex digits"), 1);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R9", "rejected:seq=3");
    assert_evidence_json(r.alerts->events[0].a.evidence);
    assert_int_equal(evidence_int(r.alerts->events[0].a.evidence, "seq"), 3);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 5);

    /* the agent's resend before it saw the ack: nothing new, counted once */
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
    assert_int_equal(r.rejected, 1);
    assert_counts(&r, 0, 4, 0, 5);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(quarantine_count(fx, "records[].prev: must be 64 lowercase hex digits"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantined_records"), 1);
    free(payload);
    free(c);
}

/* ---- j. stalls: the collector never wedges a genuine device ------------------- */

/* Re-seals seq `seq` of c at ts_ms (the records after it must be pushed
 * again: call before chain_fill goes past it). */
static void push_at(chain *c, int64_t ts_ms)
{
    record ev;
    default_event(c->n + 1, &ev);
    chain_push(c, &ev, ts_ms);
}

/* A record timed 2 days ahead (beyond future_skew_s) in the middle of a
 * batch: every record is stored, the ack passes it, R10 future-ts is raised
 * once with the device ts and the receive time, and cleared by the next
 * record timed near the receive time. */
static void test_future_ts_mid_batch_stored_and_acked(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char future_ts[RECORD_TS_LEN + 1];
    const alert_event *ev = NULL;

    chain_fill(c, 2);
    push_at(c, now_ms() + 2 * DAY_MS);                    /* seq 3 */
    record_ts_format(now_ms() + 2 * DAY_MS, future_ts);
    push_at(c, now_ms() - 1000);                          /* seq 4: clock right again */
    push_at(c, now_ms());                                 /* seq 5 */
    send_range(fx, c, 1, 5, now_ms(), &r);
    assert_counts(&r, 5, 0, 0, 5);
    assert_int_equal(r.rejected, 0);
    assert_int_equal(record_count(fx, "dev-a"), 5);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), 0);
    assert_int_equal(quarantine_total(fx), 0);
    /* R10 clock-ahead (the clock) and R10 future-ts (this record's time is
     * beyond what the collector trusts), both cleared by seq 4 */
    assert_int_equal(r.alerts->count, 4);
    assert_event(&r, 0, ALERT_RAISED, "R10", "clock-ahead");
    assert_event(&r, 1, ALERT_RAISED, "R10", "future-ts");
    assert_event(&r, 2, ALERT_CLEARED, "R10", "clock-ahead");
    assert_event(&r, 3, ALERT_CLEARED, "R10", "future-ts");
    ev = &r.alerts->events[1];
    assert_string_equal(ev->a.severity, "integrity");
    assert_string_equal(ev->a.device, "dev-a");
    assert_string_equal(ev->a.message,
                        "record timed 172800 s ahead of the collector, beyond future_skew_s "
                        "(86400 s): stored and acked, its time is not trusted");
    assert_evidence_json(ev->a.evidence);
    assert_int_equal(evidence_int(ev->a.evidence, "seq"), 3);
    assert_int_equal(evidence_int(ev->a.evidence, "ahead_s"), 172800);
    assert_non_null(strstr(ev->a.evidence, future_ts));
    assert_non_null(strstr(ev->a.evidence, "\"received_at\":\"" NOW_TS "\""));
    assert_int_equal(alert_rows(fx, "R10", "future-ts"), 1);

    /* the agent resends the batch (it had not seen the ack): duplicates,
     * nothing raised again */
    send_range(fx, c, 1, 5, now_ms() + 1000, &r);
    assert_counts(&r, 0, 5, 0, 5);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(alert_rows(fx, "R10", "future-ts"), 1);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 5);
    free(c);
}

/* A good record after a bad one in the same batch is stored the first time
 * the batch arrives, whatever the bad one is (far-future ts, schema
 * violation); resending the batch changes nothing. */
static void test_good_after_bad_stored_first_time(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char canon_bad[RECORD_CANON_MAX];

    chain_fill(c, 1);
    push_at(c, now_ms() + 3 * DAY_MS);                    /* seq 2: far future */
    /* seq 3: a field this collector does not know (a newer agent) */
    chain_fill(c, 3);
    snprintf(canon_bad, sizeof canon_bad, "%.*s,\"colour\":\"red\"}", (int)c->len[3] - 1, c->canon[3]);
    memcpy(c->canon[3], canon_bad, strlen(canon_bad) + 1);
    c->len[3] = strlen(canon_bad);
    record_sha256_hex(canon_bad, c->len[3], c->hash[3]);
    chain_fill(c, 6);
    for (int round = 0; round < 3; round++) {
        send_range(fx, c, 1, 6, now_ms() + round * 1000, &r);
        assert_int_equal(r.rejected, 1);
        assert_int_equal(r.ack_seq, 6);
        assert_int_equal(r.stored, round == 0 ? 5 : 0);
        assert_int_equal(r.duplicates, round == 0 ? 0 : 5);
        assert_int_equal(record_count(fx, "dev-a"), 5);
    }
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id='dev-a' AND seq IN (4,5,6)"), 3);
    assert_int_equal(q_int(fx, "SELECT seq FROM quarantined_records WHERE reason = "
                               "'records[2].colour: unknown field for this record type'"), 3);
    assert_int_equal(alert_rows(fx, "R10", "future-ts"), 1);
    assert_int_equal(alert_rows(fx, "R9", "rejected:seq=3"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM quarantine"), 0);
    free(c);
}

/* A stray seq 4 that does not link (R9 chain-break) makes the genuine seq 4
 * a conflict and holds the ack at 3 however often the agent resends.
 * `smpctl device recover-chain dev-a --from-seq 4` moves the stored records
 * from seq 4 on to superseded_records (kept, with who, when and why), and
 * the agent's next resend stores the genuine ones: the ack moves to 6. */
/* A stray record that fills a gap and links back, arriving after the
 * genuine successor: acking it would make the agent delete its own record
 * of that seq, so the head holds until the operator recovers the chain. */
static void test_stray_filling_a_gap_is_never_acked(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;
    char canon[RECORD_CANON_MAX], stray_hash[RECORD_HASH_HEX], err[512], now_ts[RECORD_TS_LEN + 1];
    size_t len;
    device_recovery rec;

    chain_fill(c, 5);
    send_range(fx, c, 1, 3, now_ms(), &r);
    send_range(fx, c, 5, 5, now_ms(), &r);   /* 4's batch lost: a gap */
    assert_counts(&r, 1, 0, 0, 3);

    default_event(4, &ev);
    assert_int_equal(record_set_str(&ev, "session_id", "S-stray"), 0);
    seal(&ev, 4, c->hash[3], now_ms() - 1000, canon, &len, stray_hash);   /* links back to 3 */
    send_one(fx, "dev-a", canon, len, now_ms(), &r);
    assert_int_equal(r.stored, 1);
    assert_int_equal(r.ack_seq, 3);   /* not 4: 5 was chained to another 4 */
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 3);

    /* the agent still holds its 4 and resends it: a conflict, still 3 */
    send_range(fx, c, 4, 5, now_ms() + 1000, &r);
    assert_int_equal(r.conflicts, 1);
    assert_int_equal(r.ack_seq, 3);
    assert_int_equal(alert_rows(fx, "R9", "conflict:seq=4"), 1);

    record_ts_format(now_ms() + 5000, now_ts);
    assert_int_equal(device_recover_chain(fx->db, "dev-a", 4, "J. Smith", "stray seq 4", now_ts, &rec,
                                          err, sizeof err), 0);
    assert_int_equal(rec.records_moved, 2);   /* the stray 4 and the genuine 5 */
    send_range(fx, c, 4, 5, now_ms() + 6000, &r);
    assert_int_equal(r.ack_seq, 5);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id='dev-a' AND seq=4 AND hash='%s'",
                           c->hash[4]), 1);
    free(c);
}

static void test_recover_chain_after_non_linking_record(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    record ev;
    char canon[RECORD_CANON_MAX], stray_hash[RECORD_HASH_HEX], err[512], now_ts[RECORD_TS_LEN + 1];
    size_t len;
    device_recovery rec;

    chain_fill(c, 6);
    send_range(fx, c, 1, 3, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 3);

    default_event(4, &ev);
    assert_int_equal(record_set_str(&ev, "session_id", "S-stray"), 0);
    seal(&ev, 4, c->hash[2], now_ms() - 1000, canon, &len, stray_hash);
    send_one(fx, "dev-a", canon, len, now_ms(), &r);
    assert_counts(&r, 1, 0, 0, 3);
    assert_event(&r, 0, ALERT_RAISED, "R9", "chain-break:seq=4");

    /* the genuine 4..6, resent again and again: wedged at 3 */
    for (int round = 0; round < 3; round++) {
        send_range(fx, c, 4, 6, now_ms() + 1000 + round, &r);
        assert_int_equal(r.conflicts, 1);
        assert_int_equal(r.ack_seq, 3);
    }
    assert_int_equal(alert_rows(fx, "R9", "conflict:seq=4"), 1);

    /* refused: seq 3 is acked (the agent no longer holds it), unknown device,
     * no --by */
    record_ts_format(now_ms() + 5000, now_ts);
    assert_int_equal(device_recover_chain(fx->db, "dev-a", 3, "J. Smith", "stray", now_ts, &rec, err,
                                          sizeof err), -1);
    assert_non_null(strstr(err, "--from-seq 3"));
    assert_non_null(strstr(err, "acked"));
    assert_int_equal(device_recover_chain(fx->db, "dev-x", 4, "J. Smith", "stray", now_ts, &rec, err,
                                          sizeof err), -1);
    assert_non_null(strstr(err, "not registered"));
    assert_int_equal(device_recover_chain(fx->db, "dev-a", 4, "", "stray", now_ts, &rec, err,
                                          sizeof err), -1);
    assert_non_null(strstr(err, "--by"));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM chain_recoveries"), 0);

    assert_int_equal(device_recover_chain(fx->db, "dev-a", 4, "J. Smith", "stray seq 4 from a cloned unit",
                                          now_ts, &rec, err, sizeof err), 0);
    assert_true(rec.id > 0);
    assert_int_equal(rec.acked_seq, 3);
    assert_int_equal(rec.records_moved, 3);          /* the stray 4, the genuine 5 and 6 */
    assert_int_equal(rec.alerts_cleared, 3);         /* chain-break 4 and 5, conflict 4 */
    assert_int_equal(record_count(fx, "dev-a"), 3);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM superseded_records WHERE recovery_id=%lld "
                               "AND device_id='dev-a'", (long long)rec.id), 3);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM superseded_records WHERE seq=4 AND hash='%s'",
                           stray_hash), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM chain_recoveries WHERE id=%lld AND device_id='dev-a' "
                               "AND from_seq=4 AND acked_seq=3 AND records_moved=3 AND recovered_by='J. Smith' "
                               "AND reason='stray seq 4 from a cloned unit' AND recovered_at='%s'",
                           (long long)rec.id, now_ts), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9' AND cleared_at IS NULL"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9'"), 3);   /* kept */

    /* the agent's next resend */
    send_range(fx, c, 4, 6, now_ms() + 10000, &r);
    assert_counts(&r, 3, 0, 0, 6);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 6);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id='dev-a' AND seq=4 AND hash='%s'",
                           c->hash[4]), 1);
    free(c);
}

/* ---- defects found ----------------------------------------------------------------- */

/* quarantine_counts counts by reason with only the [index] digits removed
 * (docs/protocol.md: "records[].strokes: ..."); other numbers in a reason
 * stay. Regression: counter_key once dropped every digit after a digit, so
 * "payload: larger than 256 KiB" was counted as "larger than 2 KiB",
 * "must hold 1..64 records" as "1..6 records" and "more than 86400 s
 * ahead" as "more than 8 s ahead". */
static void test_quarantine_counter_key_keeps_numbers(void **state)
{
    fixture *fx = *state;
    ingest_result r;
    size_t cap = 400 * 1024, len;
    char *buf = malloc(cap);
    char *future = jsonq(R1("'type':'grip.assign','grip_id':'" S129 "','load_id':'l1','session_id':'s1'"));
    char *empty = jsonq(ENV(""));
    char got[512];

    assert_non_null(buf);
    len = gen_big(buf, cap);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", buf, len, now_ms(), &r), 0);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", empty, strlen(empty), now_ms(), &r), 0);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", future, strlen(future), now_ms(), &r), 0);
    assert_int_equal(r.rejected, 1);
    free(buf);
    free(future);
    free(empty);

    q_joined(fx, got, sizeof got, "SELECT reason FROM quarantine_counts ORDER BY reason");
    if (quarantine_count(fx, "payload: larger than 256 KiB") != 1 ||
        quarantine_count(fx, "records: must hold 1..64 records") != 1 ||
        quarantine_count(fx, "records[].grip_id: longer than 128 bytes") != 1)
        fail_msg("quarantine_counts keys mangled: %s", got);
}

/* An events message is exactly one JSON object: two concatenated batches
 * are not read as the first one (the second silently dropped); trailing
 * whitespace is fine. */
static void test_trailing_data_after_batch_rejected(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    size_t l1, l2;

    chain_fill(c, 2);
    char *b1 = chain_batch(c, 1, 1, &l1), *b2 = chain_batch(c, 2, 2, &l2);
    char *both = malloc(l1 + l2 + 3);
    assert_non_null(both);
    memcpy(both, b1, l1);
    memcpy(both + l1, b2, l2 + 1);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", both, l1 + l2, now_ms(), &r), 0);
    if (!r.quarantined)
        fail_msg("two concatenated batches were accepted (stored %d)", r.stored);
    assert_string_equal(r.reason, "payload: not valid JSON");
    assert_int_equal(record_count(fx, "dev-a"), 0);

    memcpy(both, b1, l1);
    memcpy(both + l1, " \r\n\t", 5);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", both, l1 + 4, now_ms(), &r), 0);
    assert_counts(&r, 1, 0, 0, 1);
    free(b1);
    free(b2);
    free(both);
    free(c);
}

/* ---- several collectors on one database ------------------------------------
 *
 * Two stores on the same database stand for two collectors (the MQTT shared
 * subscription hands a device's messages to either). On PostgreSQL what
 * keeps them right is the device lock (store_lock_device), the head that
 * only moves forward and the alerts' UNIQUE constraint; on SQLite the one
 * writer's lock gives the same results, so the tests run on both. */

/* A second collector: its own connection and ingest on fx's database. */
typedef struct other {
    store *s;
    ingest *in;
} other;

static void other_open(fixture *fx, other *o)
{
    char err[600];

    if (store_open(fx->path, &o->s, err, sizeof err) != 0)
        fail_msg("second store: %s", err);
    o->in = ingest_new(o->s, &fx->limits);
    assert_non_null(o->in);
}

static void other_close(other *o)
{
    ingest_free(o->in);
    store_close(o->s);
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* One message ingested on another thread, as its own group. */
typedef struct async_msg {
    pthread_t th;
    ingest *in;
    char topic[128];
    char *payload;
    size_t len;
    ingest_result r;
    int rc;
    atomic_bool done;
} async_msg;

static void *async_run(void *arg)
{
    async_msg *m = arg;
    m->rc = ingest_events(m->in, m->topic, m->payload, m->len, now_ms(), &m->r);
    atomic_store(&m->done, true);
    return NULL;
}

static void async_start(async_msg *m, ingest *in, const char *device, char *payload, size_t len)
{
    m->in = in;
    events_topic(device, m->topic, sizeof m->topic);
    m->payload = payload;
    m->len = len;
    atomic_init(&m->done, false);
    assert_int_equal(pthread_create(&m->th, NULL, async_run, m), 0);
}

/* The head never moves back, whoever writes it: a collector that worked
 * from an older view of the chain cannot lower what another stored. */
static void test_collectors_head_never_goes_back(void **state)
{
    fixture *fx = *state;
    chain_head later = {.acked_seq = 5}, older = {.acked_seq = 3}, got;
    other b;

    other_open(fx, &b);
    memset(later.acked_hash, 'b', RECORD_HASH_HEX - 1);
    memset(older.acked_hash, 'a', RECORD_HASH_HEX - 1);
    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_set_chain_head(fx->s, "dev-a", &later, NOW_TS), 0);
    assert_int_equal(store_commit(fx->s), 0);
    assert_int_equal(store_begin(b.s), 0);
    assert_int_equal(store_set_chain_head(b.s, "dev-a", &older, "2026-03-02T10:00:01.000Z"), 0);
    assert_int_equal(store_commit(b.s), 0);

    device_info info;
    device_view view;
    assert_int_equal(store_device_view(b.s, "dev-a", &info, &view), 0);
    got = view.head;
    assert_int_equal(got.acked_seq, 5);
    assert_string_equal(got.acked_hash, later.acked_hash);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 5);
    other_close(&b);
}

/* Collector A stores the genuine seq 4 and has not committed; collector B
 * gets a stray seq 5 that does not link to it. B waits for A's device
 * lock, then reads the links after A's commit: the break is seen, once.
 * (Without the lock each would read the chain without the other's record
 * and neither would see the break.) */
static void test_collectors_chain_break_across_collectors(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    char topic[128], canon[RECORD_CANON_MAX], hash[RECORD_HASH_HEX];
    size_t len, plen;
    ingest_result r;
    async_msg m = {0};
    record stray;
    other b;

    other_open(fx, &b);
    chain_fill(c, 4);
    send_range(fx, c, 1, 3, now_ms(), &r);
    assert_counts(&r, 3, 0, 0, 3);

    /* A: seq 4, open */
    char *p4 = chain_batch(c, 4, 4, &plen);
    events_topic("dev-a", topic, sizeof topic);
    assert_int_equal(ingest_group_begin(fx->in), 0);
    assert_int_equal(ingest_message(fx->in, topic, p4, plen, now_ms(), &r), 0);
    assert_counts(&r, 1, 0, 0, 4);

    /* B: a seq 5 whose prev is the hash of seq 3, not of seq 4 */
    default_event(5, &stray);
    seal(&stray, 5, c->hash[3], now_ms() - 1000, canon, &len, hash);
    const char *one = canon;
    char *p5 = batch_of("dev-a", &one, &len, 1, &plen);
    async_start(&m, b.in, "dev-a", p5, plen);
    sleep_ms(300);
    assert_false(atomic_load(&m.done));          /* waiting for A's transaction */
    assert_int_equal(ingest_group_commit(fx->in), 0);
    pthread_join(m.th, NULL);

    assert_int_equal(m.rc, 0);
    assert_counts(&m.r, 1, 0, 0, 4);              /* stored as evidence, ack stays at 4 */
    assert_int_equal(m.r.alerts->count, 1);
    assert_event(&m.r, 0, ALERT_RAISED, "R9", "chain-break:seq=5");
    assert_int_equal(alert_rows(fx, "R9", "chain-break:seq=5"), 1);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 4);

    /* the same stray again, through A this time: nothing new */
    send_one(fx, "dev-a", canon, len, now_ms() + 1000, &r);
    assert_counts(&r, 0, 1, 0, 4);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT COUNT(*) FROM alerts WHERE rule='R9'"), 1);
    free(p4);
    free(p5);
    free(c);
    other_close(&b);
}

typedef struct async_raise {
    pthread_t th;
    store *s;
    alert a;
    bool raised;
    int rc;
    atomic_bool done;
} async_raise;

static void *async_raise_run(void *arg)
{
    async_raise *x = arg;
    x->rc = store_begin(x->s);
    if (x->rc == 0)
        x->rc = store_raise_alert(x->s, &x->a, NOW_TS, &x->raised);
    if (x->rc == 0)
        x->rc = store_commit(x->s);
    else
        store_rollback(x->s);
    atomic_store(&x->done, true);
    return NULL;
}

/* Two collectors raising one cause at the same time: one row, raised by
 * exactly one of them (the UNIQUE (rule, device_id, cause) decides, not
 * the memory of either). */
static void test_collectors_alert_raised_once(void **state)
{
    fixture *fx = *state;
    alert a = {.rule = "R9", .severity = "integrity", .device = "dev-a", .clinic = "clinic-1",
               .cause = "gap", .message = "m", .evidence = "{}"};
    async_raise x = {0};
    bool raised = false;
    other b;

    other_open(fx, &b);
    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_raise_alert(fx->s, &a, NOW_TS, &raised), 0);
    assert_true(raised);

    x.s = b.s;
    x.a = a;
    atomic_init(&x.done, false);
    assert_int_equal(pthread_create(&x.th, NULL, async_raise_run, &x), 0);
    sleep_ms(300);
    assert_false(atomic_load(&x.done));          /* waiting for the first to commit */
    assert_int_equal(store_commit(fx->s), 0);
    pthread_join(x.th, NULL);
    assert_int_equal(x.rc, 0);
    assert_false(x.raised);
    assert_int_equal(alert_rows(fx, "R9", "gap"), 1);
    other_close(&b);
}

/* ---- h. batched store work (one message, a few statements) ----------------- */

/* Counters records near the receive time (within clock_skew_ms): what a
 * device in session sends every minute. Checked as R10 "clock right"
 * records, so each would clear R10 clock-ahead if it ran per record. */
static void counters_fill_from(chain *c, uint64_t to, int64_t last_ms, uint64_t motor_s)
{
    while (c->n < to) {
        char buf[256];
        record r;
        snprintf(buf, sizeof buf, "{'type':'usage.counters','motor_s_total':%llu,"
                                  "'strokes_total':%llu,'cartridge_run_s':0,'cartridge_strokes':0}",
                 (unsigned long long)(motor_s + (c->n + 1) * 60),
                 (unsigned long long)(c->n + 1) * 9000);
        event_from_json(buf, &r);
        chain_push(c, &r, last_ms - (int64_t)(to - c->n - 1) * 100);
    }
}

static void counters_fill(chain *c, uint64_t to, int64_t last_ms)
{
    counters_fill_from(c, to, last_ms, 0);
}

/* Statements the store ran for the work since *mark, and a new mark. */
static int64_t statements_since(fixture *fx, int64_t *mark)
{
    int64_t now = store_statements(fx->s), n = now - *mark;
    *mark = now;
    return n;
}

/* A 64-record message that extends the chain costs a fixed handful of
 * statements, not ~5 per record (records, links, head, rule state): on a
 * networked PostgreSQL each is a round trip. Integrity alone, then with the
 * compliance rules on. */
static void test_batch_statements_per_message(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    policy p;
    int64_t mark, n;

    counters_fill(c, 192, now_ms());
    send_range(fx, c, 1, 64, now_ms(), &r);
    assert_counts(&r, 64, 0, 0, 64);
    mark = store_statements(fx->s);
    send_range(fx, c, 65, 128, now_ms(), &r);
    n = statements_since(fx, &mark);
    print_message("64-record message, integrity only: %" PRId64 " statements\n", n);
    assert_counts(&r, 64, 0, 0, 128);
    assert_int_equal(r.alerts->count, 0);
    assert_true(n <= 16);

    assert_int_equal(policy_defaults(&p), 0);
    ingest_set_policy(fx->in, &p);
    send_range(fx, c, 129, 192, now_ms(), &r);
    n = statements_since(fx, &mark);
    print_message("64-record message, with the rules: %" PRId64 " statements\n", n);
    assert_counts(&r, 64, 0, 0, 192);
    assert_int_equal(r.alerts->count, 0);
    assert_true(n <= 20);
    assert_int_equal(record_count(fx, "dev-a"), 192);
    free(c);
}

/* items[i] for seq from+i of c, its record parsed from the canonical bytes. */
static void put_items(const chain *c, uint64_t from, size_t n, record *recs,
                      store_put_item *items)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t seq = from + i;
        cJSON *obj = cJSON_ParseWithLength(c->canon[seq], c->len[seq]);
        record_error err;
        assert_non_null(obj);
        assert_int_equal(record_from_json(obj, RECORD_FULL, "", &recs[i], &err), 0);
        cJSON_Delete(obj);
        items[i] = (store_put_item){&recs[i], c->canon[seq], c->len[seq], c->hash[seq],
                                    STORE_INSERTED};
    }
}

/* Puts items[0..n) (linkview_put, at index first of the message) and
 * returns the statements that cost. */
static int64_t put_statements(fixture *fx, linkview *v, store_put_item *items, size_t n,
                              size_t first, const char *received_ts)
{
    int64_t t0 = store_statements(fx->s);

    assert_int_equal(linkview_put(v, items, n, first, received_ts), 0);
    return store_statements(fx->s) - t0;
}

/* A message's later segment above everything stored before it (and what
 * the view read or stored) is judged from the view: its insert is its only
 * statement, a seq it stored again is a duplicate without a read, and a
 * range that reaches below what was stored before the message (known_top)
 * is read. */
static void test_later_segment_judged_without_a_read(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    record recs[12];
    store_put_item items[12];
    linkview *v = linkview_new();

    assert_non_null(v);
    chain_fill(c, 12);
    put_items(c, 1, 12, recs, items);
    assert_int_equal(store_begin(fx->s), 0);
    linkview_start(v, fx->s, "dev-a", &(device_view){.top.seq = 0});
    /* Nothing stored yet: the insert alone, for each segment. */
    assert_int_equal(put_statements(fx, v, items, 4, 0, "2026-11-30T00:00:00.000Z"), 1);
    assert_int_equal(put_statements(fx, v, items + 4, 4, 4, "2026-11-30T00:00:00.000Z"), 1);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(items[i].result, STORE_INSERTED);
    put_items(c, 3, 2, recs, items);                      /* seqs 3, 4 again */
    assert_int_equal(put_statements(fx, v, items, 2, 8, "2026-11-30T00:00:00.000Z"), 0);
    assert_int_equal(items[0].result, STORE_DUPLICATE);
    assert_int_equal(items[1].result, STORE_DUPLICATE);
    assert_int_equal(store_commit(fx->s), 0);

    /* 1..8 stored and (say) 10 quarantined alone before this message: a
     * segment 9..12 after one at 6..7 is read, since 9 and 10 lie below
     * known_top and the view does not hold them. */
    put_items(c, 6, 2, recs, items);
    put_items(c, 9, 4, recs + 2, items + 2);
    assert_int_equal(store_begin(fx->s), 0);
    linkview_start(v, fx->s, "dev-a", &(device_view){.top_quarantined = 10});
    assert_int_equal(linkview_put(v, items, 2, 0, "2026-11-30T00:00:00.000Z"), 0);
    assert_int_equal(items[0].result, STORE_DUPLICATE);
    assert_int_equal(put_statements(fx, v, items + 2, 4, 2, "2026-11-30T00:00:00.000Z"), 2);
    assert_int_equal(items[2].result, STORE_INSERTED);
    assert_int_equal(store_commit(fx->s), 0);
    assert_int_equal(record_count(fx, "dev-a"), 12);
    linkview_free(v);
    free(c);
}

/* store_device reads the registry row alone: clinic, status and
 * certificate as registered, whatever is stored of the device. */
static void test_store_device_reads_the_registry_row(void **state)
{
    fixture *fx = *state;
    device_info info;

    assert_int_equal(store_device(fx->s, "dev-a", &info), 0);
    assert_string_equal(info.clinic, "clinic-1");
    assert_int_equal(info.status, DEVICE_ACTIVE);
    assert_string_equal(info.cert_pem, g_cert_a);
    assert_int_equal(store_device(fx->s, "dev-r", &info), 0);
    assert_int_equal(info.status, DEVICE_RETIRED);
    assert_int_equal(store_device(fx->s, "dev-n", &info), 0);
    assert_string_equal(info.clinic, "clinic-1");
    assert_string_equal(info.cert_pem, "");
    assert_int_equal(store_device(fx->s, "dev-x", &info), 0);   /* not registered */
    assert_string_equal(info.clinic, "");
}

/* The device's view brings its top record's link and time: a message that
 * continues right above it is stored with its insert alone, and the checks
 * find the predecessor's link and time in the view. A message that starts
 * below the top still reads its range. */
static void test_message_above_the_top_judged_without_a_read(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    record recs[8];
    store_put_item items[8];
    linkview *v = linkview_new();
    device_info info;
    device_view view;
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX], ts[RECORD_TS_LEN + 1];
    int64_t t0;

    assert_non_null(v);
    chain_fill(c, 8);
    put_items(c, 1, 4, recs, items);
    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_insert_records(fx->s, "dev-a", items, 4, "2026-11-30T00:00:00.000Z"), 0);
    assert_int_equal(store_commit(fx->s), 0);

    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_device_view(fx->s, "dev-a", &info, &view), 0);
    assert_int_equal(view.top.seq, 4);
    assert_string_equal(view.top.prev, recs[3].prev);
    assert_string_equal(view.top.hash, c->hash[4]);
    assert_string_equal(view.top.ts, recs[3].ts);
    linkview_start(v, fx->s, "dev-a", &view);
    put_items(c, 5, 4, recs + 4, items + 4);
    t0 = store_statements(fx->s);
    assert_int_equal(put_statements(fx, v, items + 4, 4, 0, "2026-11-30T00:00:01.000Z"), 1);
    for (size_t i = 4; i < 8; i++)
        assert_int_equal(items[i].result, STORE_INSERTED);
    linkview_at(v, 0);
    assert_int_equal(linkview_link(v, 4, prev, hash), 1);
    assert_string_equal(prev, recs[3].prev);
    assert_string_equal(hash, c->hash[4]);
    assert_int_equal(linkview_ts(v, 4, ts), 1);
    assert_string_equal(ts, recs[3].ts);
    assert_int_equal(store_statements(fx->s) - t0, 1);
    assert_int_equal(store_commit(fx->s), 0);

    /* 3..6 again, the top now 8: 2..7 is read and finds four duplicates,
     * so nothing is inserted. */
    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_device_view(fx->s, "dev-a", &info, &view), 0);
    assert_int_equal(view.top.seq, 8);
    linkview_start(v, fx->s, "dev-a", &view);
    put_items(c, 3, 4, recs, items);
    /* read 2..7 */
    assert_int_equal(put_statements(fx, v, items, 4, 0, "2026-11-30T00:00:02.000Z"), 1);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(items[i].result, STORE_DUPLICATE);
    assert_int_equal(store_commit(fx->s), 0);
    assert_int_equal(record_count(fx, "dev-a"), 8);
    linkview_free(v);
    free(c);
}

/* A device past its motor service hours: every counters record is over
 * them, and R11 "service:500h" is raised by the first one, once. Its other
 * 63 records of the message, and the next message's, do not ask the store
 * to raise it again each (a statement per counters record for the rest of
 * the service interval). */
static void test_batch_service_due_raised_once(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    policy p;
    int64_t mark, n;

    assert_int_equal(policy_defaults(&p), 0);
    p.motor_service_hours = 500;
    ingest_set_policy(fx->in, &p);
    counters_fill_from(c, 128, now_ms(), 500 * 3600);
    mark = store_statements(fx->s);
    send_range(fx, c, 1, 64, now_ms(), &r);
    n = statements_since(fx, &mark);
    print_message("64 counters records past the service hours: %" PRId64 " statements\n", n);
    assert_counts(&r, 64, 0, 0, 64);
    assert_int_equal(r.alerts->count, 1);
    assert_event(&r, 0, ALERT_RAISED, "R11", "service:500h");
    assert_true(n <= 20);
    send_range(fx, c, 65, 128, now_ms(), &r);
    n = statements_since(fx, &mark);
    assert_counts(&r, 64, 0, 0, 128);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(alert_rows(fx, "R11", "service:500h"), 1);
    assert_true(n <= 20);
    free(c);
}

/* One message holding new records, resends and tampered resends, in seq
 * order: each is judged as it was one at a time (exact counts, one R9
 * conflict per tampered seq with both hashes, the stored records untouched,
 * the ack over the new ones), from a few statements. */
static void test_batch_mixed_new_duplicate_conflict(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    char f5[RECORD_CANON_MAX], f9[RECORD_CANON_MAX], h5[RECORD_HASH_HEX], h9[RECORD_HASH_HEX];
    char got[RECORD_CANON_MAX + 1];
    const char *canon[8];
    size_t lens[8], plen;
    int64_t mark, n;

    chain_fill(c, 14);
    send_range(fx, c, 1, 10, now_ms(), &r);
    size_t l5 = tamper(c->canon[5], f5), l9 = tamper(c->canon[9], f9);
    record_sha256_hex(f5, l5, h5);
    record_sha256_hex(f9, l9, h9);
    canon[0] = f5, lens[0] = l5;                        /* 5: conflict */
    canon[1] = c->canon[8], lens[1] = c->len[8];        /* 8: duplicate */
    canon[2] = f9, lens[2] = l9;                        /* 9: conflict */
    canon[3] = c->canon[10], lens[3] = c->len[10];      /* 10: duplicate */
    for (int i = 0; i < 4; i++)                         /* 11..14: new */
        canon[4 + i] = c->canon[11 + i], lens[4 + i] = c->len[11 + i];
    char *payload = batch_of("dev-a", canon, lens, 8, &plen);
    mark = store_statements(fx->s);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
    n = statements_since(fx, &mark);
    free(payload);
    print_message("8 records, 4 new: %" PRId64 " statements\n", n);
    assert_counts(&r, 4, 2, 2, 14);
    assert_int_equal(r.alerts->count, 2);
    assert_event(&r, 0, ALERT_RAISED, "R9", "conflict:seq=5");
    assert_non_null(strstr(r.alerts->events[0].a.evidence, c->hash[5]));
    assert_non_null(strstr(r.alerts->events[0].a.evidence, h5));
    assert_event(&r, 1, ALERT_RAISED, "R9", "conflict:seq=9");
    assert_non_null(strstr(r.alerts->events[1].a.evidence, c->hash[9]));
    assert_non_null(strstr(r.alerts->events[1].a.evidence, h9));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 2);
    for (uint64_t q = 1; q <= 14; q++) {
        q_text(fx, got, sizeof got, "SELECT hash FROM records WHERE device_id='dev-a' AND seq=%llu",
               (unsigned long long)q);
        assert_string_equal(got, c->hash[q]);
    }
    assert_int_equal(record_count(fx, "dev-a"), 14);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 14);
    assert_true(n <= 18);
    free(c);
}

/* Records stored above a gap (the head waits at 5), then the message that
 * fills it: the head moves over every stored record at once, reading their
 * links 64 at a time rather than two lookups per record. */
static void test_batch_fills_gap_below_stored(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    int64_t mark, n;

    chain_fill(c, 150);
    send_range(fx, c, 1, 5, now_ms(), &r);
    send_range(fx, c, 8, 71, now_ms(), &r);
    assert_counts(&r, 64, 0, 0, 5);
    send_range(fx, c, 72, 135, now_ms(), &r);
    assert_counts(&r, 64, 0, 0, 5);
    send_range(fx, c, 137, 150, now_ms(), &r);   /* a second gap at 136 */
    assert_counts(&r, 14, 0, 0, 5);
    assert_int_equal(r.alerts->count, 0);        /* the gap is younger than its grace */

    mark = store_statements(fx->s);
    send_range(fx, c, 6, 7, now_ms(), &r);
    n = statements_since(fx, &mark);
    print_message("a 2-record message moving the head over 128: %" PRId64 " statements\n", n);
    assert_counts(&r, 2, 0, 0, 135);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 135);
    assert_true(n <= 20);

    send_range(fx, c, 136, 136, now_ms(), &r);
    assert_counts(&r, 1, 0, 0, 150);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    free(c);
}

/* A message that starts below the head and ends above it: the old part are
 * resends, the rest extends the chain; one of the new records (15) breaks
 * the chain, both ways (it does not link to 14, 16 does not link to it):
 * each break is raised once, and the head stays below 14, whose stored
 * successor disowns it (advance_head). */
static void test_batch_straddles_head(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    chain *d = chain_new("dev-a");
    ingest_result r;
    const char *canon[16];
    size_t lens[16], plen;
    int64_t mark, n;

    chain_fill(c, 20);
    /* d: the same records to 14, then a 15 that links to something else */
    chain_fill(d, 14);
    {
        record ev;
        default_event(15, &ev);
        memcpy(d->hash[14], RECORD_GENESIS_PREV, RECORD_HASH_HEX);
        chain_push(d, &ev, now_ms() - HOUR_MS + 15 * 1000 + 500);
    }
    send_range(fx, c, 1, 10, now_ms(), &r);
    for (int i = 0; i < 10; i++)                        /* 5..14 as c */
        canon[i] = c->canon[5 + i], lens[i] = c->len[5 + i];
    canon[10] = d->canon[15], lens[10] = d->len[15];    /* 15: does not link to 14 */
    for (int i = 0; i < 5; i++)                         /* 16..20 as c */
        canon[11 + i] = c->canon[16 + i], lens[11 + i] = c->len[16 + i];
    char *payload = batch_of("dev-a", canon, lens, 16, &plen);
    mark = store_statements(fx->s);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", payload, plen, now_ms(), &r), 0);
    n = statements_since(fx, &mark);
    free(payload);
    print_message("16 records across the head: %" PRId64 " statements\n", n);
    assert_counts(&r, 10, 6, 0, 13);
    assert_int_equal(r.alerts->count, 2);
    /* 15 does not link back to 14, and 16 does not link back to 15 */
    assert_event(&r, 0, ALERT_RAISED, "R9", "chain-break:seq=15");
    assert_event(&r, 1, ALERT_RAISED, "R9", "chain-break:seq=16");
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-a'"), 13);
    assert_int_equal(record_count(fx, "dev-a"), 20);
    assert_true(n <= 20);
    free(c);
    free(d);
}

/* Rules judge each record of a message as they would have alone: a worn
 * cartridge's counter raises R3, and its removal later in the same
 * message clears it. Had the removal been stored before the counter was
 * judged, the counter would look like history (rules__cartridge_wear) and
 * nothing would be raised: a removal after a counter over a wear limit
 * starts a new segment (rules_types_read). A second worn counter raises nothing new; one
 * after the removal raises it again (the message's memory of what it
 * raised forgets a cleared alert, rules_raised). */
static void test_batch_rules_see_records_in_message_order(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    policy p;
    record ev;

    assert_int_equal(policy_defaults(&p), 0);
    ingest_set_policy(fx->in, &p);
    event_from_json("{'type':'session.start','session_id':'S1','operator_id':'op-1',"
                    "'client_ref':'c-1','treatment_no':1}", &ev);
    chain_push(c, &ev, now_ms() - 4000);
    event_from_json("{'type':'cartridge.insert','cartridge_uid':'CU-9','sku':'0603RL',"
                    "'needles':3,'config':'3RL','lot':'LOT-7','expiry':'2027-01-31',"
                    "'session_id':'S1'}", &ev);
    chain_push(c, &ev, now_ms() - 3000);
    event_from_json("{'type':'usage.counters','motor_s_total':600,'strokes_total':90000,"
                    "'cartridge_uid':'CU-9','cartridge_run_s':999999,"
                    "'cartridge_strokes':99999999}", &ev);
    chain_push(c, &ev, now_ms() - 2000);
    event_from_json("{'type':'usage.counters','motor_s_total':660,'strokes_total':99000,"
                    "'cartridge_uid':'CU-9','cartridge_run_s':999999,"
                    "'cartridge_strokes':99999999}", &ev);
    chain_push(c, &ev, now_ms() - 1900);
    event_from_json("{'type':'cartridge.remove','cartridge_uid':'CU-9','session_id':'S1',"
                    "'run_s':999999,'strokes':99999999,'reason':'worn'}", &ev);
    chain_push(c, &ev, now_ms() - 1000);
    /* a counter naming it after its removal (a device bug): worn again */
    event_from_json("{'type':'usage.counters','motor_s_total':720,'strokes_total':99900,"
                    "'cartridge_uid':'CU-9','cartridge_run_s':999999,"
                    "'cartridge_strokes':99999999}", &ev);
    chain_push(c, &ev, now_ms() - 900);
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_counts(&r, 6, 0, 0, 6);
    assert_int_equal(r.alerts->count, 3);
    assert_event(&r, 0, ALERT_RAISED, "R3", "wear:CU-9");
    assert_event(&r, 1, ALERT_CLEARED, "R3", "wear:CU-9");
    assert_event(&r, 2, ALERT_RAISED, "R3", "wear:CU-9");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R3' AND cleared_at IS NULL"), 1);
    free(c);
}

/* A worn counter's rules read only the cartridge removals above it: records
 * of other types after it in the message are stored with it, in one
 * insert. The same message with the worn counter last (nothing after it to
 * hold back) costs exactly as many statements. */
static void test_batch_worn_counter_holds_back_removals_only(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    policy p;
    record ev;
    int64_t mark, worn_first, worn_last;
    static const char *const worn =
        "{'type':'usage.counters','motor_s_total':%d,'strokes_total':90000,"
        "'cartridge_uid':'%s','cartridge_run_s':999999,'cartridge_strokes':99999999}";
    static const char *const fine =
        "{'type':'usage.counters','motor_s_total':%d,'strokes_total':90000,"
        "'cartridge_uid':'%s','cartridge_run_s':10,'cartridge_strokes':1000}";
    char json[300];

    assert_int_equal(policy_defaults(&p), 0);
    ingest_set_policy(fx->in, &p);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 3; i++) {
            bool is_worn = i == (k == 0 ? 0 : 2);
            snprintf(json, sizeof json, is_worn ? worn : fine, 600 + 60 * (3 * k + i),
                     k == 0 ? "CU-1" : "CU-2");
            event_from_json(json, &ev);
            chain_push(c, &ev, now_ms() - 4000 + 100 * (3 * k + i));
        }
    }
    mark = store_statements(fx->s);
    send_range(fx, c, 1, 3, now_ms(), &r);             /* worn, fine, fine */
    worn_first = statements_since(fx, &mark);
    send_range(fx, c, 4, 6, now_ms(), &r);             /* fine, fine, worn */
    worn_last = statements_since(fx, &mark);
    assert_int_equal(worn_first, worn_last);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R3' AND cleared_at IS NULL"), 2);
    assert_int_equal(record_count(fx, "dev-a"), 6);
    free(c);
}

/* R10 clock-ahead within one message: raised by a record ahead, cleared by
 * the next one on time, raised again, cleared again, in record order; the
 * clears a run of on-time records would repeat are not run. */
static void test_batch_clock_ahead_flips_in_one_message(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new("dev-a");
    ingest_result r;
    static const int64_t ahead_s[6] = {600, 1, 2, 700, 3, 4};

    for (int i = 0; i < 6; i++) {
        record ev;
        default_event((uint64_t)i + 1, &ev);
        chain_push(c, &ev, now_ms() + ahead_s[i] * 1000);
    }
    send_range(fx, c, 1, 6, now_ms(), &r);
    assert_counts(&r, 6, 0, 0, 6);
    assert_int_equal(r.alerts->count, 4);
    assert_event(&r, 0, ALERT_RAISED, "R10", "clock-ahead");
    assert_event(&r, 1, ALERT_CLEARED, "R10", "clock-ahead");
    assert_event(&r, 2, ALERT_RAISED, "R10", "clock-ahead");
    assert_event(&r, 3, ALERT_CLEARED, "R10", "clock-ahead");
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R10' AND cleared_at IS NULL"), 0);
    free(c);
}

int main(void)
{
    const char *smpctl = smpctl_path();
    if (access(smpctl, X_OK) != 0) {
        fprintf(stderr,
                "test_ingest: FAILED: smpctl not found at %s (needed to make test keys and "
                "certificates).\n  Build it first (`make`), or set SMPCTL=/path/to/smpctl.\n",
                smpctl);
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_collectors_head_never_goes_back),
        T(test_collectors_chain_break_across_collectors),
        T(test_collectors_alert_raised_once),
        T(test_rejects_table),
        T(test_rejects_missing_required_fields),
        T(test_accepts_limits),
        T(test_good_batch_then_duplicates),
        T(test_all_types_stored),
        T(test_out_of_order_batch),
        T(test_same_seq_twice_in_one_batch),
        T(test_alert_batch_overflow),
        T(test_group_careful_only_after_a_failure),
        T(test_next_view_sent_ahead),
        T(test_careful_failed_message_leaves_the_head_below_it),
        T(test_gap_ack_waits_and_alert),
        T(test_gap_grace),
        T(test_tampered_resend_conflict_once),
        T(test_chain_break),
        T(test_chain_break_found_from_the_later_record),
        T(test_chain_break_seq1_not_genesis),
        T(test_checkpoint_valid),
        T(test_checkpoint_wrong_key),
        T(test_checkpoint_signed_for_other_device),
        T(test_checkpoint_wrong_head),
        T(test_checkpoint_no_certificate),
        T(test_checkpoint_unparsable_certificate),
        T(test_checkpoint_across_certificate_switch),
        T(test_checkpoint_previous_certificate_after_grace),
        T(test_checkpoint_previous_certificate_within_grace),
        T(test_clock_ahead_raised_once_then_cleared),
        T(test_clock_within_limit_no_alert),
        T(test_quarantine_bounded),
        T(test_quarantine_payload_cut),
        T(test_bad_device_does_not_block_others),
        T(test_bad_record_quarantined_alone),
        T(test_future_ts_mid_batch_stored_and_acked),
        T(test_good_after_bad_stored_first_time),
        T(test_recover_chain_after_non_linking_record),
        T(test_stray_filling_a_gap_is_never_acked),
        T(test_quarantine_counter_key_keeps_numbers),
        T(test_trailing_data_after_batch_rejected),
        T(test_batch_statements_per_message),
        T(test_batch_mixed_new_duplicate_conflict),
        T(test_batch_fills_gap_below_stored),
        T(test_batch_straddles_head),
        T(test_batch_clock_ahead_flips_in_one_message),
        T(test_batch_rules_see_records_in_message_order),
        T(test_batch_worn_counter_holds_back_removals_only),
        T(test_batch_service_due_raised_once),
        T(test_later_segment_judged_without_a_read),
        T(test_message_above_the_top_judged_without_a_read),
        T(test_store_device_reads_the_registry_row),
    };
#undef T
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
