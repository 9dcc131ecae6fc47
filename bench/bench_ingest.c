/* bench_ingest: the collector's commit path without a broker.
 *
 *   bench_ingest [--lanes N] DB LOADFILE...
 *
 * DB is a collector's database with the load's devices registered (a
 * SQLite path or a postgresql:// URI); each LOADFILE holds one device's
 * events payloads, one per line, as `bench/gen_load` writes them
 * (load/b64/<device>.txt). The messages go into an inbox round-robin over
 * the files (a message of each device in turn, as a broker interleaves
 * devices) from this thread, as Paho's receive thread pushes them, while
 * the collector's committer (collector/committer.c, with the built-in
 * policy's rules on) stores them in groups, in N lanes (committer.h;
 * default: the collector's, 2 on PostgreSQL, 1 on SQLite), each on its own
 * connection. Nothing is published: acks are counted. Checkpoints stay pending (no verifier runs here). Prints
 *   bench_ingest: N records in M messages, S s wall, C s CPU: R records/s,
 *   U us CPU per record, A acks, G groups
 * and fails when not every message was acked. Used to look at the commit
 * path alone (with callgrind or perf) without the broker and TLS; the
 * figures `make bench` reports are the collector's, end to end. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "collector_config.h"
#include "committer.h"
#include "inbox.h"
#include "metrics.h"
#include "ingest.h"
#include "policy.h"
#include "store.h"

typedef struct device_load {
    char topic[MESSAGE_TOPIC_MAX];
    char **lines;
    size_t n, next;
} device_load;

typedef struct tally {
    atomic_size_t acks;
} tally;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* From every lane's committing thread. */
static void count_ack(void *ctx, const char *device, uint64_t seq)
{
    (void)device;
    (void)seq;
    atomic_fetch_add_explicit(&((tally *)ctx)->acks, 1, memory_order_relaxed);
}

static void drop_alerts(void *ctx, const alert_batch *b, int64_t at_ms)
{
    (void)ctx;
    (void)b;
    (void)at_ms;
}

/* Reads one device's payloads; its id is the file's name without ".txt". */
static int read_load(const char *path, device_load *d, size_t *records)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t idlen = strcspn(base, ".");
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t len;

    if (!f) {
        perror(path);
        return -1;
    }
    snprintf(d->topic, sizeof d->topic, "smp/v1/dev/%.*s/events", (int)idlen, base);
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (d->n == alloc) {
            alloc = alloc ? alloc * 2 : 64;
            d->lines = realloc(d->lines, alloc * sizeof *d->lines);
        }
        d->lines[d->n++] = strdup(line);
        for (const char *p = line; (p = strstr(p, "\"seq\":")) != NULL; p++)
            (*records)++;
    }
    free(line);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    int first = 1;
    size_t nlanes = 0, records = 0, messages = 0;
    static policy pol;
    char err[600];
    store *s[COMMITTER_LANES_MAX] = {NULL};
    ingest *in[COMMITTER_LANES_MAX] = {NULL};
    tally t = {0};

    if (argc > 2 && strcmp(argv[1], "--lanes") == 0) {
        nlanes = (size_t)atoi(argv[2]);
        first = 3;
    }
    if (argc - first < 2 || (first == 3 && (nlanes < 1 || nlanes > COMMITTER_LANES_MAX))) {
        fprintf(stderr, "usage: bench_ingest [--lanes 1..%d] DB LOADFILE...\n", COMMITTER_LANES_MAX);
        return 2;
    }
    const char *db = argv[first];
    size_t ndev = (size_t)(argc - first - 1);
    device_load *devs = calloc(ndev, sizeof *devs);
    for (size_t i = 0; i < ndev; i++)
        if (read_load(argv[first + 1 + i], &devs[i], &records) != 0)
            return 1;
    if (!nlanes)
        nlanes = (size_t)collector_config_default_lanes(db);
    if (policy_defaults(&pol) != 0)
        return 1;
    /* The collector's defaults (collector_config.c). */
    ingest_limits limits = {100000, 4096, 86400 * 1000,
                            {pol.clock_skew_s * 1000, pol.gap_grace_s * 1000}};
    for (size_t k = 0; k < nlanes; k++) {
        if (store_open(db, &s[k], err, sizeof err) != 0) {
            fprintf(stderr, "bench_ingest: %s\n", err);
            return 1;
        }
        if (!(in[k] = ingest_new(s[k], &limits)))
            return 1;
        ingest_set_policy(in[k], &pol);
    }
    inbox *q = inbox_new(1024, 64u * 1024 * 1024);
    static metrics_counters counters;
    metrics_counters_init(&counters);
    const committer_publish pub = {&t, count_ack, drop_alerts, &counters};
    if (!q)
        return 1;

    int64_t statements0 = 0, trips0 = 0;
    for (size_t k = 0; k < nlanes; k++) {
        statements0 += store_statements(s[k]);
        trips0 += store_round_trips(s[k]);
    }
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    committer *c = committer_start(in, nlanes, q, &pub);
    for (bool more = true; more && c;) {
        more = false;
        for (size_t i = 0; i < ndev; i++) {
            device_load *d = &devs[i];
            if (d->next == d->n)
                continue;
            const char *p = d->lines[d->next++];
            if (inbox_push(q, d->topic, p, strlen(p)) != 0)
                return 1;
            messages++;
            more = true;
        }
    }
    committer_stop(c);
    double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    int64_t statements = -statements0, trips = -trips0;
    for (size_t k = 0; k < nlanes; k++) {
        statements += store_statements(s[k]);
        trips += store_round_trips(s[k]);
    }

    printf("bench_ingest: %zu records in %zu messages, %.2f s wall, %.2f s CPU: %.0f records/s,"
           " %.1f us CPU per record, %zu acks, %llu groups, %.1f statements and %.1f round trips"
           " per message, %zu lanes\n",
           records, messages, wall, cpu, (double)records / wall, cpu * 1e6 / (double)records,
           atomic_load(&t.acks), (unsigned long long)atomic_load(&counters.groups_committed),
           (double)statements / (double)messages, (double)trips / (double)messages, nlanes);
    for (size_t k = 0; k < nlanes; k++) {
        ingest_free(in[k]);
        store_close(s[k]);
    }
    inbox_free(q);
    return c && atomic_load(&t.acks) > 0 ? 0 : 1;
}
