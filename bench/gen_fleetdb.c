/* gen_fleetdb: a collector database of many machine-days for the report
 * benchmark, written straight into the tables smp-collector fills.
 *
 *   gen_fleetdb --db PATH|URI --devices FILE --days D --start YYYY-MM-DD [--pki DIR]
 *
 * FILE lists the devices, one a line: its id, then optionally the role it
 * simulates (machine, the default; both: a machine that also logs the
 * clinic's autoclave; autoclave); they must already be registered in the
 * database (smpctl device add; the schema is db_migrate's, made
 * here too if missing). --db is a SQLite file or a postgresql:// URI. For
 * each device, the simulator's D clinic days from --start are chained
 * exactly as the agent does (bench/chain.c; signed checkpoints when --pki
 * holds devices/<id>.key) and stored as the collector stores them: one
 * `records` row per record (canonical body, prev, hash, received_at = ts +
 * 1.5 s) and the device's chain head in `device_state`, through sqldb with
 * prepared multi-row inserts (record_batch.h), one transaction per device.
 * It does not run the collector's rules, so rule state and alerts stay
 * empty. Durability is off while writing (no_sync): this is a fixture, not
 * the measured path. Prints the record count on stdout, and the rate on
 * stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "db.h"
#include "record_batch.h"

/* The chain head of a device; a rerun for the same device replaces it. */
static const char head_sql[] =
    "INSERT INTO device_state(device_id, acked_seq, acked_hash, last_seen)"
    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (device_id) DO UPDATE SET"
    " acked_seq = excluded.acked_seq, acked_hash = excluded.acked_hash,"
    " last_seen = excluded.last_seen";

static void usage(void)
{
    fprintf(stderr, "usage: gen_fleetdb --db PATH|URI --devices FILE --days D --start YYYY-MM-DD [--pki DIR]\n");
    exit(2);
}

/* Reports the last failure on db; -1. */
static int db_fail(sqldb *db, const char *what)
{
    char err[600];

    db_error(db, what, err, sizeof err);
    fprintf(stderr, "gen_fleetdb: %s\n", err);
    return -1;
}

/* A fixture is thrown away on a crash: no waiting for the disk at each
 * commit (SQLite: synchronous=OFF and a 256 MB cache; PostgreSQL: this
 * session's commits return before their WAL is flushed). */
static int no_sync(sqldb *db)
{
    return sqldb_exec(db, sqldb_kind_of(db) == SQLDB_SQLITE
                              ? "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
                              : "SET synchronous_commit = off");
}

/* The device's records, then its head; in the caller's transaction. */
static int write_device(sqldb *db, record_batch *batch, sqldb_stmt *head, chain *c,
                        const char *dev, long *total, char *err, size_t errlen)
{
    char canon[RECORD_CANON_MAX], recv[RECORD_TS_LEN + 1];
    record r;
    int len, got;
    int64_t ms = 0;

    while ((got = chain_next(c, canon, sizeof canon, &len, &r, err, errlen)) == 1) {
        record_ts_parse(r.ts, &ms);
        record_ts_format(ms + 1500, recv);
        if (record_batch_add(batch, dev, (int64_t)r.seq, r.ts, recv, record_type_name(r.type),
                             r.prev, c->head, canon, (size_t)len) != 0)
            return db_fail(db, "insert records");
        (*total)++;
    }
    if (got < 0) {
        fprintf(stderr, "gen_fleetdb: %s\n", err);
        return -1;
    }
    if (record_batch_flush(batch) != 0)
        return db_fail(db, "insert records");
    record_ts_format(ms + 1500, recv);
    if (sqldb_bind_text(head, 1, dev) != 0 || sqldb_bind_int64(head, 2, (int64_t)c->seq) != 0 ||
        sqldb_bind_text(head, 3, c->head) != 0 || sqldb_bind_text(head, 4, recv) != 0 ||
        sqldb_step(head) != 0)
        return db_fail(db, "device_state");
    sqldb_reset(head);
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *list = NULL, *start = NULL, *pki = NULL;
    int days = 0;
    char err[512];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--db")) path = v;
        else if (!strcmp(a, "--devices")) list = v;
        else if (!strcmp(a, "--days")) days = atoi(v);
        else if (!strcmp(a, "--start")) start = v;
        else if (!strcmp(a, "--pki")) pki = v;
        else usage();
        i++;
    }
    if (!path || !list || !start || days < 1 || days > 3650 || strlen(start) != 10)
        usage();
    char ts0[RECORD_TS_LEN + 1];
    int64_t start_ms;
    snprintf(ts0, sizeof ts0, "%sT00:00:00.000Z", start);
    if (record_ts_parse(ts0, &start_ms) != 0)
        usage();

    sqldb *db = NULL;
    record_batch batch = {0};
    sqldb_stmt *head = NULL;
    /* A test-data tool makes its database itself (smpctl db migrate's
     * db_migrate); on one already made it is a no-op. */
    if (db_migrate(path, &(int){0}, &(int){0}, err, sizeof err) != 0 ||
        db_open(path, &db, err, sizeof err) != 0) {
        fprintf(stderr, "gen_fleetdb: %s\n", err);
        return 1;
    }
    if (no_sync(db) != 0 || record_batch_open(&batch, db) != 0 ||
        sqldb_prepare(db, head_sql, &head) != 0) {
        db_fail(db, "prepare");
        return 1;
    }

    FILE *lf = fopen(list, "r");
    if (!lf) {
        fprintf(stderr, "gen_fleetdb: %s: %s\n", list, strerror(errno));
        return 1;
    }
    char dev[256], key[4096];
    long total = 0;
    uint64_t seed = 500;
    double t0 = now_s();
    while (fgets(dev, sizeof dev, lf)) {
        sim_role role = SIM_ROLE_MACHINE;
        char *word;
        dev[strcspn(dev, "\r\n")] = '\0';
        if ((word = strchr(dev, ' ')) != NULL) {
            *word++ = '\0';
            if (sim_role_parse(word, &role) != 0) {
                fprintf(stderr, "gen_fleetdb: %s: role '%s' is not machine, autoclave or both\n",
                        dev, word);
                return 1;
            }
        }
        if (!dev[0])
            continue;
        chain c;
        key[0] = '\0';
        if (pki)
            snprintf(key, sizeof key, "%s/devices/%s.key", pki, dev);
        if (chain_open(&c, dev, seed++, start_ms, days, role, key, err, sizeof err) != 0) {
            fprintf(stderr, "gen_fleetdb: %s\n", err);
            return 1;
        }
        if (sqldb_begin(db, SQLDB_WRITE) != 0) {
            db_fail(db, "begin");
            return 1;
        }
        if (write_device(db, &batch, head, &c, dev, &total, err, sizeof err) != 0)
            return 1;
        if (sqldb_commit(db) != 0) {
            db_fail(db, "commit");
            return 1;
        }
        chain_close(&c);
    }
    fclose(lf);
    t0 = now_s() - t0;
    record_batch_close(&batch);
    sqldb_finalize(head);
    /* Leaves a SQLite database in one file, no -wal beside it. */
    if (sqldb_kind_of(db) == SQLDB_SQLITE &&
        sqldb_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);") != 0) {
        db_fail(db, "checkpoint");
        return 1;
    }
    sqldb_close(db);
    fprintf(stderr, "gen_fleetdb: %ld records in %.1f s (%.0f rows/s)\n", total, t0,
            t0 > 0 ? (double)total / t0 : 0.0);
    printf("%ld\n", total);
    return 0;
}
