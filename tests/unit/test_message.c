/* test_message: the MQTT payloads of docs/protocol.md.
 *
 * message_parse_batch end to end (size, raw text checks, JSON, envelope,
 * every record), batch encode -> parse round trip, acks, topic splitting;
 * the fast path for payloads in canonical form (message_parse_canonical):
 * the same records, everything else left to message_parse_batch.
 * message_batch is large: always on the heap. Test JSON uses ' for ". */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "message.h"
#include "record.h"

#define P_HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

#define REC1 "{'seq':1,'ts':'2026-03-01T09:00:00.000Z','prev':'" ZERO_HASH "',"   \
             "'type':'session.start','session_id':'S1','operator_id':'op-2',"     \
             "'client_ref':'c-01','treatment_no':2}"
#define REC2 "{'seq':2,'ts':'2026-03-01T09:00:01.000Z','prev':'" P_HASH "',"      \
             "'type':'grip.assign','grip_id':'grip-1','load_id':'L1','session_id':'S1'}"
#define REC3 "{'seq':3,'ts':'2026-03-01T11:00:00.000Z','prev':'" P_HASH "',"      \
             "'type':'session.end','session_id':'S1','run_s':7200,'strokes':500000}"
#define BAD_REC2 "{'seq':2,'ts':'2026-03-01T09:00:01.000Z','prev':'" P_HASH "',"  \
                 "'type':'session.end','session_id':'S1','run_s':1,'strokes':-4}"

/* A copy of text with every ' replaced by ". Owned by the caller. */
static char *jsonq(const char *text)
{
    char *out = strdup(text);
    assert_non_null(out);
    for (char *p = out; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return out;
}

static message_batch *new_batch(void)
{
    message_batch *b = calloc(1, sizeof *b);
    assert_non_null(b);
    return b;
}

/* Parses len bytes of payload from an exact-size heap copy (so ASan sees any
 * read past the end: the payload of an MQTT message is not NUL-terminated). */
static int parse_bytes(const char *payload, size_t len, const char *topic_device,
                       message_batch *b, record_error *err)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, payload, len);
    memset(err, 0, sizeof *err);
    int rc = message_parse_batch(copy, len, topic_device, b, err);
    free(copy);
    return rc;
}

static int parse_q(const char *text, const char *topic_device, message_batch *b,
                   record_error *err)
{
    char *json = jsonq(text);
    int rc = parse_bytes(json, strlen(json), topic_device, b, err);
    free(json);
    return rc;
}

/* A batch text with n copies of REC3 (seq values need not be distinct to
 * parse). Owned by the caller. */
static char *batch_of_n(int n)
{
    size_t cap = 64 + (size_t)n * (sizeof REC3 + 1);
    char *text = malloc(cap), *p = text;
    assert_non_null(text);
    p += sprintf(p, "{'v':1,'device':'dev-1','records':[");
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", REC3);
    sprintf(p, "]}");
    return text;
}

/* ---- valid batches ------------------------------------------------------- */

static void test_parse_valid_batch(void **state)
{
    message_batch *b = new_batch();
    record_error err;
    int64_t v;
    (void)state;

    int rc = parse_q("{ 'records' : [" REC1 ",\n" REC2 ",\n" REC3 "], 'device':'dev-1', 'v':1 }",
                     "dev-1", b, &err);
    if (rc != 0)
        fail_msg("rejected: %s: %s", err.field, err.reason);
    assert_string_equal(b->device, "dev-1");
    assert_int_equal(b->count, 3);
    assert_int_equal(b->records[0].type, RT_SESSION_START);
    assert_int_equal(b->records[1].type, RT_GRIP_ASSIGN);
    assert_int_equal(b->records[2].type, RT_SESSION_END);
    assert_int_equal(b->records[0].seq, 1);
    assert_int_equal(b->records[2].seq, 3);
    assert_string_equal(b->records[0].prev, ZERO_HASH);
    assert_string_equal(b->records[1].ts, "2026-03-01T09:00:01.000Z");
    assert_string_equal(record_get_str(&b->records[1], "load_id"), "L1");
    assert_int_equal(record_get_int(&b->records[2], "strokes", &v), 0);
    assert_int_equal(v, 500000);

    /* No topic device: the envelope check is skipped, everything else holds. */
    assert_int_equal(parse_q("{'v':1,'device':'dev-1','records':[" REC1 "]}", NULL, b, &err), 0);
    assert_int_equal(b->count, 1);

    /* 64 records is the limit, and allowed. */
    char *text = batch_of_n(MESSAGE_MAX_RECORDS);
    assert_int_equal(parse_q(text, "dev-1", b, &err), 0);
    assert_int_equal(b->count, MESSAGE_MAX_RECORDS);
    free(text);
    free(b);
}

/* Brackets and escaped quotes inside strings do not count as nesting: the
 * text passes the raw checks and is refused only for what the value is (an
 * identifier holds no brackets), never as "nested deeper". */
static void test_brackets_inside_strings(void **state)
{
    message_batch *b = new_batch();
    record_error err;
    (void)state;

    int rc = parse_q("{'v':1,'device':'dev-1','records':[{'seq':1,"
                     "'ts':'2026-03-01T09:00:00.000Z','prev':'" ZERO_HASH "',"
                     "'type':'session.end','session_id':'[[[[{{{{\\\"[[[[\\\\','run_s':1,"
                     "'strokes':1}]}",
                     "dev-1", b, &err);
    assert_int_equal(rc, -1);
    assert_string_equal(err.field, "records[0].session_id");
    assert_string_equal(err.reason, "must start with A-Z a-z 0-9");
    /* and in a field name, which reaches the error escaped */
    rc = parse_q("{'v':1,'device':'dev-1','records':[{'seq':1,"
                 "'ts':'2026-03-01T09:00:00.000Z','prev':'" ZERO_HASH "',"
                 "'type':'session.end','[[[[{{{{':1,'session_id':'S1','run_s':1,'strokes':1}]}",
                 "dev-1", b, &err);
    assert_int_equal(rc, -1);
    assert_string_equal(err.field, "records[0].[[[[{{{{");
    assert_string_equal(err.reason, "unknown field for this record type");
    free(b);
}

/* ---- bad payloads -------------------------------------------------------- */

typedef struct bad_payload {
    const char *name;
    const char *text;      /* ' for " */
    const char *topic_device;
    const char *field;
    const char *reason;
} bad_payload;

#define GOOD_ENV "'v':1,'device':'dev-1','records':[" REC1 "]"

static const bad_payload bad_payloads[] = {
    {"not JSON", "hello", "dev-1", "payload", "not valid JSON"},
    {"empty payload", "", "dev-1", "payload", "not valid JSON"},
    {"truncated JSON", "{'v':1,'device':'dev-1','records':[" REC1, "dev-1", "payload",
     "not valid JSON"},
    {"top-level array", "[" REC1 "]", "dev-1", "payload", "must be a JSON object"},
    {"top-level string", "'v'", "dev-1", "payload", "must be a JSON object"},
    {"unknown envelope field", "{" GOOD_ENV ",'clinic':'c1'}", "dev-1", "clinic",
     "unknown field in batch"},
    {"duplicate envelope field", "{" GOOD_ENV ",'v':1}", "dev-1", "v", "duplicate field"},
    {"v=2", "{'v':2,'device':'dev-1','records':[" REC1 "]}", "dev-1", "v",
     "unsupported version (expected 1)"},
    {"v as string", "{'v':'1','device':'dev-1','records':[" REC1 "]}", "dev-1", "v",
     "unsupported version (expected 1)"},
    {"v missing", "{'device':'dev-1','records':[" REC1 "]}", "dev-1", "v", "required"},
    {"device mismatching the topic", "{" GOOD_ENV "}", "dev-2", "device",
     "does not match the device of the topic"},
    {"device missing", "{'v':1,'records':[" REC1 "]}", "dev-1", "device", "required"},
    {"device not a string", "{'v':1,'device':7,'records':[" REC1 "]}", "dev-1", "device",
     "must be a string"},
    {"invalid device id (upper case)", "{'v':1,'device':'Dev-1','records':[" REC1 "]}", "Dev-1", "device", "device id may hold only a-z, 0-9 and '-' (bad character at 0)"},
    {"invalid device id (too short)", "{'v':1,'device':'d1','records':[" REC1 "]}", "d1",
     "device", "device id must be 3..64 characters, got 2"},
    {"reserved device id", "{'v':1,'device':'smp-collector','records':[" REC1 "]}", "smp-collector", "device",
     "device id may not start with 'smp-' (reserved for fleet services)"},
    {"records empty", "{'v':1,'device':'dev-1','records':[]}", "dev-1", "records",
     "must hold 1..64 records"},
    {"records not an array", "{'v':1,'device':'dev-1','records':" REC1 "}", "dev-1",
     "records", "must be an array"},
    {"records missing", "{'v':1,'device':'dev-1'}", "dev-1", "records", "required"},
    {"record error inside", "{'v':1,'device':'dev-1','records':[" REC1 "," BAD_REC2 "]}", "dev-1", "records[1].strokes", "must not be negative"},
    {"record without seq inside",
     "{'v':1,'device':'dev-1','records':[" REC1 "," REC2 ",{'type':'session.end',"
     "'ts':'2026-03-01T09:00:00.000Z','prev':'" ZERO_HASH "','session_id':'S','run_s':1,"
     "'strokes':1}]}", "dev-1", "records[2].seq", "required"},
    {"\\u0000 inside a string",
     "{'v':1,'device':'dev-1','records':[{'seq':1,'ts':'2026-03-01T09:00:00.000Z',"
     "'prev':'" ZERO_HASH "','type':'session.end','session_id':'S1\\u0000x','run_s':1,"
     "'strokes':1}]}", "dev-1", "payload", "contains a \\u0000 escape"},
    {"invalid UTF-8 bytes",
     "{'v':1,'device':'dev-1','records':[{'seq':1,'ts':'2026-03-01T09:00:00.000Z',"
     "'prev':'" ZERO_HASH "','type':'session.end','session_id':'S1\xc3\x28','run_s':1,"
     "'strokes':1}]}", "dev-1", "payload", "not valid UTF-8"},
    {"UTF-16 surrogate encoded as UTF-8",
     "{'v':1,'device':'dev-1','records':[{'seq':1,'ts':'2026-03-01T09:00:00.000Z',"
     "'prev':'" ZERO_HASH "','type':'session.end','session_id':'S1\xed\xa0\x80','run_s':1,"
     "'strokes':1}]}", "dev-1", "payload", "not valid UTF-8"},
    {"nesting deeper than JSONTEXT_MAX_DEPTH",
     "{'v':1,'device':'dev-1','records':[{'seq':1,'type':{'a':{'b':1}}}]}", "dev-1",
     "payload", "nested deeper than 4 levels"},
    {"deep arrays", "[[[[[[[[[[1]]]]]]]]]]", "dev-1", "payload",
     "nested deeper than 4 levels"},
    {"record not an object", "{'v':1,'device':'dev-1','records':[" REC1 ",5]}", "dev-1",
     "records[1]", "record must be a JSON object"},
    /* JSON that is not JSON: cJSON reads these, RFC 8259 does not. */
    {"number with a leading zero", "{'v':1,'device':'dev-1','records':[{'seq':1,"
     "'ts':'2026-03-01T09:00:00.000Z','prev':'" ZERO_HASH "','type':'session.end',"
     "'session_id':'S1','run_s':036000,'strokes':1}]}", "dev-1", "payload", "not valid JSON"},
    {"number ending in a dot", "{'v':1.,'device':'dev-1','records':[" REC1 "]}", "dev-1",
     "payload", "not valid JSON"},
    {"number starting with a dot", "{'v':1,'device':'dev-1','records':[" REC1 "],'x':.5}",
     "dev-1", "payload", "not valid JSON"},
    {"number with a plus sign", "{'v':+1,'device':'dev-1','records':[" REC1 "]}", "dev-1",
     "payload", "not valid JSON"},
    {"exponent without digits", "{'v':1e,'device':'dev-1','records':[" REC1 "]}", "dev-1",
     "payload", "not valid JSON"},
    {"hex number", "{'v':0x1,'device':'dev-1','records':[" REC1 "]}", "dev-1", "payload",
     "not valid JSON"},
    {"raw newline inside a string", "{'v':1,'device':'dev-1\n','records':[" REC1 "]}", "dev-1",
     "payload", "not valid JSON"},
    {"raw tab inside a key", "{'v':1,'device':'dev-1','records':[" REC1 "],'a\tb':1}", "dev-1",
     "payload", "not valid JSON"},
    {"bare word", "{'v':1,'device':'dev-1','records':[" REC1 "],'x':NaN}", "dev-1", "payload",
     "not valid JSON"},
    {"literal in the wrong case", "{'v':1,'device':'dev-1','records':[" REC1 "],'x':True}",
     "dev-1", "payload", "not valid JSON"},
};
#define NBAD (sizeof bad_payloads / sizeof bad_payloads[0])

static void test_bad_payloads(void **state)
{
    message_batch *b = new_batch();
    int failures = 0;
    (void)state;

    assert_true(NBAD >= 15);
    for (size_t i = 0; i < NBAD; i++) {
        const bad_payload *c = &bad_payloads[i];
        record_error err;
        char *json = jsonq(c->text);
        b->count = 99;
        int rc = parse_bytes(json, strlen(json), c->topic_device, b, &err);
        free(json);
        if (rc != -1 || strcmp(err.field, c->field) != 0 || strcmp(err.reason, c->reason) != 0 ||
            b->count != 0) {
            print_error("bad payload '%s': rc=%d count=%zu field='%s' reason='%s' "
                        "(want '%s' / '%s')\n",
                        c->name, rc, b->count, err.field, err.reason, c->field, c->reason);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    free(b);
}

/* A raw NUL byte anywhere in the payload: at the end and in the middle. */
static void test_raw_nul_byte(void **state)
{
    message_batch *b = new_batch();
    record_error err;
    char *json = jsonq("{'v':1,'device':'dev-1','records':[" REC1 "]}");
    size_t len = strlen(json);
    (void)state;

    /* the terminating NUL of the copy becomes part of the payload */
    assert_int_equal(parse_bytes(json, len + 1, "dev-1", b, &err), -1);
    assert_string_equal(err.field, "payload");
    assert_string_equal(err.reason, "contains a NUL byte");

    char *at = strstr(json, "\"S1\"");
    assert_non_null(at);
    at[2] = '\0'; /* "S1" -> "S\0" */
    assert_int_equal(parse_bytes(json, len, "dev-1", b, &err), -1);
    assert_string_equal(err.field, "payload");
    assert_string_equal(err.reason, "contains a NUL byte");
    assert_int_equal(b->count, 0);
    free(json);
    free(b);
}

static void test_65_records(void **state)
{
    message_batch *b = new_batch();
    record_error err;
    char *text = batch_of_n(MESSAGE_MAX_RECORDS + 1);
    (void)state;

    assert_int_equal(parse_q(text, "dev-1", b, &err), -1);
    assert_string_equal(err.field, "records");
    assert_string_equal(err.reason, "must hold 1..64 records");
    assert_int_equal(b->count, 0);
    free(text);
    free(b);
}

/* Over 256 KiB is refused before anything else; exactly 256 KiB is not
 * refused for its size. */
static void test_size_limit(void **state)
{
    message_batch *b = new_batch();
    record_error err;
    size_t big = 300 * 1024;
    char *text = malloc(big + 1);
    (void)state;

    assert_non_null(text);
    /* a valid batch padded with whitespace to exactly n bytes */
    const char *head = "{\"v\":1,\"device\":\"dev-1\",\"records\":[";
    char *rec = jsonq(REC1);
    int n = sprintf(text, "%s%s]}", head, rec);
    memset(text + n, ' ', big - (size_t)n);
    text[big] = '\0';

    assert_int_equal(parse_bytes(text, big, "dev-1", b, &err), -1);
    assert_string_equal(err.field, "payload");
    assert_string_equal(err.reason, "larger than 256 KiB");

    assert_int_equal(parse_bytes(text, MESSAGE_MAX_BYTES + 1, "dev-1", b, &err), -1);
    assert_string_equal(err.reason, "larger than 256 KiB");

    if (parse_bytes(text, MESSAGE_MAX_BYTES, "dev-1", b, &err) != 0)
        fail_msg("256 KiB rejected: %s: %s", err.field, err.reason);
    assert_int_equal(b->count, 1);
    free(rec);
    free(text);
    free(b);
}

/* jsontext_precheck on its own: the exact depth limit. */
static void test_jsontext_depth_limit(void **state)
{
    char why[96];
    (void)state;

    const char *four = "{\"a\":[{\"b\":[1]}]}";
    const char *five = "{\"a\":[{\"b\":[{}]}]}";
    assert_int_equal(jsontext_precheck(four, strlen(four), why, sizeof why), 0);
    assert_int_equal(jsontext_precheck(five, strlen(five), why, sizeof why), -1);
    assert_string_equal(why, "nested deeper than 4 levels");
    /* depth counts down again: many siblings at depth 4 are fine */
    const char *siblings = "[[[[1],[2],[3]],[[4]]],[[[5]]]]";
    assert_int_equal(jsontext_precheck(siblings, strlen(siblings), why, sizeof why), 0);
    /* an escaped backslash before u0000 is not a \u0000 escape */
    const char *esc = "{\"a\":\"\\\\u0000\"}";
    assert_int_equal(jsontext_precheck(esc, strlen(esc), why, sizeof why), 0);
}

/* ---- encode -> parse ----------------------------------------------------- */

static void test_encode_parse_round_trip(void **state)
{
    message_batch *b = new_batch();
    record_error err;
    char canon[MESSAGE_MAX_RECORDS][RECORD_CANON_MAX];
    const char *ptrs[MESSAGE_MAX_RECORDS];
    size_t lens[MESSAGE_MAX_RECORDS];
    char prev[RECORD_HASH_HEX];
    (void)state;

    /* a real chain of 64 records */
    memcpy(prev, RECORD_GENESIS_PREV, sizeof prev);
    for (int i = 0; i < MESSAGE_MAX_RECORDS; i++) {
        record r;
        record_init(&r, RT_USAGE_COUNTERS);
        r.seq = (uint64_t)i + 1;
        record_ts_format(1772356500000LL + i * 60000LL, r.ts);
        memcpy(r.prev, prev, sizeof prev);
        record_set_int(&r, "motor_s_total", 100 + i);
        record_set_int(&r, "strokes_total", 5000 * i);
        if (i % 2)
            record_set_str(&r, "cartridge_uid", "dev-1-C:1/a_b.c");
        record_set_int(&r, "cartridge_run_s", i);
        record_set_int(&r, "cartridge_strokes", 7 * i);
        assert_int_equal(record_check(&r, &err), 0);
        int n = record_canonical(&r, canon[i], sizeof canon[i]);
        assert_true(n > 0);
        lens[i] = (size_t)n;
        ptrs[i] = canon[i];
        record_sha256_hex(canon[i], lens[i], prev);
    }

    for (size_t count = 1; count <= MESSAGE_MAX_RECORDS; count += 21) {
        size_t cap = 64 + count * RECORD_CANON_MAX;
        char *buf = malloc(cap);
        assert_non_null(buf);
        int len = message_encode_batch("dev-1", ptrs, lens, count, buf, cap);
        assert_true(len > 0);
        assert_int_equal((size_t)len, strlen(buf));
        if (parse_bytes(buf, (size_t)len, "dev-1", b, &err) != 0)
            fail_msg("encoded batch rejected: %s: %s", err.field, err.reason);
        assert_int_equal(b->count, count);
        assert_string_equal(b->device, "dev-1");
        for (size_t i = 0; i < count; i++) {
            char again[RECORD_CANON_MAX];
            assert_int_equal(record_canonical(&b->records[i], again, sizeof again),
                             (int)lens[i]);
            assert_memory_equal(again, canon[i], lens[i]);
        }
        free(buf);
    }
    free(b);
}

/* Every cap too small gives -1 without writing past cap. */
static void test_encode_batch_small_buffers(void **state)
{
    const char *recs[2] = {"{\"a\":1}", "{\"b\":22}"};
    size_t lens[2] = {7, 8};
    char full[128];
    (void)state;

    int n = message_encode_batch("dev-1", recs, lens, 2, full, sizeof full);
    assert_string_equal(full, "{\"v\":1,\"device\":\"dev-1\",\"records\":[{\"a\":1},{\"b\":22}]}");
    assert_int_equal(n, (int)strlen(full));
    for (size_t cap = 1; cap <= (size_t)n; cap++) {
        char *buf = malloc(cap);
        assert_non_null(buf);
        assert_int_equal(message_encode_batch("dev-1", recs, lens, 2, buf, cap), -1);
        free(buf);
    }
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(message_encode_batch("dev-1", recs, lens, 2, buf, (size_t)n + 1), n);
    assert_string_equal(buf, full);
    free(buf);
}

/* ---- acks ---------------------------------------------------------------- */

static int parse_ack_q(const char *text, const char *device, uint64_t *seq)
{
    char *json = jsonq(text);
    size_t len = strlen(json);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, json, len);
    int rc = message_parse_ack(copy, len, device, seq);
    free(copy);
    free(json);
    return rc;
}

static void test_ack_encode_parse(void **state)
{
    char buf[128];
    uint64_t seq = 0;
    (void)state;

    int n = message_encode_ack("dev-1", 42, buf, sizeof buf);
    assert_string_equal(buf, "{\"v\":1,\"device\":\"dev-1\",\"seq\":42}");
    assert_int_equal(n, (int)strlen(buf));
    assert_int_equal(message_parse_ack(buf, (size_t)n, "dev-1", &seq), 0);
    assert_int_equal(seq, 42);

    n = message_encode_ack("dev-1", (uint64_t)RECORD_INT_MAX, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(message_parse_ack(buf, (size_t)n, "dev-1", &seq), 0);
    assert_int_equal(seq, (uint64_t)RECORD_INT_MAX);

    assert_int_equal(parse_ack_q("{'v':1,'device':'dev-1','seq':0}", "dev-1", &seq), 0);
    assert_int_equal(seq, 0);

    /* cap too small */
    for (size_t cap = 1; cap <= strlen("{\"v\":1,\"device\":\"dev-1\",\"seq\":42}"); cap++) {
        char *small = malloc(cap);
        assert_non_null(small);
        assert_int_equal(message_encode_ack("dev-1", 42, small, cap), -1);
        free(small);
    }
}

static void test_ack_rejects(void **state)
{
    static const char *const bad[] = {
        "{'v':1,'device':'dev-2','seq':42}",     /* wrong device */
        "{'v':1,'device':'dev-10','seq':42}",    /* prefix of another id */
        "{'v':1,'seq':42}",                      /* no device */
        "{'v':1,'device':5,'seq':42}",           /* device not a string */
        "{'v':1,'device':'dev-1','seq':-1}",     /* negative */
        "{'v':1,'device':'dev-1','seq':1.5}",    /* fractional */
        "{'v':1,'device':'dev-1','seq':'42'}",   /* string */
        "{'v':1,'device':'dev-1'}",              /* missing */
        "{'v':1,'device':'dev-1','seq':9007199254740992}", /* 2^53 */
        "{'v':1,'device':'dev-1','seq':1e300}",
        "{'v':1,'device':'dev-1','seq':42",      /* truncated */
        "[42]",
        "",
    };
    uint64_t seq;
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        seq = 777;
        if (parse_ack_q(bad[i], "dev-1", &seq) != -1)
            fail_msg("ack accepted: %s", bad[i]);
        assert_int_equal(seq, 777);
    }
}

/* Regression (found by this test, fixed in c244077): the ack payload was not
 * run through jsontext_precheck, so "dev-1\u0000x" was cut by cJSON to
 * "dev-1" and accepted as an ack for dev-1 although it names another
 * (invalid) device. */
static void test_ack_device_with_nul_escape_rejected(void **state)
{
    uint64_t seq = 777;
    (void)state;

    assert_int_equal(parse_ack_q("{'v':1,'device':'dev-1\\u0000x','seq':42}", "dev-1", &seq), -1);
    assert_int_equal(seq, 777);
}

/* Regression (found by this test, fixed in c244077): cJSON_ParseWithLength
 * does not require the JSON value to end the payload, so text after the
 * batch object was silently ignored: "{...} x" and even two concatenated
 * batches "{...}{...}" were accepted (the second one dropped unseen). */
static void test_batch_trailing_data_rejected(void **state)
{
    static const char *const texts[] = {
        "{" GOOD_ENV "} x",
        "{" GOOD_ENV "}{" GOOD_ENV "}",
    };
    message_batch *b = new_batch();
    int accepted = 0;
    (void)state;

    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        record_error err;
        int rc = parse_q(texts[i], "dev-1", b, &err);
        if (rc != -1 || strcmp(err.field, "payload") != 0 ||
            strcmp(err.reason, "not valid JSON") != 0) {
            print_error("trailing data accepted (rc=%d) in: %s\n", rc, texts[i]);
            accepted++;
        }
    }
    free(b);
    assert_int_equal(accepted, 0);
}

/* Every rejection carries its fixed reason code (reason.h). */
static void test_error_codes(void **state)
{
    static const struct { const char *text, *topic_device; reason_code code; } cases[] = {
        {"hello", "dev-1", REASON_NOT_JSON},
        {"{'v':01,'device':'dev-1','records':[" REC1 "]}", "dev-1", REASON_NOT_JSON},
        {"[[[[[1]]]]]", "dev-1", REASON_TOO_DEEP},
        {"{'v':2,'device':'dev-1','records':[" REC1 "]}", "dev-1", REASON_BAD_VERSION},
        {"{'v':1,'device':'Dev-1','records':[" REC1 "]}", "Dev-1", REASON_BAD_DEVICE_ID},
        {"{'v':1,'device':'dev-1','records':[" REC1 "]}", "dev-2", REASON_DEVICE_MISMATCH},
        {"{'v':1,'device':'dev-1','records':[]}", "dev-1", REASON_BAD_RECORD_COUNT},
        {"{'v':1,'device':'dev-1','records':[" REC1 "],'x':1}", "dev-1", REASON_UNKNOWN_FIELD},
        {"{'v':1,'device':'dev-1','records':[" BAD_REC2 "]}", "dev-1", REASON_NEGATIVE},
        {"{'v':1,'device':'dev-1','records':5}", "dev-1", REASON_BAD_TYPE},
        {"{'v':1,'device':'dev-1'}", "dev-1", REASON_MISSING_FIELD},
        {"[1]", "dev-1", REASON_NOT_OBJECT},
    };
    message_batch *b = new_batch();
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        record_error err;
        assert_int_equal(parse_q(cases[i].text, cases[i].topic_device, b, &err), -1);
        if (err.code != cases[i].code)
            fail_msg("'%s': code %d for %s: %s, want %d", cases[i].text, err.code, err.field,
                     err.reason, cases[i].code);
    }
    free(b);
}

/* ---- topics -------------------------------------------------------------- */

static void test_topic_device(void **state)
{
    char device[IDS_DEVICE_ID_MAX + 1];
    char id64[IDS_DEVICE_ID_MAX + 1], id65[IDS_DEVICE_ID_MAX + 2];
    char topic[256];
    const char *leaf;
    (void)state;

    leaf = message_topic_device("smp/v1/dev/dev-1/events", device);
    assert_non_null(leaf);
    assert_string_equal(leaf, "events");
    assert_string_equal(device, "dev-1");

    leaf = message_topic_device("smp/v1/dev/clinic-7-m2/status", device);
    assert_non_null(leaf);
    assert_string_equal(leaf, "status");
    assert_string_equal(device, "clinic-7-m2");

    memset(id64, 'a', IDS_DEVICE_ID_MAX);
    id64[IDS_DEVICE_ID_MAX] = '\0';
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/ack", id64);
    leaf = message_topic_device(topic, device);
    assert_non_null(leaf);
    assert_string_equal(leaf, "ack");
    assert_string_equal(device, id64);

    memset(id65, 'a', IDS_DEVICE_ID_MAX + 1);
    id65[IDS_DEVICE_ID_MAX + 1] = '\0';
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/ack", id65);
    assert_null(message_topic_device(topic, device));

    static const char *const bad[] = {
        "smp/v1/dev/dev-1/events/extra",   /* extra level */
        "smp/v1/dev/dev-1/events/",
        "smp/v1/dev/dev-1",                /* no leaf */
        "smp/v1/dev/",
        "smp/v1/dev",
        "smp/v1/dev//events",              /* empty id */
        "smp/v1/dev/ab/events",            /* too short */
        "smp/v1/dev/Dev-1/events",         /* upper case */
        "smp/v1/dev/dev_1/events",         /* underscore */
        "smp/v1/dev/+/events",             /* wildcard */
        "smp/v1/dev/#",
        "smp/v1/dev/smp-collector/events", /* reserved */
        "smp/v2/dev/dev-1/events",         /* wrong prefix */
        "SMP/v1/dev/dev-1/events",
        "/smp/v1/dev/dev-1/events",
        "xsmp/v1/dev/dev-1/events",
        "smp/v1/alerts/clinic-1",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (message_topic_device(bad[i], device) != NULL)
            fail_msg("topic accepted: '%s'", bad[i]);
    }
}

/* ---- the canonical fast path (message_parse_canonical) ------------------- */

static int parse_canonical_bytes(const char *payload, size_t len, const char *topic_device,
                                 message_batch *b, message_span spans[MESSAGE_MAX_RECORDS])
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, payload, len);
    int rc = message_parse_canonical(copy, len, topic_device, b, spans);
    free(copy);
    return rc;
}

/* REC1..REC3 in canonical form, and a payload of n records cycling through
 * them as message_encode_batch writes it. */
typedef struct canon_set {
    char canon[3][RECORD_CANON_MAX];
    size_t lens[3];
} canon_set;

static void canonical_records(canon_set *cs)
{
    message_batch *b = new_batch();
    record_error err;

    assert_int_equal(parse_q("{'v':1,'device':'dev-1','records':[" REC1 "," REC2 "," REC3 "]}",
                             "dev-1", b, &err), 0);
    for (size_t i = 0; i < 3; i++) {
        int n = record_canonical(&b->records[i], cs->canon[i], sizeof cs->canon[i]);
        assert_true(n > 0);
        cs->lens[i] = (size_t)n;
    }
    free(b);
}

static char *canonical_payload(const canon_set *cs, size_t n, int *len)
{
    const char *ptrs[MESSAGE_MAX_RECORDS + 1];
    size_t lens[MESSAGE_MAX_RECORDS + 1], cap = 64 + n * RECORD_CANON_MAX;
    char *buf = malloc(cap);

    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = cs->canon[i % 3];
        lens[i] = cs->lens[i % 3];
    }
    *len = message_encode_batch("dev-1", ptrs, lens, n, buf, cap);
    assert_true(*len > 0);
    return buf;
}

/* A payload as an agent writes it is read without the JSON parser: the
 * same records, and where each one's canonical bytes lie in it. */
static void test_canonical_payload_read_directly(void **state)
{
    message_batch *fast = new_batch(), *slow = new_batch();
    message_span spans[MESSAGE_MAX_RECORDS];
    canon_set cs;
    record_error err;
    int len;
    (void)state;

    canonical_records(&cs);
    char *payload = canonical_payload(&cs, 3, &len);
    assert_int_equal(parse_canonical_bytes(payload, (size_t)len, "dev-1", fast, spans), 0);
    assert_int_equal(parse_bytes(payload, (size_t)len, "dev-1", slow, &err), 0);
    assert_string_equal(fast->device, "dev-1");
    assert_int_equal(fast->count, 3);
    for (size_t i = 0; i < 3; i++) {
        char c1[RECORD_CANON_MAX], c2[RECORD_CANON_MAX];
        assert_int_equal(spans[i].len, cs.lens[i]);
        assert_memory_equal(payload + spans[i].offset, cs.canon[i], cs.lens[i]);
        assert_int_equal(record_canonical(&fast->records[i], c1, sizeof c1), (int)cs.lens[i]);
        assert_int_equal(record_canonical(&slow->records[i], c2, sizeof c2), (int)cs.lens[i]);
        assert_string_equal(c1, cs.canon[i]);
        assert_string_equal(c2, cs.canon[i]);
    }
    /* No topic device: the envelope's device is not compared. */
    assert_int_equal(parse_canonical_bytes(payload, (size_t)len, NULL, fast, spans), 0);
    free(payload);

    payload = canonical_payload(&cs, MESSAGE_MAX_RECORDS, &len);
    assert_int_equal(parse_canonical_bytes(payload, (size_t)len, "dev-1", fast, spans), 0);
    assert_int_equal(fast->count, MESSAGE_MAX_RECORDS);
    free(payload);
    free(fast);
    free(slow);
}

/* Any other payload is left to message_parse_batch, valid (another
 * spelling of the envelope) or not (the wrong device, 65 records, cut
 * short, no record). */
static void test_other_payloads_left_to_the_parser(void **state)
{
    static const struct {
        const char *from, *to;
        bool valid;
    } variants[] = {
        {"{\"v\":1,\"device\":\"dev-1\",", "{\"device\":\"dev-1\",\"v\":1,", true},
        {"{\"v\":1,", "{\"v\": 1,", true},
        {"{\"v\":1,", "{\"v\":1.0,", true},
        {"]}", "]}\n", true},
        {"\"device\":\"dev-1\"", "\"device\":\"dev-2\"", false},
        {"]}", "]", false},
        {"\"records\":[", "\"records\":[,", false},
    };
    message_batch *b = new_batch();
    message_span spans[MESSAGE_MAX_RECORDS];
    canon_set cs;
    record_error err;
    int len;
    (void)state;

    canonical_records(&cs);
    char *payload = canonical_payload(&cs, 3, &len);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const char *at = strstr(payload, variants[i].from);
        char text[4 * RECORD_CANON_MAX];
        assert_non_null(at);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - payload), payload, variants[i].to,
                 at + strlen(variants[i].from));
        print_message("variant %zu: %s\n", i, variants[i].to);
        assert_int_equal(parse_canonical_bytes(text, strlen(text), "dev-1", b, spans), -1);
        assert_int_equal(b->count, 0);
        assert_int_equal(parse_bytes(text, strlen(text), "dev-1", b, &err), variants[i].valid ? 0 : -1);
    }
    free(payload);

    payload = canonical_payload(&cs, MESSAGE_MAX_RECORDS + 1, &len);
    assert_int_equal(parse_canonical_bytes(payload, (size_t)len, "dev-1", b, spans), -1);
    assert_int_equal(parse_bytes(payload, (size_t)len, "dev-1", b, &err), -1);
    assert_string_equal(err.field, "records");
    free(payload);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid_batch),
        cmocka_unit_test(test_brackets_inside_strings),
        cmocka_unit_test(test_bad_payloads),
        cmocka_unit_test(test_raw_nul_byte),
        cmocka_unit_test(test_65_records),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_jsontext_depth_limit),
        cmocka_unit_test(test_encode_parse_round_trip),
        cmocka_unit_test(test_encode_batch_small_buffers),
        cmocka_unit_test(test_ack_encode_parse),
        cmocka_unit_test(test_ack_rejects),
        cmocka_unit_test(test_topic_device),
        cmocka_unit_test(test_ack_device_with_nul_escape_rejected),
        cmocka_unit_test(test_batch_trailing_data_rejected),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_canonical_payload_read_directly),
        cmocka_unit_test(test_other_payloads_left_to_the_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
