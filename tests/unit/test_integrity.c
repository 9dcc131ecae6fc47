/* test_integrity: checkpoint signatures (collector/integrity.c queues them
 * at the commit, collector/verifier.c verifies them after it) through
 * ingest against a real store (SQLite, or PostgreSQL when SMP_TEST_PG names
 * a test cluster: testdb.h), and what the audit export
 * (dashboard-export/export_chain.c) says about the records they should
 * have covered.
 *
 *   - every checkpoint of a message is verified, not only the newest: a
 *     garbage or foreign signature on an older checkpoint beside a genuine
 *     newest one is R9;
 *   - the commit verifies none: a message of 63 forged checkpoints is
 *     stored and acked at once, and every one of them is verified after
 *     (R9 each), none left unverified;
 *   - a device signing with a key that is not its registered one (a second
 *     certificate with the same CN): R9 names what is unverified, and the
 *     export counts every record since the last checkpoint that verified as
 *     not covered (records_after_head), not only those after the bad one;
 *   - the export never calls a chain intact on a signature nobody
 *     verified: it verifies the checkpoints the collector has not yet
 *     (pending) itself, and says what the collector's state is.
 *
 * Keys and certificates come from the real `smpctl pki` ($SMPCTL, by
 * default ../../build/bin/smpctl: unit tests run in tests/unit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "export_chain.h"
#include "ingest.h"
#include "message.h"
#include "record.h"
#include "report_data.h"
#include "sign.h"
#include "testdb.h"
#include "testpki.h"
#include "store.h"
#include "verifier.h"

#define NOW_TS "2026-03-02T10:00:00.000Z"
#define HOUR_MS (3600 * 1000LL)

static int64_t now_ms(void)
{
    int64_t ms = 0;
    record_ts_parse(NOW_TS, &ms);
    return ms;
}

/* ---- suite-wide PKI: dev-a's pair, and a second pair with CN dev-a ------- */

static char g_root[512], g_pki[600];
static char *g_cert_a;
static char g_key_a[700], g_key_twin[700];   /* twin: same CN, same CA, not registered */

static const char *smpctl_path(void)
{
    const char *p = getenv("SMPCTL");
    return p && *p ? p : "../../build/bin/smpctl";
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "test_integrity: '%s' failed (status %d)\n", cmd, rc);
    return rc;
}

static int suite_setup(void **state)
{
    char cmd[2400], path[800];
    (void)state;

    if (testpki_new(g_root, sizeof g_root, "integrity", (const char *const[]){"dev-a", NULL}) != 0)
        return -1;
    snprintf(g_pki, sizeof g_pki, "%s/pki", g_root);
    snprintf(path, sizeof path, "%s/devices/dev-a.crt", g_pki);
    g_cert_a = testpki_slurp(path);
    snprintf(g_key_a, sizeof g_key_a, "%s/dev-a-registered.key", g_root);
    snprintf(g_key_twin, sizeof g_key_twin, "%s/devices/dev-a.key", g_pki);
    /* The registered pair aside, then the CA issues dev-a again: a second
     * certificate with the same CN that the broker would accept. */
    snprintf(cmd, sizeof cmd, "cp '%s/devices/dev-a.key' '%s' && '%s' pki renew-device dev-a --dir '%s' >/dev/null",
             g_pki, g_key_a, smpctl_path(), g_pki);
    if (!g_cert_a || run(cmd) != 0)
        return -1;
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    free(g_cert_a);
    testpki_remove(g_root);
    return 0;
}

/* ---- per test: a database with dev-a registered with its first cert ----- */

typedef struct fixture {
    char path[TESTDB_TARGET_MAX];
    sqldb *db;
    store *s;
    ingest *in;
} fixture;

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const ingest_limits limits = {
        .quarantine_max_rows = 1000,
        .quarantine_payload_bytes = 4096,
        .future_skew_ms = 24 * HOUR_MS,
        .integrity = {.clock_skew_ms = 300000, .gap_grace_ms = 600000},
    };
    static const char add[] = "INSERT INTO devices(device_id, clinic, cert_pem, added_at) "
                              "VALUES ('dev-a', 'clinic-1', ?1, '2026-01-01T00:00:00.000Z')";
    sqldb_stmt *st = NULL;
    char err[600];

    if (!fx)
        return -1;
    testdb_new(fx->path, sizeof fx->path);
    fx->db = testdb_open(fx->path);
    if (sqldb_prepare(fx->db, add, &st) != 0 || sqldb_bind_text(st, 1, g_cert_a) != 0 ||
        sqldb_step(st) != 0)
        fail_msg("%s", sqldb_errmsg(fx->db));
    sqldb_finalize(st);
    if (store_open(fx->path, &fx->s, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(fx->in = ingest_new(fx->s, &limits));
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

/* The first column of the query's first row; -1 when there is none. */
static int64_t q_int(fixture *fx, const char *fmt, ...)
{
    char sql[2048];
    va_list ap;
    sqldb_stmt *st;
    int64_t v = -1;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(sql, sizeof sql, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof sql)
        fail_msg("query too long: %s", fmt);
    if (sqldb_prepare(fx->db, sql, &st) != 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    if ((rc = sqldb_step(st)) == 1)
        v = sqldb_column_int64(st, 0);
    else if (rc < 0)
        fail_msg("%s: %s", sql, sqldb_errmsg(fx->db));
    sqldb_finalize(st);
    return v;
}

/* ---- chains ----------------------------------------------------------------- */

#define CHAIN_MAX 200

typedef struct chain {
    uint64_t n;
    char hash[CHAIN_MAX + 1][RECORD_HASH_HEX];
    char canon[CHAIN_MAX + 1][RECORD_CANON_MAX];
    size_t len[CHAIN_MAX + 1];
} chain;

static chain *chain_new(void)
{
    chain *c = calloc(1, sizeof *c);
    assert_non_null(c);
    memcpy(c->hash[0], RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    return c;
}

static void chain_push(chain *c, record *r)
{
    uint64_t seq = c->n + 1;
    assert_true(seq <= CHAIN_MAX);
    r->seq = seq;
    memcpy(r->prev, c->hash[c->n], RECORD_HASH_HEX);
    record_ts_format(now_ms() - HOUR_MS + (int64_t)seq * 1000, r->ts);
    int n = record_canonical(r, c->canon[seq], RECORD_CANON_MAX);
    assert_true(n > 0);
    c->len[seq] = (size_t)n;
    record_sha256_hex(c->canon[seq], c->len[seq], c->hash[seq]);
    c->n = seq;
}

static void push_event(chain *c)
{
    record r;
    char id[32];
    record_init(&r, RT_GRIP_ASSIGN);
    snprintf(id, sizeof id, "grip-%" PRIu64, c->n + 1);
    record_set_str(&r, "grip_id", id);
    record_set_str(&r, "load_id", "L1");
    record_set_str(&r, "session_id", "S1");
    chain_push(c, &r);
}

static void fill(chain *c, uint64_t to)
{
    while (c->n < to)
        push_event(c);
}

/* A checkpoint of the record before it, with sig as given. */
static void push_checkpoint_sig(chain *c, const char *sig)
{
    record r;
    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)c->n);
    record_set_str(&r, "head_hash", c->hash[c->n]);
    record_set_str(&r, "sig", sig);
    chain_push(c, &r);
}

/* A checkpoint of the record before it, signed by key_file as dev-a. */
static void push_checkpoint(chain *c, const char *key_file)
{
    signer *sg = NULL;
    char err[256], msg[256], sig[SIGN_B64_MAX];

    if (signer_open(key_file, &sg, err, sizeof err) != 0)
        fail_msg("signer_open %s: %s", key_file, err);
    int len = sign_checkpoint_message("dev-a", c->n, c->hash[c->n], msg, sizeof msg);
    if (signer_sign(sg, msg, (size_t)len, sig, err, sizeof err) != 0)
        fail_msg("signer_sign: %s", err);
    signer_free(sg);
    push_checkpoint_sig(c, sig);
}

/* Ingests seq from..to as one message; it must be stored and acked. */
static void send_range(fixture *fx, const chain *c, uint64_t from, uint64_t to, ingest_result *r)
{
    const char *canon[64];
    size_t lens[64], n = 0, cap = 64 * RECORD_CANON_MAX + 256;
    char *buf = malloc(cap);

    assert_non_null(buf);
    assert_true(to - from + 1 <= 64);
    for (uint64_t s = from; s <= to; s++, n++) {
        canon[n] = c->canon[s];
        lens[n] = c->len[s];
    }
    int len = message_encode_batch("dev-a", canon, lens, n, buf, cap);
    assert_true(len > 0);
    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", buf, (size_t)len, now_ms(), r), 0);
    free(buf);
    if (r->quarantined)
        fail_msg("quarantined: %s", r->reason);
    assert_true(r->ack);
}

/* Raised events of r with cause starting with prefix. */
static int raised(const ingest_result *r, const char *prefix)
{
    int n = 0;
    for (size_t i = 0; i < r->alerts->count; i++)
        n += r->alerts->events[i].kind == ALERT_RAISED &&
             strncmp(r->alerts->events[i].a.cause, prefix, strlen(prefix)) == 0;
    return n;
}

static const alert *find_alert(const ingest_result *r, const char *cause)
{
    for (size_t i = 0; i < r->alerts->count; i++)
        if (strcmp(r->alerts->events[i].a.cause, cause) == 0)
            return &r->alerts->events[i].a;
    fail_msg("no alert %s among %zu", cause, r->alerts->count);
    return NULL;
}

static int64_t evidence_int(const alert *a, const char *key)
{
    cJSON *o = cJSON_Parse(a->evidence);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("evidence of %s has no number %s: %s", a->cause, key, a->evidence);
    int64_t n = (int64_t)v->valuedouble;
    cJSON_Delete(o);
    return n;
}

/* "AAAA": valid base64, not a signature. */
#define GARBAGE_SIG "AAAA"

/* The collector's checkpoint verifier after the commit (verifier.h): one
 * pass, which must leave nothing pending. *v gets only its alert events. */
static alert_batch g_verified;

static int verify_pending(fixture *fx, ingest_result *v)
{
    verifier_tally t = {0};
    int n = verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), &g_verified, &t);

    if (n < 0)
        fail_msg("verifier_pass: %s", store_errmsg(fx->s));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'pending'"), 0);
    memset(v, 0, sizeof *v);
    v->alerts = &g_verified;
    return n;
}

/* ---- every checkpoint of a message is verified ------------------------------ */

/* The case: a garbage signature on an older checkpoint, a genuine
 * newest one in the same message. It was stored with no alert. */
static void test_older_checkpoint_garbage_signature_flagged(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    fill(c, 5);
    push_checkpoint_sig(c, GARBAGE_SIG);            /* 6 */
    fill(c, 9);
    push_checkpoint(c, g_key_a);                    /* 10: genuine */
    fill(c, 11);
    send_range(fx, c, 1, 11, &r);
    assert_int_equal(r.stored, 11);
    assert_int_equal(r.ack_seq, 11);
    assert_int_equal(raised(&r, "checkpoint:"), 0);
    assert_int_equal(verify_pending(fx, &r), 2);
    assert_int_equal(raised(&r, "checkpoint:"), 1);
    const alert *a = find_alert(&r, "checkpoint:seq=6");
    assert_string_equal(a->message, "checkpoint signature does not verify with the device's registered key");
    assert_int_equal(evidence_int(a, "unverified_through"), 6);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9'"), 1);
    free(c);
}

/* The same with a real signature by the other key holding dev-a's CN. */
static void test_older_checkpoint_foreign_key_flagged(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    fill(c, 3);
    push_checkpoint(c, g_key_twin);                 /* 4 */
    fill(c, 6);
    push_checkpoint(c, g_key_twin);                 /* 7 */
    fill(c, 9);
    push_checkpoint(c, g_key_a);                    /* 10 */
    send_range(fx, c, 1, 10, &r);
    assert_int_equal(verify_pending(fx, &r), 3);
    assert_int_equal(raised(&r, "checkpoint:"), 2);
    find_alert(&r, "checkpoint:seq=4");
    find_alert(&r, "checkpoint:seq=7");
    free(c);
}

static void test_genuine_checkpoints_no_alert(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    for (int i = 0; i < 5; i++) {
        fill(c, c->n + 5);
        push_checkpoint(c, g_key_a);
    }
    send_range(fx, c, 1, c->n, &r);
    assert_int_equal(r.stored, 30);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(verify_pending(fx, &r), 5);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'verified'"), 5);
    free(c);
}

/* ---- nothing verified at the commit, everything after it ---------------------- */

/* The honest maximum: a checkpoint after every record, 32 in a batch of
 * 64. All genuine: no alert; all forged: 32 alerts, one per checkpoint. */
static void test_honest_maximum_all_verified(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    for (int i = 0; i < 32; i++) {
        push_event(c);
        push_checkpoint(c, g_key_a);
    }
    for (int i = 0; i < 32; i++) {
        push_event(c);
        push_checkpoint_sig(c, GARBAGE_SIG);
    }
    send_range(fx, c, 1, 64, &r);
    assert_int_equal(verify_pending(fx, &r), 32);
    assert_int_equal(r.alerts->count, 0);
    send_range(fx, c, 65, 128, &r);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(verify_pending(fx, &r), 32);
    assert_int_equal(raised(&r, "checkpoint:"), 32);
    free(c);
}

/* A hostile message: one record then 63 checkpoints with garbage
 * signatures. The commit verifies none of them (it used to verify 32 and
 * leave the rest unverified) and queues them with one statement (it used
 * to take one each); the verifier then checks every one: 63 R9 alerts,
 * each against its own record, and nothing left unverified. */
static void test_checkpoint_flood_all_verified_after_commit(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    push_event(c);
    while (c->n < 64)
        push_checkpoint_sig(c, GARBAGE_SIG);        /* 2..64 */
    int64_t before = store_statements(fx->s);
    send_range(fx, c, 1, 64, &r);
    assert_true(store_statements(fx->s) - before <= 16);
    assert_int_equal(r.stored, 64);
    assert_int_equal(r.ack_seq, 64);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'pending'"), 63);
    assert_int_equal(verify_pending(fx, &r), 63);
    assert_int_equal(raised(&r, "checkpoint:"), 63);
    for (uint64_t s = 2; s <= 64; s++) {
        char cause[64];
        snprintf(cause, sizeof cause, "checkpoint:seq=%" PRIu64, s);
        const alert *a = find_alert(&r, cause);
        assert_string_equal(a->device, "dev-a");
        assert_string_equal(a->clinic, "clinic-1");
        assert_int_equal(evidence_int(a, "seq"), (int64_t)s);
        assert_int_equal(evidence_int(a, "head_seq"), (int64_t)s - 1);
    }
    assert_int_equal(raised(&r, "checkpoint-unverified:"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'failed'"), 63);
    free(c);
}

/* ---- a second certificate with the device's CN ----------------------------- */

/* The export's chain status for dev-a over 2026-03-02. */
static chain_status export_status(fixture *fx)
{
    report_row row = {.device_id = "dev-a"};
    report_data d = {.rows = &row, .nrows = 1};
    chain_status *st = NULL, out;
    char err[512];

    snprintf(d.from, sizeof d.from, "2026-03-02");
    snprintf(d.to, sizeof d.to, "2026-03-02");
    /* The period as instants (an unregistered clinic's local days: UTC). */
    snprintf(d.from_ts, sizeof d.from_ts, "2026-03-02T00:00:00.000Z");
    snprintf(d.until_ts, sizeof d.until_ts, "2026-03-03T00:00:00.000Z");
    if (chain_check(fx->db, &d, &st, err, sizeof err) != 0)
        fail_msg("chain_check: %s", err);
    out = st[0];
    free(st);
    return out;
}

/* The device signs checkpoints 1..20 with its registered key, then records
 * 21..40 come with a checkpoint signed by the twin key (the collector
 * cannot see which certificate connected). R9 names the checkpoint; the
 * export counts records 21..last as not covered by a verified signature,
 * not just those after the bad checkpoint's head. */
static void test_twin_certificate_records_unverified(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    fill(c, 19);
    push_checkpoint(c, g_key_a);                    /* 20: head 19 */
    send_range(fx, c, 1, 20, &r);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(r.alerts->count, 0);
    fill(c, 39);
    push_checkpoint(c, g_key_twin);                 /* 40: head 39, forged */
    fill(c, 42);
    send_range(fx, c, 21, 42, &r);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(raised(&r, "checkpoint:"), 1);
    assert_int_equal(evidence_int(find_alert(&r, "checkpoint:seq=40"), "unverified_through"), 40);

    chain_status st = export_status(fx);
    assert_true(st.has_checkpoint);
    assert_int_equal(st.ckpt_seq, 40);
    assert_string_equal(st.ckpt_signature, "invalid");
    assert_string_equal(chain_verdict(&st), "broken");
    /* Covered by a verified signature: 1..19 (checkpoint 20's head). */
    if (st.after_checkpoint != 42 - 19)
        fail_msg("records_after_head %" PRId64 ": only those after the forged checkpoint's head"
                 " counted as unverified (expected %d)", st.after_checkpoint, 42 - 19);
    free(c);
}

/* No earlier checkpoint verifies: every record counts as uncovered. */
static void test_twin_certificate_from_the_start(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    fill(c, 9);
    push_checkpoint(c, g_key_twin);                 /* 10 */
    fill(c, 12);
    send_range(fx, c, 1, 12, &r);
    assert_int_equal(verify_pending(fx, &r), 1);
    assert_int_equal(raised(&r, "checkpoint:"), 1);
    chain_status st = export_status(fx);
    assert_int_equal(st.after_checkpoint, 12);
    free(c);
}

/* ---- the export and signatures still pending -------------------------------- */

/* Stored and acked, nothing verified yet: a forged older checkpoint (6)
 * and a genuine newest one (10). The export must not call the chain
 * intact on the strength of the collector, which has checked neither: it
 * verifies both itself, finds 6 invalid, and says the collector's state. */
static void test_export_pending_forged_checkpoint_not_intact(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    fill(c, 5);
    push_checkpoint_sig(c, GARBAGE_SIG);            /* 6 */
    fill(c, 9);
    push_checkpoint(c, g_key_a);                    /* 10 */
    fill(c, 11);
    send_range(fx, c, 1, 11, &r);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'pending'"), 2);

    chain_status st = export_status(fx);
    assert_string_equal(chain_verdict(&st), "broken");
    assert_int_equal(st.ckpts, 2);
    assert_int_equal(st.ckpt_pending, 2);
    assert_int_equal(st.ckpt_export_checked, 2);
    assert_int_equal(st.ninvalid, 1);
    assert_int_equal(st.invalid[0], 6);
    assert_int_equal(st.ckpt_seq, 10);
    assert_string_equal(st.ckpt_signature, "valid");
    assert_string_equal(st.ckpt_collector, "pending");

    /* The collector's verifier then agrees, and the export says so. */
    assert_int_equal(verify_pending(fx, &r), 2);
    find_alert(&r, "checkpoint:seq=6");
    st = export_status(fx);
    assert_string_equal(chain_verdict(&st), "broken");
    assert_int_equal(st.ckpt_pending, 0);
    assert_int_equal(st.ckpt_failed, 1);
    assert_int_equal(st.ckpt_verified, 1);
    assert_int_equal(st.ckpt_export_checked, 2);   /* the latest, and the failed one again */
    assert_int_equal(st.ninvalid, 1);
    assert_string_equal(st.ckpt_collector, "verified");
    free(c);
}

/* Genuine and still pending: intact, because the export verified them
 * itself (and says that none was verified by the collector yet). Once the
 * collector has, the export verifies only the latest again. */
static void test_export_pending_genuine_checked_by_export(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;

    fill(c, 5);
    push_checkpoint(c, g_key_a);                    /* 6 */
    fill(c, 9);
    push_checkpoint(c, g_key_a);                    /* 10 */
    fill(c, 11);
    send_range(fx, c, 1, 11, &r);

    chain_status st = export_status(fx);
    assert_string_equal(chain_verdict(&st), "intact");
    assert_int_equal(st.ckpt_pending, 2);
    assert_int_equal(st.ckpt_verified, 0);
    assert_int_equal(st.ckpt_export_checked, 2);
    assert_int_equal(st.ninvalid, 0);
    assert_string_equal(st.ckpt_collector, "pending");

    assert_int_equal(verify_pending(fx, &r), 2);
    st = export_status(fx);
    assert_string_equal(chain_verdict(&st), "intact");
    assert_int_equal(st.ckpt_pending, 0);
    assert_int_equal(st.ckpt_verified, 2);
    assert_int_equal(st.ckpt_export_checked, 1);
    assert_string_equal(st.ckpt_collector, "verified");
    free(c);
}

/* Queueing a checkpoint whose row is there already (its record was
 * superseded and sent again with another head) puts the new head and
 * signature in, pending and unchecked again, and inserts the new rows of
 * the same statement: on SQLite a plain insert first, then the upsert only
 * because of that row. */
static void test_requeued_checkpoint_replaces_its_row(void **state)
{
    fixture *fx = *state;
    const store_ckpt_item first[] = {{5, "hash-a", "sig-a"}};
    const store_ckpt_item again[] = {{5, "hash-b", "sig-b"}, {9, "hash-c", "sig-c"}};

    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_queue_checkpoints(fx->s, "dev-1", first, 1, "2026-01-01T00:00:00.000Z"), 0);
    assert_int_equal(store_commit(fx->s), 0);
    testdb_exec(fx->db, "UPDATE checkpoints SET state = 'verified', checked_at = 't' WHERE head_seq = 5");
    assert_int_equal(store_begin(fx->s), 0);
    assert_int_equal(store_queue_checkpoints(fx->s, "dev-1", again, 2, "2026-01-02T00:00:00.000Z"), 0);
    assert_int_equal(store_commit(fx->s), 0);

    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints"), 2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE head_seq = 5 AND head_hash = "
                               "'hash-b' AND sig = 'sig-b' AND state = 'pending' AND checked_at IS NULL "
                               "AND received_at = '2026-01-02T00:00:00.000Z'"), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE head_seq = 9 AND head_hash = "
                               "'hash-c' AND state = 'pending'"), 1);
}

int main(void)
{
    const char *smpctl = smpctl_path();
    if (access(smpctl, X_OK) != 0) {
        fprintf(stderr, "test_integrity: FAILED: smpctl not found at %s (needed for keys and "
                        "certificates).\n  Build it first (`make`), or set SMPCTL=/path/to/smpctl.\n",
                smpctl);
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_older_checkpoint_garbage_signature_flagged),
        T(test_older_checkpoint_foreign_key_flagged),
        T(test_genuine_checkpoints_no_alert),
        T(test_honest_maximum_all_verified),
        T(test_checkpoint_flood_all_verified_after_commit),
        T(test_twin_certificate_records_unverified),
        T(test_twin_certificate_from_the_start),
        T(test_export_pending_forged_checkpoint_not_intact),
        T(test_export_pending_genuine_checked_by_export),
        T(test_requeued_checkpoint_replaces_its_row),
    };
#undef T
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
