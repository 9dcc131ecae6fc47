/* bench_drain: how fast the checkpoint verifier empties its queue.
 *
 *   bench_drain DB [--reset]
 *
 * DB is a collector's database (a SQLite path or a postgresql:// URI) after
 * a burst, e.g. the one `BENCH_KEEP=1 make bench` leaves in
 * out/bench/work/coll-b64.db. --reset first puts every checkpoint back to
 * 'pending' (and drops the alerts nothing should have raised), as if the
 * collector had stored and acked them all and verified none. Then it runs
 * the verifier's passes (collector/verifier.c: the batch query, the device
 * lookups, the signature checks, the marks) on one connection, as the
 * verifier thread does, until nothing is pending, and prints
 *   bench_drain: N checkpoints (V verified, F failed) in S s wall, C s CPU:
 *   R checkpoints/s, U us CPU each
 * CPU is this process's (on PostgreSQL the server's is not in it). Fails
 * when a pass fails or a checkpoint does not verify (the bench's load is
 * valid). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert.h"
#include "sqldb.h"
#include "store.h"
#include "verifier.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int reset(const char *target)
{
    sqldb *db = NULL;
    char err[600];
    int rc;

    if (sqldb_open(target, 0, &db, err, sizeof err) != 0) {
        fprintf(stderr, "bench_drain: %s\n", err);
        return -1;
    }
    rc = sqldb_exec(db, "UPDATE checkpoints SET state = 'pending', checked_at = NULL;"
                        "DELETE FROM alerts WHERE rule = 'R9'");
    if (rc != 0)
        fprintf(stderr, "bench_drain: reset: %s\n", sqldb_errmsg(db));
    sqldb_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    alert_batch *alerts = calloc(1, sizeof *alerts);
    verifier_tally t = {0};
    store *s = NULL;
    char err[600];
    int n = 0, rc = 1;

    if (argc < 2 || (argc == 3 && strcmp(argv[2], "--reset") != 0) || argc > 3) {
        fprintf(stderr, "usage: bench_drain DB [--reset]\n");
        return 2;
    }
    if (!alerts || (argc == 3 && reset(argv[1]) != 0))
        goto cleanup;
    if (store_open(argv[1], &s, err, sizeof err) != 0) {
        fprintf(stderr, "bench_drain: %s\n", err);
        goto cleanup;
    }
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    struct timespec now;
    do {
        clock_gettime(CLOCK_REALTIME, &now);
        n = verifier_pass(s, VERIFIER_BATCH, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
                          alerts, &t);
    } while (n > 0);
    double w = clock_s(CLOCK_MONOTONIC) - w0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    if (n < 0) {
        fprintf(stderr, "bench_drain: a pass failed: %s\n", store_errmsg(s));
        goto cleanup;
    }
    printf("bench_drain: %llu checkpoints (%llu verified, %llu failed) in %.2f s wall, %.2f s CPU: "
           "%.0f checkpoints/s, %.0f us CPU each\n", (unsigned long long)t.checked,
           (unsigned long long)t.verified, (unsigned long long)t.failed, w, c,
           w > 0 ? (double)t.checked / w : 0.0, t.checked ? c / (double)t.checked * 1e6 : 0.0);
    rc = t.failed == 0 && t.checked > 0 ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "bench_drain: expected every checkpoint to verify\n");
cleanup:
    store_close(s);
    free(alerts);
    return rc;
}
