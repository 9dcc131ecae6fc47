/* test_verifier: checkpoint signatures verified off the commit path
 * (collector/verifier.c), against a real store on SQLite, or on PostgreSQL
 * when SMP_TEST_PG names a test cluster (testdb.h), with real threads:
 *
 *   - a bad signature is stored and acked first, with no alert; the
 *     verifier then raises R9 against the checkpoint record (device, its
 *     seq, cause, evidence) exactly once, however often it runs;
 *   - pending rows are the durable queue: a collector that stopped before
 *     verifying leaves them, and the next verifier started on the database
 *     verifies them (and publishes and counts what it raised);
 *   - a commit that queued checkpoints wakes the verifier (ingest's hook),
 *     without waiting for it; stopping it finishes the batch it is on;
 *   - two verifiers on two connections never mark a row twice or raise
 *     twice; on PostgreSQL only the holder of the lock verifies at all,
 *     and another takes over when its connection ends;
 *   - a checkpoint whose record was superseded (smpctl device
 *     recover-chain) is queued afresh when the genuine one arrives;
 *   - the queue hands out pending rows oldest first among many verified
 *     and failed ones, and passes over rows without a checkpoint record
 *     without their taking a place in the batch; a batch of several
 *     devices judges each row with its own device's registry row;
 *   - /metrics: smp_checkpoints_verified_total and smp_checkpoints_pending.
 *
 * Keys and certificates come from the real `smpctl pki` ($SMPCTL, by
 * default ../../build/bin/smpctl: unit tests run in tests/unit). This is a
 * threaded test: `make TSAN=1 BUILD=build-tsan unit-threads` runs it. */
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

#include "device_recover.h"
#include "ingest.h"
#include "message.h"
#include "metrics.h"
#include "record.h"
#include "sign.h"
#include "store.h"
#include "testdb.h"
#include "testpki.h"
#include "verifier.h"

#define NOW_TS "2026-03-02T10:00:00.000Z"
#define HOUR_MS (3600 * 1000LL)
#define GARBAGE_SIG "AAAA"   /* valid base64, not a signature */

static int64_t now_ms(void)
{
    int64_t ms = 0;
    record_ts_parse(NOW_TS, &ms);
    return ms;
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* ---- suite-wide PKI: dev-a's pair, and a second pair with CN dev-a ------- */

static char g_root[512], g_pki[600];
static char *g_cert_a;
static char g_key_a[700], g_key_twin[700];

static const char *smpctl_path(void)
{
    const char *p = getenv("SMPCTL");
    return p && *p ? p : "../../build/bin/smpctl";
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fprintf(stderr, "test_verifier: '%s' failed (status %d)\n", cmd, rc);
    return rc;
}

static int suite_setup(void **state)
{
    char cmd[2400], path[800];
    (void)state;

    if (testpki_new(g_root, sizeof g_root, "verifier", (const char *const[]){"dev-a", NULL}) != 0)
        return -1;
    snprintf(g_pki, sizeof g_pki, "%s/pki", g_root);
    snprintf(path, sizeof path, "%s/devices/dev-a.crt", g_pki);
    g_cert_a = testpki_slurp(path);
    snprintf(g_key_a, sizeof g_key_a, "%s/dev-a-registered.key", g_root);
    snprintf(g_key_twin, sizeof g_key_twin, "%s/devices/dev-a.key", g_pki);
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

/* ---- per test: a database with dev-a registered ---------------------------- */

typedef struct fixture {
    char path[TESTDB_TARGET_MAX];
    sqldb *db;       /* the test's own connection, for checks */
    store *s;        /* the "collector's": ingest's, and the verifier passes' */
    ingest *in;
} fixture;

static const ingest_limits limits = {
    .quarantine_max_rows = 1000,
    .quarantine_payload_bytes = 4096,
    .future_skew_ms = 24 * HOUR_MS,
    .integrity = {.clock_skew_ms = 300000, .gap_grace_ms = 600000},
};

static void open_collector(fixture *fx)
{
    char err[600];

    if (store_open(fx->path, &fx->s, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(fx->in = ingest_new(fx->s, &limits));
}

/* The collector stops (or dies): its connection and memory go; what it
 * committed stays. */
static void close_collector(fixture *fx)
{
    ingest_free(fx->in);
    store_close(fx->s);
    fx->in = NULL;
    fx->s = NULL;
}

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    static const char add[] = "INSERT INTO devices(device_id, clinic, cert_pem, added_at) "
                              "VALUES ('dev-a', 'clinic-1', ?1, '2026-01-01T00:00:00.000Z')";
    sqldb_stmt *st = NULL;

    if (!fx)
        return -1;
    testdb_new(fx->path, sizeof fx->path);
    fx->db = testdb_open(fx->path);
    if (sqldb_prepare(fx->db, add, &st) != 0 || sqldb_bind_text(st, 1, g_cert_a) != 0 ||
        sqldb_step(st) != 0)
        fail_msg("%s", sqldb_errmsg(fx->db));
    sqldb_finalize(st);
    open_collector(fx);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *fx = *state;
    close_collector(fx);
    sqldb_close(fx->db);
    testdb_drop(fx->path);
    free(fx);
    return 0;
}

static int64_t q_int(sqldb *db, const char *sql)
{
    return testdb_int(db, sql);
}

static int64_t pending(fixture *fx)
{
    return q_int(fx->db, "SELECT count(*) FROM checkpoints WHERE state = 'pending'");
}

/* ---- chains ----------------------------------------------------------------- */

#define CHAIN_MAX 400

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

/* Appends r as seq n+1, linked to prev (the chain's own head unless
 * given: a stray that does not link). */
static void chain_push_prev(chain *c, record *r, const char *prev)
{
    uint64_t seq = c->n + 1;
    assert_true(seq <= CHAIN_MAX);
    r->seq = seq;
    memcpy(r->prev, prev ? prev : c->hash[c->n], RECORD_HASH_HEX);
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
    chain_push_prev(c, &r, NULL);
}

static void fill(chain *c, uint64_t to)
{
    while (c->n < to)
        push_event(c);
}

/* A checkpoint of (head_seq, head_hash) with sig; prev as chain_push_prev. */
static void push_checkpoint_raw(chain *c, uint64_t head_seq, const char *head_hash,
                                const char *sig, const char *prev)
{
    record r;
    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)head_seq);
    record_set_str(&r, "head_hash", head_hash);
    record_set_str(&r, "sig", sig);
    chain_push_prev(c, &r, prev);
}

static void sign_head(const char *key_file, uint64_t head_seq, const char *head_hash, char *sig)
{
    signer *sg = NULL;
    char err[256], msg[256];

    if (signer_open(key_file, &sg, err, sizeof err) != 0)
        fail_msg("signer_open %s: %s", key_file, err);
    int len = sign_checkpoint_message("dev-a", head_seq, head_hash, msg, sizeof msg);
    if (signer_sign(sg, msg, (size_t)len, sig, err, sizeof err) != 0)
        fail_msg("signer_sign: %s", err);
    signer_free(sg);
}

/* A checkpoint of the record before it, signed by key_file (NULL: a
 * garbage signature). */
static void push_checkpoint(chain *c, const char *key_file)
{
    char sig[SIGN_B64_MAX] = GARBAGE_SIG;

    if (key_file)
        sign_head(key_file, c->n, c->hash[c->n], sig);
    push_checkpoint_raw(c, c->n, c->hash[c->n], sig, NULL);
}

/* seq from..to as one message's payload (malloc'd). */
static char *payload_of(const chain *c, uint64_t from, uint64_t to, size_t *len)
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
    int k = message_encode_batch("dev-a", canon, lens, n, buf, cap);
    assert_true(k > 0);
    *len = (size_t)k;
    return buf;
}

/* Ingests seq from..to as one message and commits it; returns the ack. */
static uint64_t send_range(fixture *fx, const chain *c, uint64_t from, uint64_t to,
                           ingest_result *r)
{
    size_t len;
    char *buf = payload_of(c, from, to, &len);

    assert_int_equal(ingest_events(fx->in, "smp/v1/dev/dev-a/events", buf, len, now_ms(), r), 0);
    free(buf);
    if (r->quarantined)
        fail_msg("quarantined: %s", r->reason);
    assert_true(r->ack);
    return r->ack_seq;
}

/* ---- alerts ------------------------------------------------------------------ */

static int count_raised(const alert_batch *b, const char *cause)
{
    int n = 0;
    for (size_t i = 0; i < b->count; i++)
        n += b->events[i].kind == ALERT_RAISED && strcmp(b->events[i].a.cause, cause) == 0;
    return n;
}

static const alert *find_raised(const alert_batch *b, const char *cause)
{
    for (size_t i = 0; i < b->count; i++)
        if (b->events[i].kind == ALERT_RAISED && strcmp(b->events[i].a.cause, cause) == 0)
            return &b->events[i].a;
    fail_msg("no alert %s among %zu events", cause, b->count);
    return NULL;
}

static int64_t evidence_int(const char *evidence, const char *key)
{
    cJSON *o = cJSON_Parse(evidence);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        fail_msg("evidence has no number %s: %s", key, evidence);
    int64_t n = (int64_t)v->valuedouble;
    cJSON_Delete(o);
    return n;
}

static int64_t alert_rows(fixture *fx, const char *cause)
{
    return testdb_int_s(fx->db, "SELECT count(*) FROM alerts WHERE rule = 'R9' AND cause = ?1",
                        cause);
}

/* The R9 a forged checkpoint at seq 6 (head 5) raises: what the commit
 * path raised before signatures moved off it. */
static void assert_checkpoint_alert(const alert *a, fixture *fx)
{
    cJSON *ev = cJSON_Parse(a->evidence);
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(ev, "reason");

    assert_string_equal(a->rule, "R9");
    assert_string_equal(a->severity, "integrity");
    assert_string_equal(a->device, "dev-a");
    assert_string_equal(a->clinic, "clinic-1");
    assert_string_equal(a->cause, "checkpoint:seq=6");
    assert_string_equal(a->message,
                        "checkpoint signature does not verify with the device's registered key");
    assert_true(a->id > 0);
    assert_int_equal(evidence_int(a->evidence, "seq"), 6);
    assert_int_equal(evidence_int(a->evidence, "head_seq"), 5);
    assert_int_equal(evidence_int(a->evidence, "previous_certificates_tried"), 0);
    assert_int_equal(evidence_int(a->evidence, "unverified_through"), 6);
    assert_true(cJSON_IsString(reason) && reason->valuestring[0]);
    cJSON_Delete(ev);
    /* The record it names is the checkpoint that carried the signature. */
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM records WHERE device_id = 'dev-a' "
                                   "AND seq = 6 AND type = 'checkpoint'"), 1);
    assert_int_equal(testdb_int_s(fx->db, "SELECT count(*) FROM alerts WHERE rule = 'R9' AND "
                                          "device_id = 'dev-a' AND clinic = 'clinic-1' AND "
                                          "cause = 'checkpoint:seq=6' AND evidence = ?1 AND "
                                          "cleared_at IS NULL", a->evidence), 1);
}

/* ---- R9 after the ack, once -------------------------------------------------- */

/* A forged checkpoint (6) and a genuine one (10). The message is stored
 * and acked with no R9 and both signatures pending; the verifier raises R9
 * for 6 alone, against that record, once: a second pass finds nothing. */
static void test_bad_signature_raised_after_ack_once(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    alert_batch *b = calloc(1, sizeof *b);
    verifier_tally t = {0};
    ingest_result r;

    assert_non_null(b);
    fill(c, 5);
    push_checkpoint(c, NULL);                       /* 6: forged */
    fill(c, 9);
    push_checkpoint(c, g_key_a);                    /* 10: genuine */
    fill(c, 11);
    assert_int_equal(send_range(fx, c, 1, 11, &r), 11);
    assert_int_equal(r.stored, 11);
    assert_int_equal(r.alerts->count, 0);           /* acked before any signature is checked */
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts"), 0);
    assert_int_equal(pending(fx), 2);

    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 2);
    assert_int_equal(t.checked, 2);
    assert_int_equal(t.verified, 1);
    assert_int_equal(t.failed, 1);
    assert_int_equal(b->count, 1);
    assert_int_equal(b->events[0].kind, ALERT_RAISED);
    assert_checkpoint_alert(&b->events[0].a, fx);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM checkpoints WHERE head_seq = 5 AND "
                                   "state = 'failed' AND checked_at = '" NOW_TS "'"), 1);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM checkpoints WHERE head_seq = 9 AND "
                                   "state = 'verified' AND checked_at = '" NOW_TS "'"), 1);

    /* Again, and after a resend of the same message: nothing more. */
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 0);
    assert_int_equal(b->count, 0);
    assert_int_equal(send_range(fx, c, 1, 11, &r), 11);
    assert_int_equal(r.duplicates, 11);
    assert_int_equal(pending(fx), 0);
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 0);
    assert_int_equal(t.checked, 2);
    assert_int_equal(alert_rows(fx, "checkpoint:seq=6"), 1);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts"), 1);
    free(b);
    free(c);
}

/* A batch of genuine checkpoints is marked verified with one statement,
 * not one each: a pass over 64 of them (one device) takes at most 8
 * statements (the pending query, the registry lookup, the transaction,
 * the mark), every row marked once and counted. */
static void test_batch_marked_with_one_statement(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    alert_batch *b = calloc(1, sizeof *b);
    verifier_tally t = {0};
    ingest_result r;

    assert_non_null(b);
    for (int i = 0; i < 64; i++) {
        push_event(c);
        push_checkpoint(c, g_key_a);
    }
    assert_int_equal(send_range(fx, c, 1, 64, &r), 64);
    assert_int_equal(send_range(fx, c, 65, 128, &r), 128);
    assert_int_equal(pending(fx), 64);
    int64_t before = store_statements(fx->s);
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 64);
    assert_true(store_statements(fx->s) - before <= 8);
    assert_int_equal(t.verified, 64);
    assert_int_equal(t.failed, 0);
    assert_int_equal(b->count, 0);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM checkpoints WHERE state = 'verified' "
                                   "AND checked_at = '" NOW_TS "'"), 64);
    assert_int_equal(pending(fx), 0);
    /* Nothing left: a second pass marks nothing and counts nothing. */
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 0);
    assert_int_equal(t.verified, 64);
    free(b);
    free(c);
}

/* ---- the verifier thread ------------------------------------------------------ */

/* What the thread published (its alerts callback), under a lock. */
typedef struct published {
    pthread_mutex_t mu;
    int batches;
    int raised;
    char causes[8][64];
} published;

static void on_alerts(void *ctx, const alert_batch *b, int64_t at_ms)
{
    published *p = ctx;
    (void)at_ms;
    pthread_mutex_lock(&p->mu);
    p->batches++;
    for (size_t i = 0; i < b->count; i++) {
        if (b->events[i].kind != ALERT_RAISED)
            continue;
        if (p->raised < 8)
            snprintf(p->causes[p->raised], sizeof p->causes[0], "%s", b->events[i].a.cause);
        p->raised++;
    }
    pthread_mutex_unlock(&p->mu);
}

static int raised_count(published *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->raised;
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* Waits up to 10 s for a published R9 (they come after the commit that
 * marked their rows). */
static void wait_raised(published *p)
{
    for (int i = 0; i < 500 && raised_count(p) == 0; i++)
        sleep_ms(20);
}

/* Stores records 1..10 of c: a forged checkpoint at 6, one signed with
 * key A at 10, both queued pending. */
static void send_forged_then_good(fixture *fx, chain *c)
{
    ingest_result r;

    fill(c, 5);
    push_checkpoint(c, NULL);
    fill(c, 9);
    push_checkpoint(c, g_key_a);
    assert_int_equal(send_range(fx, c, 1, 10, &r), 10);
}

/* Waits up to ms for no checkpoint to be pending; the count left. */
static int64_t wait_drained(fixture *fx, long ms)
{
    int64_t n;
    for (long waited = 0; (n = pending(fx)) > 0 && waited < ms; waited += 20)
        sleep_ms(20);
    return n;
}

static verifier *start_holding(fixture *fx, published *p, metrics_counters *mc, long poll_ms,
                               long hold_max_ms)
{
    verifier_publish pub = {p, on_alerts, mc};
    verifier *v = NULL;
    char err[600];

    if (verifier_start(fx->path, &pub, poll_ms, hold_max_ms, &v, err, sizeof err) != 0)
        fail_msg("verifier_start: %s", err);
    return v;
}

static verifier *start(fixture *fx, published *p, metrics_counters *mc, long poll_ms)
{
    return start_holding(fx, p, mc, poll_ms, 0);
}

/* The collector stores and acks, then stops before any verifier ran: the
 * pending rows stay. The next start verifies them at once, publishes the
 * R9 once and counts both results. */
static void test_pending_survives_restart(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    published p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    metrics_counters mc;

    metrics_counters_init(&mc);
    send_forged_then_good(fx, c);
    close_collector(fx);
    assert_int_equal(pending(fx), 2);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts"), 0);

    /* A long poll: only the pass at start can verify them in time. */
    verifier *v = start(fx, &p, &mc, 60000);
    assert_int_equal(wait_drained(fx, 10000), 0);
    verifier_free(v);
    assert_int_equal(raised_count(&p), 1);
    assert_string_equal(p.causes[0], "checkpoint:seq=6");
    assert_int_equal(alert_rows(fx, "checkpoint:seq=6"), 1);
    assert_int_equal(atomic_load(&mc.checkpoints_verified), 1);
    assert_int_equal(atomic_load(&mc.checkpoints_failed), 1);
    open_collector(fx);   /* for the teardown */
    free(c);
}

static void kick(void *ctx)
{
    verifier_kick(ctx);
}

/* A commit that queued a checkpoint wakes the verifier (ingest's hook):
 * with a poll of a minute, it is verified within seconds. The commit did
 * not wait for it: the ack came back with the signature still pending. */
static void test_commit_wakes_verifier(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    published p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ingest_result r;

    verifier *v = start(fx, &p, NULL, 60000);
    sleep_ms(200);                                  /* its first pass: nothing pending */
    ingest_set_checkpoint_hook(fx->in, kick, v);
    fill(c, 5);
    push_checkpoint(c, NULL);                       /* 6: forged */
    assert_int_equal(send_range(fx, c, 1, 6, &r), 6);
    assert_int_equal(r.alerts->count, 0);
    assert_int_equal(wait_drained(fx, 10000), 0);
    wait_raised(&p);
    verifier_free(v);
    ingest_set_checkpoint_hook(fx->in, NULL, NULL);
    assert_int_equal(raised_count(&p), 1);
    assert_string_equal(p.causes[0], "checkpoint:seq=6");
    assert_int_equal(alert_rows(fx, "checkpoint:seq=6"), 1);
    free(c);
}

/* While the committer has messages in hand (a burst), the verifier holds
 * its passes back: kicked, and polling every 100 ms, it verifies nothing
 * for as long as the gauge stays up (hold at most a minute here). Once the
 * committer is done, the queue is verified without another kick. */
static void test_held_back_while_committer_busy(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    published p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    metrics_counters mc;
    ingest_result r;

    metrics_counters_init(&mc);
    fill(c, 5);
    push_checkpoint(c, NULL);                       /* 6: forged */
    assert_int_equal(send_range(fx, c, 1, 6, &r), 6);
    atomic_store(&mc.messages_waiting, 3);
    verifier *v = start_holding(fx, &p, &mc, 100, 60000);
    verifier_kick(v);
    sleep_ms(500);
    int64_t pending_while_busy = pending(fx);
    int raised_while_busy = raised_count(&p);
    atomic_store(&mc.messages_waiting, 0);
    int64_t left = wait_drained(fx, 10000);
    wait_raised(&p);
    verifier_free(v);
    assert_int_equal(pending_while_busy, 1);
    assert_int_equal(raised_while_busy, 0);
    assert_int_equal(left, 0);
    assert_int_equal(raised_count(&p), 1);
    assert_string_equal(p.causes[0], "checkpoint:seq=6");
    free(c);
}

/* A committer that is never idle delays the verifier by the hold's
 * maximum, no more: then the queue is verified, gauge up or not. */
static void test_hold_ends_after_its_maximum(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    published p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    metrics_counters mc;

    metrics_counters_init(&mc);
    send_forged_then_good(fx, c);
    atomic_store(&mc.messages_waiting, 1);
    verifier *v = start_holding(fx, &p, &mc, 60000, 300);
    int64_t left = wait_drained(fx, 10000);
    wait_raised(&p);
    verifier_free(v);
    assert_int_equal(left, 0);
    assert_int_equal((int64_t)atomic_load(&mc.messages_waiting), 1);
    assert_int_equal(raised_count(&p), 1);
    assert_int_equal(atomic_load(&mc.checkpoints_verified), 1);
    assert_int_equal(atomic_load(&mc.checkpoints_failed), 1);
    free(c);
}

/* Stopping finishes the batch the thread is on and leaves the rest
 * pending: rows are marked a whole batch at a time, never half of one. The
 * next start verifies the rest. */
static void test_stop_leaves_rest_pending(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    published p = {.mu = PTHREAD_MUTEX_INITIALIZER};
    ingest_result r;
    const int total = 150;

    /* A record then a checkpoint, 150 times: 300 records, 5 messages. */
    for (int i = 0; i < total; i++) {
        push_event(c);
        push_checkpoint(c, i % 2 ? g_key_a : NULL);
    }
    for (uint64_t from = 1; from <= c->n; from += 60)
        send_range(fx, c, from, from + 59 < c->n ? from + 59 : c->n, &r);
    assert_int_equal(pending(fx), total);

    /* Stopped while it works on its second batch (a batch is ~64 ECDSA
     * verifies): the first is committed, the second finishes, the third
     * is never started. */
    verifier *v = start(fx, &p, NULL, 60000);
    for (int i = 0; i < 20000 && pending(fx) > total - VERIFIER_BATCH; i++)
        sleep_ms(1);
    verifier_stop(v);
    int64_t marked = total - pending(fx);
    assert_true(marked >= VERIFIER_BATCH);
    if (marked != total && marked % VERIFIER_BATCH != 0)
        fail_msg("stopped with %" PRId64 " checkpoints marked: not whole batches of %d",
                 marked, VERIFIER_BATCH);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM checkpoints WHERE state <> 'pending' "
                                   "AND checked_at IS NULL"), 0);
    verifier_kick(v);                               /* after the stop: ignored */
    verifier_free(v);

    v = start(fx, &p, NULL, 60000);
    assert_int_equal(wait_drained(fx, 20000), 0);
    verifier_free(v);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM checkpoints WHERE state = 'failed'"),
                     total / 2);
    assert_int_equal(raised_count(&p), total / 2);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts WHERE rule = 'R9'"), total / 2);
    free(c);
}

/* ---- two verifiers -------------------------------------------------------------- */

typedef struct racer {
    const char *path;
    pthread_barrier_t *go;
    verifier_tally t;
    int published;            /* R9 events its passes returned */
    int passes;
} racer;

/* Passes on its own connection until no checkpoint is pending. */
static void *race(void *arg)
{
    racer *x = arg;
    alert_batch *b = calloc(1, sizeof *b);
    sqldb *check = testdb_open(x->path);
    store *s = NULL;
    char err[600];

    if (store_open(x->path, &s, err, sizeof err) != 0)
        fprintf(stderr, "test_verifier: %s\n", err);
    pthread_barrier_wait(x->go);
    for (int i = 0; b && s && i < 2000; i++) {
        int n = verifier_pass(s, 16, now_ms(), b, &x->t);
        if (n < 0)
            break;
        x->passes++;
        for (size_t k = 0; k < b->count; k++)
            x->published += b->events[k].kind == ALERT_RAISED;
        if (n == 0 && testdb_int(check, "SELECT count(*) FROM checkpoints WHERE state = 'pending'") == 0)
            break;
        if (n == 0)
            sleep_ms(5);
    }
    store_close(s);
    sqldb_close(check);
    free(b);
    return NULL;
}

/* 40 checkpoints pending, 20 forged, two verifiers at once on two
 * connections: every row marked once, every R9 raised and returned once.
 * On PostgreSQL the lock admits one verifier: nothing is verified twice.
 * (SQLite has one collector per database: the lock is always held there,
 * and the pending check alone keeps the marks and alerts single.) */
static void test_two_verifiers_never_twice(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    ingest_result r;
    pthread_barrier_t go;
    pthread_t th[2];
    racer x[2];

    for (int i = 0; i < 40; i++) {
        push_event(c);
        push_checkpoint(c, i % 2 ? g_key_a : NULL);
    }
    for (uint64_t from = 1; from <= c->n; from += 40)
        send_range(fx, c, from, from + 39, &r);
    assert_int_equal(pending(fx), 40);
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        x[i] = (racer){.path = fx->path, .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, race, &x[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);

    assert_int_equal(pending(fx), 0);
    assert_int_equal(x[0].t.verified + x[1].t.verified, 20);
    assert_int_equal(x[0].t.failed + x[1].t.failed, 20);
    assert_int_equal(x[0].published + x[1].published, 20);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts WHERE rule = 'R9'"), 20);
    assert_int_equal(q_int(fx->db, "SELECT count(DISTINCT cause) FROM alerts WHERE rule = 'R9'"), 20);
    if (testdb_is_postgres()) {
        assert_int_equal(x[0].t.checked + x[1].t.checked, 40);
        assert_true(x[0].t.checked == 0 || x[1].t.checked == 0);
    }
    free(c);
}

/* PostgreSQL: the verifier whose connection holds the lock verifies; while
 * it lives another finds the rows pending and leaves them; when its
 * connection ends (the collector stopped) the other takes over. */
static void test_lock_passes_to_another_collector(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    alert_batch *b = calloc(1, sizeof *b);
    verifier_tally t1 = {0}, t2 = {0};
    store *other = NULL;
    ingest_result r;
    char err[600];

    if (!testdb_is_postgres()) {
        free(b);
        free(c);
        skip();
    }
    assert_non_null(b);
    if (store_open(fx->path, &other, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t1), 0);  /* takes the lock */
    fill(c, 5);
    push_checkpoint(c, NULL);
    send_range(fx, c, 1, 6, &r);
    assert_int_equal(verifier_pass(other, VERIFIER_BATCH, now_ms(), b, &t2), 0);
    assert_int_equal(t2.checked, 0);
    assert_int_equal(pending(fx), 1);
    close_collector(fx);
    /* The server lets go of the lock once the closed session's backend is
     * gone, a moment after the close: the other polls, as the verifier
     * thread does. */
    int n = 0;
    for (int i = 0; i < 500 && (n = verifier_pass(other, VERIFIER_BATCH, now_ms(), b, &t2)) == 0; i++)
        sleep_ms(10);
    assert_int_equal(n, 1);
    assert_int_equal(t2.failed, 1);
    assert_int_equal(count_raised(b, "checkpoint:seq=6"), 1);
    assert_checkpoint_alert(find_raised(b, "checkpoint:seq=6"), fx);
    store_close(other);
    open_collector(fx);
    free(b);
    free(c);
}

/* ---- a superseded checkpoint ------------------------------------------------------ */

/* A stray checkpoint at 6 that does not link (a cloned certificate) is
 * stored and queued; the operator recovers the chain from 6 before the
 * verifier ran. Its row then waits (its record is gone) instead of being
 * judged; the device's own checkpoint 6 replaces it and is verified. */
static void test_superseded_checkpoint_queued_afresh(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new(), *stray;
    alert_batch *b = calloc(1, sizeof *b);
    verifier_tally t = {0};
    device_recovery rec;
    ingest_result r;
    char err[600], other[RECORD_HASH_HEX], sig[SIGN_B64_MAX];

    assert_non_null(b);
    fill(c, 5);
    assert_int_equal(send_range(fx, c, 1, 5, &r), 5);
    stray = malloc(sizeof *stray);
    assert_non_null(stray);
    memcpy(stray, c, sizeof *stray);
    memset(other, 'e', RECORD_HASH_HEX - 1);
    other[RECORD_HASH_HEX - 1] = '\0';
    sign_head(g_key_twin, 5, other, sig);
    push_checkpoint_raw(stray, 5, other, sig, other);   /* 6: links to nothing stored */
    assert_int_equal(send_range(fx, stray, 6, 6, &r), 5);
    assert_int_equal(pending(fx), 1);
    assert_int_equal(device_recover_chain(fx->db, "dev-a", 6, "J. Smith", "stray", NOW_TS, &rec,
                                          err, sizeof err), 0);
    assert_int_equal(rec.records_moved, 1);
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 0);
    assert_int_equal(pending(fx), 1);

    push_checkpoint(c, g_key_a);                        /* the device's own 6 */
    assert_int_equal(send_range(fx, c, 6, 6, &r), 6);
    assert_int_equal(pending(fx), 1);
    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 1);
    assert_int_equal(t.verified, 1);
    assert_int_equal(b->count, 0);
    assert_int_equal(testdb_int_s(fx->db, "SELECT count(*) FROM checkpoints WHERE head_seq = 5 "
                                          "AND state = 'verified' AND head_hash = ?1", c->hash[5]), 1);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts WHERE "
                                   "substr(cause, 1, 11) = 'checkpoint:'"), 0);
    free(stray);
    free(b);
    free(c);
}

/* ---- the queue's order (store_pending_checkpoints) -------------------------------- */

/* A checkpoints row and, unless rec_type is NULL, a record of that type at
 * head_seq + 1 (ts derived from head_seq). Straight into the tables: the
 * query reads only them. */
static void put_ckpt(sqldb *db, const char *device, int64_t head_seq, const char *received_at,
                     const char *state, const char *rec_type)
{
    static const char ck[] = "INSERT INTO checkpoints(device_id, head_seq, head_hash, sig, "
                             "received_at, state, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    static const char rec[] = "INSERT INTO records(device_id, seq, ts, received_at, type, prev, "
                              "hash, body) VALUES (?1, ?2, ?3, ?4, ?5, 'p', 'h', '{}')";
    char hash[32], sig[32], ts[RECORD_TS_LEN + 1];
    sqldb_stmt *st = NULL;

    snprintf(hash, sizeof hash, "hash-%s-%" PRId64, device, head_seq);
    snprintf(sig, sizeof sig, "sig-%s-%" PRId64, device, head_seq);
    record_ts_format(now_ms() - 30 * 24 * HOUR_MS + head_seq * 1000, ts);
    if (sqldb_prepare(db, ck, &st) != 0 || sqldb_bind_text(st, 1, device) != 0 ||
        sqldb_bind_int64(st, 2, head_seq) != 0 || sqldb_bind_text(st, 3, hash) != 0 ||
        sqldb_bind_text(st, 4, sig) != 0 || sqldb_bind_text(st, 5, received_at) != 0 ||
        sqldb_bind_text(st, 6, state) != 0 ||
        sqldb_bind_text(st, 7, strcmp(state, "pending") ? received_at : NULL) != 0 ||
        sqldb_step(st) != 0)
        fail_msg("checkpoint %s/%" PRId64 ": %s", device, head_seq, sqldb_errmsg(db));
    sqldb_finalize(st);
    if (!rec_type)
        return;
    if (sqldb_prepare(db, rec, &st) != 0 || sqldb_bind_text(st, 1, device) != 0 ||
        sqldb_bind_int64(st, 2, head_seq + 1) != 0 || sqldb_bind_text(st, 3, ts) != 0 ||
        sqldb_bind_text(st, 4, received_at) != 0 || sqldb_bind_text(st, 5, rec_type) != 0 ||
        sqldb_step(st) != 0)
        fail_msg("record %s/%" PRId64 ": %s", device, head_seq + 1, sqldb_errmsg(db));
    sqldb_finalize(st);
}

static void assert_row(const store_checkpoint *c, const char *device, int64_t head_seq)
{
    char hash[32], sig[32], ts[RECORD_TS_LEN + 1];

    snprintf(hash, sizeof hash, "hash-%s-%" PRId64, device, head_seq);
    snprintf(sig, sizeof sig, "sig-%s-%" PRId64, device, head_seq);
    record_ts_format(now_ms() - 30 * 24 * HOUR_MS + head_seq * 1000, ts);
    assert_string_equal(c->device, device);
    assert_int_equal(c->head_seq, head_seq);
    assert_string_equal(c->head_hash, hash);
    assert_string_equal(c->sig, sig);
    assert_string_equal(c->ts, ts);
}

/* 800 checkpoints of two devices, all but eight verified or failed. The
 * queue hands out the pending ones whose checkpoint record is stored,
 * oldest received first (then by device, then head_seq), and passes over
 * those without one (superseded, or a record of another type at that seq)
 * without their taking a place in the batch: the oldest three rows of the
 * queue are such, and a batch of 3 is still three checkpoints. */
static void test_pending_oldest_first_among_many(void **state)
{
    fixture *fx = *state;
    store_checkpoint rows[64];
    char at[RECORD_TS_LEN + 1];
    size_t n = 0;

    testdb_exec(fx->db, "INSERT INTO devices(device_id, clinic, added_at) "
                        "VALUES ('dev-b', 'clinic-1', '2026-01-01T00:00:00.000Z')");
    assert_int_equal(sqldb_begin(fx->db, SQLDB_WRITE), 0);
    for (int64_t k = 0; k < 400; k++) {
        record_ts_format(now_ms() - 2 * HOUR_MS + k * 1000, at);   /* 08:00:00 + k s */
        put_ckpt(fx->db, "dev-a", 10 * k + 9, at, k % 2 ? "failed" : "verified", "checkpoint");
        put_ckpt(fx->db, "dev-b", 10 * k + 9, at, k % 3 ? "verified" : "failed", "checkpoint");
    }
    /* Pending, newest first here; the ones with no checkpoint record are
     * the oldest. */
    put_ckpt(fx->db, "dev-a", 8009, "2026-03-02T09:00:00.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-a", 4019, "2026-03-02T07:00:02.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-a", 4009, "2026-03-02T07:00:02.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-b", 4009, "2026-03-02T07:00:01.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-a", 4029, "2026-03-02T07:00:01.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-b", 5009, "2026-03-02T07:00:00.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-a", 6009, "2026-03-02T06:00:00.000Z", "pending", NULL);
    put_ckpt(fx->db, "dev-b", 6009, "2026-03-02T06:00:00.000Z", "pending", "grip_assign");
    put_ckpt(fx->db, "dev-a", 6019, "2026-03-02T06:00:01.000Z", "pending", NULL);
    assert_int_equal(sqldb_commit(fx->db), 0);
    assert_int_equal(pending(fx), 9);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM checkpoints"), 809);

    assert_int_equal(store_pending_checkpoints(fx->s, rows, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_row(&rows[0], "dev-b", 5009);
    assert_row(&rows[1], "dev-a", 4029);   /* same received_at: by device */
    assert_row(&rows[2], "dev-b", 4009);

    assert_int_equal(store_pending_checkpoints(fx->s, rows, 64, &n), 0);
    assert_int_equal(n, 6);
    assert_row(&rows[0], "dev-b", 5009);
    assert_row(&rows[1], "dev-a", 4029);
    assert_row(&rows[2], "dev-b", 4009);
    assert_row(&rows[3], "dev-a", 4009);   /* same received_at and device: by head_seq */
    assert_row(&rows[4], "dev-a", 4019);
    assert_row(&rows[5], "dev-a", 8009);

    /* Once the oldest are marked, the next in line come first. */
    for (int i = 0; i < 2; i++) {
        bool marked = false;
        assert_int_equal(store_begin(fx->s), 0);
        assert_int_equal(store_mark_checkpoint(fx->s, &rows[i], i == 0, NOW_TS, &marked), 0);
        assert_int_equal(store_commit(fx->s), 0);
        assert_true(marked);
    }
    assert_int_equal(store_pending_checkpoints(fx->s, rows, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_row(&rows[0], "dev-b", 4009);
    assert_row(&rows[1], "dev-a", 4009);
    assert_int_equal(store_pending_checkpoints(fx->s, rows, 64, &n), 0);
    assert_int_equal(n, 4);
    assert_row(&rows[3], "dev-a", 8009);
}

/* One batch alternating between two devices, then two rows of one: each
 * row is judged with its own device's registry row (dev-a: a certificate,
 * clinic-1; dev-b: none, clinic-2), however the batch reads them. The
 * signatures are not base64: dev-a's rows fail, dev-b's raise
 * no-certificate once. */
static void test_batch_of_two_devices_judged_each_by_its_own(void **state)
{
    fixture *fx = *state;
    alert_batch *b = calloc(1, sizeof *b);
    verifier_tally t = {0};

    assert_non_null(b);
    testdb_exec(fx->db, "INSERT INTO devices(device_id, clinic, added_at) "
                        "VALUES ('dev-b', 'clinic-2', '2026-01-01T00:00:00.000Z')");
    put_ckpt(fx->db, "dev-a", 9, "2026-03-02T07:00:00.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-b", 9, "2026-03-02T07:00:01.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-a", 19, "2026-03-02T07:00:02.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-b", 19, "2026-03-02T07:00:02.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-b", 29, "2026-03-02T07:00:03.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-b", 39, "2026-03-02T07:00:03.000Z", "pending", "checkpoint");
    put_ckpt(fx->db, "dev-a", 29, "2026-03-02T07:00:04.000Z", "pending", "checkpoint");

    assert_int_equal(verifier_pass(fx->s, VERIFIER_BATCH, now_ms(), b, &t), 7);
    assert_int_equal(t.checked, 7);
    assert_int_equal(t.verified, 0);
    assert_int_equal(t.failed, 7);
    assert_int_equal(b->count, 4);
    assert_string_equal(find_raised(b, "checkpoint:seq=10")->clinic, "clinic-1");
    assert_string_equal(find_raised(b, "checkpoint:seq=20")->clinic, "clinic-1");
    assert_string_equal(find_raised(b, "checkpoint:seq=30")->clinic, "clinic-1");
    const alert *nc = find_raised(b, "no-certificate");
    assert_string_equal(nc->device, "dev-b");
    assert_string_equal(nc->clinic, "clinic-2");
    assert_int_equal(evidence_int(nc->evidence, "seq"), 10);
    for (size_t i = 0; i < b->count; i++)
        if (strcmp(b->events[i].a.cause, "no-certificate") != 0) {
            assert_string_equal(b->events[i].a.device, "dev-a");
            assert_non_null(strstr(b->events[i].a.evidence, "\"reason\":\"sig: not base64"));
        }
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts WHERE rule = 'R9' AND "
                                   "device_id = 'dev-b' AND clinic = 'clinic-2'"), 1);
    assert_int_equal(q_int(fx->db, "SELECT count(*) FROM alerts WHERE rule = 'R9' AND "
                                   "device_id = 'dev-a' AND clinic = 'clinic-1'"), 3);
    assert_int_equal(pending(fx), 0);
    free(b);
}

/* ---- metrics ---------------------------------------------------------------------- */

static void has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("metrics lack \"%s\" in:\n%s", want, text);
}

static void test_metrics_pending_and_counts(void **state)
{
    fixture *fx = *state;
    chain *c = chain_new();
    metrics_counters mc;
    ingest_result r;
    char *text = NULL;
    size_t len;

    metrics_counters_init(&mc);
    fill(c, 5);
    push_checkpoint(c, NULL);
    fill(c, 9);
    push_checkpoint(c, g_key_a);
    send_range(fx, c, 1, 10, &r);
    atomic_store(&mc.checkpoints_verified, 7);
    atomic_store(&mc.checkpoints_failed, 3);
    assert_int_equal(metrics_render(fx->db, &mc, "smp-collector-1", &text, &len), 0);
    has(text, "# TYPE smp_checkpoints_verified_total counter\n");
    has(text, "\nsmp_checkpoints_verified_total{collector=\"smp-collector-1\",result=\"verified\"} 7\n");
    has(text, "\nsmp_checkpoints_verified_total{collector=\"smp-collector-1\",result=\"failed\"} 3\n");
    has(text, "# TYPE smp_checkpoints_pending gauge\n");
    has(text, "# HELP smp_checkpoints_pending Stored checkpoints whose signature is not verified yet");
    has(text, "\nsmp_checkpoints_pending 2\n");
    free(text);
    free(c);
}

int main(void)
{
    const char *smpctl = smpctl_path();
    if (access(smpctl, X_OK) != 0) {
        fprintf(stderr, "test_verifier: FAILED: smpctl not found at %s (needed for keys and "
                        "certificates).\n  Build it first (`make`), or set SMPCTL=/path/to/smpctl.\n",
                smpctl);
        return 1;
    }
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_bad_signature_raised_after_ack_once),
        T(test_batch_marked_with_one_statement),
        T(test_pending_survives_restart),
        T(test_commit_wakes_verifier),
        T(test_held_back_while_committer_busy),
        T(test_hold_ends_after_its_maximum),
        T(test_stop_leaves_rest_pending),
        T(test_two_verifiers_never_twice),
        T(test_lock_passes_to_another_collector),
        T(test_superseded_checkpoint_queued_afresh),
        T(test_pending_oldest_first_among_many),
        T(test_batch_of_two_devices_judged_each_by_its_own),
        T(test_metrics_pending_and_counts),
    };
#undef T
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
