/* test_hostile: what a hostile or broken device can send, and the exact
 * outcome of each (issue "Never stall, never crash, never lie").
 *
 * Part 1, a table of events payloads through message_parse_batch (the
 * collector's validation, common/): each case is accepted (and, where it
 * matters, the value stored is checked) or refused with the exact field
 * and reason text; every refusal also carries the reason code its text
 * maps to (reason.h), so the metrics label can never disagree with the
 * quarantine table. Most cases are one good record of each type with one
 * field replaced (with_field), so each case differs from an accepted
 * record by its defect alone.
 *
 * Part 2, through ingest_events with a temporary store (SQLite, or
 * PostgreSQL when SMP_TEST_PG names a test cluster: testdb.h): outcomes
 * that need the registry or the store (unregistered, retired, wrong
 * topic, duplicates), and what a quarantined reason looks like in the
 * quarantine table and in quarantine_counts.
 *
 * Part 3, log lines: untrusted text never forges a line or a key.
 *
 * Test JSON uses ' for " (converted before parsing) unless a case is raw. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "ingest.h"
#include "log.h"
#include "message.h"
#include "reason.h"
#include "record.h"
#include "store.h"
#include "testdb.h"
#include "utf8.h"

#define Z64 "0000000000000000000000000000000000000000000000000000000000000000"
#define P64 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define TS1 "2026-03-01T09:00:00.000Z"
#define HDR "'seq':1,'ts':'" TS1 "','prev':'" Z64 "',"
#define S64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* One good record of each type. Values hold no ',' or '}', so with_field
 * can find where a value ends. */
#define B_SS "{" HDR "'type':'session.start','session_id':'S1','operator_id':'op-2'," \
             "'client_ref':'c-01','treatment_no':2}"
#define B_SE "{" HDR "'type':'session.end','session_id':'S1','run_s':7200,'strokes':500000}"
#define B_CI "{" HDR "'type':'cartridge.insert','cartridge_uid':'C1','sku':'0603RL','needles':3," \
             "'config':'3RL','lot':'LOT-26A','expiry':'2027-01-31','session_id':'S1'}"
#define B_CR "{" HDR "'type':'cartridge.remove','cartridge_uid':'C1','session_id':'S1','run_s':600," \
             "'strokes':54000,'reason':'worn'}"
#define B_UC "{" HDR "'type':'usage.counters','motor_s_total':100,'strokes_total':5000," \
             "'cartridge_uid':'C1','cartridge_run_s':60,'cartridge_strokes':500}"
#define B_GA "{" HDR "'type':'grip.assign','grip_id':'grip-1','load_id':'L1','session_id':'S1'}"
#define B_SC "{" HDR "'type':'sterilization.cycle','sterilizer_id':'ac-1','cycle_no':118," \
             "'load_id':'L1','program':'prevac_134','setpoint_c':134.0,'temp_min_c':134.1," \
             "'temp_max_c':136.9,'exposure_s':240,'pressure_min_kpa':300.0," \
             "'pressure_max_kpa':310.0,'dry_s':900,'operator_id':'op-1','ci_result':'pass'," \
             "'result':'pass','alarm_code':'E12-LOW-TEMP'}"
#define B_ST "{" HDR "'type':'sterilization.test','sterilizer_id':'ac-1','kind':'spore'," \
             "'cycle_no':42,'bi_lot':'BI-7731','result':'negative','read_ts':'2026-03-01T08:00:00.000Z'}"
#define B_CK "{" HDR "'type':'checkpoint','head_seq':100,'head_hash':'" P64 "'," \
             "'sig':'MEUCIQDx+/abcd=='}"

#define ENV(recs) "{'v':1,'device':'dev-1','records':[" recs "]}"
#define DROP NULL   /* with_field value: remove the field */

typedef struct hcase {
    const char *name;
    /* The payload: base with field key set to value (DROP removes it), or
     * text as it is, or gen's output. ' stands for " unless raw. */
    const char *base, *key, *value;
    const char *text;
    size_t (*gen)(char *buf, size_t cap);
    bool raw;
    const char *topic_device;   /* NULL: "dev-1" */
    /* Expected: field NULL = accepted; then get (if set) must read want_int
     * (integer fields) or want_str from records[0]. */
    const char *field, *reason;
    const char *get;
    int64_t want_int;
    const char *want_str;
} hcase;

/* ---- payload builders ------------------------------------------------------ */

static void quotes(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\'')
            s[i] = '"';
}

/* base with 'key':value in place of its value, appended when base has no
 * such key, or removed when value is NULL. Then wrapped in ENV. */
static size_t with_field(char *out, size_t cap, const char *base, const char *key, const char *value)
{
    char pat[512], rec[4096];
    const char *at, *end;
    size_t n;

    snprintf(pat, sizeof pat, "'%s':", key);
    at = strstr(base, pat);
    if (at) {
        end = at + strlen(pat);
        while (*end && *end != ',' && *end != '}')
            end++;
        if (!value) { /* drop "'key':v," or ",'key':v" */
            if (*end == ',')
                end++;
            else if (at[-1] == ',')
                at--;
            n = (size_t)snprintf(rec, sizeof rec, "%.*s%s", (int)(at - base), base, end);
        } else {
            n = (size_t)snprintf(rec, sizeof rec, "%.*s%s%s%s", (int)(at - base), base, pat, value,
                                 end);
        }
    } else {
        assert_non_null(value);
        n = (size_t)snprintf(rec, sizeof rec, "%.*s,%s%s}", (int)(strlen(base) - 1), base, pat,
                             value);
    }
    assert_true(n < sizeof rec);
    n = (size_t)snprintf(out, cap, ENV("%s"), rec);
    assert_true(n < cap);
    return n;
}

/* 'count' copies of B_SE with seq 1..count. */
static size_t gen_n(char *buf, size_t cap, int count)
{
    size_t n = (size_t)snprintf(buf, cap, "{'v':1,'device':'dev-1','records':[");
    for (int i = 1; i <= count; i++)
        n += (size_t)snprintf(buf + n, cap - n,
                              "%s{'seq':%d,'ts':'" TS1 "','prev':'" Z64 "','type':'session.end',"
                              "'session_id':'S1','run_s':1,'strokes':1}", i > 1 ? "," : "", i);
    n += (size_t)snprintf(buf + n, cap - n, "]}");
    assert_true(n < cap);
    return n;
}
static size_t gen_64(char *buf, size_t cap) { return gen_n(buf, cap, 64); }
static size_t gen_65(char *buf, size_t cap) { return gen_n(buf, cap, 65); }

/* A valid batch padded with spaces to exactly `size` bytes. */
static size_t gen_padded(char *buf, size_t cap, size_t size)
{
    size_t n = (size_t)snprintf(buf, cap, ENV(B_SE));
    assert_true(size < cap && n <= size);
    memset(buf + n, ' ', size - n);
    return size;
}
static size_t gen_256k(char *buf, size_t cap) { return gen_padded(buf, cap, MESSAGE_MAX_BYTES); }
static size_t gen_256k_1(char *buf, size_t cap) { return gen_padded(buf, cap, MESSAGE_MAX_BYTES + 1); }

static size_t gen_deep(char *buf, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < 500; i++)
        buf[n++] = '[';
    for (int i = 0; i < 500; i++)
        buf[n++] = ']';
    assert_true(n < cap);
    return n;
}

static size_t gen_nul(char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, ENV(B_GA));
    *strstr(buf, "grip-1") = '\0';
    return n;
}

static size_t gen_nul_after(char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, ENV(B_GA));
    memcpy(buf + n, "\0{}", 3);
    return n + 3;
}

/* 129-byte id: 128 'a' and one more. */
#define ID128 S64 S64
/* A field name of 200 bytes: cut whole, "..." appended. */
#define NAME200 S64 S64 S64 "aaaaaaaa"

/* ---- the cases ---------------------------------------------------------- */

#define ACCEPT(nm, b, k, v) {.name = nm, .base = b, .key = k, .value = v}
#define ACCEPT_INT(nm, b, k, v, g, want) \
    {.name = nm, .base = b, .key = k, .value = v, .get = g, .want_int = want}
#define ACCEPT_STR(nm, b, k, v, g, want) \
    {.name = nm, .base = b, .key = k, .value = v, .get = g, .want_str = want}
/* The expectation is the last two arguments: a field and a reason (NULL,
 * NULL for accepted), or a macro that stands for both (NOT_JSON). */
#define EXPECT(f, r) .field = f, .reason = r
#define REJECT(nm, b, k, v, ...) {.name = nm, .base = b, .key = k, .value = v, EXPECT(__VA_ARGS__)}
#define TEXT(nm, t, ...) {.name = nm, .text = t, EXPECT(__VA_ARGS__)}
#define RAW(nm, t, ...) {.name = nm, .text = t, .raw = true, EXPECT(__VA_ARGS__)}
#define GEN(nm, g, ...) {.name = nm, .gen = g, EXPECT(__VA_ARGS__)}

#define NOT_JSON "payload", "not valid JSON"
#define BAD_UTF8 "payload", "not valid UTF-8"
#define START "must start with A-Z a-z 0-9"
#define CHARSET "may hold only A-Z a-z 0-9 . _ : / -"
#define CTRL "contains a control character"
#define TSFMT "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"
#define DATEFMT "must be a calendar date YYYY-MM-DD"

static const hcase cases[] = {
    /* -- accepted: the bases, limits and lawful spellings -- */
    ACCEPT("session.start", B_SS, "treatment_no", "2"),
    ACCEPT("session.end", B_SE, "strokes", "500000"),
    ACCEPT("cartridge.insert", B_CI, "needles", "3"),
    ACCEPT("cartridge.remove", B_CR, "reason", "'worn'"),
    ACCEPT("usage.counters", B_UC, "motor_s_total", "100"),
    ACCEPT("grip.assign", B_GA, "grip_id", "'grip-1'"),
    ACCEPT("sterilization.cycle", B_SC, "dry_s", "900"),
    ACCEPT("sterilization.test", B_ST, "kind", "'bowie_dick'"),
    ACCEPT("checkpoint", B_CK, "head_seq", "0"),
    ACCEPT_STR("id of 128 bytes", B_SE, "session_id", "'" ID128 "'", "session_id", ID128),
    ACCEPT_STR("id with every punctuation class", B_GA, "grip_id", "'a.b_c:d/e-f'", "grip_id",
               "a.b_c:d/e-f"),
    ACCEPT_STR("escaped slash in an id", B_GA, "load_id", "'ac-1\\/L2'", "load_id", "ac-1/L2"),
    ACCEPT_STR("\\u escape of a letter", B_GA, "load_id", "'\\u0041B'", "load_id", "AB"),
    ACCEPT_STR("id starting with a digit", B_CI, "sku", "'0603RL'", "sku", "0603RL"),
    ACCEPT_INT("1.0 for an integer field", B_CI, "needles", "1.0", "needles", 1),
    ACCEPT_INT("-0 for a count", B_SE, "strokes", "-0", "strokes", 0),
    ACCEPT_INT("100e-2 is the integer 1", B_SE, "strokes", "100e-2", "strokes", 1),
    ACCEPT_INT("exponent with sign", B_SE, "strokes", "5E+3", "strokes", 5000),
    ACCEPT_INT("2^53-1 seq", B_SE, "seq", "9007199254740991", NULL, 0),
    ACCEPT_INT("zero count", B_SE, "run_s", "0", "run_s", 0),
    ACCEPT_INT("1e2 for a decimal", B_SC, "setpoint_c", "1e2", "setpoint_c", 1000),
    ACCEPT_INT("1.345e2 for a decimal", B_SC, "setpoint_c", "1.345e2", "setpoint_c", 1345),
    ACCEPT_INT("134.50 (trailing zero)", B_SC, "setpoint_c", "134.50", "setpoint_c", 1345),
    ACCEPT_INT("negative decimal at its bound", B_SC, "temp_min_c", "-50.0", "temp_min_c", -500),
    ACCEPT_INT("treatment_no 1000", B_SS, "treatment_no", "1000", "treatment_no", 1000),
    ACCEPT_INT("needles 99", B_CI, "needles", "99", "needles", 99),
    ACCEPT("lot left out (optional)", B_CI, "lot", DROP),
    ACCEPT("alarm_code left out (optional)", B_SC, "alarm_code", DROP),
    ACCEPT("cartridge_uid left out (optional)", B_UC, "cartridge_uid", DROP),
    ACCEPT("leap day expiry", B_CI, "expiry", "'2028-02-29'"),
    ACCEPT("ts at the end of 9999", B_SE, "ts", "'9999-12-31T23:59:59.999Z'"),
    ACCEPT("ts at the epoch", B_SE, "ts", "'1970-01-01T00:00:00.000Z'"),
    TEXT("whitespace between every token", " {\t'v' :\r\n1 , 'device':'dev-1' ,'records' : [ "
         B_SE " ] }\n", NULL, NULL),
    TEXT("v written 1.0", "{'v':1.0,'device':'dev-1','records':[" B_SE "]}", NULL, NULL),
    TEXT("type key last", ENV("{" HDR "'session_id':'S1','run_s':1,'strokes':1,'type':'session.end'}"),
         NULL, NULL),
    GEN("64 records", gen_64, NULL, NULL),
    GEN("exactly 256 KiB", gen_256k, NULL, NULL),

    /* -- raw bytes -- */
    GEN("raw NUL inside a string", gen_nul, "payload", "contains a NUL byte"),
    GEN("raw NUL after the batch", gen_nul_after, "payload", "contains a NUL byte"),
    REJECT("\\u0000 in a value", B_GA, "grip_id", "'g\\u0000'", "payload", "contains a \\u0000 escape"),
    TEXT("\\u0000 in a key", "{'\\u0000x':1,'v':1,'device':'dev-1','records':[" B_SE "]}",
         "payload", "contains a \\u0000 escape"),
    RAW("lone 0xff", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xff\"}", BAD_UTF8),
    RAW("overlong 2-byte /", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xc0\xaf\"}", BAD_UTF8),
    RAW("overlong 3-byte /", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xe0\x80\xaf\"}", BAD_UTF8),
    RAW("overlong 4-byte /", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xf0\x80\x80\xaf\"}", BAD_UTF8),
    RAW("overlong NUL C0 80", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xc0\x80\"}", BAD_UTF8),
    RAW("UTF-16 surrogate as UTF-8", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xed\xa0\x80\"}", BAD_UTF8),
    RAW("low surrogate as UTF-8", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xed\xbf\xbf\"}", BAD_UTF8),
    RAW("above U+10FFFF", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xf4\x90\x80\x80\"}", BAD_UTF8),
    RAW("lead byte 0xf5", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xf5\x80\x80\x80\"}", BAD_UTF8),
    RAW("lone continuation byte", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\x80\"}", BAD_UTF8),
    RAW("truncated 3-byte sequence", "{\"v\":1,\"device\":\"dev-1\",\"x\":\"\xe2\x82\"}", BAD_UTF8),
    RAW("truncated at the end of the payload", "{\"v\":1,\"device\":\"dev-1\"}\xe2\x82", BAD_UTF8),
    RAW("byte order mark", "\xef\xbb\xbf{\"v\":1}", NOT_JSON),

    /* -- JSON that is not JSON -- */
    REJECT("leading zero 036000", B_SE, "strokes", "036000", NOT_JSON),
    REJECT("leading zero -036000", B_SE, "strokes", "-036000", NOT_JSON),
    REJECT("00", B_SE, "strokes", "00", NOT_JSON),
    REJECT("leading zero before a fraction 01.5", B_SC, "setpoint_c", "01.5", NOT_JSON),
    REJECT("1.", B_SE, "strokes", "1.", NOT_JSON),
    REJECT(".5", B_SE, "strokes", ".5", NOT_JSON),
    REJECT("-.5", B_SC, "temp_min_c", "-.5", NOT_JSON),
    REJECT("1.e5", B_SE, "strokes", "1.e5", NOT_JSON),
    REJECT("+1", B_SE, "strokes", "+1", NOT_JSON),
    REJECT("1e", B_SE, "strokes", "1e", NOT_JSON),
    REJECT("1e+", B_SE, "strokes", "1e+", NOT_JSON),
    REJECT("--1", B_SE, "strokes", "--1", NOT_JSON),
    REJECT("0x10", B_SE, "strokes", "0x10", NOT_JSON),
    REJECT("NaN", B_SE, "strokes", "NaN", NOT_JSON),
    REJECT("Infinity", B_SE, "strokes", "Infinity", NOT_JSON),
    REJECT("-Infinity", B_SE, "strokes", "-Infinity", NOT_JSON),
    REJECT("True", B_SE, "strokes", "True", NOT_JSON),
    REJECT("nul", B_SE, "strokes", "nul", NOT_JSON),
    REJECT("single-quoted string", B_SE, "session_id", "\\x27S1\\x27", NOT_JSON),
    RAW("raw newline inside a value", "{\"v\":1,\"device\":\"dev-1\n\",\"records\":[]}", NOT_JSON),
    RAW("raw tab inside a key", "{\"v\":1,\"a\tb\":1}", NOT_JSON),
    RAW("raw 0x1f inside a value", "{\"v\":1,\"device\":\"dev\x1f\"}", NOT_JSON),
    REJECT("invalid escape \\x", B_SE, "session_id", "'S\\x41'", NOT_JSON),
    REJECT("\\u with a bad hex digit", B_SE, "session_id", "'S\\u12G4'", NOT_JSON),
    REJECT("escaped lone high surrogate", B_SE, "session_id", "'S\\ud800'", NOT_JSON),
    REJECT("escaped lone low surrogate", B_SE, "session_id", "'S\\udc00'", NOT_JSON),
    REJECT("unterminated string", B_SE, "session_id", "'S1", NOT_JSON),
    TEXT("trailing comma in the array", "{'v':1,'device':'dev-1','records':[" B_SE ",]}", NOT_JSON),
    TEXT("trailing comma in the object", "{'v':1,'device':'dev-1','records':[" B_SE "],}", NOT_JSON),
    TEXT("comment", ENV(B_SE) "//c", NOT_JSON),
    TEXT("text after the batch", ENV(B_SE) " x", NOT_JSON),
    TEXT("two batches", ENV(B_SE) ENV(B_SE), NOT_JSON),
    TEXT("empty payload", "", NOT_JSON),
    TEXT("whitespace only", " \n", NOT_JSON),
    TEXT("truncated batch", "{'v':1,'device':'dev-1','records':[{'seq':1", NOT_JSON),

    /* -- size and depth -- */
    GEN("256 KiB + 1", gen_256k_1, "payload", "larger than 256 KiB"),
    GEN("500 nested arrays", gen_deep, "payload", "nested deeper than 4 levels"),
    TEXT("5 levels", "[[[[[1]]]]]", "payload", "nested deeper than 4 levels"),
    REJECT("object two deep in a record", B_SE, "session_id", "{'a':{'b':1}}", "payload",
           "nested deeper than 4 levels"),
    REJECT("object in a record (4 levels) is a type error", B_SE, "session_id", "{}",
           "records[0].session_id", "must be a string"),

    /* -- envelope -- */
    TEXT("top-level array", "[" B_SE "]", "payload", "must be a JSON object"),
    TEXT("top-level string", "'x'", "payload", "must be a JSON object"),
    TEXT("top-level number", "1", "payload", "must be a JSON object"),
    TEXT("top-level null", "null", "payload", "must be a JSON object"),
    TEXT("unknown envelope key", "{'v':1,'device':'dev-1','records':[" B_SE "],'clinic':'c'}",
         "clinic", "unknown field in batch"),
    TEXT("envelope key forging a log line",
         "{'v':1,'device':'dev-1','records':[" B_SE "],'a\\nlevel=error msg=x':1}",
         "a\\nlevel=error msg=x", "unknown field in batch"),
    TEXT("envelope key with C1 CSI", "{'v':1,'device':'dev-1','records':[" B_SE "],'\\u009b2J':1}",
         "\\u009b2J", "unknown field in batch"),
    TEXT("duplicate v", "{'v':1,'v':1,'device':'dev-1','records':[" B_SE "]}", "v", "duplicate field"),
    TEXT("duplicate device", "{'v':1,'device':'dev-1','device':'dev-2','records':[" B_SE "]}",
         "device", "duplicate field"),
    TEXT("duplicate records", "{'v':1,'device':'dev-1','records':[" B_SE "],'records':[]}",
         "records", "duplicate field"),
    TEXT("v 2", "{'v':2,'device':'dev-1','records':[" B_SE "]}", "v", "unsupported version (expected 1)"),
    TEXT("v as a string", "{'v':'1','device':'dev-1','records':[" B_SE "]}", "v",
         "unsupported version (expected 1)"),
    TEXT("v 1.5", "{'v':1.5,'device':'dev-1','records':[" B_SE "]}", "v", "unsupported version (expected 1)"),
    TEXT("v null", "{'v':null,'device':'dev-1','records':[" B_SE "]}", "v",
         "unsupported version (expected 1)"),
    TEXT("v missing", "{'device':'dev-1','records':[" B_SE "]}", "v", "required"),
    TEXT("device missing", "{'v':1,'records':[" B_SE "]}", "device", "required"),
    TEXT("device a number", "{'v':1,'device':1,'records':[" B_SE "]}", "device", "must be a string"),
    TEXT("wrong device", "{'v':1,'device':'dev-2','records':[" B_SE "]}", "device",
         "does not match the device of the topic"),
    {.name = "upper-case device", .text = "{'v':1,'device':'Dev-1','records':[" B_SE "]}",
     .topic_device = "Dev-1", .field = "device",
     .reason = "device id may hold only a-z, 0-9 and '-' (bad character at 0)"},
    {.name = "device too short", .text = "{'v':1,'device':'d1','records':[" B_SE "]}",
     .topic_device = "d1", .field = "device", .reason = "device id must be 3..64 characters, got 2"},
    {.name = "device of 65", .text = "{'v':1,'device':'" S64 "a','records':[" B_SE "]}",
     .topic_device = S64 "a", .field = "device", .reason = "device id must be 3..64 characters, got 65"},
    {.name = "reserved device", .text = "{'v':1,'device':'smp-collector','records':[" B_SE "]}",
     .topic_device = "smp-collector", .field = "device",
     .reason = "device id may not start with 'smp-' (reserved for fleet services)"},
    TEXT("records missing", "{'v':1,'device':'dev-1'}", "records", "required"),
    TEXT("records an object", "{'v':1,'device':'dev-1','records':{}}", "records", "must be an array"),
    TEXT("records empty", "{'v':1,'device':'dev-1','records':[]}", "records", "must hold 1..64 records"),
    GEN("65 records", gen_65, "records", "must hold 1..64 records"),
    TEXT("record a number", ENV("5"), "records[0]", "record must be a JSON object"),
    TEXT("record null", ENV("null"), "records[0]", "record must be a JSON object"),
    TEXT("record an array", ENV("[]"), "records[0]", "record must be a JSON object"),
    TEXT("second record bad", ENV(B_SE ",7"), "records[1]", "record must be a JSON object"),

    /* -- record shape -- */
    REJECT("type missing", B_GA, "type", DROP, "records[0].type", "required"),
    REJECT("type a number", B_GA, "type", "9", "records[0].type", "must be a string"),
    REJECT("unknown type", B_GA, "type", "'grip.unassign'", "records[0].type", "unknown record type"),
    REJECT("type in another case", B_GA, "type", "'Grip.Assign'", "records[0].type", "unknown record type"),
    REJECT("type with a trailing space", B_GA, "type", "'grip.assign '", "records[0].type",
           "unknown record type"),
    REJECT("empty type", B_GA, "type", "''", "records[0].type", "unknown record type"),
    REJECT("unknown field", B_GA, "colour", "'red'", "records[0].colour",
           "unknown field for this record type"),
    REJECT("field of another type", B_GA, "strokes", "5", "records[0].strokes",
           "unknown field for this record type"),
    REJECT("unknown field forging a log line", B_GA, "x\\r\\nlevel=error", "1",
           "records[0].x\\r\\nlevel=error", "unknown field for this record type"),
    REJECT("unknown field with a quote and backslash", B_GA, "a\\\\\\'b", "1",
           "records[0].a\\\\\"b", "unknown field for this record type"),
    REJECT("unknown field of 200 bytes: cut whole", B_GA, NAME200, "1",
           "records[0].aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...",
           "unknown field for this record type"),
    REJECT("unknown field of 30 x U+00E9: cut whole",
           B_GA, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                 "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "1",
           "records[0].\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
           "\xc3\xa9\xc3\xa9\xc3\xa9...",
           "unknown field for this record type"),
    REJECT("duplicate field", B_GA, "grip_id", "'g1','grip_id':'g2'", "records[0].grip_id",
           "duplicate field"),
    REJECT("duplicate seq", B_GA, "type", "'grip.assign','seq':1", "records[0].seq", "duplicate field"),
    REJECT("duplicate type", B_GA, "grip_id", "'g1','type':'grip.assign'", "records[0].type",
           "duplicate field"),

    /* -- header fields -- */
    REJECT("seq missing", B_SE, "seq", DROP, "records[0].seq", "required"),
    REJECT("seq 0", B_SE, "seq", "0", "records[0].seq", "out of range"),
    REJECT("seq -1", B_SE, "seq", "-1", "records[0].seq", "must not be negative"),
    REJECT("seq 2^53", B_SE, "seq", "9007199254740992", "records[0].seq", "out of range"),
    REJECT("seq 2^64", B_SE, "seq", "18446744073709551616", "records[0].seq", "out of range"),
    REJECT("seq 1e400", B_SE, "seq", "1e400", "records[0].seq", "must be a finite number"),
    REJECT("seq 1.5", B_SE, "seq", "1.5", "records[0].seq", "must be an integer"),
    REJECT("seq 1e-400", B_SE, "seq", "1e-400", "records[0].seq", "must be an integer"),
    REJECT("seq 2^52 + 0.5", B_SE, "seq", "4503599627370496.5", "records[0].seq", "must be an integer"),
    REJECT("seq as a string", B_SE, "seq", "'1'", "records[0].seq", "must be a number"),
    REJECT("seq null", B_SE, "seq", "null", "records[0].seq", "must be a number"),
    REJECT("seq true", B_SE, "seq", "true", "records[0].seq", "must be a number"),
    REJECT("ts missing", B_SE, "ts", DROP, "records[0].ts", "required"),
    REJECT("ts Feb 30", B_SE, "ts", "'2026-02-30T09:00:00.000Z'", "records[0].ts", TSFMT),
    REJECT("ts Feb 29 of a common year", B_SE, "ts", "'2026-02-29T09:00:00.000Z'", "records[0].ts", TSFMT),
    REJECT("ts 24:00", B_SE, "ts", "'2026-03-01T24:00:00.000Z'", "records[0].ts", TSFMT),
    REJECT("ts minute 60", B_SE, "ts", "'2026-03-01T23:60:00.000Z'", "records[0].ts", TSFMT),
    REJECT("ts leap second", B_SE, "ts", "'2026-03-01T23:59:60.000Z'", "records[0].ts", TSFMT),
    REJECT("ts missing Z", B_SE, "ts", "'2026-03-01T09:00:00.000'", "records[0].ts", TSFMT),
    REJECT("ts no millis", B_SE, "ts", "'2026-03-01T09:00:00Z'", "records[0].ts", TSFMT),
    REJECT("ts two ms digits", B_SE, "ts", "'2026-03-01T09:00:00.00Z'", "records[0].ts", TSFMT),
    REJECT("ts lower-case z", B_SE, "ts", "'2026-03-01T09:00:00.000z'", "records[0].ts", TSFMT),
    REJECT("ts with offset", B_SE, "ts", "'2026-03-01T09:00:00.000+01:00'", "records[0].ts", TSFMT),
    REJECT("ts with a space", B_SE, "ts", "'2026-03-01 09:00:00.000Z'", "records[0].ts", TSFMT),
    REJECT("ts before 1970", B_SE, "ts", "'1969-12-31T23:59:59.999Z'", "records[0].ts", TSFMT),
    REJECT("ts as a number", B_SE, "ts", "1772355600000", "records[0].ts", "must be a string"),
    REJECT("ts empty", B_SE, "ts", "''", "records[0].ts", "must not be empty"),
    REJECT("prev missing", B_SE, "prev", DROP, "records[0].prev", "required"),
    REJECT("prev upper-case hex", B_SE, "prev", "'9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08'",
           "records[0].prev", "must be 64 lowercase hex digits"),
    REJECT("prev of 63 digits", B_SE, "prev", "'" "000000000000000000000000000000000000000000000000000000000000000" "'",
           "records[0].prev", "must be 64 lowercase hex digits"),
    REJECT("prev not hex", B_SE, "prev", "'g000000000000000000000000000000000000000000000000000000000000000'",
           "records[0].prev", "must be 64 lowercase hex digits"),

    /* -- numbers -- */
    REJECT("negative count", B_SE, "strokes", "-1", "records[0].strokes", "must not be negative"),
    REJECT("negative fraction", B_SE, "strokes", "-0.5", "records[0].strokes", "must not be negative"),
    REJECT("-1e400", B_SE, "strokes", "-1e400", "records[0].strokes", "must be a finite number"),
    REJECT("1e400", B_SE, "strokes", "1e400", "records[0].strokes", "must be a finite number"),
    REJECT("count 2^53", B_SE, "strokes", "9007199254740992", "records[0].strokes", "out of range"),
    REJECT("count 2^64", B_SE, "strokes", "18446744073709551616", "records[0].strokes", "out of range"),
    REJECT("count 2.5", B_SE, "strokes", "2.5", "records[0].strokes", "must be an integer"),
    REJECT("count 1e-400 (a double says 0)", B_SE, "strokes", "1e-400", "records[0].strokes",
           "must be an integer"),
    REJECT("count 1.0000000000000000001 (a double says 1)", B_SE, "strokes", "1.0000000000000000001",
           "records[0].strokes", "must be an integer"),
    REJECT("count as a string", B_SE, "strokes", "'10'", "records[0].strokes", "must be a number"),
    REJECT("count true", B_SE, "run_s", "true", "records[0].run_s", "must be a number"),
    REJECT("count null", B_SE, "run_s", "null", "records[0].run_s", "must be a number"),
    REJECT("count an array", B_SE, "run_s", "[1]", "records[0].run_s", "must be a number"),
    REJECT("count missing", B_SE, "strokes", DROP, "records[0].strokes", "required"),
    REJECT("treatment_no 0", B_SS, "treatment_no", "0", "records[0].treatment_no", "out of range"),
    REJECT("treatment_no 1001", B_SS, "treatment_no", "1001", "records[0].treatment_no", "out of range"),
    REJECT("needles 0", B_CI, "needles", "0", "records[0].needles", "out of range"),
    REJECT("needles 100", B_CI, "needles", "100", "records[0].needles", "out of range"),
    REJECT("two decimal places", B_SC, "setpoint_c", "121.25", "records[0].setpoint_c",
           "at most one decimal place"),
    REJECT("decimal written past a double's precision", B_SC, "setpoint_c", "134.500000000000001",
           "records[0].setpoint_c", "at most one decimal place"),
    REJECT("decimal 1e-400", B_SC, "setpoint_c", "1e-400", "records[0].setpoint_c",
           "at most one decimal place"),
    REJECT("temperature below its range", B_SC, "temp_min_c", "-50.1", "records[0].temp_min_c",
           "out of range"),
    REJECT("setpoint above its range", B_SC, "setpoint_c", "200.1", "records[0].setpoint_c",
           "out of range"),
    REJECT("negative pressure", B_SC, "pressure_min_kpa", "-0.1", "records[0].pressure_min_kpa",
           "out of range"),
    REJECT("decimal as a string", B_SC, "setpoint_c", "'134.0'", "records[0].setpoint_c",
           "must be a number"),

    /* -- enums, dates, digests -- */
    REJECT("remove reason not in the set", B_CR, "reason", "'lost'", "records[0].reason",
           "not one of the allowed values"),
    REJECT("program not in the set", B_SC, "program", "'steam'", "records[0].program",
           "not one of the allowed values"),
    REJECT("ci_result in upper case", B_SC, "ci_result", "'PASS'", "records[0].ci_result",
           "not one of the allowed values"),
    REJECT("enum with a trailing space", B_SC, "result", "'pass '", "records[0].result",
           "not one of the allowed values"),
    REJECT("test result not in the set", B_ST, "result", "'maybe'", "records[0].result",
           "not one of the allowed values"),
    REJECT("enum with a formula", B_ST, "kind", "'=spore'", "records[0].kind",
           "not one of the allowed values"),
    REJECT("expiry Feb 29 of a common year", B_CI, "expiry", "'2027-02-29'", "records[0].expiry", DATEFMT),
    REJECT("expiry month 13", B_CI, "expiry", "'2026-13-01'", "records[0].expiry", DATEFMT),
    REJECT("expiry not padded", B_CI, "expiry", "'2026-2-3'", "records[0].expiry", DATEFMT),
    REJECT("expiry with a time", B_CI, "expiry", "'2026-02-03T00:00:00.000Z'", "records[0].expiry", DATEFMT),
    REJECT("read_ts no millis", B_ST, "read_ts", "'2026-03-01T08:00:00Z'", "records[0].read_ts", TSFMT),
    REJECT("head_hash upper case", B_CK, "head_hash", "'" "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08" "'",
           "records[0].head_hash", "must be 64 lowercase hex digits"),
    REJECT("sig not base64", B_CK, "sig", "'not base64!'", "records[0].sig", "must be base64"),
    REJECT("sig of 3 characters", B_CK, "sig", "'abc'", "records[0].sig", "must be base64"),
    REJECT("sig all padding", B_CK, "sig", "'===='", "records[0].sig", "must be base64"),
    REJECT("sig with padding inside", B_CK, "sig", "'AA=A'", "records[0].sig", "must be base64"),

    /* -- identifiers: tokens, never formulas or free text -- */
    REJECT("client_ref =HYPERLINK (the issue)", B_SS, "client_ref", "'=HYPERLINK(\\\"http://x\\\")'",
           "records[0].client_ref", START),
    REJECT("operator_id +cmd", B_SS, "operator_id", "'+cmd'", "records[0].operator_id", START),
    REJECT("session_id -2+3", B_SS, "session_id", "'-2+3'", "records[0].session_id", START),
    REJECT("cartridge_uid @SUM", B_CI, "cartridge_uid", "'@SUM(A1)'", "records[0].cartridge_uid", START),
    REJECT("sku =1", B_CI, "sku", "'=1'", "records[0].sku", START),
    REJECT("config leading tab", B_CI, "config", "'\\t=1'", "records[0].config", CTRL),
    REJECT("lot leading CR", B_CI, "lot", "'\\r=1'", "records[0].lot", CTRL),
    REJECT("load_id leading dot", B_GA, "load_id", "'.L1'", "records[0].load_id", START),
    REJECT("grip_id leading slash", B_GA, "grip_id", "'/g1'", "records[0].grip_id", START),
    REJECT("sterilizer_id leading underscore", B_SC, "sterilizer_id", "'_ac'", "records[0].sterilizer_id",
           START),
    REJECT("bi_lot leading colon", B_ST, "bi_lot", "':B1'", "records[0].bi_lot", START),
    REJECT("alarm_code with =", B_SC, "alarm_code", "'E1=1+1'", "records[0].alarm_code", CHARSET),
    REJECT("client_ref a name with a space", B_SS, "client_ref", "'John Smith'", "records[0].client_ref",
           CHARSET),
    REJECT("grip_id with a comma", B_GA, "grip_id", "'g1,2'", "records[0].grip_id", CHARSET),
    REJECT("bi_lot with a quote", B_ST, "bi_lot", "'B\\\"1'", "records[0].bi_lot", CHARSET),
    REJECT("sterilizer_id with a backslash", B_SC, "sterilizer_id", "'ac\\\\1'", "records[0].sterilizer_id",
           CHARSET),
    REJECT("operator_id with an apostrophe", B_SC, "operator_id", "'O\\u0027Brien'",
           "records[0].operator_id", CHARSET),
    REJECT("config with a semicolon", B_CI, "config", "'3RL;x'", "records[0].config", CHARSET),
    REJECT("cartridge_uid non-ASCII", B_UC, "cartridge_uid", "'C\xc3\xa9'", "records[0].cartridge_uid",
           CHARSET),
    REJECT("session_id emoji", B_SE, "session_id", "'S\\ud83d\\ude00'", "records[0].session_id", CHARSET),
    REJECT("no-break space U+00A0", B_GA, "grip_id", "'g\\u00a0'", "records[0].grip_id", CHARSET),
    REJECT("C1 CSI U+009B (escaped)", B_GA, "grip_id", "'g\\u009b2J'", "records[0].grip_id", CTRL),
    REJECT("C1 NEL U+0085 (escaped)", B_GA, "grip_id", "'g\\u0085'", "records[0].grip_id", CTRL),
    REJECT("C1 first U+0080", B_GA, "grip_id", "'g\\u0080'", "records[0].grip_id", CTRL),
    REJECT("C1 last U+009F", B_GA, "grip_id", "'g\\u009f'", "records[0].grip_id", CTRL),
    REJECT("C1 CSI U+009B (raw bytes)", B_GA, "grip_id", "'g\xc2\x9b'", "records[0].grip_id", CTRL),
    REJECT("ESC (escaped)", B_GA, "grip_id", "'g\\u001b[31m'", "records[0].grip_id", CTRL),
    REJECT("DEL (escaped)", B_GA, "grip_id", "'g\\u007f'", "records[0].grip_id", CTRL),
    REJECT("newline (escaped)", B_GA, "grip_id", "'g\\nlevel=error'", "records[0].grip_id", CTRL),
    REJECT("id of 129 bytes", B_SE, "session_id", "'" ID128 "a'", "records[0].session_id",
           "longer than 128 bytes"),
    REJECT("id of 129 bytes ending in a 2-byte character", B_SE, "session_id", "'" S64 S64 "\xc3\xa9'",
           "records[0].session_id", "longer than 128 bytes"),
    REJECT("empty id", B_GA, "load_id", "''", "records[0].load_id", "must not be empty"),
    REJECT("id null", B_GA, "load_id", "null", "records[0].load_id", "must be a string"),
    REJECT("id a number", B_GA, "load_id", "7", "records[0].load_id", "must be a string"),
    REJECT("id missing", B_GA, "load_id", DROP, "records[0].load_id", "required"),
    REJECT("optional id empty", B_CI, "lot", "''", "records[0].lot", "must not be empty"),
};
#define NCASES (sizeof cases / sizeof cases[0])

static size_t build(const hcase *c, char *buf, size_t cap)
{
    size_t n;
    if (c->gen) {
        n = c->gen(buf, cap);
    } else if (c->base) {
        n = with_field(buf, cap, c->base, c->key, c->value);
    } else {
        n = strlen(c->text);
        assert_true(n < cap);
        memcpy(buf, c->text, n + 1);
    }
    if (!c->raw)
        quotes(buf, n);
    return n;
}

static void check_accepted_value(const hcase *c, const message_batch *b)
{
    int64_t v;
    const char *s;
    if (!c->get)
        return;
    if (c->want_str) {
        s = record_get_str(&b->records[0], c->get);
        if (!s || strcmp(s, c->want_str) != 0)
            fail_msg("case '%s': %s = '%s', want '%s'", c->name, c->get, s ? s : "(none)", c->want_str);
    } else {
        if (record_get_int(&b->records[0], c->get, &v) != 0 || v != c->want_int)
            fail_msg("case '%s': %s = %lld, want %lld", c->name, c->get, (long long)v,
                     (long long)c->want_int);
    }
}

static void test_message_cases(void **state)
{
    size_t cap = MESSAGE_MAX_BYTES + 4096, accepted = 0, rejected = 0;
    char *buf = malloc(cap);
    message_batch *b = calloc(1, sizeof *b);
    int failures = 0;
    (void)state;

    assert_non_null(buf);
    assert_non_null(b);
    for (size_t i = 0; i < NCASES; i++) {
        const hcase *c = &cases[i];
        record_error err;
        size_t len;
        len = build(c, buf, cap);
        /* an exact-size heap copy: ASan sees any read past the payload */
        char *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        memset(&err, 0, sizeof err);
        b->count = 99;
        int rc = message_parse_batch(copy, len, c->topic_device ? c->topic_device : "dev-1", b, &err);
        free(copy);
        if (!c->field) {
            if (rc != 0) {
                print_error("case '%s': refused: %s: %s\n", c->name, err.field, err.reason);
                failures++;
            } else {
                check_accepted_value(c, b);
            }
            accepted++;
            continue;
        }
        rejected++;
        char text[256];
        snprintf(text, sizeof text, "%s: %s", err.field, err.reason);
        if (rc != -1 || strcmp(err.field, c->field) != 0 || strcmp(err.reason, c->reason) != 0 ||
            b->count != 0) {
            print_error("case '%s': rc=%d field='%s' reason='%s' (want '%s' / '%s')\n", c->name, rc,
                        rc ? err.field : "", rc ? err.reason : "", c->field, c->reason);
            failures++;
        } else if (reason_code_of(text) != err.code || err.code == REASON_OTHER) {
            print_error("case '%s': code %s but the text '%s' maps to %s\n", c->name,
                        reason_code_name(err.code), text, reason_code_name(reason_code_of(text)));
            failures++;
        } else if (!utf8_valid(err.field, strlen(err.field)) ||
                   utf8_has_control(err.field, strlen(err.field))) {
            print_error("case '%s': field is not one clean line: '%s'\n", c->name, err.field);
            failures++;
        }
    }
    print_message("hostile message cases: %zu (%zu accepted, %zu rejected)\n", NCASES, accepted,
                  rejected);
    assert_int_equal(failures, 0);
    assert_true(NCASES >= 150);
    free(buf);
    free(b);
}

/* ---- part 2: through ingest with a store -------------------------------- */

typedef struct fixture {
    char path[TESTDB_TARGET_MAX];
    sqldb *db;
    store *s;
    ingest *in;
} fixture;

static const ingest_limits limits = {
    .quarantine_max_rows = 1000,
    .quarantine_payload_bytes = 4096,
    .future_skew_ms = 24 * 3600 * 1000LL,
    .integrity = {.clock_skew_ms = 300000, .gap_grace_ms = 600000},
};

static int fx_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    char err[600];

    testdb_new(fx->path, sizeof fx->path);
    fx->db = testdb_open(fx->path);
    testdb_exec(fx->db, "INSERT INTO devices(device_id, clinic, added_at) VALUES"
                        " ('dev-1', 'c1', '2026-01-01T00:00:00.000Z');"
                        "INSERT INTO devices(device_id, clinic, added_at, retired_at) VALUES"
                        " ('dev-r', 'c1', '2026-01-01T00:00:00.000Z', '2026-02-01T00:00:00.000Z');");
    if (store_open(fx->path, &fx->s, err, sizeof err) != 0 || !(fx->in = ingest_new(fx->s, &limits))) {
        fprintf(stderr, "test_hostile: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    fixture *fx = *state;

    ingest_free(fx->in);
    store_close(fx->s);
    sqldb_close(fx->db);
    testdb_drop(fx->path);
    free(fx);
    return 0;
}

static int64_t now_ms(void)
{
    int64_t ms;
    record_ts_parse("2026-03-01T10:00:00.000Z", &ms);
    return ms;
}

static void send(fixture *fx, const char *topic, const char *text_q, ingest_result *r)
{
    char *text = strdup(text_q);
    assert_non_null(text);
    quotes(text, strlen(text));
    assert_int_equal(ingest_events(fx->in, topic, text, strlen(text), now_ms(), r), 0);
    free(text);
}

static void q_text(fixture *fx, const char *sql, char *out, size_t cap)
{
    sqldb_stmt *st;
    assert_int_equal(sqldb_prepare(fx->db, sql, &st), 0);
    if (sqldb_step(st) == 1 && sqldb_column_text(st, 0))
        snprintf(out, cap, "%s", sqldb_column_text(st, 0));
    else
        snprintf(out, cap, "<none>");
    sqldb_finalize(st);
}

static void test_ingest_cases(void **state)
{
    fixture *fx = *state;
    static const struct {
        const char *name, *topic, *text, *reason;   /* reason NULL: stored */
    } ic[] = {
        {"unregistered device", "smp/v1/dev/dev-x/events", "{'v':1,'device':'dev-x','records':[" B_SE "]}",
         "device: dev-x is not registered; add it with smpctl device add"},
        {"retired device", "smp/v1/dev/dev-r/events", "{'v':1,'device':'dev-r','records':[" B_SE "]}",
         "device: dev-r is retired"},
        {"status topic is not ingested", "smp/v1/dev/dev-1/status", ENV(B_SE),
         "topic: not smp/v1/dev/<device>/events"},
        {"topic with an invalid device", "smp/v1/dev/DEV/events", ENV(B_SE),
         "topic: not smp/v1/dev/<device>/events"},
        {"payload names another device", "smp/v1/dev/dev-1/events",
         "{'v':1,'device':'dev-r','records':[" B_SE "]}", "device: does not match the device of the topic"},
        {"leading zero", "smp/v1/dev/dev-1/events",
         "{'v':1,'device':'dev-1','records':[{'seq':01}]}", "payload: not valid JSON"},
        {"envelope key forging a log line", "smp/v1/dev/dev-1/events",
         "{'v':1,'device':'dev-1','records':[" B_SE "],'a\\nlevel=error':1}",
         "a\\nlevel=error: unknown field in batch"},
        {"a valid record is stored", "smp/v1/dev/dev-1/events", ENV(B_SE), NULL},
        {"and its resend is a duplicate", "smp/v1/dev/dev-1/events", ENV(B_SE), NULL},
    };
    ingest_result r;
    char got[512];

    for (size_t i = 0; i < sizeof ic / sizeof ic[0]; i++) {
        send(fx, ic[i].topic, ic[i].text, &r);
        if (ic[i].reason) {
            if (!r.quarantined || strcmp(r.reason, ic[i].reason) != 0)
                fail_msg("ingest case '%s': quarantined=%d reason '%s', want '%s'", ic[i].name,
                         r.quarantined, r.reason, ic[i].reason);
            assert_false(r.ack);
            assert_int_not_equal(reason_code_of(r.reason), REASON_OTHER);
        } else if (r.quarantined || !r.ack || r.ack_seq != 1) {
            fail_msg("ingest case '%s': quarantined=%d (%s) ack=%d seq=%llu", ic[i].name,
                     r.quarantined, r.reason, r.ack, (unsigned long long)r.ack_seq);
        }
    }
    /* the stored record, once; the duplicate counted */
    assert_int_equal(r.duplicates, 1);
    assert_int_equal(r.stored, 0);
    q_text(fx, "SELECT count(*) FROM records", got, sizeof got);
    assert_string_equal(got, "1");
    /* the quarantine keeps the reason in full, one clean line */
    q_text(fx, "SELECT reason FROM quarantine WHERE substr(reason, 1, 3) = 'a\\n'", got, sizeof got);
    assert_string_equal(got, "a\\nlevel=error: unknown field in batch");
    q_text(fx, "SELECT count(*) FROM quarantine", got, sizeof got);
    assert_string_equal(got, "7");
}

/* ---- part 3: log lines ---------------------------------------------------- */

/* What log_* writes to stderr while fn runs. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/test_hostile_log.XXXXXX";
    int fd = mkstemp(path), saved = dup(2);
    char *text = calloc(1, 8192);

    assert_true(fd >= 0 && saved >= 0 && text);
    fflush(stderr);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    assert_true(read(fd, text, 8191) >= 0);
    close(fd);
    unlink(path);
    return text;
}

static void log_hostile(void)
{
    const char payload[] = "online\nsmp level=error ts=x forged=1\r\x1b[2J\xc2\x9b" "31m\xff\"q\\";
    log_set_level(LOG_INFO);
    /* through LOG_Q, as listener.c logs a status payload */
    log_info("device status topic=%s state=%s", LOG_Q("smp/v1/dev/dev-1/status"),
             LOG_QN(payload, sizeof payload - 1));
    /* and the safety net, for a call site that forgot to quote */
    log_warn("unquoted value=%s", payload);
}

static void test_log_lines(void **state)
{
    (void)state;
    char *out = capture_stderr(log_hostile);
    char *first = out, *second = strchr(out, '\n');

    int lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 2);  /* two events, two lines */
    assert_non_null(second);
    *second++ = '\0';
    assert_true(strncmp(first, "smp level=info ", 15) == 0);
    assert_true(strncmp(second, "smp level=warn ", 15) == 0);
    assert_non_null(strstr(first, " device status topic=\"smp/v1/dev/dev-1/status\" state=\"online\\nsmp"
                                  " level=error ts=x forged=1\\r\\x1b[2J\\u009b31m\\xff\\\"q\\\\\""));
    assert_non_null(strstr(second, " level=warn "));
    assert_non_null(strstr(second, "unquoted value=online\\nsmp level=error ts=x forged=1\\r\\x1b[2J"
                                   "\\u009b31m\\xff\"q\\"));
    assert_true(utf8_valid(out, strlen(out)));
    free(out);
}

static void test_log_quote(void **state)
{
    char buf[16];
    char big[LOG_QUOTE_MAX * 2];
    (void)state;

    assert_string_equal(log_quote(buf, sizeof buf, "a\"b", 3), "\"a\\\"b\"");
    assert_string_equal(LOG_Q(NULL), "-");
    assert_string_equal(LOG_Q(""), "\"\"");
    /* cut whole: 16 bytes hold " + 8 + ..." + NUL; never half of "é" */
    assert_string_equal(log_quote(buf, sizeof buf, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 14),
                        "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...\"");
    assert_string_equal(log_quote(buf, sizeof buf, "\n\n\n\n\n\n\n", 7), "\"\\n\\n\\n\\n\\n...\"");
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(strlen(LOG_Q(big)), LOG_QUOTE_MAX - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_cases),
        cmocka_unit_test_setup_teardown(test_ingest_cases, fx_setup, fx_teardown),
        cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_log_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
