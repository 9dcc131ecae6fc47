/* gen_fleetdb: a collector database of many machine-days for the report
 * benchmark, written straight into the tables smp-collector fills.
 *
 *   gen_fleetdb --db PATH --devices FILE --days D --start YYYY-MM-DD [--pki DIR]
 *
 * FILE lists the devices, one id a line; they must already be registered
 * in PATH (smpctl device add, which also creates the schema). For each,
 * the simulator's D clinic days from --start are chained exactly as the
 * agent does (bench/chain.c; signed checkpoints when --pki holds
 * devices/<id>.key) and stored as the collector stores them: one `records`
 * row per record (canonical body, prev, hash, received_at = ts + 1.5 s)
 * and the device's chain head in `device_state`. It does not run the
 * collector's rules, so rule state and alerts stay empty. Durability is
 * off while writing (synchronous=OFF, one transaction per device): this is
 * a fixture, not the measured path. Prints the record count. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain.h"
#include "db.h"

static void usage(void)
{
    fprintf(stderr, "usage: gen_fleetdb --db PATH --devices FILE --days D --start YYYY-MM-DD [--pki DIR]\n");
    exit(2);
}

static int check(sqlite3 *db, int rc, const char *what)
{
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    fprintf(stderr, "gen_fleetdb: %s: %s\n", what, sqlite3_errmsg(db));
    return -1;
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

    sqlite3 *db;
    /* A test-data tool makes its database itself (smpctl db migrate's
     * db_migrate); on one already made it is a no-op. */
    if (db_migrate(path, &(int){0}, &(int){0}, err, sizeof err) != 0 ||
        db_open(path, &db, err, sizeof err) != 0) {
        fprintf(stderr, "gen_fleetdb: %s\n", err);
        return 1;
    }
    if (db_exec(db, "PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;", err, sizeof err) != 0) {
        fprintf(stderr, "gen_fleetdb: %s\n", err);
        return 1;
    }
    sqlite3_stmt *ins, *head;
    if (check(db, sqlite3_prepare_v2(db,
                                     "INSERT INTO records(device_id, seq, ts, received_at, type, prev,"
                                     " hash, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                     -1, &ins, NULL), "prepare") ||
        check(db, sqlite3_prepare_v2(db,
                                     "INSERT OR REPLACE INTO device_state(device_id, acked_seq,"
                                     " acked_hash, last_seen) VALUES (?1, ?2, ?3, ?4)",
                                     -1, &head, NULL), "prepare"))
        return 1;

    FILE *lf = fopen(list, "r");
    if (!lf) {
        fprintf(stderr, "gen_fleetdb: %s: %s\n", list, strerror(errno));
        return 1;
    }
    char dev[256], key[4096], canon[RECORD_CANON_MAX], recv[RECORD_TS_LEN + 1];
    long total = 0;
    uint64_t seed = 500;
    while (fgets(dev, sizeof dev, lf)) {
        dev[strcspn(dev, "\r\n")] = '\0';
        if (!dev[0])
            continue;
        chain c;
        key[0] = '\0';
        if (pki)
            snprintf(key, sizeof key, "%s/devices/%s.key", pki, dev);
        if (chain_open(&c, dev, seed++, start_ms, days, key, err, sizeof err) != 0) {
            fprintf(stderr, "gen_fleetdb: %s\n", err);
            return 1;
        }
        if (db_exec(db, "BEGIN", err, sizeof err) != 0) {
            fprintf(stderr, "gen_fleetdb: %s\n", err);
            return 1;
        }
        record r;
        int len, got;
        int64_t ms = 0;
        while ((got = chain_next(&c, canon, sizeof canon, &len, &r, err, sizeof err)) == 1) {
            record_ts_parse(r.ts, &ms);
            record_ts_format(ms + 1500, recv);
            sqlite3_bind_text(ins, 1, dev, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ins, 2, (sqlite3_int64)r.seq);
            sqlite3_bind_text(ins, 3, r.ts, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 4, recv, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 5, record_type_name(r.type), -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 6, r.prev, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 7, c.head, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 8, canon, len, SQLITE_STATIC);
            if (check(db, sqlite3_step(ins), "insert"))
                return 1;
            sqlite3_reset(ins);
            total++;
        }
        if (got < 0) {
            fprintf(stderr, "gen_fleetdb: %s\n", err);
            return 1;
        }
        record_ts_format(ms + 1500, recv);
        sqlite3_bind_text(head, 1, dev, -1, SQLITE_STATIC);
        sqlite3_bind_int64(head, 2, (sqlite3_int64)c.seq);
        sqlite3_bind_text(head, 3, c.head, -1, SQLITE_STATIC);
        sqlite3_bind_text(head, 4, recv, -1, SQLITE_STATIC);
        if (check(db, sqlite3_step(head), "device_state"))
            return 1;
        sqlite3_reset(head);
        if (db_exec(db, "COMMIT", err, sizeof err) != 0) {
            fprintf(stderr, "gen_fleetdb: %s\n", err);
            return 1;
        }
        chain_close(&c);
    }
    fclose(lf);
    sqlite3_finalize(ins);
    sqlite3_finalize(head);
    if (db_exec(db, "PRAGMA wal_checkpoint(TRUNCATE);", err, sizeof err) != 0) {
        fprintf(stderr, "gen_fleetdb: %s\n", err);
        return 1;
    }
    sqlite3_close(db);
    printf("%ld\n", total);
    return 0;
}
