/* fuzz_ingest: libFuzzer target for the collector's whole ingest path.
 *
 * Each input is the payload of one message on smp/v1/dev/dev-a/events. It
 * goes to ingest_events() against a real store on SQLite (through the
 * storage seam, sqldb.h, like every other program): a database file
 * created once per process (under /dev/shm when present, so the WAL's
 * fsyncs cost nothing), with device dev-a registered. State accumulates
 * across inputs, so duplicates, conflicts, chain advance and quarantine
 * trimming are all reachable.
 *
 * Properties (abort() on violation, so libFuzzer keeps the input):
 *   - ingest_events returns 0 for every input: stored or quarantined, never
 *     a store failure;
 *   - it stores and acks exactly when message_parse_batch accepts the payload,
 *     or refuses it for records that batch_split can quarantine alone (the
 *     rest stored: docs/collector.md, "Bad input"); a record timed beyond
 *     future_skew_ms is stored too (R10 future-ts); otherwise it quarantines
 *     the message and does not ack;
 *   - a stored batch accounts for every valid record (stored + duplicates +
 *     conflicts == count) and every one set aside (rejected), each valid
 *     record is then in the store, and the acked head never moves backwards;
 *   - every alert event it reports (rules R9/R10) has JSON evidence and
 *     encodes with alert_encode into valid JSON.
 *
 * dev-a is registered with the self-signed certificate below (its key was
 * thrown away after signing the checkpoint in the seed
 * ingest-chain-signed-checkpoint.json). Ingest no longer verifies
 * signatures (collector/verifier.c does, after the commit): here a
 * checkpoint's link to its predecessor is checked and the checkpoint is
 * queued in checkpoints, which is what ingest does with it.
 *
 * Build and run: make fuzz-ingest [FUZZ_SECONDS=...]
 * Because the database carries state between inputs, a reported input may
 * need the inputs before it to reproduce; rerun it alone first.
 */
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert.h"
#include "batch_split.h"
#include "db.h"
#include "ingest.h"
#include "log.h"
#include "message.h"
#include "record.h"
#include "store.h"

#define DEVICE "dev-a"
#define TOPIC  "smp/v1/dev/" DEVICE "/events"
/* Receive time: midday of the demo corpus day, so seeds hold records
 * behind, near and ahead of it (rule R10 raises and clears). */
#define NOW_TS "2026-11-23T12:00:00.000Z"
#define SKEW_MS (24LL * 3600 * 1000)

/* Throwaway P-256 certificate, CN=dev-a (public part only). */
static const char dev_a_cert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBeDCCAR2gAwIBAgIULhGL4x00OIwWQiZI2jxdJkTKADMwCgYIKoZIzj0EAwIw\n"
    "EDEOMAwGA1UEAwwFZGV2LWEwIBcNMjYxMTIzMjAxMjE5WhgPMjEyNjEwMzAyMDEy\n"
    "MTlaMBAxDjAMBgNVBAMMBWRldi1hMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
    "+MoAb0OJknT+hkjY5hcRzf5qzkR4o7Z6gySNjwOKP2kw3UdArDLOn5jGITv/RE/R\n"
    "6GL2HozaEN2FfFO9iKdJsqNTMFEwHQYDVR0OBBYEFA6zEwHuwLeliXQQ3ZJ2JBm2\n"
    "uWy/MB8GA1UdIwQYMBaAFA6zEwHuwLeliXQQ3ZJ2JBm2uWy/MA8GA1UdEwEB/wQF\n"
    "MAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAITtW/wGfgtfyoAOqHx2g0rPqv7N7Msy\n"
    "QsHAy71L2o+sAiEAmx3fuU94fpdPMXV+pmBVe8wHd9YrvC4VrzrGAwtnAI8=\n"
    "-----END CERTIFICATE-----\n";

static char dir[64], path[96];
static store *st;
static ingest *in;
static message_batch *oracle;
static split_rejects *oracle_rejects;
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
        .integrity = {.clock_skew_ms = 5 * 60 * 1000, .gap_grace_ms = 3600 * 1000},
    };
    char err[600];
    sqldb *db;
    sqldb_stmt *q;

    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR); /* every quarantine logs a warning: too noisy here */

    snprintf(dir, sizeof dir, "%s/smp-fuzz-ingest-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(dir))
        fatal("cannot create a temporary directory", dir);
    snprintf(path, sizeof path, "%s/fleet.db", dir);
    atexit(cleanup);

    if (db_migrate(path, &(int){0}, &(int){0}, err, sizeof err) != 0)
        fatal("db_migrate", err);
    if (db_open(path, &db, err, sizeof err) != 0)
        fatal("db_open", err);
    if (sqldb_prepare(db,
                      "INSERT INTO devices(device_id, clinic, model, serial, cert_pem, added_at) "
                      "VALUES ('" DEVICE "', 'clinic-fuzz', 'rotary-smp', 'SN-fuzz', ?1, "
                      "'2026-01-01T00:00:00.000Z')",
                      &q) != 0 ||
        sqldb_bind_text(q, 1, dev_a_cert) != 0 || sqldb_step(q) != 0)
        fatal("registering " DEVICE, sqldb_errmsg(db));
    sqldb_finalize(q);
    sqldb_close(db);

    if (store_open(path, &st, err, sizeof err) != 0)
        fatal("store_open", err);
    if (!(in = ingest_new(st, &limits)) || !(oracle = malloc(sizeof *oracle)) ||
        !(oracle_rejects = malloc(sizeof *oracle_rejects)))
        fatal("out of memory", NULL);
    if (record_ts_parse(NOW_TS, &now_ms) != 0)
        fatal("bad NOW_TS", NOW_TS);
    return 0;
}

/* What ingest must do with this payload, decided independently of it:
 * 1 store (oracle holds the valid records, oracle_rejects those set
 * aside), 0 quarantine the message. */
static int expect_stored(const uint8_t *data, size_t size)
{
    record_error err;

    oracle_rejects->count = 0;
    if (message_parse_batch((const char *)data, size, DEVICE, oracle, &err) != 0 &&
        (strncmp(err.field, "records[", 8) != 0 ||
         batch_split((const char *)data, size, oracle, oracle_rejects, &err) != 0))
        return 0;
    for (size_t i = 0; i < oracle->count; i++) {
        int64_t ts;
        if (record_ts_parse(oracle->records[i].ts, &ts) != 0)
            fatal("accepted record with an unparseable ts", oracle->records[i].ts);
    }
    return 1;
}

static void check_alerts(const alert_batch *alerts)
{
    static char buf[8192];
    cJSON *j;

    if (!alerts)
        fatal("ingest_result.alerts is NULL", NULL);
    if (alerts->count > ALERT_BATCH_MAX)
        fatal("alert batch count beyond ALERT_BATCH_MAX", NULL);
    for (size_t i = 0; i < alerts->count; i++) {
        const alert_event *ev = &alerts->events[i];
        if (ev->kind == ALERT_RAISED) {
            if (!(j = cJSON_Parse(ev->a.evidence)) || !cJSON_IsObject(j))
                fatal("alert evidence is not a JSON object", ev->a.evidence);
            cJSON_Delete(j);
        }
        if (alert_encode(ev, NOW_TS, buf, sizeof buf) < 0)
            fatal("alert_encode failed", ev->a.cause);
        if (!(j = cJSON_Parse(buf)))
            fatal("alert_encode wrote invalid JSON", buf);
        if (ev->kind == ALERT_RAISED && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "evidence")))
            fatal("encoded raised alert has no evidence object", buf);
        cJSON_Delete(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prev[RECORD_HASH_HEX], hash[RECORD_HASH_HEX];
    ingest_result res;
    int want = expect_stored(data, size);

    if (ingest_events(in, TOPIC, data, size, now_ms, &res) != 0)
        fatal("ingest_events returned a store failure", store_errmsg(st));
    check_alerts(res.alerts);

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
    if ((size_t)res.rejected != oracle_rejects->count)
        fatal("records set aside != records batch_split refuses", NULL);
    if (res.ack_seq < last_ack)
        fatal("acked head moved backwards", NULL);
    last_ack = res.ack_seq;
    for (size_t i = 0; i < oracle->count; i++) {
        if (store_get_link(st, DEVICE, oracle->records[i].seq, prev, hash) != 1)
            fatal("acked record is not in the store", store_errmsg(st));
    }
    return 0;
}
