/* fuzz_ingest: libFuzzer target for the collector's whole ingest path.
 *
 * Each input is the payload of one message on smp/v1/dev/dev-a/events. It
 * goes to ingest_events() against a real SQLite store: a database file
 * created once per process (under /dev/shm when present, so the WAL's
 * fsyncs cost nothing), with device dev-a registered. State accumulates
 * across inputs, so duplicates, conflicts, chain advance and quarantine
 * trimming are all reachable.
 *
 * Properties (abort() on violation, so libFuzzer keeps the input):
 *   - ingest_events returns 0 for every input: stored or quarantined, never
 *     a store failure;
 *   - it stores and acks exactly when message_parse_batch accepts the payload
 *     and no ts is more than future_skew_ms ahead; otherwise it quarantines
 *     and does not ack;
 *   - a stored batch accounts for every record (stored + duplicates +
 *     conflicts == count), each record is then in the store, and the acked
 *     head never moves backwards.
 *
 * Build and run: make fuzz-ingest [FUZZ_SECONDS=...]
 * Because the database carries state between inputs, a reported input may
 * need the inputs before it to reproduce; rerun it alone first.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "ingest.h"
#include "log.h"
#include "message.h"
#include "record.h"
#include "store.h"

#define DEVICE "dev-a"
#define TOPIC  "smp/v1/dev/" DEVICE "/events"
/* Receive time: the day after the demo corpus records. */
#define NOW_TS "2026-11-24T00:00:00.000Z"
#define SKEW_MS (24LL * 3600 * 1000)

static char dir[64], path[96];
static store *st;
static ingest *in;
static message_batch *oracle;
static int64_t now_ms;
static uint64_t last_ack;

static void fatal(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_ingest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void cleanup(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    char p[128];

    ingest_free(in);
    store_close(st);
    in = NULL;
    st = NULL;
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const ingest_limits limits = {
        .quarantine_max_rows = 50,
        .quarantine_payload_bytes = 4096,
        .future_skew_ms = SKEW_MS,
    };
    char err[512];
    sqlite3 *db;

    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR); /* every quarantine logs a warning: too noisy here */

    snprintf(dir, sizeof dir, "%s/smp-fuzz-ingest-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        fatal("cannot create a temporary directory", dir);
    snprintf(path, sizeof path, "%s/fleet.db", dir);
    atexit(cleanup);

    if (db_open(path, &db, err, sizeof err) != 0)
        fatal("db_open", err);
    if (db_exec(db,
                "INSERT INTO devices(device_id, clinic, model, serial, added_at) VALUES "
                "('" DEVICE "', 'clinic-fuzz', 'rotary-smp', 'SN-fuzz', '2026-01-01T00:00:00.000Z');"
                "INSERT INTO devices(device_id, clinic, added_at, retired_at) VALUES "
                "('dev-old', 'clinic-fuzz', '2026-01-01T00:00:00.000Z', '2026-06-01T00:00:00.000Z');",
                err, sizeof err) != 0)
        fatal("registering " DEVICE, err);
    sqlite3_close(db);

    if (store_open(path, &st, err, sizeof err) != 0)
        fatal("store_open", err);
    if (!(in = ingest_new(st, &limits)) || !(oracle = malloc(sizeof *oracle)))
        fatal("out of memory", NULL);
    if (record_ts_parse(NOW_TS, &now_ms) != 0)
        fatal("bad NOW_TS", NOW_TS);
    return 0;
}

/* What ingest must do with this payload, decided independently of it. */
static int expect_stored(const uint8_t *data, size_t size)
{
    record_error err;

    if (message_parse_batch((const char *)data, size, DEVICE, oracle, &err) != 0)
        return 0;
    for (size_t i = 0; i < oracle->count; i++) {
        int64_t ts;
        if (record_ts_parse(oracle->records[i].ts, &ts) != 0)
            fatal("accepted record with an unparseable ts", oracle->records[i].ts);
        if (ts - now_ms > SKEW_MS)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX];
    ingest_result res;
    int want = expect_stored(data, size);

    if (ingest_events(in, TOPIC, data, size, now_ms, &res) != 0)
        fatal("ingest_events returned a store failure", store_errmsg(st));

    if (!want) {
        if (!res.quarantined || res.ack)
            fatal("payload that must be rejected was not quarantined", res.reason);
        if (res.reason[0] == '\0')
            fatal("quarantined without a reason", NULL);
        return 0;
    }
    if (res.quarantined || !res.ack)
        fatal("valid payload was quarantined", res.reason);
    if (strcmp(res.device, DEVICE) != 0)
        fatal("ack for another device", res.device);
    if ((size_t)(res.stored + res.duplicates + res.conflicts) != oracle->count)
        fatal("stored + duplicates + conflicts != records in the batch", NULL);
    if (res.ack_seq < last_ack)
        fatal("acked head moved backwards", NULL);
    last_ack = res.ack_seq;
    for (size_t i = 0; i < oracle->count; i++) {
        if (store_get_link(st, DEVICE, oracle->records[i].seq, prev, hash) != 1)
            fatal("acked record is not in the store", store_errmsg(st));
    }
    return 0;
}
