/* bench_journal: durable appends per second of the agent's journal.
 *
 *   bench_journal DIR N [SECONDS]
 *
 * Opens a fresh journal in DIR (which must not hold one) and appends
 * realistic records (bench/chain.c: the simulator's mix, canonical bytes
 * chained by prev): first N records with journal_sync after each one — what
 * a producer waiting for its `ok` costs when nobody else writes — stopping
 * early after SECONDS (default 60); then N records synced once at the end,
 * the group-commit limit. Prints
 *   bench_journal: synced_each=N in S s: R appends/s; synced_once=N in S s: R appends/s */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain.h"
#include "journal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends up to n records; sync after each when each is set, else once.
 * Returns the count appended, -1 on error. */
static long run(journal *j, chain *c, long n, int each, double limit_s)
{
    char canon[RECORD_CANON_MAX], err[512];
    double t0 = now_s();
    long i;
    int len;

    for (i = 0; i < n; i++) {
        if (chain_next(c, canon, sizeof canon, &len, NULL, err, sizeof err) != 1 ||
            journal_append(j, journal_head_seq(j) + 1, canon, (size_t)len, err, sizeof err) != 0 ||
            (each && journal_sync(j, err, sizeof err) != 0)) {
            fprintf(stderr, "bench_journal: %s\n", err);
            return -1;
        }
        if (each && (i & 15) == 15 && now_s() - t0 > limit_s) {
            i++;
            break;
        }
    }
    if (!each && journal_sync(j, err, sizeof err) != 0) {
        fprintf(stderr, "bench_journal: %s\n", err);
        return -1;
    }
    return i;
}

int main(int argc, char **argv)
{
    journal_limits lim = {4096 * 1024, (uint64_t)4 << 30};
    journal *j;
    chain c;
    char err[512];

    if (argc < 3 || atol(argv[2]) < 1) {
        fprintf(stderr, "usage: bench_journal DIR N [SECONDS]\n");
        return 2;
    }
    long n = atol(argv[2]);
    double limit = argc > 3 ? atof(argv[3]) : 60.0;
    if (journal_open(argv[1], &lim, &j, err, sizeof err) != 0) {
        fprintf(stderr, "bench_journal: %s\n", err);
        return 1;
    }
    if (journal_head_seq(j) != 0) {
        fprintf(stderr, "bench_journal: %s already holds a journal; use an empty directory\n", argv[1]);
        return 1;
    }
    if (chain_open(&c, "bench-journal", 7, 1700000000000LL, 3650, SIM_ROLE_BOTH, NULL, err,
                   sizeof err) != 0) {
        fprintf(stderr, "bench_journal: %s\n", err);
        return 1;
    }
    double t0 = now_s();
    long a = run(j, &c, n, 1, limit);
    double t1 = now_s();
    long b = a < 0 ? -1 : run(j, &c, n, 0, limit);
    double t2 = now_s();
    journal_close(j);
    chain_close(&c);
    if (a < 0 || b < 0)
        return 1;
    printf("bench_journal: synced_each=%ld in %.3f s: %.0f appends/s; synced_once=%ld in %.3f s: %.0f appends/s\n",
           a, t1 - t0, (double)a / (t1 - t0), b, t2 - t1, (double)b / (t2 - t1));
    return 0;
}
