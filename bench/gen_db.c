/* gen_db: writes a collector store (common/db.c schema) full of simulated
 * clinic records and the alerts they call for, for timing and looking at
 * reports and audit exports without running a broker, a collector and
 * agents for simulated months.
 *
 *   gen_db --db PATH|URI [--clinic C] [--devices N] [--days D] [--start YYYY-MM-DD]
 *          [--seed S] [--fault-rate P] [--pki DIR] [--append]
 *
 * Each device runs the agent's own simulator (agent/simulator.c), and its
 * records get seq, ts, prev and canonical bodies exactly as the agent and
 * collector make them, so the hash chains verify. Checkpoints follow the
 * agent's rule (every 100 records or 10 minutes); with --pki DIR they are
 * signed with DIR/devices/<id>.key and the device is registered with its
 * certificate (issue them first with smpctl pki issue-device), otherwise
 * they carry a placeholder signature (fine for timing, not for checking).
 *
 * The simulator's faults also get alerts of the shape the collector's rules
 * raise (rule, severity, cause, evidence {"device","seq","ts"}), so a
 * report has violations to show without running the rules engine.
 *
 * --db is a SQLite file, which must not exist yet, or a postgresql:// URI
 * of an existing empty database; either gets its schema from db_migrate
 * (as smpctl db migrate makes it), unless --append adds another clinic to
 * a database made before. Rows go in through sqldb with prepared
 * statements (records many to a statement: record_batch.h), in
 * transactions of TXN_ROWS rows; the rate is printed at the end. bench/gen_fleetdb.c is the benchmark's generator for many clinics
 * (no alerts, devices registered beforehand). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "ids.h"
#include "record.h"
#include "record_batch.h"
#include "sign.h"
#include "simulator.h"

#define CKPT_EVERY_RECORDS 100
#define CKPT_EVERY_MS      (10 * 60 * 1000LL)
#define TXN_ROWS           50000
#define RECENT_CARTS       64

typedef struct gen_opts {
    const char *db_path, *clinic, *start, *pki;
    int devices, days, fault_pct;
    bool append;
    uint64_t seed;
} gen_opts;

typedef struct gen_stmts {
    record_batch records;
    sqldb_stmt *alert, *device, *state;
} gen_stmts;

/* One device's chain while its records are written. */
typedef struct gen_dev {
    const char *id;
    const char *clinic;
    uint64_t seq, last_ckpt_seq;
    int64_t last_ckpt_ms;
    char head[RECORD_HASH_HEX];
    signer *key;                         /* NULL: placeholder signatures */
    struct { char uid[RECORD_STR_MAX + 1]; char session[RECORD_STR_MAX + 1]; } carts[RECENT_CARTS];
    int ncarts;
    char failed_load[RECORD_STR_MAX + 1]; /* latest load whose cycle failed */
} gen_dev;

static long rows_in_txn, rows_total;

static int usage(void)
{
    fprintf(stderr, "usage: gen_db --db PATH|URI [--clinic C] [--devices N] [--days D] "
                    "[--start YYYY-MM-DD] [--seed S] [--fault-rate P] [--pki DIR] [--append]\n");
    return 2;
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end = NULL;

    errno = 0;
    *out = strtol(s, &end, 10);
    if (errno || end == s || *end || *out < lo || *out > hi) {
        fprintf(stderr, "gen_db: %s must be an integer %ld..%ld, got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, gen_opts *o)
{
    long v;

    *o = (gen_opts){.clinic = "clinic-bench", .start = "2026-01-05", .devices = 3, .days = 7,
                    .fault_pct = 5, .seed = 1};
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--append") == 0) {
            o->append = true;
            i--;
            continue;
        }
        if (val == NULL)
            return usage();
        if (strcmp(a, "--db") == 0)
            o->db_path = val;
        else if (strcmp(a, "--clinic") == 0)
            o->clinic = val;
        else if (strcmp(a, "--start") == 0)
            o->start = val;
        else if (strcmp(a, "--pki") == 0)
            o->pki = val;
        else if (strcmp(a, "--devices") == 0 && parse_int(a, val, 1, 999, &v) == 0)
            o->devices = (int)v;
        else if (strcmp(a, "--days") == 0 && parse_int(a, val, 1, 3650, &v) == 0)
            o->days = (int)v;
        else if (strcmp(a, "--fault-rate") == 0 && parse_int(a, val, 0, 100, &v) == 0)
            o->fault_pct = (int)v;
        else if (strcmp(a, "--seed") == 0 && parse_int(a, val, 0, 1L << 30, &v) == 0)
            o->seed = (uint64_t)v;
        else
            return usage();
    }
    return o->db_path ? 0 : usage();
}

/* Reports the last failure on db; -1. */
static int db_fail(sqldb *db, const char *what)
{
    char err[600];

    db_error(db, what, err, sizeof err);
    fprintf(stderr, "gen_db: %s\n", err);
    return -1;
}

/* Runs st (bound) and clears its bindings for the next row. */
static int step_done(sqldb *db, sqldb_stmt *st, const char *what)
{
    int rc = sqldb_step(st);

    sqldb_reset(st);
    if (rc != 0)
        return db_fail(db, what);
    rows_total++;
    return 0;
}

/* Commits every TXN_ROWS rows (so SQLite's WAL stays small) and begins
 * the next transaction. */
static int count_row(sqldb *db, gen_stmts *s)
{
    rows_total++;
    if (++rows_in_txn < TXN_ROWS)
        return 0;
    rows_in_txn = 0;
    if (record_batch_flush(&s->records) != 0)
        return db_fail(db, "insert records");
    if (sqldb_commit(db) != 0 || sqldb_begin(db, SQLDB_WRITE) != 0)
        return db_fail(db, "commit");
    return 0;
}

static int put_alert(sqldb *db, gen_stmts *s, const gen_dev *d, const char *rule,
                     const char *severity, const char *cause, const char *message, uint64_t seq,
                     const char *ts)
{
    char evidence[200];

    /* The rules' own shape for a cited record (collector/rules.c). */
    snprintf(evidence, sizeof evidence, "{\"device\":\"%s\",\"seq\":%" PRIu64 ",\"ts\":\"%s\"}",
             d->id, seq, ts);
    if (sqldb_bind_text(s->alert, 1, rule) != 0 || sqldb_bind_text(s->alert, 2, severity) != 0 ||
        sqldb_bind_text(s->alert, 3, d->id) != 0 || sqldb_bind_text(s->alert, 4, d->clinic) != 0 ||
        sqldb_bind_text(s->alert, 5, cause) != 0 || sqldb_bind_text(s->alert, 6, message) != 0 ||
        sqldb_bind_text(s->alert, 7, evidence) != 0 || sqldb_bind_text(s->alert, 8, ts) != 0)
        return db_fail(db, "bind alert");
    return step_done(db, s->alert, "insert alert");
}

static bool cart_seen_elsewhere(gen_dev *d, const char *uid, const char *session)
{
    for (int i = 0; i < d->ncarts && i < RECENT_CARTS; i++)
        if (strcmp(d->carts[i].uid, uid) == 0 && strcmp(d->carts[i].session, session) != 0)
            return true;
    int k = d->ncarts++ % RECENT_CARTS;
    snprintf(d->carts[k].uid, sizeof d->carts[k].uid, "%s", uid);
    snprintf(d->carts[k].session, sizeof d->carts[k].session, "%s", session);
    return false;
}

static int cartridge_alerts(sqldb *db, gen_stmts *s, gen_dev *d, const record *r)
{
    const char *uid = record_get_str(r, "cartridge_uid");
    char cause[160], msg[256];

    snprintf(cause, sizeof cause, "seq=%" PRIu64, r->seq);
    if (cart_seen_elsewhere(d, uid, record_get_str(r, "session_id"))) {
        snprintf(msg, sizeof msg, "cartridge %s inserted in a second session", uid);
        if (put_alert(db, s, d, "R1", "critical", cause, msg, r->seq, r->ts) != 0)
            return -1;
    }
    if (strncmp(record_get_str(r, "expiry"), r->ts, 10) < 0) {
        snprintf(msg, sizeof msg, "cartridge %s inserted after its expiry %s", uid,
                 record_get_str(r, "expiry"));
        if (put_alert(db, s, d, "R2", "critical", cause, msg, r->seq, r->ts) != 0)
            return -1;
    }
    if (record_get_str(r, "lot") == NULL) {
        snprintf(cause, sizeof cause, "no-lot:seq=%" PRIu64, r->seq);
        snprintf(msg, sizeof msg, "cartridge %s has no lot number", uid);
        return put_alert(db, s, d, "R2", "warning", cause, msg, r->seq, r->ts);
    }
    return 0;
}

/* What the rules engine would raise for r (a subset of docs/rules.md). */
static int alerts_for(sqldb *db, gen_stmts *s, gen_dev *d, const record *r)
{
    char cause[160], msg[256];

    snprintf(cause, sizeof cause, "seq=%" PRIu64, r->seq);
    if (r->type == RT_STERILIZATION_CYCLE && strcmp(record_get_str(r, "result"), "pass") != 0) {
        int64_t cycle_no = 0;
        record_get_int(r, "cycle_no", &cycle_no);
        snprintf(d->failed_load, sizeof d->failed_load, "%s", record_get_str(r, "load_id"));
        snprintf(msg, sizeof msg, "sterilization cycle %s no. %" PRId64 " failed (below 134.0 C "
                 "or under 240 s exposure, CI %s)", record_get_str(r, "sterilizer_id"), cycle_no,
                 record_get_str(r, "ci_result"));
        return put_alert(db, s, d, "R4", "cycle_failed", cause, msg, r->seq, r->ts);
    }
    if (r->type == RT_STERILIZATION_TEST && strcmp(record_get_str(r, "kind"), "spore") == 0 &&
        strcmp(record_get_str(r, "result"), "positive") == 0) {
        snprintf(msg, sizeof msg, "positive spore test on %s: take it out of service, recall "
                 "loads since the last negative test", record_get_str(r, "sterilizer_id"));
        return put_alert(db, s, d, "R7", "critical", cause, msg, r->seq, r->ts);
    }
    if (r->type == RT_GRIP_ASSIGN && strcmp(record_get_str(r, "load_id"), d->failed_load) == 0) {
        snprintf(msg, sizeof msg, "grip %s from failed load %s used in session %s",
                 record_get_str(r, "grip_id"), d->failed_load, record_get_str(r, "session_id"));
        return put_alert(db, s, d, "R5", "critical", cause, msg, r->seq, r->ts);
    }
    return r->type == RT_CARTRIDGE_INSERT ? cartridge_alerts(db, s, d, r) : 0;
}

/* Gives r its chain fields, stores it, and moves the head. */
static int append(sqldb *db, gen_stmts *s, gen_dev *d, record *r, int64_t at_ms)
{
    char body[RECORD_CANON_MAX], hash[RECORD_HASH_HEX], recv[RECORD_TS_LEN + 1];
    int len;

    r->seq = ++d->seq;
    record_ts_format(at_ms, r->ts);
    record_ts_format(at_ms + 1500, recv);
    memcpy(r->prev, d->head, sizeof d->head);
    if ((len = record_canonical(r, body, sizeof body)) < 0) {
        fprintf(stderr, "gen_db: %s seq %" PRIu64 ": canonical form too long\n", d->id, r->seq);
        return -1;
    }
    record_sha256_hex(body, (size_t)len, hash);
    if (record_batch_add(&s->records, d->id, (int64_t)r->seq, r->ts, recv,
                         record_type_name(r->type), r->prev, hash, body, (size_t)len) != 0)
        return db_fail(db, "insert records");
    memcpy(d->head, hash, sizeof hash);
    return count_row(db, s);
}

static int maybe_checkpoint(sqldb *db, gen_stmts *s, gen_dev *d, int64_t now_ms)
{
    char msg[256], sig[SIGN_B64_MAX] = "AAAA", err[256];
    record r;

    if (d->seq == d->last_ckpt_seq ||
        (d->seq - d->last_ckpt_seq < CKPT_EVERY_RECORDS && now_ms - d->last_ckpt_ms < CKPT_EVERY_MS))
        return 0;
    if (d->key) {
        int len = sign_checkpoint_message(d->id, d->seq, d->head, msg, sizeof msg);
        if (signer_sign(d->key, msg, (size_t)len, sig, err, sizeof err) != 0) {
            fprintf(stderr, "gen_db: %s\n", err);
            return -1;
        }
    }
    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", (int64_t)d->seq);
    record_set_str(&r, "head_hash", d->head);
    record_set_str(&r, "sig", sig);
    if (append(db, s, d, &r, now_ms) != 0)
        return -1;
    d->last_ckpt_seq = d->seq;
    d->last_ckpt_ms = now_ms;
    return 0;
}

static int read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "rb");
    long n;

    *out = NULL;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        (*out = calloc(1, (size_t)n + 1)) == NULL || fread(*out, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "gen_db: cannot read %s\n", path);
        if (f)
            fclose(f);
        free(*out);
        *out = NULL;
        return -1;
    }
    fclose(f);
    return 0;
}

static int register_device(sqldb *db, gen_stmts *s, const gen_opts *o, gen_dev *d, int n)
{
    char path[4096], err[600], *pem = NULL, serial[32];

    if (o->pki) {
        snprintf(path, sizeof path, "%s/devices/%s.crt", o->pki, d->id);
        if (read_file(path, &pem) != 0)
            return -1;
        snprintf(path, sizeof path, "%s/devices/%s.key", o->pki, d->id);
        if (signer_open(path, &d->key, err, sizeof err) != 0) {
            fprintf(stderr, "gen_db: %s\n", err);
            free(pem);
            return -1;
        }
    }
    snprintf(serial, sizeof serial, "SN-%05d", 1000 + n);
    if (sqldb_bind_text(s->device, 1, d->id) != 0 || sqldb_bind_text(s->device, 2, d->clinic) != 0 ||
        sqldb_bind_text(s->device, 3, serial) != 0 || sqldb_bind_text(s->device, 4, pem) != 0) {
        free(pem);
        return db_fail(db, "bind device");
    }
    free(pem);
    return step_done(db, s->device, "insert device");
}

static int gen_device(sqldb *db, gen_stmts *s, const gen_opts *o, int n, int64_t start_ms)
{
    char id[IDS_DEVICE_ID_MAX + 1], recv[RECORD_TS_LEN + 1];
    gen_dev *d = calloc(1, sizeof *d);
    simulator *sim = NULL;
    const record *ev;
    int64_t due = start_ms;
    int rc = -1;

    if (!d)
        return -1;
    snprintf(id, sizeof id, "%.50s-m%02d", o->clinic, n);
    d->id = id;
    d->clinic = o->clinic;
    memcpy(d->head, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    d->last_ckpt_ms = start_ms;
    if (register_device(db, s, o, d, n) != 0)
        goto cleanup;
    /* The clinic's autoclave is logged once, by its first machine; the
     * others take their grips from its loads. */
    sim = sim_new(&(sim_config){.seed = o->seed * 1000 + (uint64_t)n, .start_ms = start_ms,
                                .days = o->days, .fault_pct = o->fault_pct, .device_id = id,
                                .role = n == 1 ? SIM_ROLE_BOTH : SIM_ROLE_MACHINE});
    if (!sim)
        goto cleanup;
    while (sim_peek(sim, &due, &ev)) {
        record r = *ev;
        sim_pop(sim);
        if (append(db, s, d, &r, due) != 0 || alerts_for(db, s, d, &r) != 0 ||
            maybe_checkpoint(db, s, d, due) != 0)
            goto cleanup;
    }
    record_ts_format(due, recv);
    if (sqldb_bind_text(s->state, 1, d->id) != 0 ||
        sqldb_bind_int64(s->state, 2, (int64_t)d->seq) != 0 ||
        sqldb_bind_text(s->state, 3, d->head) != 0 || sqldb_bind_text(s->state, 4, recv) != 0 ||
        step_done(db, s->state, "insert device_state") != 0)
        goto cleanup;
    printf("gen_db: %s: %" PRIu64 " records\n", id, d->seq);
    rc = 0;
cleanup:
    sim_free(sim);
    signer_free(d->key);
    free(d);
    return rc;
}

static int prepare(sqldb *db, gen_stmts *s)
{
    static const char *const sql[] = {
        "INSERT INTO alerts(rule, severity, device_id, clinic, cause, message, evidence,"
        " raised_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        "INSERT INTO devices(device_id, clinic, model, serial, cert_pem, added_at)"
        " VALUES (?1, ?2, 'rotary-smp', ?3, ?4, '2026-01-01T00:00:00.000Z')",
        "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen)"
        " VALUES (?1, ?2, ?3, ?4)",
    };
    sqldb_stmt **out[] = {&s->alert, &s->device, &s->state};

    if (record_batch_open(&s->records, db) != 0)
        return db_fail(db, "prepare");
    for (size_t i = 0; i < sizeof sql / sizeof sql[0]; i++)
        if (sqldb_prepare(db, sql[i], out[i]) != 0)
            return db_fail(db, "prepare");
    return 0;
}

/* A generated store is thrown away on a crash: no waiting for the disk at
 * each commit (SQLite: synchronous=OFF; PostgreSQL: this session's commits
 * return before their WAL is flushed). */
static int no_sync(sqldb *db)
{
    return sqldb_exec(db, sqldb_kind_of(db) == SQLDB_SQLITE ? "PRAGMA synchronous=OFF"
                                                            : "SET synchronous_commit = off");
}

/* Makes the schema (db_migrate, as smpctl db migrate does) and opens the
 * database. Without --append it must be new: no SQLite file yet, or a
 * PostgreSQL database without a schema. */
static int open_store(const gen_opts *o, sqldb **db, char *err, size_t errlen)
{
    char name[512];
    int from = 0;

    sqldb_mask(o->db_path, name, sizeof name);
    if (!o->append && !sqldb_is_postgres(o->db_path) && access(o->db_path, F_OK) == 0) {
        snprintf(err, errlen, "%s exists; remove it first (or --append)", name);
        return -1;
    }
    if (db_migrate(o->db_path, &from, &(int){0}, err, errlen) != 0)
        return -1;
    if (!o->append && from != 0) {
        snprintf(err, errlen, "%s already holds a schema (version %d); give an empty database "
                 "(or --append)", name, from);
        return -1;
    }
    return db_open(o->db_path, db, err, errlen);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    gen_opts o;
    gen_stmts s = {0};
    sqldb *db = NULL;
    char err[600] = "", start_ts[RECORD_TS_LEN + 1];
    int64_t start_ms;
    double t0;
    int rc = 1;

    if (parse_args(argc, argv, &o) != 0)
        return 2;
    snprintf(start_ts, sizeof start_ts, "%.10sT00:00:00.000Z", o.start);
    if (strlen(o.start) != 10 || record_ts_parse(start_ts, &start_ms) != 0) {
        fprintf(stderr, "gen_db: --start must be YYYY-MM-DD, got '%s'\n", o.start);
        return 2;
    }
    if (open_store(&o, &db, err, sizeof err) != 0)
        goto cleanup;
    t0 = now_s();
    if (no_sync(db) != 0 || sqldb_begin(db, SQLDB_WRITE) != 0) {
        db_fail(db, "begin");
        goto cleanup;
    }
    if (prepare(db, &s) != 0)
        goto cleanup;
    for (int n = 1; n <= o.devices; n++)
        if (gen_device(db, &s, &o, n, start_ms) != 0)
            goto cleanup;
    if (record_batch_flush(&s.records) != 0 || sqldb_commit(db) != 0) {
        db_fail(db, "commit");
        goto cleanup;
    }
    t0 = now_s() - t0;
    printf("gen_db: %ld rows in %.1f s (%.0f rows/s)\n", rows_total, t0,
           t0 > 0 ? (double)rows_total / t0 : 0.0);
    rc = 0;
cleanup:
    if (rc != 0 && err[0])
        fprintf(stderr, "gen_db: %s\n", err);
    record_batch_close(&s.records);
    sqldb_finalize(s.alert);
    sqldb_finalize(s.device);
    sqldb_finalize(s.state);
    sqldb_close(db);
    return rc;
}
