/* test_record: the record schema of docs/protocol.md.
 *
 * - fixed vectors: input JSON (keys scrambled, whitespace) -> canonical
 *   bytes written out by hand -> SHA-256 computed independently with
 *   `printf '%s' '<canonical>' | sha256sum`;
 * - round trip of canonical bytes through record_from_json;
 * - a table of bad records, each with the exact field and reason;
 * - record_ts_parse / record_ts_format;
 * - records built in code (record_set_*, record_check, record_get_*);
 * - records read straight from canonical text (record_from_canonical):
 *   the same records as the JSON path, any other spelling left to it,
 *   and mutated texts never read differently from it.
 *
 * Test JSON is written with ' for " to stay readable; jsonq() turns every '
 * into ". Expected canonical strings are real C literals, never converted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "record.h"

#define P_HASH "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

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

/* Parses text (with ' for ") as one record. Returns record_from_json's rc. */
static int parse_q(const char *text, record_mode mode, const char *prefix, record *out,
                   record_error *err)
{
    char *json = jsonq(text);
    cJSON *obj = cJSON_Parse(json);
    int rc;

    assert_non_null(obj);
    memset(err, 0, sizeof *err);
    rc = record_from_json(obj, mode, prefix, out, err);
    cJSON_Delete(obj);
    free(json);
    return rc;
}

static void canon_of(const record *r, char *buf, size_t cap)
{
    int n = record_canonical(r, buf, cap);
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(buf));
}

/* ---- fixed vectors --------------------------------------------------------- */

typedef struct vector {
    const char *name;
    const char *input;      /* ' for " */
    const char *canonical;  /* exact, by hand */
    const char *sha256;     /* printf '%s' '<canonical>' | sha256sum */
} vector;

static const vector vectors[] = {
    {"session.start",
     "{ 'type' : 'session.start', 'treatment_no': 3,\n  'client_ref':'c-00ab12', 'seq': 1,"
     " 'operator_id' :'op-2',\t'prev':'" ZERO_HASH "', 'session_id':'dev-1-S1',"
     " 'ts':'2026-03-01T09:15:00.250Z' }",
     "{\"client_ref\":\"c-00ab12\",\"operator_id\":\"op-2\",\"prev\":\"" ZERO_HASH "\","
     "\"seq\":1,\"session_id\":\"dev-1-S1\",\"treatment_no\":3,"
     "\"ts\":\"2026-03-01T09:15:00.250Z\",\"type\":\"session.start\"}",
     "c23fd3a9a9a16b557e9510b7e24e40aec2f454fb56110411271a264ac39d9311"},

    {"cartridge.insert with lot",
     "{'session_id':'dev-1-S1','sku':'0603RL',  'needles':3, 'type':'cartridge.insert',"
     " 'lot':'LOT-26A', 'expiry':'2027-01-31', 'config':'3RL', 'prev':'" P_HASH "',"
     " 'ts':'2026-03-01T09:15:02.000Z', 'seq':3, 'cartridge_uid':'dev-1-C7'}",
     "{\"cartridge_uid\":\"dev-1-C7\",\"config\":\"3RL\",\"expiry\":\"2027-01-31\","
     "\"lot\":\"LOT-26A\",\"needles\":3,\"prev\":\"" P_HASH "\",\"seq\":3,"
     "\"session_id\":\"dev-1-S1\",\"sku\":\"0603RL\",\"ts\":\"2026-03-01T09:15:02.000Z\","
     "\"type\":\"cartridge.insert\"}",
     "a0f44cde5ba81e4734c2114ccd1ec1ed3062ce2d20cef86abdcf7bd9d4bb6a3f"},

    {"cartridge.insert without lot",
     "{\n 'expiry' : '2028-02-29',\n 'type' : 'cartridge.insert',\n 'needles' : 1.0,\n"
     " 'cartridge_uid' : 'dev-1-C8',\n 'seq' : 4,\n 'config' : '1RL',\n 'sku' : '0803RL',\n"
     " 'ts' : '2026-03-01T10:00:00.999Z',\n 'session_id' : 'dev-1-S1',\n"
     " 'prev' : '" P_HASH "'\n}\n",
     "{\"cartridge_uid\":\"dev-1-C8\",\"config\":\"1RL\",\"expiry\":\"2028-02-29\","
     "\"needles\":1,\"prev\":\"" P_HASH "\",\"seq\":4,\"session_id\":\"dev-1-S1\","
     "\"sku\":\"0803RL\",\"ts\":\"2026-03-01T10:00:00.999Z\",\"type\":\"cartridge.insert\"}",
     "59f70ebc759987caecfa77e0a94be60ffa63e6499ce0654dd29826631c6ad0a9"},

    {"sterilization.cycle with DEC1 134.5, 121 -> 121.0",
     "{'temp_min_c':121,'setpoint_c':134.5,'type':'sterilization.cycle','result':'fail',"
     "'seq':17,'alarm_code':'E12-LOW-TEMP','sterilizer_id':'ac-1','cycle_no':118,"
     "'temp_max_c':136.9,'program':'prevac_134','exposure_s':240,'dry_s':1500,"
     "'pressure_min_kpa':0.1,'pressure_max_kpa':3.1e2,'operator_id':'op-1',"
     "'ci_result':'pass','load_id':'dev-1-L118','ts':'2026-03-01T07:45:00.000Z',"
     "'prev':'" P_HASH "'}",
     "{\"alarm_code\":\"E12-LOW-TEMP\",\"ci_result\":\"pass\",\"cycle_no\":118,"
     "\"dry_s\":1500,\"exposure_s\":240,\"load_id\":\"dev-1-L118\",\"operator_id\":\"op-1\","
     "\"pressure_max_kpa\":310.0,\"pressure_min_kpa\":0.1,\"prev\":\"" P_HASH "\","
     "\"program\":\"prevac_134\",\"result\":\"fail\",\"seq\":17,\"setpoint_c\":134.5,"
     "\"sterilizer_id\":\"ac-1\",\"temp_max_c\":136.9,\"temp_min_c\":121.0,"
     "\"ts\":\"2026-03-01T07:45:00.000Z\",\"type\":\"sterilization.cycle\"}",
     "532faff82bd08ea8dc984e4a168cc066973591b50b6cb67479b83b9cd41cb957"},

    {"sterilization.cycle negative DEC1, zeros, 2^53-1 seq, no optional alarm",
     "{'type':'sterilization.cycle','seq':9007199254740991,'ts':'9999-12-31T23:59:59.999Z',"
     "'prev':'" P_HASH "','temp_max_c':-12,'temp_min_c':-0.5,'setpoint_c':0,"
     "'pressure_max_kpa':1000.0,'pressure_min_kpa':99.9,'sterilizer_id':'ac-2',"
     "'result':'aborted','program':'gravity_121','operator_id':'op-9','load_id':'L-0',"
     "'exposure_s':0,'dry_s':0,'cycle_no':0,'ci_result':'fail'}",
     "{\"ci_result\":\"fail\",\"cycle_no\":0,\"dry_s\":0,\"exposure_s\":0,\"load_id\":\"L-0\","
     "\"operator_id\":\"op-9\",\"pressure_max_kpa\":1000.0,\"pressure_min_kpa\":99.9,"
     "\"prev\":\"" P_HASH "\",\"program\":\"gravity_121\",\"result\":\"aborted\","
     "\"seq\":9007199254740991,\"setpoint_c\":0.0,\"sterilizer_id\":\"ac-2\","
     "\"temp_max_c\":-12.0,\"temp_min_c\":-0.5,\"ts\":\"9999-12-31T23:59:59.999Z\","
     "\"type\":\"sterilization.cycle\"}",
     "b5c92c793f175877077f791b8be2382e88ecaae9f9c22abe86ebf483242f89ab"},

    /* Identifiers hold only A-Z a-z 0-9 . _ : / - (docs/protocol.md
     * "Identifiers"): every punctuation class, and an escaped slash in the
     * input, which the canonical form writes as a plain "/". */
    {"grip.assign with every identifier character class",
     "{'session_id':'S1', 'load_id':'ac-1/L.2026:11_23', 'seq':2,"
     " 'grip_id':'G_1.a:b\\/c-d', 'type':'grip.assign',"
     " 'ts':'2026-03-01T09:15:01.000Z', 'prev':'" P_HASH "'}",
     "{\"grip_id\":\"G_1.a:b/c-d\",\"load_id\":\"ac-1/L.2026:11_23\","
     "\"prev\":\"" P_HASH "\",\"seq\":2,\"session_id\":\"S1\","
     "\"ts\":\"2026-03-01T09:15:01.000Z\",\"type\":\"grip.assign\"}",
     "49cd64251b2c7dd426df921109f37dbed81636ade889913d9d809a3598ca0fa0"},

    {"checkpoint",
     "{'sig':'MEUCIQDx+/abcd==','type':'checkpoint','head_seq':100,'seq':101,"
     "'head_hash':'" P_HASH "','prev':'" ZERO_HASH "','ts':'2026-03-01T12:00:00.000Z'}",
     "{\"head_hash\":\"" P_HASH "\",\"head_seq\":100,\"prev\":\"" ZERO_HASH "\",\"seq\":101,"
     "\"sig\":\"MEUCIQDx+/abcd==\",\"ts\":\"2026-03-01T12:00:00.000Z\",\"type\":\"checkpoint\"}",
     "ead509a67cfd56f604f8a6c6880aad0a2cab5abf206a32f861974d2ddd8c44cc"},

    {"sterilization.test",
     "{'result':'negative','read_ts':'2026-03-08T07:46:00.000Z','kind':'spore','seq':55,"
     "'type':'sterilization.test','cycle_no':42,'bi_lot':'BI-7731','sterilizer_id':'ac-1',"
     "'prev':'" P_HASH "','ts':'2026-03-08T07:47:00.000Z'}",
     "{\"bi_lot\":\"BI-7731\",\"cycle_no\":42,\"kind\":\"spore\",\"prev\":\"" P_HASH "\","
     "\"read_ts\":\"2026-03-08T07:46:00.000Z\",\"result\":\"negative\",\"seq\":55,"
     "\"sterilizer_id\":\"ac-1\",\"ts\":\"2026-03-08T07:47:00.000Z\","
     "\"type\":\"sterilization.test\"}",
     "9651e0894b54dade51dcf3a1d330caf88c3434e459fbfe5d51fc751c5b04b8f7"},
};
#define NVECTORS (sizeof vectors / sizeof vectors[0])

static void test_vectors_canonical_and_sha256(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        const vector *v = &vectors[i];
        record r;
        record_error err;
        char canon[RECORD_CANON_MAX], hex[RECORD_HASH_HEX];

        print_message("vector: %s\n", v->name);
        if (parse_q(v->input, RECORD_FULL, "", &r, &err) != 0)
            fail_msg("vector %s rejected: %s: %s", v->name, err.field, err.reason);
        canon_of(&r, canon, sizeof canon);
        assert_string_equal(canon, v->canonical);
        record_sha256_hex(canon, strlen(canon), hex);
        assert_string_equal(hex, v->sha256);
    }
}

/* Canonical bytes parse back to the same record and the same bytes. */
static void test_vectors_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        record a, b;
        record_error err;
        char c1[RECORD_CANON_MAX], c2[RECORD_CANON_MAX];

        assert_int_equal(parse_q(vectors[i].input, RECORD_FULL, "", &a, &err), 0);
        canon_of(&a, c1, sizeof c1);
        cJSON *obj = cJSON_Parse(c1);
        assert_non_null(obj);
        if (record_from_json(obj, RECORD_FULL, "", &b, &err) != 0)
            fail_msg("canonical of %s rejected: %s: %s", vectors[i].name, err.field, err.reason);
        cJSON_Delete(obj);
        canon_of(&b, c2, sizeof c2);
        assert_string_equal(c1, c2);
        assert_int_equal(a.seq, b.seq);
        assert_string_equal(a.ts, b.ts);
        assert_string_equal(a.prev, b.prev);
        assert_int_equal(a.type, b.type);
    }
}

/* Known SHA-256 values, independent of the record code. */
static void test_sha256_known_values(void **state)
{
    char hex[RECORD_HASH_HEX];
    (void)state;

    record_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    record_sha256_hex("test", 4, hex);
    assert_string_equal(hex, P_HASH);
    assert_string_equal(RECORD_GENESIS_PREV, ZERO_HASH);
}

/* record_canonical never writes past cap and reports -1 when it cannot fit. */
static void test_canonical_buffer_too_small(void **state)
{
    record r;
    record_error err;
    char full[RECORD_CANON_MAX];
    (void)state;

    assert_int_equal(parse_q(vectors[0].input, RECORD_FULL, "", &r, &err), 0);
    int n = record_canonical(&r, full, sizeof full);
    assert_true(n > 0);
    for (size_t cap = 0; cap <= (size_t)n; cap++) {
        char *buf = malloc(cap ? cap : 1); /* exact size: ASan sees any overrun */
        assert_non_null(buf);
        assert_int_equal(record_canonical(&r, buf, cap), -1);
        free(buf);
    }
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(record_canonical(&r, buf, (size_t)n + 1), n);
    assert_string_equal(buf, full);
    free(buf);
}

/* An event (RECORD_EVENT) has no seq/prev; ts optional and kept if given. */
static void test_event_mode(void **state)
{
    record r;
    record_error err;
    (void)state;

    assert_int_equal(parse_q("{'type':'session.end','session_id':'S1','run_s':10,'strokes':20}",
                             RECORD_EVENT, "", &r, &err),
                     0);
    assert_int_equal(r.type, RT_SESSION_END);
    assert_int_equal(r.seq, 0);
    assert_string_equal(r.ts, "");
    assert_string_equal(r.prev, "");

    assert_int_equal(parse_q("{'type':'session.end','session_id':'S1','run_s':10,'strokes':20,"
                             "'ts':'2026-03-01T09:15:00.000Z'}",
                             RECORD_EVENT, "", &r, &err),
                     0);
    assert_string_equal(r.ts, "2026-03-01T09:15:00.000Z");
}

/* Limits that must still be accepted. */
static void test_accepts_limits(void **state)
{
    record r;
    record_error err;
    int64_t v;
    char json[512];
    char s128[RECORD_STR_MAX + 1];
    (void)state;

    memset(s128, 'a', RECORD_STR_MAX);
    s128[RECORD_STR_MAX] = '\0';
    snprintf(json, sizeof json,
             "{'type':'session.end','session_id':'%s','run_s':9007199254740991,'strokes':0}",
             s128);
    assert_int_equal(parse_q(json, RECORD_EVENT, "", &r, &err), 0);
    assert_string_equal(record_get_str(&r, "session_id"), s128);
    assert_int_equal(record_get_int(&r, "run_s", &v), 0);
    assert_int_equal(v, RECORD_INT_MAX);

    /* 128 bytes of every identifier character class */
    char id[RECORD_STR_MAX + 1];
    static const char classes[] = "Az09._:/-";
    for (int i = 0; i < RECORD_STR_MAX; i++)
        id[i] = classes[i % (sizeof classes - 1)];
    id[RECORD_STR_MAX] = '\0';
    snprintf(json, sizeof json,
             "{'type':'session.end','session_id':'%s','run_s':1,'strokes':2}", id);
    assert_int_equal(parse_q(json, RECORD_EVENT, "", &r, &err), 0);

    /* Regression: 128 bytes of "é" used to be a valid session_id; an
     * identifier is ASCII now (the 129th byte rule still comes first). */
    char utf[RECORD_STR_MAX + 1] = "";
    for (int i = 0; i < 64; i++)
        strcat(utf, "\xc3\xa9");
    snprintf(json, sizeof json,
             "{'type':'session.end','session_id':'%s','run_s':1,'strokes':2}", utf);
    assert_int_equal(parse_q(json, RECORD_EVENT, "", &r, &err), -1);
    assert_string_equal(err.field, "session_id");
    assert_string_equal(err.reason, "must start with A-Z a-z 0-9");
    assert_int_equal(err.code, REASON_BAD_CHARSET);

    /* DEC1 range ends and 1e2 notation */
    assert_int_equal(
        parse_q("{'type':'sterilization.cycle','temp_max_c':200.0,'temp_min_c':-50,"
                "'setpoint_c':1e2,'pressure_max_kpa':1000,'pressure_min_kpa':0,"
                "'sterilizer_id':'a','result':'pass','program':'prevac_132','operator_id':'o',"
                "'load_id':'l','exposure_s':1,'dry_s':1,'cycle_no':1,'ci_result':'pass'}",
                RECORD_EVENT, "", &r, &err),
        0);
    assert_int_equal(record_get_int(&r, "setpoint_c", &v), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(record_get_int(&r, "temp_min_c", &v), 0);
    assert_int_equal(v, -500);
}

/* ---- bad records --------------------------------------------------------- */

#define HDR "'seq':5,'ts':'2026-03-01T12:00:00.000Z','prev':'" P_HASH "',"
#define END_OK "'type':'session.end','session_id':'S1','run_s':10"
#define S64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define CYCLE_REST                                                                          \
    "'sterilizer_id':'ac-1','cycle_no':1,'load_id':'L1','program':'prevac_134',"          \
    "'temp_min_c':134.1,'temp_max_c':136,'exposure_s':240,'pressure_min_kpa':300,"        \
    "'pressure_max_kpa':310,'dry_s':900,'operator_id':'op-1','ci_result':'pass','result':'pass'"
#define INSERT_REST \
    "'type':'cartridge.insert','cartridge_uid':'C1','sku':'0603RL','config':'1RL','session_id':'S1'"

typedef struct bad_case {
    const char *name;
    record_mode mode;
    const char *prefix;
    const char *json;   /* ' for " */
    const char *field;
    const char *reason;
} bad_case;

static const bad_case bad_cases[] = {
    {"negative count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':-1}", "strokes",
     "must not be negative"},
    {"negative fraction count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':-0.5}", "strokes",
     "must not be negative"},
    {"unknown field", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1,'colour':'red'}", "colour",
     "unknown field for this record type"},
    {"field of another type", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1,'lot':'L'}", "lot",
     "unknown field for this record type"},
    {"duplicate payload key", RECORD_FULL, "",
     "{" HDR END_OK ",'strokes':1,'session_id':'S2'}", "session_id", "duplicate field"},
    {"duplicate type", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1,'type':'session.end'}",
     "type", "duplicate field"},
    {"duplicate seq", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1,'seq':5}", "seq",
     "duplicate field"},
    {"number as string", RECORD_FULL, "", "{" HDR END_OK ",'strokes':'12'}", "strokes",
     "must be a number"},
    {"bool for a count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':true}", "strokes",
     "must be a number"},
    {"null for a count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':null}", "strokes",
     "must be a number"},
    {"string as number", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':12,'run_s':1,'strokes':1}", "session_id",
     "must be a string"},
    {"object for a string", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':{'a':1},'run_s':1,'strokes':1}", "session_id",
     "must be a string"},
    {"string of 129 bytes", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'" S64 S64 "a','run_s':1,'strokes':1}",
     "session_id", "longer than 128 bytes"},
    {"empty string", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'','run_s':1,'strokes':1}", "session_id",
     "must not be empty"},
    {"control character (tab)", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\\tb','run_s':1,'strokes':1}", "session_id",
     "contains a control character"},
    {"control character (\\u0001)", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\\u0001','run_s':1,'strokes':1}",
     "session_id", "contains a control character"},
    {"DEL character", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\x7f','run_s':1,'strokes':1}", "session_id",
     "contains a control character"},
    {"invalid UTF-8 byte", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\xff','run_s':1,'strokes':1}", "session_id",
     "not valid UTF-8"},
    {"overlong UTF-8", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\xc0\xaf','run_s':1,'strokes':1}",
     "session_id", "not valid UTF-8"},
    /* C1 controls (U+0080..U+009F): U+009B is an 8-bit CSI that drives
     * terminals. They used to pass "no control characters". */
    {"C1 control (\\u009b escape)", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\\u009b[2J','run_s':1,'strokes':1}",
     "session_id", "contains a control character"},
    {"C1 control (raw U+0085)", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\xc2\x85','run_s':1,'strokes':1}",
     "session_id", "contains a control character"},
    {"U+00A0 is past C1 but not an identifier character", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'a\xc2\xa0','run_s':1,'strokes':1}",
     "session_id", "may hold only A-Z a-z 0-9 . _ : / -"},
    /* Identifiers: tokens, never formulas or free text. */
    {"formula in client_ref", RECORD_FULL, "",
     "{" HDR "'type':'session.start','session_id':'S','operator_id':'o',"
     "'client_ref':'=HYPERLINK(\\\"http://x\\\")','treatment_no':1}",
     "client_ref", "must start with A-Z a-z 0-9"},
    {"leading + in operator_id", RECORD_FULL, "",
     "{" HDR "'type':'session.start','session_id':'S','operator_id':'+1',"
     "'client_ref':'c','treatment_no':1}",
     "operator_id", "must start with A-Z a-z 0-9"},
    {"leading - in lot", RECORD_FULL, "",
     "{" HDR INSERT_REST ",'needles':1,'expiry':'2027-01-01','lot':'-2+3'}", "lot",
     "must start with A-Z a-z 0-9"},
    {"leading @ in sku", RECORD_FULL, "",
     "{" HDR "'type':'cartridge.insert','cartridge_uid':'C1','sku':'@SUM(1)','config':'1RL',"
     "'session_id':'S1','needles':1,'expiry':'2027-01-01'}",
     "sku", "must start with A-Z a-z 0-9"},
    {"leading dot", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'.S1','run_s':1,'strokes':1}", "session_id",
     "must start with A-Z a-z 0-9"},
    {"space inside an id", RECORD_FULL, "",
     "{" HDR "'type':'session.start','session_id':'S','operator_id':'o',"
     "'client_ref':'John Smith','treatment_no':1}",
     "client_ref", "may hold only A-Z a-z 0-9 . _ : / -"},
    {"comma inside an id", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'S1,2','run_s':1,'strokes':1}", "session_id",
     "may hold only A-Z a-z 0-9 . _ : / -"},
    {"quote inside an id", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'S\\\"1','run_s':1,'strokes':1}", "session_id",
     "may hold only A-Z a-z 0-9 . _ : / -"},
    {"backslash inside an id", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'S\\\\1','run_s':1,'strokes':1}", "session_id",
     "may hold only A-Z a-z 0-9 . _ : / -"},
    {"non-ASCII letter inside an id", RECORD_FULL, "",
     "{" HDR "'type':'session.end','session_id':'S\xc3\xa9','run_s':1,'strokes':1}",
     "session_id", "may hold only A-Z a-z 0-9 . _ : / -"},
    {"formula after the first character is still not an id", RECORD_FULL, "",
     "{" HDR "'type':'sterilization.cycle','setpoint_c':134.5," CYCLE_REST
     ",'alarm_code':'E1=1+1'}",
     "alarm_code", "may hold only A-Z a-z 0-9 . _ : / -"},
    {"bad enum", RECORD_FULL, "",
     "{" HDR "'type':'cartridge.remove','cartridge_uid':'C1','session_id':'S1','run_s':1,"
     "'strokes':1,'reason':'lost'}",
     "reason", "not one of the allowed values"},
    {"enum is case sensitive", RECORD_FULL, "",
     "{" HDR "'type':'sterilization.test','sterilizer_id':'a','kind':'Spore','cycle_no':1,"
     "'bi_lot':'b','result':'negative','read_ts':'2026-03-01T12:00:00.000Z'}",
     "kind", "not one of the allowed values"},
    {"date 2026-02-30", RECORD_FULL, "",
     "{" HDR INSERT_REST ",'needles':1,'expiry':'2026-02-30'}", "expiry",
     "must be a calendar date YYYY-MM-DD"},
    {"date 2027-02-29 (not leap)", RECORD_FULL, "",
     "{" HDR INSERT_REST ",'needles':1,'expiry':'2027-02-29'}", "expiry",
     "must be a calendar date YYYY-MM-DD"},
    {"date without zero padding", RECORD_FULL, "",
     "{" HDR INSERT_REST ",'needles':1,'expiry':'2026-2-3'}", "expiry",
     "must be a calendar date YYYY-MM-DD"},
    {"date with time", RECORD_FULL, "",
     "{" HDR INSERT_REST ",'needles':1,'expiry':'2026-02-03T00:00:00.000Z'}", "expiry",
     "must be a calendar date YYYY-MM-DD"},
    {"date month 13", RECORD_FULL, "", "{" HDR INSERT_REST ",'needles':1,'expiry':'2026-13-01'}",
     "expiry", "must be a calendar date YYYY-MM-DD"},
    {"ts without milliseconds", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T12:00:00Z','prev':'" P_HASH "'," END_OK ",'strokes':1}", "ts",
     "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"},
    {"ts with offset", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T12:00:00.000+00:00','prev':'" P_HASH "'," END_OK
     ",'strokes':1}",
     "ts", "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"},
    {"ts with space", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01 12:00:00.000Z','prev':'" P_HASH "'," END_OK ",'strokes':1}",
     "ts", "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"},
    {"ts hour 24", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T24:00:00.000Z','prev':'" P_HASH "'," END_OK ",'strokes':1}",
     "ts", "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"},
    {"ts as number", RECORD_FULL, "",
     "{'seq':5,'ts':1772356500000,'prev':'" P_HASH "'," END_OK ",'strokes':1}", "ts",
     "must be a string"},
    {"read_ts lower-case z", RECORD_FULL, "",
     "{" HDR "'type':'sterilization.test','sterilizer_id':'a','kind':'spore','cycle_no':1,"
     "'bi_lot':'b','result':'negative','read_ts':'2026-03-01T12:00:00.000z'}",
     "read_ts", "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"},
    {"event ts invalid", RECORD_EVENT, "",
     "{'ts':'2026-03-01T12:00:60.000Z'," END_OK ",'strokes':1}", "ts",
     "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ"},
    {"prev not hex", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T12:00:00.000Z',"
     "'prev':'g" "000000000000000000000000000000000000000000000000000000000000000'," END_OK
     ",'strokes':1}",
     "prev", "must be 64 lowercase hex digits"},
    {"prev upper-case hex", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T12:00:00.000Z',"
     "'prev':'9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08'," END_OK
     ",'strokes':1}",
     "prev", "must be 64 lowercase hex digits"},
    {"prev 63 digits", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T12:00:00.000Z',"
     "'prev':'000000000000000000000000000000000000000000000000000000000000000'," END_OK
     ",'strokes':1}",
     "prev", "must be 64 lowercase hex digits"},
    {"head_hash 65 digits", RECORD_FULL, "",
     "{" HDR "'type':'checkpoint','head_seq':1,'sig':'AAAA','head_hash':'" P_HASH "0'}",
     "head_hash", "must be 64 lowercase hex digits"},
    {"sig not base64", RECORD_FULL, "",
     "{" HDR "'type':'checkpoint','head_seq':1,'sig':'abc','head_hash':'" P_HASH "'}", "sig",
     "must be base64"},
    {"sig with padding inside", RECORD_FULL, "",
     "{" HDR "'type':'checkpoint','head_seq':1,'sig':'ab=c','head_hash':'" P_HASH "'}", "sig",
     "must be base64"},
    {"1.5 for an integer", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1.5}", "strokes",
     "must be an integer"},
    {"134.55 for a DEC1", RECORD_FULL, "", "{" HDR "'type':'sterilization.cycle','setpoint_c':134.55,"
     CYCLE_REST "}", "setpoint_c", "at most one decimal place"},
    {"DEC1 as string", RECORD_FULL, "", "{" HDR "'type':'sterilization.cycle','setpoint_c':'134.5',"
     CYCLE_REST "}", "setpoint_c", "must be a number"},
    {"DEC1 below range", RECORD_FULL, "", "{" HDR "'type':'sterilization.cycle','setpoint_c':-0.1,"
     CYCLE_REST "}", "setpoint_c", "out of range"},
    {"1e300 for a count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1e300}", "strokes",
     "out of range"},
    {"1e300 for a DEC1", RECORD_FULL, "", "{" HDR "'type':'sterilization.cycle','setpoint_c':1e300,"
     CYCLE_REST "}", "setpoint_c", "out of range"},
    {"1e400 (infinite) for a count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':1e400}",
     "strokes", "must be a finite number"},
    {"2^53 for a count", RECORD_FULL, "", "{" HDR END_OK ",'strokes':9007199254740992}",
     "strokes", "out of range"},
    {"treatment_no 0", RECORD_FULL, "",
     "{" HDR "'type':'session.start','session_id':'S','operator_id':'o','client_ref':'c',"
     "'treatment_no':0}",
     "treatment_no", "out of range"},
    {"treatment_no 1001", RECORD_FULL, "",
     "{" HDR "'type':'session.start','session_id':'S','operator_id':'o','client_ref':'c',"
     "'treatment_no':1001}",
     "treatment_no", "out of range"},
    {"needles 100", RECORD_FULL, "", "{" HDR INSERT_REST ",'needles':100,'expiry':'2027-01-01'}",
     "needles", "out of range"},
    {"missing required field", RECORD_FULL, "", "{" HDR END_OK "}", "strokes", "required"},
    {"missing required DEC1", RECORD_FULL, "",
     "{" HDR "'type':'sterilization.cycle'," CYCLE_REST "}", "setpoint_c", "required"},
    {"seq 0", RECORD_FULL, "", "{'seq':0,'ts':'2026-03-01T12:00:00.000Z','prev':'" P_HASH
     "'," END_OK ",'strokes':1}", "seq", "out of range"},
    {"seq 2^53", RECORD_FULL, "", "{'seq':9007199254740992,'ts':'2026-03-01T12:00:00.000Z',"
     "'prev':'" P_HASH "'," END_OK ",'strokes':1}", "seq", "out of range"},
    {"seq negative", RECORD_FULL, "", "{'seq':-1,'ts':'2026-03-01T12:00:00.000Z','prev':'" P_HASH
     "'," END_OK ",'strokes':1}", "seq", "must not be negative"},
    {"seq as string", RECORD_FULL, "", "{'seq':'5','ts':'2026-03-01T12:00:00.000Z','prev':'" P_HASH
     "'," END_OK ",'strokes':1}", "seq", "must be a number"},
    {"FULL without seq", RECORD_FULL, "",
     "{'ts':'2026-03-01T12:00:00.000Z','prev':'" P_HASH "'," END_OK ",'strokes':1}", "seq",
     "required"},
    {"FULL without ts", RECORD_FULL, "", "{'seq':5,'prev':'" P_HASH "'," END_OK ",'strokes':1}",
     "ts", "required"},
    {"FULL without prev", RECORD_FULL, "",
     "{'seq':5,'ts':'2026-03-01T12:00:00.000Z'," END_OK ",'strokes':1}", "prev", "required"},
    {"EVENT with seq", RECORD_EVENT, "", "{'seq':5," END_OK ",'strokes':1}", "seq",
     "assigned by the agent; leave it out"},
    {"EVENT with prev", RECORD_EVENT, "", "{'prev':'" P_HASH "'," END_OK ",'strokes':1}", "prev",
     "assigned by the agent; leave it out"},
    {"unknown type", RECORD_FULL, "",
     "{" HDR "'type':'session.pause','session_id':'S1','run_s':10,'strokes':1}", "type",
     "unknown record type"},
    {"type with different case", RECORD_FULL, "",
     "{" HDR "'type':'Session.End','session_id':'S1','run_s':10,'strokes':1}", "type",
     "unknown record type"},
    {"type not a string", RECORD_FULL, "",
     "{" HDR "'type':5,'session_id':'S1','run_s':10,'strokes':1}", "type", "must be a string"},
    {"type missing", RECORD_FULL, "", "{" HDR "'session_id':'S1','run_s':10,'strokes':1}",
     "type", "required"},
    {"prefix is prepended", RECORD_FULL, "records[7].", "{" HDR END_OK ",'strokes':-3}",
     "records[7].strokes", "must not be negative"},
    {"not an object", RECORD_FULL, "", "['type','session.end']", "",
     "record must be a JSON object"},
};
#define NBAD (sizeof bad_cases / sizeof bad_cases[0])

static void test_bad_records(void **state)
{
    int failures = 0;
    (void)state;

    assert_true(NBAD >= 30);
    for (size_t i = 0; i < NBAD; i++) {
        const bad_case *c = &bad_cases[i];
        record r;
        record_error err;
        int rc = parse_q(c->json, c->mode, c->prefix, &r, &err);
        if (rc != -1 || strcmp(err.field, c->field) != 0 || strcmp(err.reason, c->reason) != 0) {
            print_error("bad case '%s': rc=%d field='%s' reason='%s' (want '%s' / '%s')\n",
                        c->name, rc, rc ? err.field : "", rc ? err.reason : "", c->field,
                        c->reason);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Every bad case really differs from a good record only by its defect: the
 * base records used above are accepted. */
static void test_bad_case_bases_are_good(void **state)
{
    record r;
    record_error err;
    (void)state;

    assert_int_equal(parse_q("{" HDR END_OK ",'strokes':1}", RECORD_FULL, "", &r, &err), 0);
    assert_int_equal(parse_q("{" HDR INSERT_REST ",'needles':1,'expiry':'2027-01-01'}",
                             RECORD_FULL, "", &r, &err),
                     0);
    assert_int_equal(parse_q("{" HDR "'type':'sterilization.cycle','setpoint_c':134.5,"
                             CYCLE_REST "}", RECORD_FULL, "", &r, &err),
                     0);
    assert_int_equal(parse_q("{" HDR "'type':'checkpoint','head_seq':1,'sig':'AAAA',"
                             "'head_hash':'" P_HASH "'}", RECORD_FULL, "", &r, &err),
                     0);
    assert_int_equal(parse_q("{" HDR "'type':'sterilization.test','sterilizer_id':'a',"
                             "'kind':'spore','cycle_no':1,'bi_lot':'b','result':'negative',"
                             "'read_ts':'2026-03-01T12:00:00.000Z'}", RECORD_FULL, "", &r, &err),
                     0);
    assert_int_equal(parse_q("{" HDR "'type':'session.start','session_id':'S',"
                             "'operator_id':'o','client_ref':'c','treatment_no':1000}",
                             RECORD_FULL, "", &r, &err),
                     0);
}

/* Regression (found by this test, fixed in c244077): integers used to be
 * accepted with a tolerance of 1e-6, so 1.0000001 passed as 1 and the
 * canonical form silently said "strokes":1. A non-integer for an integer
 * field is rejected, as 1.5 is. */
static void test_integer_field_rejects_near_integer(void **state)
{
    record r;
    record_error err;
    (void)state;

    int rc = parse_q("{" HDR END_OK ",'strokes':1.0000001}", RECORD_FULL, "", &r, &err);
    assert_int_equal(rc, -1);
    assert_string_equal(err.field, "strokes");
    assert_string_equal(err.reason, "must be an integer");
}

/* ---- time ---------------------------------------------------------------- */

static void test_ts_parse_known_values(void **state)
{
    int64_t ms;
    (void)state;

    assert_int_equal(record_ts_parse("1970-01-01T00:00:00.000Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(record_ts_parse("2026-03-01T09:15:00.250Z", &ms), 0);
    assert_int_equal(ms, 1772356500250LL);
    assert_int_equal(record_ts_parse("2000-02-29T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, 951868799999LL);
    assert_int_equal(record_ts_parse("2024-02-29T12:00:00.001Z", &ms), 0);
    assert_int_equal(ms, 1709208000001LL);
    assert_int_equal(record_ts_parse("9999-12-31T23:59:59.999Z", &ms), 0);
    assert_int_equal(ms, 253402300799999LL);
}

static void test_ts_parse_rejects(void **state)
{
    static const char *const bad[] = {
        "2026-03-01T24:00:00.000Z",  /* hour 24 */
        "2026-03-01T23:60:00.000Z",  /* minute 60 */
        "2026-03-01T23:59:60.000Z",  /* leap second */
        "2026-02-29T12:00:00.000Z",  /* not a leap year */
        "2100-02-29T12:00:00.000Z",  /* century, not leap */
        "2026-04-31T12:00:00.000Z",  /* April has 30 days */
        "2026-00-10T12:00:00.000Z",  /* month 0 */
        "2026-01-00T12:00:00.000Z",  /* day 0 */
        "2026-03-01T12:00:00.000",   /* missing Z */
        "2026-03-01T12:00:00.000z",  /* lower-case z */
        "2026-03-01t12:00:00.000Z",  /* lower-case t */
        "2026-03-01T12:00:00.000ZZ", /* trailing */
        "2026-03-01T12:00:00.00Z",   /* two ms digits */
        "2026-03-01T12:00:00,000Z",  /* comma */
        "2026-03-01T12:00:00Z",      /* no ms */
        "2026-03-01T1:00:00.0000Z",  /* one hour digit */
        "1969-12-31T23:59:59.999Z",  /* before the epoch */
        "2026-03-01T12:0a:00.000Z",  /* letter */
        "+026-03-01T12:00:00.000Z",  /* sign */
        "",
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 12345;
        if (record_ts_parse(bad[i], &ms) != -1)
            fail_msg("accepted '%s' as %lld", bad[i], (long long)ms);
    }
}

static void test_ts_round_trip(void **state)
{
    static const char *const good[] = {
        "1970-01-01T00:00:00.000Z", "2026-03-01T09:15:00.250Z", "2024-02-29T00:00:00.001Z",
        "2000-02-29T23:59:59.999Z", "2038-01-19T03:14:08.000Z", "9999-12-31T23:59:59.999Z",
    };
    char out[RECORD_TS_LEN + 1];
    int64_t ms, back;
    uint64_t x = 88172645463325252ULL;
    (void)state;

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(record_ts_parse(good[i], &ms), 0);
        record_ts_format(ms, out);
        assert_string_equal(out, good[i]);
    }
    /* format -> parse is the identity over the whole valid range */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ms = (int64_t)(x % 253402300800000ULL);
        record_ts_format(ms, out);
        assert_int_equal(strlen(out), RECORD_TS_LEN);
        assert_int_equal(record_ts_parse(out, &back), 0);
        assert_int_equal(back, ms);
    }
}

/* ---- records built in code ---------------------------------------------- */

static void test_build_in_code(void **state)
{
    record r, p;
    record_error err;
    char c1[RECORD_CANON_MAX], c2[RECORD_CANON_MAX];
    int64_t v;
    (void)state;

    record_init(&r, RT_SESSION_END);
    assert_int_equal(r.type, RT_SESSION_END);
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "session_id");
    assert_string_equal(err.reason, "required");

    assert_int_equal(record_set_str(&r, "session_id", "S1"), 0);
    assert_int_equal(record_set_int(&r, "run_s", 10), 0);
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "strokes");
    assert_string_equal(err.reason, "required");
    assert_int_equal(record_set_int(&r, "strokes", 20), 0);
    assert_int_equal(record_check(&r, &err), 0);

    /* wrong names and kinds */
    assert_int_equal(record_set_str(&r, "lot", "x"), -1);
    assert_int_equal(record_set_int(&r, "session_id", 1), -1);
    assert_int_equal(record_set_str(&r, "strokes", "1"), -1);
    assert_int_equal(record_set_int(&r, "nope", 1), -1);

    /* getters */
    assert_string_equal(record_get_str(&r, "session_id"), "S1");
    assert_null(record_get_str(&r, "strokes"));
    assert_null(record_get_str(&r, "nope"));
    assert_int_equal(record_get_int(&r, "strokes", &v), 0);
    assert_int_equal(v, 20);
    assert_int_equal(record_get_int(&r, "session_id", &v), -1);
    assert_int_equal(record_get_int(&r, "nope", &v), -1);

    /* the same record from JSON has the same canonical bytes */
    r.seq = 9;
    snprintf(r.ts, sizeof r.ts, "2026-03-01T12:00:00.000Z");
    memcpy(r.prev, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    canon_of(&r, c1, sizeof c1);
    assert_string_equal(c1, "{\"prev\":\"" ZERO_HASH "\",\"run_s\":10,\"seq\":9,"
                            "\"session_id\":\"S1\",\"strokes\":20,"
                            "\"ts\":\"2026-03-01T12:00:00.000Z\",\"type\":\"session.end\"}");
    assert_int_equal(parse_q("{'strokes':20,'run_s':10,'session_id':'S1','type':'session.end',"
                             "'seq':9,'ts':'2026-03-01T12:00:00.000Z','prev':'" ZERO_HASH "'}",
                             RECORD_FULL, "", &p, &err),
                     0);
    canon_of(&p, c2, sizeof c2);
    assert_string_equal(c1, c2);
}

static void test_check_in_code_values(void **state)
{
    record r;
    record_error err;
    int64_t v;
    (void)state;

    /* optional absent: fine; absent optional not in canonical form */
    record_init(&r, RT_USAGE_COUNTERS);
    record_set_int(&r, "motor_s_total", 1);
    record_set_int(&r, "strokes_total", 2);
    record_set_int(&r, "cartridge_run_s", 3);
    record_set_int(&r, "cartridge_strokes", 4);
    assert_int_equal(record_check(&r, &err), 0);
    assert_null(record_get_str(&r, "cartridge_uid"));
    assert_int_equal(record_get_int(&r, "cartridge_uid", &v), -1);

    /* a negative count built in code */
    record_set_int(&r, "strokes_total", -1);
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "strokes_total");
    assert_string_equal(err.reason, "out of range");
    record_set_int(&r, "strokes_total", RECORD_INT_MAX + 1);
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.reason, "out of range");
    record_set_int(&r, "strokes_total", RECORD_INT_MAX);
    assert_int_equal(record_check(&r, &err), 0);

    /* a bad optional string is still checked */
    record_set_str(&r, "cartridge_uid", "");
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "cartridge_uid");
    assert_string_equal(err.reason, "must not be empty");

    /* enum, date, ts, hash, base64, control characters */
    record_init(&r, RT_CARTRIDGE_REMOVE);
    record_set_str(&r, "cartridge_uid", "C1");
    record_set_str(&r, "session_id", "S1");
    record_set_int(&r, "run_s", 1);
    record_set_int(&r, "strokes", 1);
    record_set_str(&r, "reason", "lost");
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "reason");
    assert_string_equal(err.reason, "not one of the allowed values");
    record_set_str(&r, "reason", "worn");
    assert_int_equal(record_check(&r, &err), 0);
    record_set_str(&r, "session_id", "S\n1");
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "session_id");
    assert_string_equal(err.reason, "contains a control character");

    record_init(&r, RT_CHECKPOINT);
    record_set_int(&r, "head_seq", 5);
    record_set_str(&r, "head_hash", P_HASH);
    record_set_str(&r, "sig", "not base64!");
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "sig");
    assert_string_equal(err.reason, "must be base64");
    record_set_str(&r, "sig", "QUJD");
    assert_int_equal(record_check(&r, &err), 0);
    record_set_str(&r, "head_hash", "abc");
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "head_hash");

    record_init(&r, RT_STERILIZATION_CYCLE);
    assert_int_equal(record_set_int(&r, "setpoint_c", 1345), 0);
    assert_int_equal(record_get_int(&r, "setpoint_c", &v), 0);
    assert_int_equal(v, 1345);
    record_set_int(&r, "setpoint_c", 20001);
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.field, "setpoint_c");
    assert_string_equal(err.reason, "out of range");
}

static void test_type_names(void **state)
{
    static const char *const names[RT_COUNT] = {
        "session.start", "session.end", "cartridge.insert", "cartridge.remove",
        "usage.counters", "grip.assign", "sterilization.cycle", "sterilization.test",
        "checkpoint"};
    record_type t;
    (void)state;

    for (int i = 0; i < RT_COUNT; i++) {
        assert_string_equal(record_type_name((record_type)i), names[i]);
        assert_int_equal(record_type_from_name(names[i], &t), 0);
        assert_int_equal(t, i);
    }
    assert_string_equal(record_type_name(RT_COUNT), "?");
    assert_int_equal(record_type_from_name("session", &t), -1);
    assert_int_equal(record_type_from_name("", &t), -1);
}

/* Regression (found by this test, fixed in c244077): record_set_str used to
 * cut a value longer than 128 bytes with snprintf and return 0, and
 * record_check then accepted the altered value. An over-long string built in
 * code is refused (by record_set_str, or by record_check with "longer than
 * 128 bytes"), as it is from JSON. */
static void test_set_str_refuses_too_long(void **state)
{
    char long_id[RECORD_STR_MAX + 2];
    record r;
    record_error err;
    (void)state;

    memset(long_id, 'x', RECORD_STR_MAX + 1);
    long_id[RECORD_STR_MAX + 1] = '\0';
    record_init(&r, RT_SESSION_END);
    record_set_int(&r, "run_s", 1);
    record_set_int(&r, "strokes", 1);
    int set = record_set_str(&r, "session_id", long_id);
    int checked = set == 0 ? record_check(&r, &err) : -1;
    assert_int_equal(checked, -1);
    if (set == 0) {
        assert_string_equal(err.field, "session_id");
        assert_string_equal(err.reason, "longer than 128 bytes");
    }
}

/* Every string field of every record type is an identifier: a formula
 * start, a space or a quote is refused whichever field it is in, so no
 * field can carry free text into a CSV cell or a log line. */
static void test_every_string_field_is_an_identifier(void **state)
{
    static const struct { const char *value, *reason; } bad[] = {
        {"=1+1", "must start with A-Z a-z 0-9"},
        {"+1", "must start with A-Z a-z 0-9"},
        {"-1", "must start with A-Z a-z 0-9"},
        {"@x", "must start with A-Z a-z 0-9"},
        {"a b", "may hold only A-Z a-z 0-9 . _ : / -"},
        {"a\"b", "may hold only A-Z a-z 0-9 . _ : / -"},
        {"a\xc2\x9b" "b", "contains a control character"},
    };
    int checked = 0;
    (void)state;

    for (int t = 0; t < RT_COUNT; t++) {
        record r;
        record_init(&r, (record_type)t);
        for (size_t i = 0; i < r.nfields; i++) {
            if (r.fields[i].spec->kind != FK_STR)
                continue;
            for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                record c = r, ok;
                record_error err;
                c.fields[i].present = true;
                snprintf(c.fields[i].s, sizeof c.fields[i].s, "%s", bad[b].value);
                assert_int_equal(record_check(&c, &err), -1);
                assert_string_equal(err.field, r.fields[i].spec->name);
                assert_string_equal(err.reason, bad[b].reason);
                /* the same field with a good id passes its own check */
                ok = r;
                ok.fields[i].present = true;
                snprintf(ok.fields[i].s, sizeof ok.fields[i].s, "Id-1.a:b/c_d");
                if (record_check(&ok, &err) == -1)
                    assert_string_not_equal(err.field, r.fields[i].spec->name);
                checked++;
            }
        }
    }
    /* 21 string fields over the 9 types (12 distinct names: session_id,
     * operator_id, client_ref, cartridge_uid, sku, config, lot, grip_id,
     * load_id, sterilizer_id, alarm_code, bi_lot) */
    assert_int_equal(checked, 21 * 7);
}

/* Nothing valid holds " or \ any more, but record_canonical still escapes
 * them (a record built in code is written before record_check). */
static void test_canonical_escapes_quote_and_backslash(void **state)
{
    record r;
    record_error err;
    char canon[RECORD_CANON_MAX];
    (void)state;

    record_init(&r, RT_SESSION_END);
    record_set_str(&r, "session_id", "g\"1\\b");
    record_set_int(&r, "run_s", 1);
    record_set_int(&r, "strokes", 2);
    r.seq = 1;
    snprintf(r.ts, sizeof r.ts, "2026-03-01T12:00:00.000Z");
    memcpy(r.prev, RECORD_GENESIS_PREV, RECORD_HASH_HEX);
    canon_of(&r, canon, sizeof canon);
    assert_non_null(strstr(canon, "\"session_id\":\"g\\\"1\\\\b\""));
    assert_int_equal(record_check(&r, &err), -1);
    assert_string_equal(err.reason, "may hold only A-Z a-z 0-9 . _ : / -");
}

/* A field name is the sender's: err.field holds it escaped and, when long,
 * cut at a character boundary with "...", never half a character. */
static void test_error_field_is_escaped_and_cut_whole(void **state)
{
    record r;
    record_error err;
    char json[512];
    (void)state;

    assert_int_equal(parse_q("{" HDR END_OK ",'strokes':1,'a\\nlevel=error\\\\x':1}", RECORD_FULL,
                             "records[3].", &r, &err),
                     -1);
    assert_string_equal(err.field, "records[3].a\\nlevel=error\\\\x");
    assert_string_equal(err.reason, "unknown field for this record type");
    assert_int_equal(err.code, REASON_UNKNOWN_FIELD);

    assert_int_equal(parse_q("{" HDR END_OK ",'strokes':1,'\\u009b31m':1}", RECORD_FULL, "", &r,
                             &err),
                     -1);
    assert_string_equal(err.field, "\\u009b31m");

    /* 40 x "é" (80 bytes) does not fit in 64 with the prefix: cut whole. */
    char name[100] = "";
    for (int i = 0; i < 40; i++)
        strcat(name, "\xc3\xa9");
    snprintf(json, sizeof json, "{" HDR END_OK ",'strokes':1,'%s':1}", name);
    assert_int_equal(parse_q(json, RECORD_FULL, "records[63].", &r, &err), -1);
    char want[64] = "records[63].";
    while (strlen(want) + 2 + 3 < sizeof want)
        strcat(want, "\xc3\xa9");
    strcat(want, "...");
    assert_string_equal(err.field, want);
}

/* Parses text (with ' for ") the way the collector does: jsontext_parse,
 * which keeps each number's source text. */
static int parse_exact(const char *text, record *out, record_error *err)
{
    char *json = jsonq(text);
    cJSON *obj = jsontext_parse(json, strlen(json));
    int rc;

    assert_non_null(obj);
    rc = record_from_json(obj, RECORD_FULL, "", out, err);
    cJSON_Delete(obj);
    free(json);
    return rc;
}

/* Numbers are judged on their text: a double cannot tell 2^52 + 0.5 or
 * 1e-400 from an integer (both used to be stored as integers). */
static void test_numbers_judged_on_their_text(void **state)
{
    static const struct { const char *strokes, *reason; int64_t value; } cases[] = {
        {"4503599627370496.5", "must be an integer", 0},
        {"9007199254740990.5", "must be an integer", 0},
        {"1e-400", "must be an integer", 0},
        {"1.0000000000000000001", "must be an integer", 0},
        {"1.0", NULL, 1},
        {"100e-2", NULL, 1},
        {"-0", NULL, 0},
        {"0.000", NULL, 0},
        {"1.5e1", NULL, 15},
        {"9007199254740991", NULL, 9007199254740991LL},
        {"9007199254740992", "out of range", 0},
        {"18446744073709551616", "out of range", 0},
        {"1e400", "must be a finite number", 0},
        {"-1", "must not be negative", 0},
    };
    record r;
    record_error err;
    char json[512];
    int64_t v;
    (void)state;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(json, sizeof json, "{" HDR END_OK ",'strokes':%s}", cases[i].strokes);
        int rc = parse_exact(json, &r, &err);
        if (cases[i].reason) {
            if (rc != -1 || strcmp(err.reason, cases[i].reason) != 0)
                fail_msg("strokes %s: rc=%d reason '%s', want '%s'", cases[i].strokes, rc,
                         rc ? err.reason : "", cases[i].reason);
            assert_string_equal(err.field, "strokes");
        } else {
            if (rc != 0)
                fail_msg("strokes %s rejected: %s", cases[i].strokes, err.reason);
            assert_int_equal(record_get_int(&r, "strokes", &v), 0);
            assert_int_equal(v, cases[i].value);
        }
    }
    /* DEC1: at most one decimal place, on the text */
    assert_int_equal(parse_exact("{" HDR "'type':'sterilization.cycle','setpoint_c':134.50,"
                                 CYCLE_REST "}", &r, &err), 0);
    assert_int_equal(record_get_int(&r, "setpoint_c", &v), 0);
    assert_int_equal(v, 1345);
    assert_int_equal(parse_exact("{" HDR "'type':'sterilization.cycle','setpoint_c':134.500000000001,"
                                 CYCLE_REST "}", &r, &err), -1);
    assert_string_equal(err.reason, "at most one decimal place");
    assert_int_equal(parse_exact("{" HDR "'type':'sterilization.cycle','setpoint_c':1.345e2,"
                                 CYCLE_REST "}", &r, &err), 0);
}

/* ---- records read as canonical text (record_from_canonical) --------------- */

/* Canonical texts of the three types the vectors leave out (checked below
 * to be what record_canonical writes). */
static const char *const more_canonical[] = {
    "{\"prev\":\"" P_HASH "\",\"run_s\":7200,\"seq\":3,\"session_id\":\"S1\","
    "\"strokes\":500000,\"ts\":\"2026-03-01T11:00:00.000Z\",\"type\":\"session.end\"}",
    "{\"cartridge_uid\":\"C1\",\"prev\":\"" P_HASH "\",\"reason\":\"worn\",\"run_s\":60,"
    "\"seq\":9,\"session_id\":\"S1\",\"strokes\":1200,\"ts\":\"2026-03-01T11:00:00.000Z\","
    "\"type\":\"cartridge.remove\"}",
    "{\"cartridge_run_s\":0,\"cartridge_strokes\":0,\"motor_s_total\":9007199254740991,"
    "\"prev\":\"" P_HASH "\",\"seq\":10,\"strokes_total\":12,"
    "\"ts\":\"2026-03-01T11:00:00.000Z\",\"type\":\"usage.counters\"}",
};
#define NMORE (sizeof more_canonical / sizeof more_canonical[0])

static const char *canonical_text(size_t i)
{
    return i < NVECTORS ? vectors[i].canonical : more_canonical[i - NVECTORS];
}

/* record_from_canonical on text[0..len) copied into a block of exactly len
 * bytes (no NUL after it), so ASan sees any read past the end. */
static size_t from_canonical_exact(const char *text, size_t len, record *out)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    size_t used = record_from_canonical(copy, len, out);
    free(copy);
    return used;
}

/* What the JSON path (as message_parse_batch runs it) makes of
 * text[0..len): 0 and *out when it accepts the record. */
static int from_json_exact(const char *text, size_t len, record *out)
{
    char *copy = malloc(len ? len : 1), why[96];
    reason_code code;
    record_error err;
    cJSON *obj;
    int rc = -1;

    assert_non_null(copy);
    memcpy(copy, text, len);
    if (jsontext_check(copy, len, why, sizeof why, &code) == 0 &&
        (obj = jsontext_parse(copy, len)) != NULL) {
        rc = record_from_json(obj, RECORD_FULL, "", out, &err);
        cJSON_Delete(obj);
    }
    free(copy);
    return rc;
}

/* Every canonical text is read whole, to the record the JSON path makes of
 * it; text after the record (the next one of a batch) is not read. */
static void test_canonical_text_read_directly(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVECTORS + NMORE; i++) {
        const char *text = canonical_text(i);
        size_t len = strlen(text);
        record fast, slow;
        char c1[RECORD_CANON_MAX], c2[RECORD_CANON_MAX], two[2 * RECORD_CANON_MAX];

        print_message("canonical text %zu\n", i);
        assert_int_equal(from_json_exact(text, len, &slow), 0);
        canon_of(&slow, c1, sizeof c1);
        assert_string_equal(c1, text);
        assert_int_equal(from_canonical_exact(text, len, &fast), len);
        canon_of(&fast, c2, sizeof c2);
        assert_string_equal(c2, text);
        assert_int_equal(fast.type, slow.type);
        assert_int_equal(fast.seq, slow.seq);
        assert_int_equal(record_used_size(&fast), record_used_size(&slow));

        snprintf(two, sizeof two, "%s,%s", text, text);
        assert_int_equal(from_canonical_exact(two, strlen(two), &fast), len);
    }
}

/* text with its first occurrence of from replaced by to (which must be
 * there). Owned by the caller. */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out = malloc(strlen(text) + strlen(to) + 1);

    assert_non_null(at);
    assert_non_null(out);
    sprintf(out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

/* Valid records not written canonically are left to the JSON path, which
 * accepts them: the scrambled vector inputs, and one deviation at a time
 * from a canonical text. */
static void test_non_canonical_text_left_to_json(void **state)
{
    static const struct {
        const char *from, *to;
    } deviations[] = {
        {"\"temp_min_c\":-0.5", "\"temp_min_c\":-0.50"},  /* two places */
        {"\"temp_max_c\":-12.0", "\"temp_max_c\":-12"},    /* a decimal without its place */
        {"\"setpoint_c\":0.0", "\"setpoint_c\":-0.0"},     /* negative zero */
        {"\"cycle_no\":0", "\"cycle_no\":0.0"},             /* an integer with a place */
        {"\"dry_s\":0", "\"dry_s\":0e3"},                   /* an exponent */
        {"\"load_id\":\"L-0\"", "\"load_id\":\"L\\/0\""},  /* an escape */
        {"\"dry_s\":0,", "\"dry_s\": 0,"},                  /* whitespace */
        {"\"ci_result\":\"fail\",\"cycle_no\":0", "\"cycle_no\":0,\"ci_result\":\"fail\""},
    };
    const char *base = vectors[4].canonical; /* sterilization.cycle, negative DEC1 */
    record r;

    (void)state;
    for (size_t i = 0; i < NVECTORS; i++) {
        char *json = jsonq(vectors[i].input);
        assert_int_equal(from_json_exact(json, strlen(json), &r), 0);
        assert_int_equal(from_canonical_exact(json, strlen(json), &r), 0);
        free(json);
    }
    for (size_t i = 0; i < sizeof deviations / sizeof deviations[0]; i++) {
        char *text = replaced(base, deviations[i].from, deviations[i].to);
        print_message("deviation %zu: %s\n", i, deviations[i].to);
        assert_int_equal(from_json_exact(text, strlen(text), &r), 0);
        assert_int_equal(from_canonical_exact(text, strlen(text), &r), 0);
        free(text);
    }
}

/* xorshift64: the mutations below are the same on every run. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Canonical texts with one to three bytes replaced, inserted or deleted
 * (bytes chosen among the ones that matter to JSON and to the fields):
 * whatever record_from_canonical reads, the JSON path accepts as the same
 * record, and its canonical bytes are the text read. Both outcomes must
 * occur often, or the test would prove nothing. */
static void test_canonical_reading_agrees_with_json(void **state)
{
    static const char alphabet[] = "0123456789-.,:{}\"\\ eE+aZz_/=\x7f\x80\x01";
    uint64_t seed = 0x5eed5eed12345678u;
    int read = 0, left = 0;

    (void)state;
    for (size_t i = 0; i < NVECTORS + NMORE; i++) {
        const char *text = canonical_text(i);
        for (int m = 0; m < 3000; m++) {
            char buf[2 * RECORD_CANON_MAX], c1[RECORD_CANON_MAX], c2[RECORD_CANON_MAX];
            size_t len = strlen(text);
            int edits = 1 + (int)(next_random(&seed) % 3);
            record fast, slow;

            memcpy(buf, text, len);
            for (int e = 0; e < edits && len > 1; e++) {
                size_t at = (size_t)(next_random(&seed) % len);
                char c = alphabet[next_random(&seed) % (sizeof alphabet - 1)];
                switch (next_random(&seed) % 3) {
                case 0:
                    buf[at] = c;
                    break;
                case 1:
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = c;
                    len++;
                    break;
                default:
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
            }
            size_t used = from_canonical_exact(buf, len, &fast);
            if (!used) {
                left++;
                continue;
            }
            read++;
            if (from_json_exact(buf, used, &slow) != 0)
                fail_msg("read but refused by the JSON path: %.*s", (int)used, buf);
            canon_of(&fast, c1, sizeof c1);
            canon_of(&slow, c2, sizeof c2);
            assert_string_equal(c1, c2);
            assert_int_equal(strlen(c1), used);
            assert_memory_equal(c1, buf, used);
        }
    }
    print_message("read %d mutated texts, left %d to the JSON path\n", read, left);
    assert_true(read > 500);
    assert_true(left > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_canonical_and_sha256),
        cmocka_unit_test(test_vectors_round_trip),
        cmocka_unit_test(test_sha256_known_values),
        cmocka_unit_test(test_canonical_buffer_too_small),
        cmocka_unit_test(test_event_mode),
        cmocka_unit_test(test_accepts_limits),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_bad_case_bases_are_good),
        cmocka_unit_test(test_ts_parse_known_values),
        cmocka_unit_test(test_ts_parse_rejects),
        cmocka_unit_test(test_ts_round_trip),
        cmocka_unit_test(test_build_in_code),
        cmocka_unit_test(test_check_in_code_values),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_integer_field_rejects_near_integer),
        cmocka_unit_test(test_set_str_refuses_too_long),
        cmocka_unit_test(test_every_string_field_is_an_identifier),
        cmocka_unit_test(test_canonical_escapes_quote_and_backslash),
        cmocka_unit_test(test_error_field_is_escaped_and_cut_whole),
        cmocka_unit_test(test_numbers_judged_on_their_text),
        cmocka_unit_test(test_canonical_text_read_directly),
        cmocka_unit_test(test_non_canonical_text_left_to_json),
        cmocka_unit_test(test_canonical_reading_agrees_with_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
