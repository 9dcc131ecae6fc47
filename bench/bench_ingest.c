/* bench_ingest: the collector's commit path without a broker.
 *
 *   bench_ingest DB LOADFILE...
 *
 * DB is a collector's database with the load's devices registered (a
 * SQLite path or a postgresql:// URI); each LOADFILE holds one device's
 * events payloads, one per line, as `bench/gen_load` writes them
 * (load/b64/<device>.txt). The messages go into an inbox round-robin over
 * the files (a message of each device in turn, as a broker interleaves
 * devices) from this thread, as Paho's receive thread pushes them, while
 * the collector's committer (collector/committer.c, with the built-in
 * policy's rules on) stores them in groups. Nothing is published: acks are
 * counted. Checkpoints stay pending (no verifier runs here). Prints
 *   bench_ingest: N records in M messages, S s wall, C s CPU: R records/s,
 *   U us CPU per record, A acks, G groups
 * and fails when not every message was acked. Used to look at the commit
 * path alone (with callgrind or perf) without the broker and TLS; the
 * figures `make bench` reports are the collector's, end to end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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
    size_t acks;
} tally;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count_ack(void *ctx, const char *device, uint64_t seq)
{
    (void)device;
    (void)seq;
    ((tally *)ctx)->acks++;
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
    size_t ndev = (size_t)(argc - 2), records = 0, messages = 0;
    device_load *devs = calloc(ndev ? ndev : 1, sizeof *devs);
    static policy pol;
    char err[600];
    store *s = NULL;
    tally t = {0};

    if (argc < 3) {
        fprintf(stderr, "usage: bench_ingest DB LOADFILE...\n");
        return 2;
    }
    for (size_t i = 0; i < ndev; i++)
        if (read_load(argv[i + 2], &devs[i], &records) != 0)
            return 1;
    if (policy_defaults(&pol) != 0 || store_open(argv[1], &s, err, sizeof err) != 0) {
        fprintf(stderr, "bench_ingest: %s\n", err);
        return 1;
    }
    /* The collector's defaults (collector_config.c). */
    ingest_limits limits = {100000, 4096, 86400 * 1000,
                            {pol.clock_skew_s * 1000, pol.gap_grace_s * 1000}};
    ingest *in = ingest_new(s, &limits);
    inbox *q = inbox_new(1024, 64u * 1024 * 1024);
    static metrics_counters counters;
    metrics_counters_init(&counters);
    const committer_publish pub = {&t, count_ack, drop_alerts, &counters};
    if (!in || !q)
        return 1;
    ingest_set_policy(in, &pol);

    int64_t statements0 = store_statements(s), trips0 = store_round_trips(s);
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    committer *c = committer_start(in, q, &pub);
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

    printf("bench_ingest: %zu records in %zu messages, %.2f s wall, %.2f s CPU: %.0f records/s,"
           " %.1f us CPU per record, %zu acks, %llu groups, %.1f statements and %.1f round trips"
           " per message\n",
           records, messages, wall, cpu, (double)records / wall, cpu * 1e6 / (double)records,
           t.acks, (unsigned long long)atomic_load(&counters.groups_committed),
           (double)(store_statements(s) - statements0) / (double)messages,
           (double)(store_round_trips(s) - trips0) / (double)messages);
    ingest_free(in);
    inbox_free(q);
    store_close(s);
    return c && t.acks > 0 ? 0 : 1;
}
