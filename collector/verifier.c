#include "verifier.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/x509_crt.h>

#include "alerting.h"
#include "log.h"
#include "monoclock.h"
#include "sign.h"

/* ---- one checkpoint ------------------------------------------------------- */

/* What the verifier found for one checkpoint; for a failed one, the alert
 * it raises once the row is marked. */
typedef struct verdict {
    bool ok;
    char clinic[RECORD_STR_MAX + 1];
    char cause[64];
    const char *message;
    char evidence[600];
} verdict;

/* The certificate's serial as the PKI index and `smpctl pki revoke
 * --serial` write it (upper-case hex, no leading zero octet); "?" when it
 * does not parse. Only for log lines: runs when a previous certificate
 * verified, which is rare. */
static void cert_serial(const char *pem, char *out, size_t cap)
{
    mbedtls_x509_crt crt;

    snprintf(out, cap, "?");
    mbedtls_x509_crt_init(&crt);
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) == 0)
        sign_serial_hex(crt.serial.p, crt.serial.len, out, cap);
    mbedtls_x509_crt_free(&crt);
}

/* One checkpoint tried against the device's previous certificates. */
typedef struct history_try {
    const char *msg, *sig;
    size_t len;
    int tried;
    bool verified;
    char until[RECORD_TS_LEN + 1];
    char serial[64];                 /* of the one that verified */
} history_try;

static int try_previous_cert(void *ctx, const char *pem, const char *until)
{
    history_try *t = ctx;
    char why[200];

    t->tried++;
    if (sign_verify_cert(pem, t->msg, t->len, t->sig, why, sizeof why) != 0)
        return 0;
    t->verified = true;
    snprintf(t->until, sizeof t->until, "%s", until);
    cert_serial(pem, t->serial, sizeof t->serial);
    return 1;
}

/* The current certificate first: it verifies everything but the switch's
 * stragglers, so the history costs nothing in the steady state. Then the
 * previous certificates replaced less than CERT_HISTORY_GRACE_MS before the
 * checkpoint's ts, newest first. 1 when one verified, 0 when none, -1 on a
 * store error. why says why the current one did not. */
static int verify_checkpoint(store *s, const store_checkpoint *c, const char *cert_pem,
                             const char *msg, size_t len, char *why, size_t whylen, int *tried)
{
    history_try t = {.msg = msg, .sig = c->sig, .len = len};
    char after[RECORD_TS_LEN + 1];
    int64_t ts_ms;

    *tried = 0;
    if (sign_verify_cert(cert_pem, msg, len, c->sig, why, whylen) == 0)
        return 1;
    if (record_ts_parse(c->ts, &ts_ms) != 0)
        return 0;
    record_ts_format(ts_ms - CERT_HISTORY_GRACE_MS, after);
    if (store_cert_history(s, c->device, after, try_previous_cert, &t) != 0)
        return -1;
    *tried = t.tried;
    if (!t.verified)
        return 0;
    /* Accepted, and said so: an operator revoking a key for compromise can
     * see whether anything still arrives signed with it. */
    log_info("checkpoint verified with a previous certificate device=%s seq=%" PRIu64
             " ts=%s serial=%s registered_until=%s", c->device, c->head_seq + 1, c->ts, t.serial,
             t.until);
    return 1;
}

/* Judges c with info, its device's registry row (certificates as
 * registered now): 0 with *v filled, -1 on a store error. */
static int judge(store *s, const store_checkpoint *c, const device_info *info, verdict *v)
{
    uint64_t seq = c->head_seq + 1;
    char msg[256], why[200];
    int len, tried, ok;

    memset(v, 0, sizeof *v);
    snprintf(v->clinic, sizeof v->clinic, "%s", info->clinic);
    if (!info->cert_pem[0]) {
        snprintf(v->cause, sizeof v->cause, "no-certificate");
        v->message = "checkpoints cannot be verified: no certificate registered (smpctl device add --cert)";
        snprintf(v->evidence, sizeof v->evidence, "{\"seq\":%" PRIu64 "}", seq);
        return 0;
    }
    len = sign_checkpoint_message(c->device, c->head_seq, c->head_hash, msg, sizeof msg);
    if ((ok = verify_checkpoint(s, c, info->cert_pem, msg, (size_t)len, why, sizeof why, &tried)) < 0)
        return -1;
    v->ok = ok == 1;
    if (v->ok)
        return 0;
    /* The signature was to prove every record up to head_seq; those after
     * the device's last checkpoint that verified are now proven by none. */
    snprintf(v->cause, sizeof v->cause, "checkpoint:seq=%" PRIu64, seq);
    v->message = "checkpoint signature does not verify with the device's registered key";
    snprintf(v->evidence, sizeof v->evidence, "{\"seq\":%" PRIu64 ",\"head_seq\":%" PRIu64
             ",\"reason\":\"%s\",\"previous_certificates_tried\":%d,\"unverified_through\":%"
             PRIu64 "}", seq, c->head_seq, why, tried, seq);
    return 0;
}

/* Judges rows[0..n) into v. Rows come oldest first, a message's
 * checkpoints side by side: each run of one device's rows reads its
 * registry row once (a round trip on PostgreSQL, as long as a verify). */
static int judge_all(store *s, const store_checkpoint *rows, size_t n, verdict *v,
                     verifier_tally *tally)
{
    device_info *info = malloc(sizeof *info);
    int rc = -1;

    if (!info)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((i == 0 || strcmp(rows[i].device, rows[i - 1].device) != 0) &&
            store_device(s, rows[i].device, info) != 0)
            goto cleanup;
        if (judge(s, &rows[i], info, &v[i]) != 0)
            goto cleanup;
        tally->checked++;
    }
    rc = 0;
cleanup:
    free(info);
    return rc;
}

/* ---- one batch ------------------------------------------------------------ */

static int by_device(const void *a, const void *b)
{
    return strcmp(((const store_checkpoint *)a)->device, ((const store_checkpoint *)b)->device);
}

/* The device locks of the batch's failed rows, in sorted order (store.h):
 * an R9 is decided under its device's lock, as ingest decides its own.
 * Marking a row verified needs none (its UPDATE matches the row only while
 * it is pending with the same signature), and taking the locks of every
 * device of a batch would hold each device's commits up for the batch's
 * transaction, many times a second once verifying is fast. */
static int lock_failed_devices(store *s, const store_checkpoint *rows, const verdict *v,
                               size_t n)
{
    store_checkpoint *sorted = malloc(n * sizeof *sorted);
    size_t nfailed = 0;
    int rc = 0;

    if (!sorted)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!v[i].ok)
            sorted[nfailed++] = rows[i];
    qsort(sorted, nfailed, sizeof *sorted, by_device);
    for (size_t i = 0; i < nfailed && rc == 0; i++)
        if (i == 0 || strcmp(sorted[i].device, sorted[i - 1].device) != 0)
            rc = store_lock_device(s, sorted[i].device);
    free(sorted);
    return rc;
}

/* Marks the rows whose signature verified with one statement (a mark per
 * row was a fifth of PostgreSQL's time in the bench's burst), setting
 * their marked[i]. */
static int mark_verified(store *s, const store_checkpoint *rows, const verdict *v, size_t n,
                         const char *now_ts, bool *marked)
{
    store_checkpoint good[VERIFIER_BATCH];
    bool good_marked[VERIFIER_BATCH];
    size_t at[VERIFIER_BATCH], k = 0;

    for (size_t i = 0; i < n && i < VERIFIER_BATCH; i++)
        if (v[i].ok) {
            at[k] = i;
            good[k++] = rows[i];
        }
    if (k == 0)
        return 0;
    if (store_mark_verified(s, good, k, now_ts, good_marked) != 0)
        return -1;
    for (size_t j = 0; j < k; j++)
        marked[at[j]] = good_marked[j];
    return 0;
}

/* Marks the batch and raises the failed ones' alerts, in one transaction;
 * marked[i] says which rows this verifier marked (committed). */
static int mark_batch(store *s, const store_checkpoint *rows, const verdict *v, size_t n,
                      const char *now_ts, alert_batch *alerts, bool *marked)
{
    alerting al = {s, now_ts, alerts};

    alerts->count = alerts->dropped = 0;
    if (store_begin(s) != 0)
        return -1;
    if (lock_failed_devices(s, rows, v, n) != 0 || mark_verified(s, rows, v, n, now_ts, marked) != 0)
        goto undo;
    for (size_t i = 0; i < n; i++) {
        if (v[i].ok)
            continue;
        if (store_mark_checkpoint(s, &rows[i], false, now_ts, &marked[i]) != 0)
            goto undo;
        if (!marked[i])
            continue;
        alert a = {.rule = "R9", .severity = "integrity"};
        snprintf(a.device, sizeof a.device, "%s", rows[i].device);
        snprintf(a.clinic, sizeof a.clinic, "%s", v[i].clinic);
        snprintf(a.cause, sizeof a.cause, "%s", v[i].cause);
        snprintf(a.message, sizeof a.message, "%s", v[i].message);
        snprintf(a.evidence, sizeof a.evidence, "%s", v[i].evidence);
        if (alerting_raise(&al, &a) != 0)
            goto undo;
    }
    if (store_commit(s) == 0)
        return 0;
undo:
    store_rollback(s);
    alerts->count = alerts->dropped = 0;
    return -1;
}

/* A batch that lost a deadlock or its connection runs its transaction
 * again at once, a few times: its signatures stay checked. */
#define MARK_TRIES 4

int verifier_pass(store *s, size_t max, int64_t now_ms, alert_batch *alerts,
                  verifier_tally *tally)
{
    store_checkpoint *rows = NULL;
    verdict *v = NULL;
    bool *marked = NULL, held = false;
    char now_ts[RECORD_TS_LEN + 1];
    size_t n = 0;
    int rc = -1;

    alerts->count = alerts->dropped = 0;
    if (max > VERIFIER_BATCH)
        max = VERIFIER_BATCH;
    if (max == 0)
        return 0;
    if (store_try_lock_session(s, VERIFIER_LOCK, &held) != 0)
        return -1;
    if (!held)
        return 0;   /* another collector verifies */
    if (!(rows = malloc(max * sizeof *rows)) || !(v = malloc(max * sizeof *v)) ||
        !(marked = calloc(max, sizeof *marked)))
        goto cleanup;
    if (store_pending_checkpoints(s, rows, max, &n) != 0)
        goto cleanup;
    if (judge_all(s, rows, n, v, tally) != 0)
        goto cleanup;
    record_ts_format(now_ms, now_ts);
    for (int tries = 1; n > 0; tries++) {
        if (mark_batch(s, rows, v, n, now_ts, alerts, marked) == 0)
            break;
        if (!store_retryable(s) || tries == MARK_TRIES)
            goto cleanup;
    }
    size_t verified = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        verified += marked[i] && v[i].ok;
        failed += marked[i] && !v[i].ok;
    }
    tally->verified += verified;
    tally->failed += failed;
    log_debug("checkpoints checked=%zu verified=%zu failed=%zu", n, verified, failed);
    rc = (int)n;
cleanup:
    free(marked);
    free(v);
    free(rows);
    return rc;
}

/* ---- the thread ------------------------------------------------------------- */

struct verifier {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;          /* CLOCK_MONOTONIC */
    bool kicked, stopping, joined; /* under mu */
    bool started;                  /* the thread exists */
    /* The thread's own, once started: */
    store *s;
    verifier_publish pub;
    long poll_ms, hold_max_ms;
    int64_t held_since;           /* monotonic ms of the first pass held back; 0: none */
    alert_batch *alerts;
    bool failing;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count(verifier *v, const verifier_tally *t)
{
    metrics_counters *c = v->pub.counters;

    if (!c)
        return;
    atomic_fetch_add_explicit(&c->checkpoints_verified, t->verified, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->checkpoints_failed, t->failed, memory_order_relaxed);
}

/* The committer has messages in hand (metrics_counters.messages_waiting). */
static bool committer_busy(const verifier *v)
{
    return v->pub.counters &&
           atomic_load_explicit(&v->pub.counters->messages_waiting, memory_order_relaxed) > 0;
}

/* Called before each pass, with mu held: waits while the committer is busy,
 * checking every VERIFIER_HOLD_CHECK_MS, until hold_max_ms after the first
 * pass held back. Once that passed, the passes run busy or not until the
 * queue is short of a batch (drain resets held_since). */
static void hold_back(verifier *v)
{
    while (!v->stopping && committer_busy(v)) {
        int64_t now = mono_ms();
        if (!v->held_since)
            v->held_since = now;
        else if (now - v->held_since >= v->hold_max_ms)
            return;
        struct timespec until = mono_deadline(VERIFIER_HOLD_CHECK_MS);
        pthread_cond_timedwait(&v->cond, &v->mu, &until);
    }
}

/* Passes until fewer than a batch were pending, or stop was asked. */
static void drain(verifier *v)
{
    for (;;) {
        pthread_mutex_lock(&v->mu);
        hold_back(v);
        bool stop = v->stopping;
        pthread_mutex_unlock(&v->mu);
        if (stop)
            return;
        verifier_tally t = {0};
        int64_t now = wall_ms();
        int n = verifier_pass(v->s, VERIFIER_BATCH, now, v->alerts, &t);

        if (n < 0) {
            if (!v->failing)
                log_error("checkpoint verifier: the store failed (%s); the pending checkpoints"
                          " stay queued and are tried again every %ld ms",
                          store_errmsg(v->s), v->poll_ms);
            v->failing = true;
            return;
        }
        if (v->failing)
            log_info("checkpoint verifier: the store works again; verifying the pending checkpoints");
        v->failing = false;
        count(v, &t);
        if (v->pub.alerts && (v->alerts->count > 0 || v->alerts->dropped > 0))
            v->pub.alerts(v->pub.ctx, v->alerts, now);
        if ((size_t)n < VERIFIER_BATCH) {
            v->held_since = 0;
            return;
        }
    }
}

static void *run(void *arg)
{
    verifier *v = arg;

    pthread_mutex_lock(&v->mu);
    while (!v->stopping) {
        v->kicked = false;
        pthread_mutex_unlock(&v->mu);
        drain(v);
        pthread_mutex_lock(&v->mu);
        if (v->stopping || v->kicked)
            continue;
        struct timespec until = mono_deadline(v->poll_ms);
        while (!v->stopping && !v->kicked &&
               pthread_cond_timedwait(&v->cond, &v->mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

int verifier_start(const char *db_target, const verifier_publish *pub, long poll_ms,
                   long hold_max_ms, verifier **out, char *err, size_t errlen)
{
    verifier *v = calloc(1, sizeof *v);
    pthread_condattr_t attr;
    char why[600];

    *out = NULL;
    if (!v || !(v->alerts = calloc(1, sizeof *v->alerts))) {
        snprintf(err, errlen, "checkpoint verifier: out of memory");
        free(v);
        return -1;
    }
    v->pub = *pub;
    v->poll_ms = poll_ms > 0 ? poll_ms : VERIFIER_POLL_MS;
    v->hold_max_ms = hold_max_ms > 0 ? hold_max_ms : VERIFIER_HOLD_MAX_MS;
    pthread_mutex_init(&v->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&v->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (store_open(db_target, &v->s, why, sizeof why) != 0) {
        snprintf(err, errlen, "checkpoint verifier: %s", why);
        verifier_free(v);
        return -1;
    }
    if (pthread_create(&v->thread, NULL, run, v) != 0) {
        snprintf(err, errlen, "checkpoint verifier: cannot start its thread");
        verifier_free(v);
        return -1;
    }
    v->started = true;
    *out = v;
    return 0;
}

void verifier_kick(verifier *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    if (!v->stopping) {
        v->kicked = true;
        pthread_cond_signal(&v->cond);
    }
    pthread_mutex_unlock(&v->mu);
}

void verifier_stop(verifier *v)
{
    bool join;

    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    v->stopping = true;
    join = v->started && !v->joined;
    v->joined = true;
    pthread_cond_signal(&v->cond);
    pthread_mutex_unlock(&v->mu);
    if (join)
        pthread_join(v->thread, NULL);
    store_close(v->s);
    v->s = NULL;
}

void verifier_free(verifier *v)
{
    if (!v)
        return;
    verifier_stop(v);
    pthread_cond_destroy(&v->cond);
    pthread_mutex_destroy(&v->mu);
    free(v->alerts);
    free(v);
}
