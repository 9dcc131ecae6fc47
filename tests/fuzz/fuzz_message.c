/* fuzz_message: libFuzzer target for the collector's untrusted input path.
 *
 * Each input is an events payload as published on smp/v1/dev/dev-a/events.
 * It goes through message_parse_batch exactly as ingest does. When it is
 * accepted, every record must satisfy the properties the integrity chain
 * relies on (docs/protocol.md):
 *
 *   - record_check accepts what record_from_json accepted (one schema);
 *   - its canonical bytes fit in RECORD_CANON_MAX and pass the raw-text
 *     checks the collector applies to any JSON;
 *   - the canonical form is a fixed point: parsing the canonical bytes with
 *     cJSON + record_from_json(RECORD_FULL) succeeds and yields the same
 *     canonical bytes (and so the same SHA-256);
 *   - the batch re-encoded from canonical records (message_encode_batch)
 *     parses back to the same canonical records, and the fast path for
 *     payloads in canonical form (message_parse_canonical) reads it, to
 *     the same records;
 *   - whatever the fast path reads of any input, message_parse_batch
 *     accepts as the same records, whose canonical bytes are the bytes the
 *     fast path points at.
 *
 * Any violation calls abort() so libFuzzer records the input as a crash.
 * The same input is also fed to message_parse_ack and message_topic_device.
 *
 * Build and run: make fuzz [FUZZ_SECONDS=600]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ids.h"
#include "jsontext.h"
#include "message.h"
#include "record.h"

#define DEVICE "dev-a"

static message_batch *batch;     /* reused across runs: it is ~200 KiB */
static message_batch *rebatch;   /* the re-encoded batch parsed back */
static message_batch *fastbatch; /* what message_parse_canonical read */
static char *encoded;            /* message_encode_batch output */
static message_span spans[MESSAGE_MAX_RECORDS];
#define ENCODED_CAP (MESSAGE_MAX_BYTES + RECORD_CANON_MAX)

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "fuzz_message: out of memory\n");
        abort();
    }
    return p;
}

static void die(const char *what, size_t i, const char *a, int alen, const char *b, int blen)
{
    fprintf(stderr, "fuzz_message: PROPERTY VIOLATED: %s (record %zu)\n", what, i);
    if (a)
        fprintf(stderr, "  first:  %.*s\n", alen, a);
    if (b)
        fprintf(stderr, "  second: %.*s\n", blen, b);
    abort();
}

static int is_lower_hex64(const char *s)
{
    for (int i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return s[64] == '\0';
}

/* Checks one accepted record; writes its canonical bytes into canon. */
static int check_record(const record *r, size_t i, char canon[RECORD_CANON_MAX])
{
    char canon2[RECORD_CANON_MAX], hash[RECORD_HASH_HEX], hash2[RECORD_HASH_HEX];
    char why[96];
    record_error err;
    record *again;
    cJSON *json;
    int len, len2;

    if (record_check(r, &err) != 0) {
        fprintf(stderr, "record_check: %s: %s\n", err.field, err.reason);
        die("record_check rejects a record that record_from_json accepted", i, NULL, 0, NULL, 0);
    }

    len = record_canonical(r, canon, RECORD_CANON_MAX);
    if (len < 0)
        die("canonical bytes exceed RECORD_CANON_MAX", i, NULL, 0, NULL, 0);
    if ((size_t)len != strlen(canon))
        die("canonical length differs from strlen (embedded NUL)", i, canon, len, NULL, 0);
    record_sha256_hex(canon, (size_t)len, hash);
    if (!is_lower_hex64(hash))
        die("record_sha256_hex is not 64 lowercase hex digits", i, hash, 65, NULL, 0);
    if (jsontext_precheck(canon, (size_t)len, why, sizeof why) != 0) {
        fprintf(stderr, "jsontext_precheck: %s\n", why);
        die("canonical bytes fail the raw JSON text checks", i, canon, len, NULL, 0);
    }

    json = cJSON_ParseWithLength(canon, (size_t)len);
    if (!json)
        die("canonical bytes are not valid JSON", i, canon, len, NULL, 0);
    again = xmalloc(sizeof *again);
    if (record_from_json(json, RECORD_FULL, "", again, &err) != 0) {
        fprintf(stderr, "record_from_json: %s: %s\n", err.field, err.reason);
        die("canonical bytes do not parse back as a record", i, canon, len, NULL, 0);
    }
    cJSON_Delete(json);

    len2 = record_canonical(again, canon2, sizeof canon2);
    free(again);
    if (len2 != len || memcmp(canon, canon2, (size_t)len) != 0)
        die("canonical form is not a fixed point", i, canon, len, canon2, len2 < 0 ? 0 : len2);
    record_sha256_hex(canon2, (size_t)len2, hash2);
    if (strcmp(hash, hash2) != 0)
        die("same canonical bytes, different hash", i, hash, 64, hash2, 64);
    return len;
}

/* Re-encodes the accepted batch from canonical records and parses it back. */
static void check_batch_roundtrip(char (*canon)[RECORD_CANON_MAX], const size_t *lens)
{
    const char *parts[MESSAGE_MAX_RECORDS];
    char again[RECORD_CANON_MAX];
    record_error err;
    int n;

    for (size_t i = 0; i < batch->count; i++)
        parts[i] = canon[i];
    n = message_encode_batch(DEVICE, parts, lens, batch->count, encoded, ENCODED_CAP);
    if (n < 0)
        die("message_encode_batch failed for an accepted batch", 0, NULL, 0, NULL, 0);
    if ((size_t)n > MESSAGE_MAX_BYTES)
        return; /* numbers can grow in canonical form (1e15); over the limit is fine */
    if (message_parse_batch(encoded, (size_t)n, DEVICE, rebatch, &err) != 0) {
        fprintf(stderr, "message_parse_batch: %s: %s\n", err.field, err.reason);
        die("re-encoded batch is rejected", 0, encoded, n < 2000 ? n : 2000, NULL, 0);
    }
    if (rebatch->count != batch->count || strcmp(rebatch->device, DEVICE) != 0)
        die("re-encoded batch has another count or device", 0, NULL, 0, NULL, 0);
    for (size_t i = 0; i < rebatch->count; i++) {
        int len = record_canonical(&rebatch->records[i], again, sizeof again);
        if (len < 0 || (size_t)len != lens[i] || memcmp(again, canon[i], lens[i]) != 0)
            die("re-encoded batch yields other canonical bytes", i, canon[i], (int)lens[i],
                again, len < 0 ? 0 : len);
    }
    if (message_parse_canonical(encoded, (size_t)n, DEVICE, fastbatch, spans) != 0)
        die("the fast path does not read a batch in canonical form", 0, encoded,
            n < 2000 ? n : 2000, NULL, 0);
    if (fastbatch->count != batch->count)
        die("the fast path reads another count", fastbatch->count, NULL, 0, NULL, 0);
    for (size_t i = 0; i < fastbatch->count; i++) {
        if (spans[i].len != lens[i] || memcmp(encoded + spans[i].offset, canon[i], lens[i]) != 0)
            die("the fast path points at other bytes", i, canon[i], (int)lens[i],
                encoded + spans[i].offset, (int)spans[i].len);
    }
}

/* Whatever the fast path reads, message_parse_batch accepts as the same
 * records, and their canonical bytes are the ones the fast path points at. */
static void check_fast_path(const char *data, size_t size)
{
    char again[RECORD_CANON_MAX];
    record_error err;

    if (message_parse_canonical(data, size, DEVICE, fastbatch, spans) != 0) {
        if (fastbatch->count != 0)
            die("the fast path left a record count", fastbatch->count, NULL, 0, NULL, 0);
        return;
    }
    if (message_parse_batch(data, size, DEVICE, rebatch, &err) != 0) {
        fprintf(stderr, "message_parse_batch: %s: %s\n", err.field, err.reason);
        die("the fast path reads a payload the parser refuses", 0, data,
            size < 2000 ? (int)size : 2000, NULL, 0);
    }
    if (rebatch->count != fastbatch->count || strcmp(rebatch->device, fastbatch->device) != 0)
        die("the fast path reads another count or device", 0, NULL, 0, NULL, 0);
    for (size_t i = 0; i < fastbatch->count; i++) {
        int len = record_canonical(&rebatch->records[i], again, sizeof again);
        if (len < 0 || (size_t)len != spans[i].len ||
            memcmp(again, data + spans[i].offset, spans[i].len) != 0)
            die("the fast path points at bytes that are not the record's canonical form", i,
                data + spans[i].offset, (int)spans[i].len, again, len < 0 ? 0 : len);
        len = record_canonical(&fastbatch->records[i], again, sizeof again);
        if (len < 0 || (size_t)len != spans[i].len ||
            memcmp(again, data + spans[i].offset, spans[i].len) != 0)
            die("the fast path reads another record", i, data + spans[i].offset,
                (int)spans[i].len, again, len < 0 ? 0 : len);
    }
}

static void check_topic(const uint8_t *data, size_t size)
{
    char topic[MESSAGE_TOPIC_MAX * 2 + 1], device[IDS_DEVICE_ID_MAX + 1];
    size_t n = size < sizeof topic - 1 ? size : sizeof topic - 1;
    const char *leaf;

    memcpy(topic, data, n);
    topic[n] = '\0';
    leaf = message_topic_device(topic, device);
    if (leaf) {
        if (leaf < topic || leaf > topic + n)
            die("message_topic_device returned a pointer outside the topic", 0, NULL, 0, NULL, 0);
        if (!ids_valid_device_id(device, NULL, 0))
            die("message_topic_device accepted an invalid device id", 0, device,
                (int)strlen(device), NULL, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char (*canon)[RECORD_CANON_MAX];
    size_t lens[MESSAGE_MAX_RECORDS];
    record_error err;
    uint64_t seq;

    if (!batch) {
        batch = xmalloc(sizeof *batch);
        rebatch = xmalloc(sizeof *rebatch);
        fastbatch = xmalloc(sizeof *fastbatch);
        encoded = xmalloc(ENCODED_CAP);
        canon = xmalloc(MESSAGE_MAX_RECORDS * sizeof *canon);
    }

    memset(&err, 0, sizeof err);
    if (message_parse_batch((const char *)data, size, DEVICE, batch, &err) == 0) {
        if (batch->count < 1 || batch->count > MESSAGE_MAX_RECORDS)
            die("accepted batch has a record count outside 1..64", batch->count, NULL, 0, NULL, 0);
        if (strcmp(batch->device, DEVICE) != 0)
            die("accepted batch names another device", 0, batch->device,
                (int)strlen(batch->device), NULL, 0);
        for (size_t i = 0; i < batch->count; i++)
            lens[i] = (size_t)check_record(&batch->records[i], i, canon[i]);
        check_batch_roundtrip(canon, lens);
    } else {
        if (batch->count != 0)
            die("rejected batch left a record count", batch->count, NULL, 0, NULL, 0);
        /* err must give a reason; field and reason stay NUL-terminated. */
        if (!memchr(err.field, '\0', sizeof err.field) ||
            !memchr(err.reason, '\0', sizeof err.reason) || err.reason[0] == '\0')
            die("rejection without a reason", 0, NULL, 0, NULL, 0);
    }

    check_fast_path((const char *)data, size);

    if (message_parse_ack((const char *)data, size, DEVICE, &seq) == 0 &&
        seq > (uint64_t)RECORD_INT_MAX)
        die("ack seq beyond 2^53-1 accepted", 0, NULL, 0, NULL, 0);

    check_topic(data, size);
    return 0;
}
