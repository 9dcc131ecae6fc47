/* test_committer: the collector's storing threads together — inbox.c,
 * committer.c and publisher.c — against a real store (store_sql.c via
 * ingest.c) on SQLite, or on PostgreSQL when SMP_TEST_PG names a test
 * cluster (testdb.h), with real threads:
 *
 *   - a store that cannot commit (or begin) keeps its group, retries it
 *     with backoff and acks nothing until the commit succeeds; the outage
 *     is logged once when it starts and once when it ends; no R9 gap;
 *   - shutdown while the store fails is bounded and acks nothing;
 *   - many producer threads against a small inbox (back-pressure), a
 *     SIGHUP-style policy update and a metrics reader at the same time:
 *     every record stored once, every ack in order. This is the test the
 *     ThreadSanitizer build runs (`make TSAN=1 BUILD=build-tsan unit-threads`);
 *   - PostgreSQL: a group that deadlocks with another collector's
 *     transaction is rolled back and run again, every record stored once;
 *   - checkpoint signatures are not the committer's: a message whose
 *     checkpoint no certificate could verify is acked, its checkpoint left
 *     pending, and the verifier is woken once per commit that queued one,
 *     never for a group that did not commit (collector/verifier.h).
 *
 * Storage faults on SQLite are injected by a VFS shim registered as the
 * default VFS: it passes everything to the real one ("unix") except, while
 * a fault is on, xWrite (SQLITE_FULL: the disk is full; a WAL commit writes
 * its frames then, so COMMIT fails) or an exclusive xShmLock
 * (SQLITE_IOERR_SHMLOCK: BEGIN IMMEDIATE cannot take WAL's write lock).
 * This is the one place a test sees SQLite itself: those tests skip on
 * PostgreSQL, where the outage is the server refusing connections
 * (ALLOW_CONNECTIONS false, the collector's session terminated). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "committer.h"
#include "db.h"
#include "inbox.h"
#include "ingest.h"
#include "message.h"
#include "metrics.h"
#include "publisher.h"
#include "record.h"
#include "store.h"
#include "testdb.h"

/* ---- fault-injecting VFS ---------------------------------------------------- */

enum { FAULT_NONE, FAULT_FULL, FAULT_LOCK, FAULT_PG_DOWN };
static atomic_int g_fault = FAULT_NONE;
static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;

typedef struct shim_file {
    sqlite3_file base;
    sqlite3_io_methods methods;
    sqlite3_file *real;       /* follows this struct in the same allocation */
} shim_file;

#define REAL(f) (((shim_file *)(f))->real)

static int shim_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    if (atomic_load(&g_fault) == FAULT_FULL)
        return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 n) { return REAL(f)->pMethods->xTruncate(REAL(f), n); }
static int shim_sync(sqlite3_file *f, int fl) { return REAL(f)->pMethods->xSync(REAL(f), fl); }
static int shim_size(sqlite3_file *f, sqlite3_int64 *n) { return REAL(f)->pMethods->xFileSize(REAL(f), n); }
static int shim_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int shim_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int shim_reserved(sqlite3_file *f, int *r) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r); }
static int shim_fcntl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int shim_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int shim_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int shim_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int shim_shm_lock(sqlite3_file *f, int off, int n, int fl)
{
    /* WAL's write lock is an exclusive shm lock; readers take shared ones. */
    if (atomic_load(&g_fault) == FAULT_LOCK && (fl & SQLITE_SHM_LOCK) && (fl & SQLITE_SHM_EXCLUSIVE))
        return SQLITE_IOERR_SHMLOCK;
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, fl);
}
static void shim_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int shim_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int shim_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int shim_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
    shim_file *f = (shim_file *)file;
    int rc;
    (void)vfs;

    f->real = (sqlite3_file *)(f + 1);
    rc = g_real->xOpen(g_real, name, f->real, flags, out);
    if (!f->real->pMethods) {
        f->base.pMethods = NULL;
        return rc;
    }
    f->methods = (sqlite3_io_methods){
        .iVersion = f->real->pMethods->iVersion, .xClose = shim_close, .xRead = shim_read,
        .xWrite = shim_write, .xTruncate = shim_truncate, .xSync = shim_sync,
        .xFileSize = shim_size, .xLock = shim_lock, .xUnlock = shim_unlock,
        .xCheckReservedLock = shim_reserved, .xFileControl = shim_fcntl,
        .xSectorSize = shim_sector, .xDeviceCharacteristics = shim_devchar,
        .xShmMap = shim_shm_map, .xShmLock = shim_shm_lock, .xShmBarrier = shim_shm_barrier,
        .xShmUnmap = shim_shm_unmap, .xFetch = shim_fetch, .xUnfetch = shim_unfetch};
    f->base.pMethods = &f->methods;
    return rc;
}

static int shim_delete(sqlite3_vfs *v, const char *n, int s) { (void)v; return g_real->xDelete(g_real, n, s); }
static int shim_access(sqlite3_vfs *v, const char *n, int fl, int *r) { (void)v; return g_real->xAccess(g_real, n, fl, r); }
static int shim_full(sqlite3_vfs *v, const char *n, int cap, char *out) { (void)v; return g_real->xFullPathname(g_real, n, cap, out); }
static int shim_random(sqlite3_vfs *v, int n, char *out) { (void)v; return g_real->xRandomness(g_real, n, out); }
static int shim_sleep(sqlite3_vfs *v, int us) { (void)v; return g_real->xSleep(g_real, us); }
static int shim_time(sqlite3_vfs *v, double *t) { (void)v; return g_real->xCurrentTime(g_real, t); }
static int shim_lasterr(sqlite3_vfs *v, int n, char *s) { (void)v; return g_real->xGetLastError(g_real, n, s); }
static int shim_time64(sqlite3_vfs *v, sqlite3_int64 *t) { (void)v; return g_real->xCurrentTimeInt64(g_real, t); }

static void shim_install(void)
{
    if (g_real)
        return;
    g_real = sqlite3_vfs_find("unix");
    assert_non_null(g_real);
    g_vfs = (sqlite3_vfs){
        .iVersion = 2, .szOsFile = (int)sizeof(shim_file) + g_real->szOsFile,
        .mxPathname = g_real->mxPathname, .zName = "fault-shim", .xOpen = shim_open,
        .xDelete = shim_delete, .xAccess = shim_access, .xFullPathname = shim_full,
        .xDlOpen = NULL, .xDlError = NULL, .xDlSym = NULL, .xDlClose = NULL,
        .xRandomness = shim_random, .xSleep = shim_sleep, .xCurrentTime = shim_time,
        .xGetLastError = shim_lasterr, .xCurrentTimeInt64 = shim_time64};
    assert_int_equal(sqlite3_vfs_register(&g_vfs, 1), SQLITE_OK);
}

/* ---- what the publisher thread published -------------------------------------- */

#define DEVICES_MAX 16

typedef struct sink {
    pthread_mutex_t mu;
    uint64_t acked[DEVICES_MAX];   /* latest ack per device dev-<i> */
    int acks;                      /* ack calls */
    int out_of_order;              /* an ack lower than the one before */
    int r9_gap;                    /* R9 gap alerts raised */
} sink;

static int dev_index(const char *device)
{
    int i = -1;
    if (sscanf(device, "dev-%d", &i) != 1 || i < 0 || i >= DEVICES_MAX)
        fail_msg("unexpected device %s", device);
    return i;
}

static void sink_ack(void *ctx, const char *device, uint64_t seq)
{
    sink *s = ctx;
    int i = dev_index(device);
    pthread_mutex_lock(&s->mu);
    s->acks++;
    if (seq < s->acked[i])
        s->out_of_order++;
    s->acked[i] = seq;
    pthread_mutex_unlock(&s->mu);
}

static void sink_alerts(void *ctx, const alert_batch *b, int64_t at_ms)
{
    sink *s = ctx;
    (void)at_ms;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < b->count; i++)
        if (b->events[i].kind == ALERT_RAISED && strcmp(b->events[i].a.rule, "R9") == 0 &&
            strcmp(b->events[i].a.cause, "gap") == 0)
            s->r9_gap++;
    pthread_mutex_unlock(&s->mu);
}

static uint64_t sink_acked(sink *s, int dev)
{
    pthread_mutex_lock(&s->mu);
    uint64_t v = s->acked[dev];
    pthread_mutex_unlock(&s->mu);
    return v;
}

static int sink_acks(sink *s)
{
    pthread_mutex_lock(&s->mu);
    int v = s->acks;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* committer_publish → publisher, as listener.c does it. */
static void queue_ack(void *ctx, const char *device, uint64_t seq) { publisher_ack(ctx, device, seq); }
static void queue_alerts(void *ctx, const alert_batch *b, int64_t at_ms)
{
    (void)at_ms;
    publisher_alerts(ctx, b);
}

/* ---- fixture: database, store, ingest, inbox, publisher, committer ------------ */

typedef struct fixture {
    char dir[256], log_path[320];
    char target[TESTDB_TARGET_MAX];   /* the database (testdb.h) */
    sqldb *check;             /* the test's own connection, for checks */
    store *s;
    ingest *in;
    store *s2;                /* a second lane's (test_two_lanes_many_producers) */
    ingest *in2;
    inbox *q;
    publisher *pub;
    committer *com;
    metrics_counters counters;
    sink sk;
    int saved_stderr;
} fixture;

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    const char *tmp = getenv("TMPDIR");
    char err[600];

    if (!testdb_is_postgres())
        shim_install();
    atomic_store(&g_fault, FAULT_NONE);
    snprintf(fx->dir, sizeof fx->dir, "%s/smp-committer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->log_path, sizeof fx->log_path, "%s/stderr.log", fx->dir);
    testdb_new(fx->target, sizeof fx->target);
    fx->check = testdb_open(fx->target);
    for (int i = 0; i < DEVICES_MAX; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "INSERT INTO devices(device_id, clinic, added_at) "
                 "VALUES ('dev-%d', 'clinic-1', '2026-01-01T00:00:00.000Z')", i);
        testdb_exec(fx->check, sql);
    }
    if (store_open(fx->target, &fx->s, err, sizeof err) != 0)
        fail_msg("%s", err);
    pthread_mutex_init(&fx->sk.mu, NULL);
    metrics_counters_init(&fx->counters);
    *state = fx;
    return 0;
}

/* Everything but the database and the committer; gap_grace_ms for R9. */
static void fx_prepare(fixture *fx, size_t inbox_messages, int64_t gap_grace_ms)
{
    const ingest_limits limits = {
        .quarantine_max_rows = 1000,
        .quarantine_payload_bytes = 4096,
        .future_skew_ms = 24 * 3600 * 1000LL,
        .integrity = {.clock_skew_ms = 300000, .gap_grace_ms = gap_grace_ms},
    };
    const publisher_sink psink = {&fx->sk, sink_ack, sink_alerts};

    assert_non_null(fx->in = ingest_new(fx->s, &limits));
    assert_non_null(fx->q = inbox_new(inbox_messages, 1u << 20));
    assert_non_null(fx->pub = publisher_start(&psink));
}

static void fx_commit_with(fixture *fx, const committer_retry *retry)
{
    const committer_publish cp = {fx->pub, queue_ack, queue_alerts, &fx->counters};
    ingest *lanes[2] = {fx->in, fx->in2};
    assert_non_null(fx->com = committer_start_retry(lanes, fx->in2 ? 2 : 1, fx->q, &cp, retry));
}

/* Everything but the database. */
static void fx_start(fixture *fx, size_t inbox_messages, int64_t gap_grace_ms, long retry_first_ms,
                     long retry_max_ms)
{
    /* Two quick tries for a retryable failure, so that a lost database
     * becomes an outage fast. */
    const committer_retry retry = {retry_first_ms, retry_max_ms, 2, 5};

    fx_prepare(fx, inbox_messages, gap_grace_ms);
    fx_commit_with(fx, &retry);
}

/* Stops the threads in listener_free's order. */
static void fx_stop(fixture *fx)
{
    committer_stop(fx->com);
    publisher_stop(fx->pub);
    fx->com = NULL;
    fx->pub = NULL;
}

static int fx_teardown(void **state)
{
    fixture *fx = *state;
    char cmd[400];

    atomic_store(&g_fault, FAULT_NONE);
    if (fx->com)
        fx_stop(fx);
    inbox_free(fx->q);
    ingest_free(fx->in);
    store_close(fx->s);
    ingest_free(fx->in2);
    store_close(fx->s2);
    sqldb_close(fx->check);
    testdb_drop(fx->target);
    pthread_mutex_destroy(&fx->sk.mu);
    if (!getenv("KEEP_WORK")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_committer: could not remove %s\n", fx->dir);
    }
    free(fx);
    return 0;
}

/* stderr into log_path while the collector threads log. */
static void capture_stderr(fixture *fx)
{
    int fd = open(fx->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    fflush(stderr);
    fx->saved_stderr = dup(2);
    assert_true(fx->saved_stderr >= 0);
    assert_true(dup2(fd, 2) >= 0);
    close(fd);
}

static void restore_stderr(fixture *fx)
{
    fflush(stderr);
    assert_true(dup2(fx->saved_stderr, 2) >= 0);
    close(fx->saved_stderr);
}

/* Lines of the captured log holding needle. */
static int log_lines(fixture *fx, const char *needle)
{
    FILE *f = fopen(fx->log_path, "r");
    char line[2048];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static int64_t q_int(fixture *fx, const char *sql)
{
    return testdb_int(fx->check, sql);
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls until device dev is acked up to seq; false after timeout_ms. */
static bool wait_acked(sink *s, int dev, uint64_t seq, long timeout_ms)
{
    int64_t until = mono_ms() + timeout_ms;
    while (sink_acked(s, dev) < seq) {
        if (mono_ms() > until)
            return false;
        sleep_ms(5);
    }
    return true;
}

/* ---- genuine chains, one per device ------------------------------------------ */

typedef struct dev_chain {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t seq;
    char head[RECORD_HASH_HEX];
} dev_chain;

static void chain_init(dev_chain *c, int dev)
{
    snprintf(c->device, sizeof c->device, "dev-%d", dev);
    c->seq = 0;
    memcpy(c->head, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
}

/* The next records of c, recs[0..n) with their seq, link and time set, as
 * one events message (heap, NUL-terminated). */
static char *chain_records(dev_chain *c, record *recs, size_t n, size_t *len)
{
    static const size_t cap = 64 * RECORD_CANON_MAX + 256;
    char (*canon)[RECORD_CANON_MAX] = malloc(n * sizeof *canon);
    const char *ptr[64];
    size_t lens[64];
    char *buf = malloc(cap);
    int64_t base_ms;

    assert_true(n >= 1 && n <= 64);
    assert_non_null(canon);
    assert_non_null(buf);
    record_ts_parse("2026-03-02T09:00:00.000Z", &base_ms);
    for (size_t i = 0; i < n; i++) {
        record *r = &recs[i];
        r->seq = ++c->seq;
        memcpy(r->prev, c->head, RECORD_HASH_HEX);
        record_ts_format(base_ms + (int64_t)r->seq * 1000, r->ts);
        int l = record_canonical(r, canon[i], RECORD_CANON_MAX);
        assert_true(l > 0);
        lens[i] = (size_t)l;
        ptr[i] = canon[i];
        record_sha256_hex(canon[i], lens[i], c->head);
    }
    int l = message_encode_batch(c->device, ptr, lens, n, buf, cap);
    assert_true(l > 0);
    *len = (size_t)l;
    free(canon);
    return buf;
}

static void grip_record(record *r, const char *load, uint64_t n)
{
    char id[32];
    record_init(r, RT_GRIP_ASSIGN);
    snprintf(id, sizeof id, "grip-%" PRIu64, n);
    record_set_str(r, "grip_id", id);
    record_set_str(r, "load_id", load);
    record_set_str(r, "session_id", "S1");
}

static void cycle_record(record *r, const char *sterilizer, int64_t no, const char *load)
{
    record_init(r, RT_STERILIZATION_CYCLE);
    record_set_str(r, "sterilizer_id", sterilizer);
    record_set_int(r, "cycle_no", no);
    record_set_str(r, "load_id", load);
    record_set_str(r, "program", "prevac_134");
    record_set_int(r, "setpoint_c", 1340);
    record_set_int(r, "temp_min_c", 1345);
    record_set_int(r, "temp_max_c", 1360);
    record_set_int(r, "exposure_s", 240);
    record_set_int(r, "pressure_min_kpa", 3000);
    record_set_int(r, "pressure_max_kpa", 3100);
    record_set_int(r, "dry_s", 1200);
    record_set_str(r, "operator_id", "op-1");
    record_set_str(r, "ci_result", "pass");
    record_set_str(r, "result", "pass");
}

/* The next n records of c, grips from load L1, as one events message
 * (heap, NUL-terminated). */
static char *chain_message(dev_chain *c, size_t n, size_t *len)
{
    record *recs = malloc(n * sizeof *recs);
    char *msg;

    assert_non_null(recs);
    for (size_t i = 0; i < n; i++)
        grip_record(&recs[i], "L1", c->seq + 1 + i);
    msg = chain_records(c, recs, n, len);
    free(recs);
    return msg;
}

static void push_next(fixture *fx, dev_chain *c, size_t n)
{
    char topic[128];
    size_t len;
    char *msg = chain_message(c, n, &len);

    snprintf(topic, sizeof topic, "smp/v1/dev/%s/events", c->device);
    assert_int_equal(inbox_push(fx->q, topic, msg, len), 0);
    free(msg);
}

/* ---- storage failing ---------------------------------------------------------- */

/* Runs sql on the test cluster's own database (SMP_TEST_PG), not on the
 * test's: a database cannot refuse connections from inside itself. */
static void pg_admin(const char *sql)
{
    char err[600];
    sqldb *db = NULL;

    if (sqldb_open(getenv("SMP_TEST_PG"), 0, &db, err, sizeof err) != 0)
        fail_msg("test cluster: %s", err);
    if (sqldb_exec(db, sql) != 0)
        fail_msg("test cluster: %s: %s", sql, sqldb_errmsg(db));
    sqldb_close(db);
}

/* The name of the test's PostgreSQL database. */
static void pg_dbname(fixture *fx, char *out, size_t cap)
{
    sqldb_stmt *st;

    if (sqldb_prepare(fx->check, "SELECT current_database()", &st) != 0 || sqldb_step(st) != 1)
        fail_msg("current_database: %s", sqldb_errmsg(fx->check));
    sqldb_column_copy(st, 0, out, cap);
    sqldb_finalize(st);
}

/* Turns a fault on or off. FAULT_PG_DOWN: the database refuses new
 * connections and the collector's session is ended, so its transaction
 * fails and every reconnect is refused until the fault is off. */
static void fault_set(fixture *fx, int fault, bool on)
{
    static char name[128];
    char sql[512];

    if (fault != FAULT_PG_DOWN) {
        atomic_store(&g_fault, on ? fault : FAULT_NONE);
        return;
    }
    if (on)
        pg_dbname(fx, name, sizeof name);
    snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS %s", name, on ? "false" : "true");
    pg_admin(sql);
    if (on) {
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                 "WHERE datname = '%s' AND pid <> pg_backend_pid()", name);
        pg_admin(sql);
        /* the check connection ended too: a new one once the fault is off */
        sqldb_close(fx->check);
        fx->check = NULL;
    } else {
        fx->check = testdb_open(fx->target);
    }
}

/* The shared body of the two outage tests: the fault is on while ten
 * messages arrive and for a while after, then off. */
static void outage_then_recovery(fixture *fx, int fault)
{
    dev_chain c;

    fx_start(fx, 64, 500, 20, 200);
    chain_init(&c, 0);
    capture_stderr(fx);
    fault_set(fx, fault, true);
    for (int i = 0; i < 10; i++)
        push_next(fx, &c, 3);                       /* seq 1..30 */
    sleep_ms(700);                                  /* longer than gap_grace_ms */
    /* Nothing acked and nothing durable while the store fails. */
    int acks_during = sink_acks(&fx->sk);
    int64_t gauge_during = (int64_t)atomic_load(&fx->counters.storage_failing);
    int64_t waiting_during = (int64_t)atomic_load(&fx->counters.messages_waiting);
    fault_set(fx, fault, false);
    bool all_acked = wait_acked(&fx->sk, 0, 30, 3000);
    /* After recovery: one more message, and one more after gap_grace_ms, so
     * that a hole left by a dropped group would have raised R9 gap. */
    push_next(fx, &c, 1);
    sleep_ms(600);
    push_next(fx, &c, 1);
    bool last_acked = wait_acked(&fx->sk, 0, 32, 3000);
    fx_stop(fx);
    restore_stderr(fx);

    assert_int_equal(acks_during, 0);
    if (!all_acked)
        fail_msg("the group received while the store failed was never acked (acked %" PRIu64
                 "): dropped instead of retried", sink_acked(&fx->sk, 0));
    assert_int_equal(gauge_during, 1);
    assert_int_equal(waiting_during, 10);           /* held, every one of them */
    assert_true(last_acked);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id='dev-0'"), 32);
    assert_int_equal(q_int(fx, "SELECT count(DISTINCT seq) FROM records WHERE device_id='dev-0'"), 32);
    assert_int_equal(q_int(fx, "SELECT max(seq) FROM records WHERE device_id='dev-0'"), 32);
    assert_int_equal(q_int(fx, "SELECT acked_seq FROM device_state WHERE device_id='dev-0'"), 32);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9'"), 0);
    assert_int_equal(fx->sk.r9_gap, 0);
    assert_int_equal(fx->sk.out_of_order, 0);
    assert_int_equal(log_lines(fx, "storage failing:"), 1);
    assert_int_equal(log_lines(fx, "storage recovered after"), 1);
    assert_int_equal((int64_t)atomic_load(&fx->counters.storage_failing), 0);
    assert_int_equal((int64_t)atomic_load(&fx->counters.messages_waiting), 0);
    assert_true(atomic_load(&fx->counters.commit_failures) >= 2);
    assert_int_equal((int64_t)atomic_load(&fx->counters.records_stored), 32);
    assert_int_equal((int64_t)atomic_load(&fx->counters.messages_received), 12);
}

/* The SQLite fault shim's tests. */
static bool sqlite_only(void)
{
    if (!testdb_is_postgres())
        return true;
    skip();
    return false;
}

/* COMMIT fails: the disk is full when the WAL frames are written. */
static void test_commit_fails_group_kept_and_retried(void **state)
{
    if (sqlite_only())
        outage_then_recovery(*state, FAULT_FULL);
}

/* BEGIN IMMEDIATE fails: the database lock cannot be taken. */
static void test_begin_fails_group_kept_and_retried(void **state)
{
    if (sqlite_only())
        outage_then_recovery(*state, FAULT_LOCK);
}

/* PostgreSQL goes away under the collector (its session ended, new ones
 * refused) and comes back: the same promises. */
static void test_pg_down_group_kept_and_retried(void **state)
{
    if (!testdb_is_postgres())
        skip();
    outage_then_recovery(*state, FAULT_PG_DOWN);
}

/* Messages that keep arriving during the outage wait in the inbox (and
 * then in Paho's thread, blocked in inbox_push): all stored in order
 * afterwards, the inbox never above its bound. */
static void test_outage_back_pressure(void **state)
{
    fixture *fx = *state;
    dev_chain c;

    if (!sqlite_only())
        return;
    fx_start(fx, 4, 60000, 20, 100);
    chain_init(&c, 1);
    capture_stderr(fx);
    atomic_store(&g_fault, FAULT_FULL);
    push_next(fx, &c, 2);
    sleep_ms(100);                                  /* the committer holds the first group */
    for (int i = 0; i < 4; i++)
        push_next(fx, &c, 2);                       /* fills the inbox: 4 messages */
    assert_int_equal(sink_acks(&fx->sk), 0);
    atomic_store(&g_fault, FAULT_NONE);
    for (int i = 0; i < 5; i++)
        push_next(fx, &c, 2);                       /* blocks until there is room */
    bool acked = wait_acked(&fx->sk, 1, 20, 3000);
    fx_stop(fx);
    restore_stderr(fx);
    assert_true(acked);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id='dev-1'"), 20);
    assert_int_equal(fx->sk.out_of_order, 0);
    assert_int_equal(log_lines(fx, "storage failing:"), 1);
    assert_int_equal(log_lines(fx, "storage recovered after"), 1);
}

/* Stopping while the store fails: bounded (no backoff is waited out),
 * nothing acked, nothing stored, one line saying what was not stored. */
static void test_stop_while_failing_is_bounded(void **state)
{
    fixture *fx = *state;
    dev_chain c;

    if (!sqlite_only())
        return;
    fx_start(fx, 64, 60000, 5000, 10000);           /* long backoff: stop must cut it */
    chain_init(&c, 2);
    capture_stderr(fx);
    atomic_store(&g_fault, FAULT_FULL);
    for (int i = 0; i < 5; i++)
        push_next(fx, &c, 1);
    sleep_ms(100);
    int64_t t0 = mono_ms();
    fx_stop(fx);
    int64_t took = mono_ms() - t0;
    restore_stderr(fx);
    atomic_store(&g_fault, FAULT_NONE);
    if (took > 2000)
        fail_msg("committer_stop took %" PRId64 " ms while the store was failing", took);
    assert_int_equal(sink_acks(&fx->sk), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), 0);
    assert_int_equal(log_lines(fx, "storage failing:"), 1);
    assert_int_equal(log_lines(fx, "stopped while storage was failing: 5 messages"), 1);
}

/* ---- many threads at once -------------------------------------------------------- */

#define PRODUCERS 8
#define MESSAGES_PER_PRODUCER 60

typedef struct producer {
    fixture *fx;
    int dev;
    uint64_t records;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    dev_chain c;
    char topic[128];

    chain_init(&c, p->dev);
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/events", c.device);
    for (int i = 0; i < MESSAGES_PER_PRODUCER; i++) {
        size_t len, n = (size_t)(i % 3) + 1;
        char *msg = chain_message(&c, n, &len);
        int rc = inbox_push(p->fx->q, topic, msg, len);
        free(msg);
        if (rc != 0)
            break;
    }
    p->records = c.seq;
    return NULL;
}

typedef struct side {
    fixture *fx;
    atomic_bool stop;
    uint64_t reads;
} side;

/* What the collector's other threads do meanwhile: the metrics endpoint
 * reads the counters, SIGHUP hands ingest a new policy. */
static void *side_work(void *arg)
{
    side *s = arg;
    policy p;
    const integrity_limits lim = {.clock_skew_ms = 300000, .gap_grace_ms = 600000};

    policy_defaults(&p);
    while (!atomic_load(&s->stop)) {
        s->reads += atomic_load_explicit(&s->fx->counters.records_stored, memory_order_relaxed) > 0;
        ingest_update_policy(s->fx->in, &p, &lim);
        if (s->fx->in2)
            ingest_update_policy(s->fx->in2, &p, &lim);
        sleep_ms(1);
    }
    return NULL;
}

/* Producers push their devices' messages at once while the committer
 * stores them (in lanes committing threads, committer.h): every record
 * once, each device's acks in order, the counters right. */
static void many_producers(fixture *fx)
{
    pthread_t th[PRODUCERS], sth;
    producer prod[PRODUCERS];
    side sd = {.fx = fx};
    uint64_t total = 0;

    fx_start(fx, 8, 600000, 20, 200);
    atomic_init(&sd.stop, false);
    assert_int_equal(pthread_create(&sth, NULL, side_work, &sd), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        prod[i] = (producer){fx, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, produce, &prod[i]), 0);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < PRODUCERS; i++) {
        total += prod[i].records;
        if (!wait_acked(&fx->sk, i, prod[i].records, 20000))
            fail_msg("dev-%d acked %" PRIu64 " of %" PRIu64, i, sink_acked(&fx->sk, i), prod[i].records);
    }
    atomic_store(&sd.stop, true);
    pthread_join(sth, NULL);
    fx_stop(fx);
    assert_int_equal(prod[0].records, 120);         /* 60 messages of 1, 2, 3 records */
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), (int64_t)total);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts WHERE rule='R9'"), 0);
    assert_int_equal(fx->sk.out_of_order, 0);
    assert_int_equal((int64_t)atomic_load(&fx->counters.records_stored), (int64_t)total);
    assert_int_equal((int64_t)atomic_load(&fx->counters.messages_received),
                     PRODUCERS * MESSAGES_PER_PRODUCER);
}

static void test_many_producers(void **state)
{
    many_producers(*state);
}

/* The same in two lanes, each on its own connection (PostgreSQL: SQLite
 * takes one writer, one lane). Every message is a grip of the one clinic,
 * so the lanes' transactions hold its lock shared at the same time; both
 * lanes stored some (each device's messages go to one of them). */
static void test_two_lanes_many_producers(void **state)
{
    fixture *fx = *state;
    const ingest_limits limits = {1000, 4096, 24 * 3600 * 1000LL, {300000, 600000}};
    policy p;
    char err[600];

    if (!testdb_is_postgres())
        skip();
    if (store_open(fx->target, &fx->s2, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(fx->in2 = ingest_new(fx->s2, &limits));
    assert_int_equal(policy_defaults(&p), 0);
    ingest_set_policy(fx->in2, &p);
    int64_t before = store_statements(fx->s2);
    many_producers(fx);
    assert_true(store_statements(fx->s2) > before);
    assert_true(store_statements(fx->s) > 0);
}

#define CLINICS 3
#define CLINIC_DEVICES 12
#define CLINIC_MESSAGES 40

/* Two lanes, twelve devices in three clinics, each device's messages
 * grips of its clinic's current load and, on the first device of each
 * clinic, every third message a cycle of the next load: the lanes' groups
 * mix clinics, take their locks shared and whole, and meet on them. No
 * two transactions may wait on each other's clinic locks in a cycle
 * (group_order.h): PostgreSQL would fail one after deadlock_timeout and
 * the group would run again, counted in group_conflicts. */
static void test_two_lanes_clinics_without_lock_cycles(void **state)
{
    fixture *fx = *state;
    const ingest_limits limits = {1000, 4096, 24 * 3600 * 1000LL, {300000, 600000}};
    const committer_retry retry = {20, 200, 8, 5};
    dev_chain c[CLINIC_DEVICES];
    uint64_t total = 0;
    policy p;
    char err[600];

    if (!testdb_is_postgres())
        skip();
    testdb_exec(fx->check, "UPDATE devices SET clinic = 'clinic-' || "
                           "(CAST(substr(device_id, 5) AS INTEGER) % 3)");
    if (store_open(fx->target, &fx->s2, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_non_null(fx->in2 = ingest_new(fx->s2, &limits));
    assert_int_equal(policy_defaults(&p), 0);
    fx_prepare(fx, 64, 600000);
    ingest_set_policy(fx->in, &p);
    ingest_set_policy(fx->in2, &p);
    fx_commit_with(fx, &retry);
    for (int d = 0; d < CLINIC_DEVICES; d++)
        chain_init(&c[d], d);
    for (int i = 0; i < CLINIC_MESSAGES; i++) {
        for (int d = 0; d < CLINIC_DEVICES; d++) {
            char topic[128], load[48];
            record recs[2];
            size_t n = 1, len;
            snprintf(load, sizeof load, "L-%d-%d", d % CLINICS, i / 3);
            if (d < CLINICS && i % 3 == 0) {
                char next[48];
                snprintf(next, sizeof next, "L-%d-%d", d % CLINICS, i / 3 + 1);
                cycle_record(&recs[0], "ac-1", i + 1, next);
            } else {
                grip_record(&recs[0], load, c[d].seq + 1);
                if (i % 2)
                    grip_record(&recs[n++], load, c[d].seq + 2);
            }
            char *msg = chain_records(&c[d], recs, n, &len);
            snprintf(topic, sizeof topic, "smp/v1/dev/dev-%d/events", d);
            assert_int_equal(inbox_push(fx->q, topic, msg, len), 0);
            free(msg);
        }
    }
    for (int d = 0; d < CLINIC_DEVICES; d++) {
        total += c[d].seq;
        if (!wait_acked(&fx->sk, d, c[d].seq, 30000))
            fail_msg("dev-%d acked %" PRIu64 " of %" PRIu64, d, sink_acked(&fx->sk, d), c[d].seq);
    }
    fx_stop(fx);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), (int64_t)total);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM rule_grips"),
                     q_int(fx, "SELECT count(*) FROM records WHERE type = 'grip.assign'"));
    assert_int_equal(q_int(fx, "SELECT count(*) FROM rule_loads"), CLINICS * (CLINIC_MESSAGES / 3 + 1));
    assert_int_equal((int64_t)atomic_load(&fx->counters.group_conflicts), 0);
    assert_int_equal(fx->sk.out_of_order, 0);
    assert_true(store_statements(fx->s2) > 0);
}

/* ---- several collectors: a deadlock ------------------------------------------------ */

/* Another collector's transaction holds dev-1 and then wants dev-0, while
 * the committer's group (dev-0 and dev-1, locked in that order) holds
 * dev-0 and waits for dev-1. PostgreSQL breaks the cycle by failing the
 * committer's lock (it waited first, so its deadlock check runs first):
 * the group is rolled back whole, run again once the other transaction
 * ends, and every record is stored once and acked. */
static void test_deadlock_group_run_again(void **state)
{
    fixture *fx = *state;
    const committer_retry retry = {20, 200, 0, 0};
    dev_chain c0, c1;

    if (!testdb_is_postgres())
        skip();
    fx_prepare(fx, 64, 600000);
    chain_init(&c0, 0);
    chain_init(&c1, 1);
    /* This side must not be the one PostgreSQL picks (setting it needs a
     * superuser, which the test cluster's user is). */
    testdb_exec(fx->check, "SET deadlock_timeout = '10s'");
    assert_int_equal(sqldb_begin(fx->check, SQLDB_WRITE), 0);
    assert_int_equal(sqldb_lock(fx->check, "device:dev-1"), 0);
    push_next(fx, &c0, 3);
    push_next(fx, &c1, 3);
    fx_commit_with(fx, &retry);                      /* takes both messages as one group */
    sleep_ms(300);                                  /* it holds dev-0 and waits for dev-1 */
    assert_int_equal(sink_acks(&fx->sk), 0);
    assert_int_equal(sqldb_lock(fx->check, "device:dev-0"), 0);   /* the cycle, broken */
    sqldb_rollback(fx->check);
    bool acked = wait_acked(&fx->sk, 0, 3, 10000) && wait_acked(&fx->sk, 1, 3, 10000);
    fx_stop(fx);

    assert_true(acked);
    assert_true(atomic_load(&fx->counters.group_conflicts) >= 1);
    assert_int_equal((int64_t)atomic_load(&fx->counters.commit_failures), 0);
    assert_int_equal(q_int(fx, "SELECT COUNT(*) FROM records"), 6);
    assert_int_equal(q_int(fx, "SELECT COUNT(DISTINCT seq) FROM records WHERE device_id='dev-0'"), 3);
    assert_int_equal(q_int(fx, "SELECT COUNT(DISTINCT seq) FROM records WHERE device_id='dev-1'"), 3);
    assert_int_equal((int64_t)atomic_load(&fx->counters.records_stored), 6);
    assert_int_equal((int64_t)atomic_load(&fx->counters.messages_received), 2);
    assert_int_equal(fx->sk.out_of_order, 0);
}

/* ---- checkpoints are the verifier's ------------------------------------------ */

/* The next n records of c then a checkpoint of the last of them (its sig
 * garbage: these devices have no certificate), as one message on the inbox. */
static void push_with_checkpoint(fixture *fx, dev_chain *c, size_t n)
{
    static const size_t cap = 64 * RECORD_CANON_MAX + 256;
    char (*canon)[RECORD_CANON_MAX] = malloc((n + 1) * sizeof *canon);
    const char *ptr[64];
    size_t lens[64];
    char *buf = malloc(cap), topic[128];
    int64_t base_ms;

    assert_true(n >= 1 && n < 64);
    assert_non_null(canon);
    assert_non_null(buf);
    record_ts_parse("2026-03-02T09:00:00.000Z", &base_ms);
    for (size_t i = 0; i <= n; i++) {
        record r;
        char id[32];
        if (i < n) {
            record_init(&r, RT_GRIP_ASSIGN);
            snprintf(id, sizeof id, "grip-%" PRIu64, c->seq + 1);
            record_set_str(&r, "grip_id", id);
            record_set_str(&r, "load_id", "L1");
            record_set_str(&r, "session_id", "S1");
        } else {
            record_init(&r, RT_CHECKPOINT);
            record_set_int(&r, "head_seq", (int64_t)c->seq);
            record_set_str(&r, "head_hash", c->head);
            record_set_str(&r, "sig", "AAAA");
        }
        r.seq = ++c->seq;
        memcpy(r.prev, c->head, RECORD_HASH_HEX);
        record_ts_format(base_ms + (int64_t)r.seq * 1000, r.ts);
        int l = record_canonical(&r, canon[i], RECORD_CANON_MAX);
        assert_true(l > 0);
        lens[i] = (size_t)l;
        ptr[i] = canon[i];
        record_sha256_hex(canon[i], lens[i], c->head);
    }
    int l = message_encode_batch(c->device, ptr, lens, n + 1, buf, cap);
    assert_true(l > 0);
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/events", c->device);
    assert_int_equal(inbox_push(fx->q, topic, buf, (size_t)l), 0);
    free(canon);
    free(buf);
}

/* ingest's checkpoint hook, as the collector wires it to verifier_kick. */
static atomic_int g_kicks;

static void count_kick(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&g_kicks, 1);
}

/* Checkpoints are acked without their signature verified (no verifier
 * runs here at all: these devices have no certificate, and nothing raises
 * no-certificate), left pending, and the verifier is woken after each
 * commit that queued one, not after one that queued none. */
static void test_checkpoints_acked_and_queued_not_verified(void **state)
{
    fixture *fx = *state;
    dev_chain c;

    atomic_store(&g_kicks, 0);
    fx_prepare(fx, 64, 600000);
    ingest_set_checkpoint_hook(fx->in, count_kick, NULL);
    fx_commit_with(fx, &(committer_retry){20, 200, 2, 5});
    chain_init(&c, 0);
    push_with_checkpoint(fx, &c, 4);                /* 1..4, checkpoint 5 */
    assert_true(wait_acked(&fx->sk, 0, 5, 5000));
    int kicks_first = atomic_load(&g_kicks);
    push_next(fx, &c, 3);                           /* 6..8: no checkpoint */
    assert_true(wait_acked(&fx->sk, 0, 8, 5000));
    int kicks_plain = atomic_load(&g_kicks);
    push_with_checkpoint(fx, &c, 2);                /* 9, 10, checkpoint 11 */
    assert_true(wait_acked(&fx->sk, 0, 11, 5000));
    fx_stop(fx);

    assert_int_equal(kicks_first, 1);
    assert_int_equal(kicks_plain, 1);
    assert_int_equal(atomic_load(&g_kicks), 2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE device_id = 'dev-0' "
                               "AND state = 'pending'"), 2);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM alerts"), 0);
    assert_int_equal((int64_t)atomic_load(&fx->counters.records_stored), 11);
}

/* SQLite: while the store cannot commit, the group's checkpoint is not
 * durable, and nobody is told of it; after the recovery, once. */
static void test_checkpoint_kick_only_after_commit(void **state)
{
    fixture *fx = *state;
    dev_chain c;

    if (testdb_is_postgres())
        skip();
    atomic_store(&g_kicks, 0);
    fx_prepare(fx, 64, 600000);
    ingest_set_checkpoint_hook(fx->in, count_kick, NULL);
    fx_commit_with(fx, &(committer_retry){20, 200, 2, 5});
    chain_init(&c, 0);
    capture_stderr(fx);
    fault_set(fx, FAULT_FULL, true);
    push_with_checkpoint(fx, &c, 4);
    sleep_ms(300);
    int kicks_during = atomic_load(&g_kicks);
    int acks_during = sink_acks(&fx->sk);
    fault_set(fx, FAULT_FULL, false);
    bool acked = wait_acked(&fx->sk, 0, 5, 5000);
    fx_stop(fx);
    restore_stderr(fx);

    assert_int_equal(kicks_during, 0);
    assert_int_equal(acks_during, 0);
    assert_true(acked);
    assert_int_equal(atomic_load(&g_kicks), 1);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM checkpoints WHERE state = 'pending'"), 1);
}

/* A message the store fails on for a reason of its own (a trigger that
 * refuses dev-1's records stands in for a full disk under one page) fails
 * its group, which runs again at once with a savepoint per message: the
 * other messages are stored and acked, the refused one neither; one group
 * commits and nothing counts as a storage outage. */
static void test_refused_message_undone_alone(void **state)
{
    fixture *fx = *state;
    dev_chain c[3];

    testdb_exec(fx->check, testdb_is_postgres()
                               ? "CREATE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql"
                                 " AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;"
                                 "CREATE TRIGGER refuse BEFORE INSERT ON records FOR EACH ROW"
                                 " WHEN (NEW.device_id = 'dev-1') EXECUTE FUNCTION refuse_record()"
                               : "CREATE TRIGGER refuse BEFORE INSERT ON records"
                                 " WHEN NEW.device_id = 'dev-1'"
                                 " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    fx_prepare(fx, 64, 600000);
    /* In the inbox before the committer starts: taken as one group. */
    for (int d = 0; d < 3; d++) {
        chain_init(&c[d], d);
        push_next(fx, &c[d], 2);
    }
    capture_stderr(fx);
    fx_commit_with(fx, &(committer_retry){20, 200, 2, 5});
    bool acked = wait_acked(&fx->sk, 0, 2, 5000) && wait_acked(&fx->sk, 2, 2, 5000);
    fx_stop(fx);
    restore_stderr(fx);

    assert_true(acked);
    assert_int_equal(sink_acked(&fx->sk, 1), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records WHERE device_id = 'dev-1'"), 0);
    assert_int_equal(q_int(fx, "SELECT count(*) FROM records"), 4);
    assert_int_equal(log_lines(fx, "store failed device=dev-1"), 1);
    assert_int_equal(log_lines(fx, "storage failing"), 0);
    assert_int_equal((int64_t)atomic_load(&fx->counters.groups_committed), 1);
    assert_int_equal((int64_t)atomic_load(&fx->counters.commit_failures), 0);
    assert_int_equal((int64_t)atomic_load(&fx->counters.records_stored), 4);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_commit_fails_group_kept_and_retried),
        T(test_begin_fails_group_kept_and_retried),
        T(test_outage_back_pressure),
        T(test_stop_while_failing_is_bounded),
        T(test_pg_down_group_kept_and_retried),
        T(test_many_producers),
        T(test_two_lanes_many_producers),
        T(test_two_lanes_clinics_without_lock_cycles),
        T(test_deadlock_group_run_again),
        T(test_checkpoints_acked_and_queued_not_verified),
        T(test_checkpoint_kick_only_after_commit),
        T(test_refused_message_undone_alone),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
