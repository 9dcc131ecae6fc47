#include "record.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "utf8.h"

const char RECORD_GENESIS_PREV[RECORD_HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* ---- schema (docs/protocol.md) -------------------------------------- */

static const char *const remove_reasons[] = {"session_end", "worn", "damaged", "swap", NULL};
static const char *const programs[] = {"gravity_121", "gravity_132", "prevac_132", "prevac_134", NULL};
static const char *const ci_results[] = {"pass", "fail", NULL};
static const char *const cycle_results[] = {"pass", "fail", "aborted", NULL};
static const char *const test_kinds[] = {"spore", "bowie_dick", NULL};
static const char *const test_results[] = {"negative", "positive", "invalid", NULL};

#define STR(n)        {n, FK_STR, false, 0, 0, NULL}
#define OPT_STR(n)    {n, FK_STR, true, 0, 0, NULL}
#define UINT(n, lo, hi) {n, FK_UINT, false, lo, hi, NULL}
#define COUNT(n)      {n, FK_UINT, false, 0, RECORD_INT_MAX, NULL}
#define DEC1(n, lo, hi) {n, FK_DEC1, false, lo, hi, NULL}
#define ENUM(n, v)    {n, FK_ENUM, false, 0, 0, v}
#define END           {NULL, FK_STR, false, 0, 0, NULL}

static const field_spec session_start_fields[] = {
    STR("session_id"), STR("operator_id"), STR("client_ref"),
    UINT("treatment_no", 1, 1000), END};
static const field_spec session_end_fields[] = {
    STR("session_id"), COUNT("run_s"), COUNT("strokes"), END};
static const field_spec cartridge_insert_fields[] = {
    STR("cartridge_uid"), STR("sku"), UINT("needles", 1, 99), STR("config"),
    /* optional: a pack with no lot is rule R2's warning, not a bad record */
    OPT_STR("lot"), {"expiry", FK_DATE, false, 0, 0, NULL}, STR("session_id"), END};
static const field_spec cartridge_remove_fields[] = {
    STR("cartridge_uid"), STR("session_id"), COUNT("run_s"), COUNT("strokes"),
    ENUM("reason", remove_reasons), END};
static const field_spec usage_counters_fields[] = {
    COUNT("motor_s_total"), COUNT("strokes_total"), OPT_STR("cartridge_uid"),
    COUNT("cartridge_run_s"), COUNT("cartridge_strokes"), END};
static const field_spec grip_assign_fields[] = {
    STR("grip_id"), STR("load_id"), STR("session_id"), END};
static const field_spec sterilization_cycle_fields[] = {
    STR("sterilizer_id"), COUNT("cycle_no"), STR("load_id"), ENUM("program", programs),
    DEC1("setpoint_c", 0, 2000), DEC1("temp_min_c", -500, 2000), DEC1("temp_max_c", -500, 2000),
    COUNT("exposure_s"), DEC1("pressure_min_kpa", 0, 10000), DEC1("pressure_max_kpa", 0, 10000),
    COUNT("dry_s"), STR("operator_id"), ENUM("ci_result", ci_results),
    ENUM("result", cycle_results), OPT_STR("alarm_code"), END};
static const field_spec sterilization_test_fields[] = {
    STR("sterilizer_id"), ENUM("kind", test_kinds), COUNT("cycle_no"), STR("bi_lot"),
    ENUM("result", test_results), {"read_ts", FK_TS, false, 0, 0, NULL}, END};
static const field_spec checkpoint_fields[] = {
    COUNT("head_seq"), {"head_hash", FK_HASH, false, 0, 0, NULL},
    {"sig", FK_B64, false, 0, 0, NULL}, END};

static const struct {
    const char *name;
    const field_spec *fields;
} schema[RT_COUNT] = {
    [RT_SESSION_START] = {"session.start", session_start_fields},
    [RT_SESSION_END] = {"session.end", session_end_fields},
    [RT_CARTRIDGE_INSERT] = {"cartridge.insert", cartridge_insert_fields},
    [RT_CARTRIDGE_REMOVE] = {"cartridge.remove", cartridge_remove_fields},
    [RT_USAGE_COUNTERS] = {"usage.counters", usage_counters_fields},
    [RT_GRIP_ASSIGN] = {"grip.assign", grip_assign_fields},
    [RT_STERILIZATION_CYCLE] = {"sterilization.cycle", sterilization_cycle_fields},
    [RT_STERILIZATION_TEST] = {"sterilization.test", sterilization_test_fields},
    [RT_CHECKPOINT] = {"checkpoint", checkpoint_fields},
};

const char *record_type_name(record_type t)
{
    return (unsigned)t < RT_COUNT ? schema[t].name : "?";
}

int record_type_from_name(const char *name, record_type *out)
{
    for (int t = 0; t < RT_COUNT; t++) {
        if (strcmp(schema[t].name, name) == 0) {
            *out = (record_type)t;
            return 0;
        }
    }
    return -1;
}

void record_init(record *r, record_type type)
{
    /* Field by field: zeroing the whole record (3 kB, mostly unused string
     * room) was a tenth of the collector's parse. Slots past nfields and
     * the bytes after a string's end are never read. */
    r->type = type;
    r->seq = 0;
    r->ts[0] = r->prev[0] = '\0';
    r->nfields = 0;
    for (const field_spec *f = schema[type].fields; f->name; f++)
        r->fields[r->nfields++] = (field_value){.spec = f};
}

size_t record_used_size(const record *r)
{
    return offsetof(record, fields) + r->nfields * sizeof(field_value);
}

static field_value *find_field(const record *r, const char *name)
{
    for (size_t i = 0; i < r->nfields; i++) {
        if (strcmp(r->fields[i].spec->name, name) == 0)
            return (field_value *)&r->fields[i];
    }
    return NULL;
}

/* ---- time ---------------------------------------------------------------- */

static bool parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool valid_ymd(int y, int m, int d)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

static bool parse_date(const char *s, int *y, int *m, int *d)
{
    return s[4] == '-' && s[7] == '-' && parse_digits(s, 4, y) && parse_digits(s + 5, 2, m) &&
           parse_digits(s + 8, 2, d) && valid_ymd(*y, *m, *d);
}

static bool valid_date(const char *s)
{
    int y, m, d;
    return strlen(s) == 10 && parse_date(s, &y, &m, &d);
}

/* Days from 1970-01-01 to a valid date of the proleptic Gregorian
 * calendar: the ingest parses a ts per record, and glibc's timegm (time
 * zone state, normalisation) cost more than the rest of the check. */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = yy / 400, yoe = yy - era * 400;            /* y >= 1970: no negative era */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int record_ts_parse(const char *ts, int64_t *ms_out)
{
    int y, mo, d, h, mi, s, ms;
    if (strlen(ts) != RECORD_TS_LEN || !parse_date(ts, &y, &mo, &d) || ts[10] != 'T' ||
        ts[13] != ':' || ts[16] != ':' || ts[19] != '.' || ts[23] != 'Z' ||
        !parse_digits(ts + 11, 2, &h) || !parse_digits(ts + 14, 2, &mi) ||
        !parse_digits(ts + 17, 2, &s) || !parse_digits(ts + 20, 3, &ms) || h > 23 || mi > 59 ||
        s > 59)
        return -1;
    *ms_out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL + ms;
    return 0;
}

void record_ts_format(int64_t ms, char out[RECORD_TS_LEN + 1])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char tmp[80];

    gmtime_r(&secs, &tm);
    /* tmp is large enough for any int, so the compiler can see nothing is cut. */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    memcpy(out, tmp, RECORD_TS_LEN);
    out[RECORD_TS_LEN] = '\0';
}

/* ---- value checks -------------------------------------------------------- */

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static bool is_base64(const char *s)
{
    size_t n = strlen(s), pad = 0;
    if (n == 0 || n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     (c >= '0' && c <= '9') || c == '+' || c == '/'))
            return false;
    }
    return pad <= 2;
}

static bool in_enum(const char *const *values, const char *s)
{
    for (; *values; values++) {
        if (strcmp(*values, s) == 0)
            return true;
    }
    return false;
}

int record_fail(record_error *err, reason_code code, const char *prefix, const char *field,
                const char *reason)
{
    size_t plen = strlen(prefix), flen = strlen(field), room;

    /* "records[0]." + "" names the record itself: drop the dot. */
    if (!*field && plen > 0 && prefix[plen - 1] == '.')
        plen--;
    if (plen >= sizeof err->field)
        plen = sizeof err->field - 1;
    memcpy(err->field, prefix, plen);
    room = sizeof err->field - plen;
    /* The field name is the sender's: escaped, and cut whole with "..." so
     * reasons, logs and metrics never hold half a character. */
    if (utf8_escape(err->field + plen, room, field, flen, UTF8_ESC_BACKSLASH) < flen &&
        room > 3) {
        utf8_escape(err->field + plen, room - 3, field, flen, UTF8_ESC_BACKSLASH);
        strcat(err->field + plen, "...");
    }
    snprintf(err->reason, sizeof err->reason, "%s", reason);
    err->code = code;
    return -1;
}

static int fail(record_error *err, reason_code code, const char *prefix, const char *field,
                const char *reason)
{
    return record_fail(err, code, prefix, field, reason);
}

/* A why-text and its class, as the checks below return them. */
typedef struct verdict {
    const char *why;     /* NULL: fine */
    reason_code code;
} verdict;

static const verdict OK = {NULL, REASON_OTHER};

static verdict bad(reason_code code, const char *why)
{
    return (verdict){why, code};
}

/* Identifiers (FK_STR) are tokens: ASCII letters, digits and . _ : / -,
 * starting with a letter or digit. No space, quote, comma or formula
 * character (= + - @ first) can reach a CSV cell, a log line or a label. */
static bool id_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '/' || c == '-';
}

static verdict check_id(const char *s)
{
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
          (s[0] >= '0' && s[0] <= '9')))
        return bad(REASON_BAD_CHARSET, "must start with A-Z a-z 0-9");
    for (const char *p = s; *p; p++) {
        if (!id_char(*p))
            return bad(REASON_BAD_CHARSET, "may hold only A-Z a-z 0-9 . _ : / -");
    }
    return OK;
}

/* The form of a string of the spec's kind (n = strlen(s)). */
static verdict check_form(const field_spec *f, const char *s, size_t n)
{
    switch (f->kind) {
    case FK_STR:
        return check_id(s);
    case FK_ENUM:
        return in_enum(f->values, s) ? OK : bad(REASON_NOT_ALLOWED, "not one of the allowed values");
    case FK_DATE:
        return valid_date(s) ? OK : bad(REASON_BAD_FORMAT, "must be a calendar date YYYY-MM-DD");
    case FK_TS: {
        int64_t ms;
        return record_ts_parse(s, &ms) == 0
                   ? OK
                   : bad(REASON_BAD_FORMAT, "must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ");
    }
    case FK_HASH:
        return is_hex64(s, n) ? OK : bad(REASON_BAD_FORMAT, "must be 64 lowercase hex digits");
    case FK_B64:
        return is_base64(s) ? OK : bad(REASON_BAD_FORMAT, "must be base64");
    default:
        return OK;
    }
}

/* Checks a string value of any string kind against its spec. Length,
 * encoding and control characters are the reasons given first, the same
 * for every kind; then the kind's own form. Every form allows printable
 * ASCII only, so a string in form is already valid UTF-8 without control
 * characters: the two byte checks run only to name what is wrong. */
static verdict check_string(const field_spec *f, const char *s)
{
    size_t n = strlen(s);
    verdict form;

    if (n == 0)
        return bad(REASON_BAD_TEXT, "must not be empty");
    if (n > RECORD_STR_MAX)
        return bad(REASON_BAD_TEXT, "longer than 128 bytes");
    if (!(form = check_form(f, s, n)).why)
        return OK;
    if (!utf8_valid(s, n))
        return bad(REASON_BAD_TEXT, "not valid UTF-8");
    if (utf8_has_control(s, n))
        return bad(REASON_BAD_TEXT, "contains a control character");
    return form;
}

/* Decimal places the exact value of a JSON number text needs (0 for an
 * integer), from its digits and exponent, saturating at 9999: "134.50" ->
 * 1, "3.1e2" -> 0, "1e-400" -> 400, "100e-2" -> 0. The text is known to
 * follow the JSON number grammar (jsontext_precheck). */
static int text_places(const char *t)
{
    const char *p = t;
    long frac = 0, trailing = 0, exp = 0;
    bool in_frac = false, nonzero = false;
    int esign = 1;

    if (*p == '-')
        p++;
    /* value = digits * 10^(exp - frac); zeros after the last non-zero
     * digit move into the exponent (1.50 is 15e-1, 100 is 1e2). */
    for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
        if (*p == '.') {
            in_frac = true;
            continue;
        }
        frac += in_frac;
        if (*p == '0') {
            trailing++;
        } else {
            trailing = 0;
            nonzero = true;
        }
    }
    if (!nonzero)
        return 0; /* zero, however it is written */
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            esign = *p++ == '-' ? -1 : 1;
        for (; *p >= '0' && *p <= '9'; p++)
            if (exp < 100000)
                exp = exp * 10 + (*p - '0');
    }
    long places = frac - trailing - esign * exp;
    return places < 0 ? 0 : places > 9999 ? 9999 : (int)places;
}

/* Converts a JSON number to an integer (or tenths for DEC1) within bounds.
 * raw is its source text when known (jsontext_parse), else NULL. */
static verdict check_number(const field_spec *f, double d, const char *raw, int64_t *out)
{
    double scaled = f->kind == FK_DEC1 ? d * 10.0 : d;
    if (!isfinite(d))
        return bad(REASON_OUT_OF_RANGE, "must be a finite number");
    if (f->kind == FK_UINT && d < 0)
        return bad(REASON_NEGATIVE, "must not be negative");
    /* The text decides exactness: a double cannot tell 4503599627370496.5
     * or 1e-400 from an integer. */
    if (raw) {
        int places = text_places(raw);
        if (f->kind == FK_UINT && places > 0)
            return bad(REASON_NOT_EXACT, "must be an integer");
        if (f->kind == FK_DEC1 && places > 1)
            return bad(REASON_NOT_EXACT, "at most one decimal place");
    }
    double rounded = nearbyint(scaled);
    /* Integers must be exact. Tenths of a decimal may differ from an integer
     * only by binary rounding (134.1 * 10 = 1341.0000000000002), far below
     * any real extra digit. */
    if (f->kind == FK_UINT && scaled != rounded)
        return bad(REASON_NOT_EXACT, "must be an integer");
    if (f->kind == FK_DEC1 && fabs(scaled - rounded) > 1e-9)
        return bad(REASON_NOT_EXACT, "at most one decimal place");
    if (rounded < (double)f->min || rounded > (double)f->max)
        return bad(REASON_OUT_OF_RANGE, "out of range");
    *out = (int64_t)rounded;
    return OK;
}

/* s is checked to fit (check_string; record_set_str checks its own). */
static void copy_string(field_value *v, const char *s)
{
    size_t n = strlen(s);
    memcpy(v->s, s, n + 1);
}

static int set_value(field_value *v, const cJSON *item, const char *prefix, record_error *err)
{
    const field_spec *f = v->spec;
    verdict why;

    if (f->kind == FK_UINT || f->kind == FK_DEC1) {
        if (!cJSON_IsNumber(item))
            return fail(err, REASON_BAD_TYPE, prefix, f->name, "must be a number");
        /* jsontext_parse leaves a number's source text in valuestring. */
        if ((why = check_number(f, item->valuedouble, item->valuestring, &v->i)).why)
            return fail(err, why.code, prefix, f->name, why.why);
    } else {
        if (!cJSON_IsString(item))
            return fail(err, REASON_BAD_TYPE, prefix, f->name, "must be a string");
        if ((why = check_string(f, item->valuestring)).why)
            return fail(err, why.code, prefix, f->name, why.why);
        copy_string(v, item->valuestring);
    }
    v->present = true;
    return 0;
}

static int check_required(const record *r, const char *prefix, record_error *err)
{
    for (size_t i = 0; i < r->nfields; i++) {
        if (!r->fields[i].present && !r->fields[i].spec->optional)
            return fail(err, REASON_MISSING_FIELD, prefix, r->fields[i].spec->name, "required");
    }
    return 0;
}

/* ---- parsing ------------------------------------------------------------- */

static const field_spec seq_spec = {"seq", FK_UINT, false, 1, RECORD_INT_MAX, NULL};
static const field_spec ts_spec = {"ts", FK_TS, false, 0, 0, NULL};
static const field_spec prev_spec = {"prev", FK_HASH, false, 0, 0, NULL};

static int parse_header(const cJSON *obj, record_mode mode, const char *prefix, record *out,
                        record_error *err)
{
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(obj, "seq");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(obj, "ts");
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(obj, "prev");
    field_value v;

    if (mode == RECORD_EVENT) {
        if (seq)
            return fail(err, REASON_UNKNOWN_FIELD, prefix, "seq", "assigned by the agent; leave it out");
        if (prev)
            return fail(err, REASON_UNKNOWN_FIELD, prefix, "prev", "assigned by the agent; leave it out");
    } else {
        if (!seq)
            return fail(err, REASON_MISSING_FIELD, prefix, "seq", "required");
        if (!ts)
            return fail(err, REASON_MISSING_FIELD, prefix, "ts", "required");
        if (!prev)
            return fail(err, REASON_MISSING_FIELD, prefix, "prev", "required");
        v.spec = &seq_spec;
        if (set_value(&v, seq, prefix, err) != 0)
            return -1;
        out->seq = (uint64_t)v.i;
        v.spec = &prev_spec;
        if (set_value(&v, prev, prefix, err) != 0)
            return -1;
        memcpy(out->prev, v.s, sizeof out->prev);
    }
    if (ts) {
        v.spec = &ts_spec;
        if (set_value(&v, ts, prefix, err) != 0)
            return -1;
        memcpy(out->ts, v.s, sizeof out->ts);
    }
    return 0;
}

/* The bit of a header key (seq, ts, prev, type), or 0 for any other key.
 * Asked for every key of every record: one compare, chosen by the first
 * letter. */
static unsigned header_key_bit(const char *k)
{
    switch (k[0]) {
    case 's':
        return strcmp(k, "seq") == 0 ? 1u : 0;
    case 't':
        return strcmp(k, "ts") == 0 ? 2u : strcmp(k, "type") == 0 ? 8u : 0;
    case 'p':
        return strcmp(k, "prev") == 0 ? 4u : 0;
    default:
        return 0;
    }
}

int record_from_json(const cJSON *obj, record_mode mode, const char *prefix, record *out,
                     record_error *err)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
    record_type t;

    if (!cJSON_IsObject(obj))
        return fail(err, REASON_NOT_OBJECT, prefix, "", "record must be a JSON object");
    if (!cJSON_IsString(type))
        return type ? fail(err, REASON_BAD_TYPE, prefix, "type", "must be a string")
                    : fail(err, REASON_MISSING_FIELD, prefix, "type", "required");
    if (record_type_from_name(type->valuestring, &t) != 0)
        return fail(err, REASON_UNKNOWN_TYPE, prefix, "type", "unknown record type");
    record_init(out, t);
    if (parse_header(obj, mode, prefix, out, err) != 0)
        return -1;

    /* A key is a duplicate when its header bit or its field is taken: an
     * unknown key is refused at its first appearance. */
    unsigned headers_seen = 0;
    for (const cJSON *item = obj->child; item; item = item->next) {
        unsigned bit = header_key_bit(item->string);
        field_value *v = bit ? NULL : find_field(out, item->string);
        if ((bit & headers_seen) || (v && v->present))
            return fail(err, REASON_DUPLICATE_FIELD, prefix, item->string, "duplicate field");
        headers_seen |= bit;
        if (bit)
            continue;
        if (!v)
            return fail(err, REASON_UNKNOWN_FIELD, prefix, item->string,
                        "unknown field for this record type");
        if (set_value(v, item, prefix, err) != 0)
            return -1;
    }
    return check_required(out, prefix, err);
}

/* ---- records already in canonical form ----------------------------------- */

/* Keys and values of a record read as canonical text, before its type (a
 * key sorted among the others) is known. */
#define CANON_KEYS_MAX (RECORD_MAX_FIELDS + 4)
#define CANON_KEY_MAX  32

typedef struct canon_pair {
    const char *key, *value;     /* into the text; value without its quotes */
    size_t key_len, value_len;
    bool is_string;
} canon_pair;

/* Field names are lowercase words joined by '_'. */
static bool canon_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

/* Every string kind allows printable ASCII only, and none of them a quote
 * or a backslash: a valid string needs no escape in any spelling. */
static bool canon_string_char(char c)
{
    return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

/* Length of the number at t[i..len) when it is written as record_canonical
 * writes one (-?(0|[1-9][0-9]*)(\.[0-9])?, not "-0" nor "-0.0", at most
 * 16 digits before the point) and is followed by ',' or '}'; else 0. */
static size_t canon_number_len(const char *t, size_t i, size_t len)
{
    size_t j = i;
    bool negative = j < len && t[j] == '-', nonzero = false;

    if (negative)
        j++;
    if (j < len && t[j] == '0') {
        j++;
    } else {
        for (; j < len && t[j] >= '0' && t[j] <= '9'; j++)
            nonzero = true;
    }
    size_t digits = j - i - negative;
    if (digits == 0 || digits > 16)
        return 0;
    if (j + 1 < len && t[j] == '.' && t[j + 1] >= '0' && t[j + 1] <= '9') {
        nonzero = nonzero || t[j + 1] != '0';
        j += 2;
    }
    if (negative && !nonzero)
        return 0;
    return j < len && (t[j] == ',' || t[j] == '}') ? j - i : 0;
}

/* -1, 0 or 1 as strcmp would order the two keys. */
static int canon_key_cmp(const canon_pair *a, const canon_pair *b)
{
    int c = memcmp(a->key, b->key, a->key_len < b->key_len ? a->key_len : b->key_len);
    return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

/* Reads the record's pairs: keys strictly ascending (sorted, none twice),
 * no whitespace. Returns the bytes up to and with the closing brace, 0 when
 * the text is not written so. */
static size_t canon_pairs(const char *t, size_t len, canon_pair *pairs, size_t *count)
{
    size_t i = 1, n = 0;

    if (len < 2 || t[0] != '{')
        return 0;
    for (;;) {
        canon_pair *p = &pairs[n];
        if (n == CANON_KEYS_MAX || i >= len || t[i] != '"')
            return 0;
        p->key = t + ++i;
        while (i < len && canon_key_char(t[i]))
            i++;
        p->key_len = (size_t)(t + i - p->key);
        if (p->key_len == 0 || p->key_len > CANON_KEY_MAX || i + 2 >= len || t[i] != '"' ||
            t[i + 1] != ':' || (n && canon_key_cmp(&pairs[n - 1], p) >= 0))
            return 0;
        i += 2;
        if (t[i] == '"') {
            p->value = t + ++i;
            while (i < len && canon_string_char(t[i]))
                i++;
            if (i >= len || t[i] != '"')
                return 0;
            p->value_len = (size_t)(t + i - p->value);
            p->is_string = true;
            i++;
        } else {
            p->value = t + i;
            if (!(p->value_len = canon_number_len(t, i, len)))
                return 0;
            i += p->value_len;
            p->is_string = false;
        }
        n++;
        if (i >= len)
            return 0;
        if (t[i] == '}')
            break;
        if (t[i++] != ',')
            return 0;
    }
    *count = n;
    return i + 1;
}

/* Sets v from a pair with the checks set_value applies to parsed JSON. A
 * number's double is the one strtod makes of its text: an integer of at
 * most 16 digits (divided by ten for a decimal) is exact, and the
 * division is correctly rounded as strtod is. A decimal field must have
 * its one place and an integer none, as record_canonical writes them. */
static bool canon_set(field_value *v, const canon_pair *p)
{
    const field_spec *f = v->spec;

    if (f->kind == FK_UINT || f->kind == FK_DEC1) {
        const char *end = p->value + p->value_len;
        bool negative = p->value[0] == '-';
        bool decimal = p->value_len >= 3 && p->value[p->value_len - 2] == '.';
        int64_t units = 0;
        char raw[24];

        if (p->is_string || decimal != (f->kind == FK_DEC1))
            return false;
        for (const char *c = p->value + negative; c < end; c++) {
            if (*c != '.')
                units = units * 10 + (*c - '0');
        }
        double d = decimal ? (double)units / 10.0 : (double)units;
        memcpy(raw, p->value, p->value_len);
        raw[p->value_len] = '\0';
        if (check_number(f, negative ? -d : d, raw, &v->i).why)
            return false;
    } else {
        if (!p->is_string || p->value_len > RECORD_STR_MAX)
            return false;
        memcpy(v->s, p->value, p->value_len);
        v->s[p->value_len] = '\0';
        if (check_string(f, v->s).why)
            return false;
    }
    v->present = true;
    return true;
}

size_t record_from_canonical(const char *text, size_t len, record *out)
{
    canon_pair pairs[CANON_KEYS_MAX];
    char name[CANON_KEY_MAX + 1];
    size_t n = 0, used = canon_pairs(text, len, pairs, &n);
    const canon_pair *type = NULL;
    unsigned headers_seen = 0;
    record_type t;
    record_error ignored;

    if (!used || used >= RECORD_CANON_MAX)
        return 0;
    for (size_t i = 0; i < n && !type; i++) {
        if (pairs[i].key_len == 4 && memcmp(pairs[i].key, "type", 4) == 0)
            type = &pairs[i];
    }
    if (!type || !type->is_string || type->value_len > CANON_KEY_MAX)
        return 0;
    memcpy(name, type->value, type->value_len);
    name[type->value_len] = '\0';
    if (record_type_from_name(name, &t) != 0)
        return 0;
    record_init(out, t);
    for (size_t i = 0; i < n; i++) {
        field_value header, *v = &header;
        unsigned bit;

        memcpy(name, pairs[i].key, pairs[i].key_len);
        name[pairs[i].key_len] = '\0';
        bit = header_key_bit(name);
        header.spec = bit == 1 ? &seq_spec : bit == 2 ? &ts_spec : bit == 4 ? &prev_spec : NULL;
        if (bit == 8)
            continue;
        if (!bit && !(v = find_field(out, name)))
            return 0;
        if (!canon_set(v, &pairs[i]))
            return 0;
        headers_seen |= bit;
        if (bit == 1)
            out->seq = (uint64_t)header.i;
        else if (bit == 2)
            memcpy(out->ts, header.s, sizeof out->ts);
        else if (bit == 4)
            memcpy(out->prev, header.s, sizeof out->prev);
    }
    return headers_seen == 7 && check_required(out, "", &ignored) == 0 ? used : 0;
}

/* ---- building in code ---------------------------------------------------- */

int record_set_str(record *r, const char *name, const char *value)
{
    field_value *v = find_field(r, name);
    if (!v || v->spec->kind == FK_UINT || v->spec->kind == FK_DEC1 || strlen(value) > RECORD_STR_MAX)
        return -1;
    copy_string(v, value);
    v->present = true;
    return 0;
}

int record_set_int(record *r, const char *name, int64_t value)
{
    field_value *v = find_field(r, name);
    if (!v || (v->spec->kind != FK_UINT && v->spec->kind != FK_DEC1))
        return -1;
    v->i = value;
    v->present = true;
    return 0;
}

int record_check(const record *r, record_error *err)
{
    for (size_t i = 0; i < r->nfields; i++) {
        const field_value *v = &r->fields[i];
        verdict why = OK;
        if (!v->present)
            continue;
        if (v->spec->kind == FK_UINT || v->spec->kind == FK_DEC1) {
            if (v->i < v->spec->min || v->i > v->spec->max)
                why = bad(REASON_OUT_OF_RANGE, "out of range");
        } else {
            why = check_string(v->spec, v->s);
        }
        if (why.why)
            return fail(err, why.code, "", v->spec->name, why.why);
    }
    return check_required(r, "", err);
}

const char *record_get_str(const record *r, const char *name)
{
    const field_value *v = find_field(r, name);
    if (!v || !v->present || v->spec->kind == FK_UINT || v->spec->kind == FK_DEC1)
        return NULL;
    return v->s;
}

int record_get_int(const record *r, const char *name, int64_t *out)
{
    const field_value *v = find_field(r, name);
    if (!v || !v->present || (v->spec->kind != FK_UINT && v->spec->kind != FK_DEC1))
        return -1;
    *out = v->i;
    return 0;
}

/* ---- canonical form ------------------------------------------------------ */

typedef struct canon_writer {
    char *buf;
    size_t cap, len;
    bool overflow;
} canon_writer;

static void put(canon_writer *w, const char *s, size_t n)
{
    if (w->overflow || w->len + n >= w->cap) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

/* Strings are validated to hold no control characters (and identifiers
 * neither quote nor backslash), so only the quote and the backslash could
 * ever need escaping: one spelling per string. */
static void put_string(canon_writer *w, const char *s)
{
    put(w, "\"", 1);
    while (*s) {
        size_t run = strcspn(s, "\"\\");
        put(w, s, run);
        if (!s[run])
            break;
        put(w, "\\", 1);
        put(w, s + run, 1);
        s += run + 1;
    }
    put(w, "\"", 1);
}

/* Decimal digits of magnitude, with a '-' first when negative: the ingest
 * writes a few numbers per record, snprintf's format machinery cost more
 * than the digits. Returns the length (at most 21). */
static size_t format_int(char out[24], bool negative, uint64_t magnitude)
{
    char rev[24];
    size_t n = 0, len = 0;

    do {
        rev[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (negative)
        out[len++] = '-';
    while (n)
        out[len++] = rev[--n];
    return len;
}

static uint64_t magnitude_of(int64_t i)
{
    return i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
}

static void put_int(canon_writer *w, int64_t i)
{
    char num[24];
    put(w, num, format_int(num, i < 0, magnitude_of(i)));
}

static void put_dec1(canon_writer *w, int64_t tenths)
{
    char num[24];
    uint64_t m = magnitude_of(tenths);
    size_t len = format_int(num, tenths < 0, m / 10);

    num[len++] = '.';
    num[len++] = (char)('0' + m % 10);
    put(w, num, len);
}

typedef struct canon_key {
    const char *name;
    const field_value *value;  /* NULL for header keys */
} canon_key;

static int compare_keys(const void *a, const void *b)
{
    return strcmp(((const canon_key *)a)->name, ((const canon_key *)b)->name);
}

static void put_header(canon_writer *w, const record *r, const char *name)
{
    if (strcmp(name, "seq") == 0)
        put_int(w, (int64_t)r->seq);
    else if (strcmp(name, "ts") == 0)
        put_string(w, r->ts);
    else if (strcmp(name, "prev") == 0)
        put_string(w, r->prev);
    else
        put_string(w, record_type_name(r->type));
}

int record_canonical(const record *r, char *buf, size_t cap)
{
    canon_key keys[RECORD_MAX_FIELDS + 4] = {{"prev", NULL}, {"seq", NULL}, {"ts", NULL},
                                             {"type", NULL}};
    size_t n = 4;
    canon_writer w = {buf, cap, 0, cap == 0};

    for (size_t i = 0; i < r->nfields; i++) {
        if (r->fields[i].present)
            keys[n++] = (canon_key){r->fields[i].spec->name, &r->fields[i]};
    }
    qsort(keys, n, sizeof keys[0], compare_keys);

    put(&w, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const field_value *v = keys[i].value;
        if (i)
            put(&w, ",", 1);
        put_string(&w, keys[i].name);
        put(&w, ":", 1);
        if (!v)
            put_header(&w, r, keys[i].name);
        else if (v->spec->kind == FK_UINT)
            put_int(&w, v->i);
        else if (v->spec->kind == FK_DEC1)
            put_dec1(&w, v->i);
        else
            put_string(&w, v->s);
    }
    put(&w, "}", 1);
    return w.overflow ? -1 : (int)w.len;
}

/* OpenSSL 3's SHA256() looks the algorithm up in its providers on every
 * call (locks and name compares: twice the hashing itself for a record);
 * it is looked up once. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void record_sha256_hex(const void *bytes, size_t len, char hex[RECORD_HASH_HEX])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char sum[32];

    /* OpenSSL's libcrypto, not mbedTLS: it uses the CPU's SHA extensions
     * where there are some (about 5x faster here), and the collector
     * hashes every record it receives. Cannot fail for memory input but
     * for memory itself, where the one-shot call is the way left. */
    pthread_once(&sha256_once, fetch_sha256);
    if (!sha256_md || !EVP_Digest(bytes, len, sum, NULL, sha256_md, NULL))
        (void)SHA256(bytes, len, sum);
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[sum[i] >> 4];
        hex[2 * i + 1] = digits[sum[i] & 15];
    }
    hex[64] = '\0';
}
