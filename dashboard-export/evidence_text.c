#include "evidence_text.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "record.h"

/* ---- a line builder ------------------------------------------------------ */

/* Text is built as lines of fields: a field after the first of its line
 * gets ", " before it. Alert lines start with a capital letter. */
typedef struct tb {
    char *buf;
    size_t cap, len;
    bool cut;
    bool capitalise;       /* the first field of each line */
    int fields;            /* on the current line */
    const tzlocal_zone *z;
} tb;

static void tb_init(tb *b, const tzlocal_zone *z, char *out, size_t cap, bool capitalise)
{
    *b = (tb){out, cap, 0, false, capitalise, 0, z};
    if (cap > 0)
        out[0] = '\0';
}

/* Appends n bytes; what does not fit is cut and the text ends in "...". */
static void tb_put(tb *b, const char *s, size_t n)
{
    if (b->cut || b->cap < 4)
        return;
    if (b->len + n + 4 > b->cap) {
        size_t room = b->cap - 4 - b->len;
        /* Never half a UTF-8 character before the dots. */
        while (room > 0 && ((unsigned char)s[room] & 0xc0) == 0x80)
            room--;
        memcpy(b->buf + b->len, s, room);
        memcpy(b->buf + b->len + room, "...", 4);
        b->len += room + 3;
        b->cut = true;
        return;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void tb_vprintf(tb *b, const char *fmt, va_list ap)
{
    char text[EVTEXT_MAX];
    int n = vsnprintf(text, sizeof text, fmt, ap);

    if (n < 0)
        return;
    if ((size_t)n >= sizeof text)
        n = (int)sizeof text - 1;
    if (b->capitalise && b->fields == 0 && text[0] >= 'a' && text[0] <= 'z')
        text[0] = (char)(text[0] - 'a' + 'A');
    tb_put(b, text, (size_t)n);
}

/* A field of the current line. */
static void field(tb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void field(tb *b, const char *fmt, ...)
{
    va_list ap;

    if (b->fields > 0)
        tb_put(b, ", ", 2);
    va_start(ap, fmt);
    tb_vprintf(b, fmt, ap);
    va_end(ap);
    b->fields++;
}

/* More text for the field just written. */
static void more(tb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void more(tb *b, const char *fmt, ...)
{
    va_list ap;
    int fields = b->fields;

    b->fields = 1;              /* never capitalised: it continues a field */
    va_start(ap, fmt);
    tb_vprintf(b, fmt, ap);
    va_end(ap);
    b->fields = fields;
}

static void line(tb *b)
{
    if (b->len > 0)
        tb_put(b, "\n", 1);
    b->fields = 0;
}

/* ---- values --------------------------------------------------------------- */

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(v) ? v : NULL;
}

static bool has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

static bool num(const cJSON *o, const char *key, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

static int64_t integer(const cJSON *o, const char *key)
{
    double v = 0;
    return num(o, key, &v) && fabs(v) < 9.2e18 ? (int64_t)v : 0;
}

/* A string member, or "?" when the evidence lacks it. */
static const char *txt(const cJSON *o, const char *key)
{
    const char *s = str(o, key);
    return s ? s : "?";
}

/* Names for values kept by text size: one struct per call site. */
typedef struct buf64 {
    char s[64];
} buf64;

/* A stored UTC time in the report's zone: "2026-11-02 08:14 PST"; other
 * text as it is. */
static buf64 when(const tb *b, const char *ts)
{
    buf64 r;
    int64_t ms;

    if (ts && record_ts_parse(ts, &ms) == 0)
        tzlocal_text(b->z, ms / 1000 - (ms % 1000 < 0), r.s);
    else
        snprintf(r.s, sizeof r.s, "%s", ts ? ts : "?");
    return r;
}

/* 1234567 -> "1,234,567". */
static buf64 grouped(int64_t n)
{
    buf64 r;
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%" PRId64, n < 0 ? -n : n), k = 0;

    if (n < 0)
        r.s[k++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            r.s[k++] = ',';
        r.s[k++] = digits[i];
    }
    r.s[k] = '\0';
    return r;
}

/* Seconds for people: "45 s", "21 min", "1 h 5 min", "21 min 5 s". */
static buf64 duration(int64_t s)
{
    buf64 r;
    int64_t h = s / 3600, m = s % 3600 / 60, sec = s % 60;
    int n = 0;

    if (s <= 0) {
        snprintf(r.s, sizeof r.s, "%" PRId64 " s", s);
        return r;
    }
    r.s[0] = '\0';
    if (h)
        n += snprintf(r.s + n, sizeof r.s - (size_t)n, "%" PRId64 " h", h);
    if (m)
        n += snprintf(r.s + n, sizeof r.s - (size_t)n, "%s%" PRId64 " min", n ? " " : "", m);
    if (sec)
        snprintf(r.s + n, sizeof r.s - (size_t)n, "%s%" PRId64 " s", n ? " " : "", sec);
    return r;
}

/* A one-decimal value ("133.2"); "?" when absent. */
static buf64 dec1(const cJSON *o, const char *key)
{
    buf64 r;
    double v;

    if (num(o, key, &v))
        snprintf(r.s, sizeof r.s, "%.1f", v);
    else
        snprintf(r.s, sizeof r.s, "?");
    return r;
}

/* Any JSON number as it reads: an integer without decimals. */
static buf64 number(double v)
{
    buf64 r;

    if (v == floor(v) && fabs(v) < 9e15)
        snprintf(r.s, sizeof r.s, "%" PRId64, (int64_t)v);
    else
        snprintf(r.s, sizeof r.s, "%g", v);
    return r;
}

/* ---- any shape ------------------------------------------------------------ */

/* "cartridge_uid" -> "cartridge uid"; "ts" -> "time". */
static buf64 label(const char *key)
{
    buf64 r;
    size_t i = 0;

    if (strcmp(key, "ts") == 0)
        key = "time";
    for (; key[i] && i < sizeof r.s - 1; i++)
        r.s[i] = key[i] == '_' ? ' ' : key[i];
    r.s[i] = '\0';
    return r;
}

/* Brackets inside brackets are shown this deep; deeper ones as "(...)".
 * The collector nests less (EVIDENCE_DEPTH_MAX), and each level costs a
 * line buffer of stack. */
#define GENERIC_DEPTH_MAX 6

static void generic_value(tb *b, const cJSON *v, int depth);

/* Members of an object as fields: "seq" is a record number, times are
 * local, nested objects and lists in brackets. */
static void generic_members(tb *b, const cJSON *o, int depth)
{
    const cJSON *m;

    cJSON_ArrayForEach(m, o) {
        const char *k = m->string ? m->string : "?";
        if (strcmp(k, "seq") == 0 && cJSON_IsNumber(m)) {
            field(b, "record #%s", number(m->valuedouble).s);
            continue;
        }
        field(b, "%s ", label(k).s);
        generic_value(b, m, depth);
    }
}

static void generic_value(tb *b, const cJSON *v, int depth)
{
    const cJSON *item;
    bool first = true;

    if (cJSON_IsString(v)) {
        more(b, "%s", when(b, v->valuestring).s);
    } else if (cJSON_IsNumber(v)) {
        more(b, "%s", number(v->valuedouble).s);
    } else if (cJSON_IsBool(v)) {
        more(b, "%s", cJSON_IsTrue(v) ? "yes" : "no");
    } else if (cJSON_IsNull(v)) {
        more(b, "none");
    } else if (depth >= GENERIC_DEPTH_MAX) {
        more(b, "(...)");
    } else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int fields = b->fields;
        bool capitalise = b->capitalise;
        more(b, "(");
        b->capitalise = false;             /* inside brackets */
        if (cJSON_IsObject(v)) {
            b->fields = 0;
            generic_members(b, v, depth + 1);
        } else {
            cJSON_ArrayForEach(item, v) {
                if (!first)
                    more(b, "; ");
                first = false;
                b->fields = 0;
                if (cJSON_IsObject(item)) {
                    generic_members(b, item, depth + 1);
                } else {
                    b->fields = 1;
                    generic_value(b, item, depth + 1);
                }
            }
        }
        b->fields = 1;
        more(b, ")");
        b->fields = fields;
        b->capitalise = capitalise;
    }
}

static void generic(tb *b, const cJSON *o)
{
    generic_members(b, o, 0);
}

/* ---- each rule's evidence (collector/rules_*.c and integrity.c) ------------ */

/* "first inserted 2026-11-02 08:14 PST on chair-01, session S1" */
static void use_of(tb *b, const cJSON *use, const char *verb)
{
    if (!use)
        return;
    field(b, "%s %s on %s", verb, when(b, str(use, "ts")).s, txt(use, "device"));
    if (str(use, "session_id"))
        field(b, "session %s", str(use, "session_id"));
}

/* R1: {cartridge_uid, first: {device, seq, ts, session_id}, reuse: {...}} */
static void r1(tb *b, const cJSON *e)
{
    field(b, "Cartridge %s", txt(e, "cartridge_uid"));
    use_of(b, obj(e, "first"), "first inserted");
    line(b);
    use_of(b, obj(e, "reuse"), "inserted again");
}

/* R2: {cartridge_uid, session_id, device, seq, ts, expiry, lot|null, ...} */
static void r2(tb *b, const cJSON *e)
{
    field(b, "Cartridge %s", txt(e, "cartridge_uid"));
    if (str(e, "lot"))
        field(b, "lot %s", str(e, "lot"));
    else
        field(b, "no lot number");
    field(b, "expiry %s", txt(e, "expiry"));
    field(b, "inserted %s on %s", when(b, str(e, "ts")).s, txt(e, "device"));
    field(b, "session %s", txt(e, "session_id"));
}

/* R3: {cartridge_uid, device, seq, ts, cartridge_run_s, cartridge_strokes,
 * cartridge_max_run_s, cartridge_max_strokes} */
static void r3(tb *b, const cJSON *e)
{
    field(b, "Cartridge %s on %s", txt(e, "cartridge_uid"), txt(e, "device"));
    field(b, "counted %s", when(b, str(e, "ts")).s);
    field(b, "in use %s (limit %s)", duration(integer(e, "cartridge_run_s")).s,
          duration(integer(e, "cartridge_max_run_s")).s);
    field(b, "%s strokes (limit %s)", grouped(integer(e, "cartridge_strokes")).s,
          grouped(integer(e, "cartridge_max_strokes")).s);
}

static const char *reason_words(const char *reason)
{
    static const struct { const char *key, *words; } names[] = {
        {"temperature", "temperature"},
        {"exposure", "exposure time"},
        {"chemical_indicator", "chemical indicator"},
        {"result", "the sterilizer's own result"},
        {"program", "a program with no minimums in the policy"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].key, reason) == 0)
            return names[i].words;
    return reason;
}

/* R4: {sterilizer_id, cycle_no, load_id, program, device, seq, ts,
 * reasons[], temp_min_c, exposure_s, min_temp_c, min_exposure_s,
 * ci_result, result, alarm_code} */
static void r4(tb *b, const cJSON *e)
{
    const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(e, "reasons"), *r;
    bool first = true;

    field(b, "Sterilizer %s cycle %" PRId64, txt(e, "sterilizer_id"), integer(e, "cycle_no"));
    field(b, "load %s", txt(e, "load_id"));
    field(b, "program %s", txt(e, "program"));
    field(b, "logged %s by %s", when(b, str(e, "ts")).s, txt(e, "device"));
    line(b);
    field(b, "Failed on: ");
    cJSON_ArrayForEach(r, reasons) {
        if (cJSON_IsString(r)) {
            more(b, "%s%s", first ? "" : ", ", reason_words(r->valuestring));
            first = false;
        }
    }
    line(b);
    field(b, "lowest temperature %s °C", dec1(e, "temp_min_c").s);
    if (has(e, "min_temp_c"))
        more(b, " (minimum %s °C)", dec1(e, "min_temp_c").s);
    field(b, "exposure %" PRId64 " s", integer(e, "exposure_s"));
    if (has(e, "min_exposure_s"))
        more(b, " (minimum %" PRId64 " s)", integer(e, "min_exposure_s"));
    field(b, "chemical indicator %s", txt(e, "ci_result"));
    field(b, "sterilizer result %s", txt(e, "result"));
    if (str(e, "alarm_code"))
        field(b, "alarm %s", str(e, "alarm_code"));
}

/* R5: {grip_id, session_id, load_id, device, seq, ts,
 * cycle: {sterilizer_id, device, seq, ts, passed} | null,
 * spore_test: {device, seq, ts, read_ts, cycle_ts}} */
static void r5(tb *b, const cJSON *e)
{
    const cJSON *cycle = obj(e, "cycle"), *test = obj(e, "spore_test");

    field(b, "Grip %s from load %s", txt(e, "grip_id"), txt(e, "load_id"));
    field(b, "used %s on %s", when(b, str(e, "ts")).s, txt(e, "device"));
    field(b, "session %s", txt(e, "session_id"));
    line(b);
    if (cycle) {
        field(b, "Load's cycle: sterilizer %s", txt(cycle, "sterilizer_id"));
        field(b, "logged %s by %s", when(b, str(cycle, "ts")).s, txt(cycle, "device"));
        field(b, "%s", cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cycle, "passed"))
                           ? "passed" : "failed");
    } else {
        field(b, "No sterilization cycle of load %s on record", txt(e, "load_id"));
    }
    if (test) {
        line(b);
        field(b, "Positive spore test logged %s on %s", when(b, str(test, "ts")).s,
              txt(test, "device"));
        field(b, "read %s", when(b, str(test, "read_ts")).s);
        field(b, "carried by the cycle of %s", when(b, str(test, "cycle_ts")).s);
    }
}

/* R6: {sterilizer_id, last_negative_ts|null, first_seen_ts, since_date,
 * today, timezone, days, spore_interval_days, spore_critical_days} */
static void r6(tb *b, const cJSON *e)
{
    field(b, "Sterilizer %s", txt(e, "sterilizer_id"));
    if (str(e, "last_negative_ts"))
        field(b, "last negative spore test %s", txt(e, "since_date"));
    else
        field(b, "never tested negative since first seen %s", txt(e, "since_date"));
    field(b, "%" PRId64 " days before %s", integer(e, "days"), txt(e, "today"));
    field(b, "due every %" PRId64 " days", integer(e, "spore_interval_days"));
    field(b, "critical after %" PRId64 " days", integer(e, "spore_critical_days"));
}

/* "Loads to recall (3): L-1, L-2, L-3"; what the evidence could not list is
 * counted. */
static void recall_list(tb *b, const cJSON *e, const char *what, const char *list,
                        const char *total_key, bool sessions)
{
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(e, list), *it;
    int64_t total = integer(e, total_key), shown = cJSON_GetArraySize(items);
    bool first = true;

    line(b);
    if (total == 0 && shown == 0) {
        field(b, "%s: none", what);
        return;
    }
    if (shown < total)
        field(b, "%s (%" PRId64 ", the first %" PRId64 " listed): ", what, total, shown);
    else
        field(b, "%s (%" PRId64 "): ", what, total > shown ? total : shown);
    cJSON_ArrayForEach(it, items) {
        if (sessions)
            more(b, "%s%s on %s (load %s)", first ? "" : ", ", txt(it, "session_id"),
                 txt(it, "device"), txt(it, "load_id"));
        else
            more(b, "%s%s", first ? "" : ", ", txt(it, "load_id"));
        first = false;
    }
}

/* R7: {sterilizer_id, test: {device, seq, ts, bi_lot, read_ts, cycle_ts,
 * cycle_on_record}, last_negative_ts, last_negative: {...}|null,
 * window: {after, before}, loads: [...], loads_listed, loads_total,
 * sessions: [...], sessions_listed, sessions_total} */
static void r7(tb *b, const cJSON *e)
{
    const cJSON *test = obj(e, "test"), *neg = obj(e, "last_negative"), *win = obj(e, "window");

    field(b, "Sterilizer %s", txt(e, "sterilizer_id"));
    if (test) {
        field(b, "positive spore test, indicator lot %s", txt(test, "bi_lot"));
        field(b, "logged %s on %s", when(b, str(test, "ts")).s, txt(test, "device"));
        field(b, "read %s", when(b, str(test, "read_ts")).s);
        field(b, "carried by the cycle of %s%s", when(b, str(test, "cycle_ts")).s,
              cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(test, "cycle_on_record"))
                  ? " (cycle not on record)" : "");
    }
    line(b);
    if (neg) {
        field(b, "Last negative test logged %s on %s", when(b, str(neg, "ts")).s,
              txt(neg, "device"));
        field(b, "carried by the cycle of %s", when(b, str(neg, "cycle_ts")).s);
    } else {
        field(b, "No negative spore test of this sterilizer on record");
    }
    if (win) {
        line(b);
        if (str(win, "after"))
            field(b, "Recall: loads processed after %s", when(b, str(win, "after")).s);
        else
            field(b, "Recall: every load of this sterilizer on record");
        if (str(win, "before"))
            field(b, "up to %s", when(b, str(win, "before")).s);
        else
            field(b, "until a negative re-test (none yet)");
    }
    recall_list(b, e, "Loads to recall", "loads", "loads_total", false);
    recall_list(b, e, "Sessions reached", "sessions", "sessions_total", true);
}

/* R8 silence: {session_id, last_received_at, silent_s, silent_after_s} */
static void r8_silent(tb *b, const cJSON *e)
{
    field(b, "Session %s open", txt(e, "session_id"));
    field(b, "last record received %s", when(b, str(e, "last_received_at")).s);
    field(b, "silent %s (limit %s) by the collector's clock", duration(integer(e, "silent_s")).s,
          duration(integer(e, "silent_after_s")).s);
}

/* R8 gap: {session_id, from: {device, seq, ts}, to: {...}, gap_s,
 * session_gap_s} */
static void r8_gap(tb *b, const cJSON *e)
{
    const cJSON *from = obj(e, "from"), *to = obj(e, "to");

    field(b, "Session %s", txt(e, "session_id"));
    if (from && to)
        field(b, "no record from %s (#%" PRId64 ") to %s (#%" PRId64 ")",
              when(b, str(from, "ts")).s, integer(from, "seq"), when(b, str(to, "ts")).s,
              integer(to, "seq"));
    field(b, "%s (limit %s) by the device's clock", duration(integer(e, "gap_s")).s,
          duration(integer(e, "session_gap_s")).s);
}

/* R9 chain-break: {seq, prev, hash_of_previous} */
static void r9_link(tb *b, const cJSON *e)
{
    int64_t seq = integer(e, "seq");

    field(b, "Record #%" PRId64 " names previous hash %s", seq, txt(e, "prev"));
    line(b);
    field(b, "the record before it (#%" PRId64 ") hashes to %s", seq - 1,
          txt(e, "hash_of_previous"));
}

/* R9 chain-break at seq 1: {seq, prev, expected} */
static void r9_genesis(tb *b, const cJSON *e)
{
    field(b, "Record #%" PRId64 " names previous hash %s", integer(e, "seq"), txt(e, "prev"));
    line(b);
    field(b, "a chain starts with %s", txt(e, "expected"));
}

/* R9 checkpoint: {seq, head_seq, head_hash, prev} */
static void r9_checkpoint(tb *b, const cJSON *e)
{
    int64_t seq = integer(e, "seq");

    field(b, "Checkpoint #%" PRId64 " names head #%" PRId64 " with hash %s", seq,
          integer(e, "head_seq"), txt(e, "head_hash"));
    line(b);
    field(b, "the record before it (#%" PRId64 ") has hash %s", seq - 1, txt(e, "prev"));
}

/* R9 conflict: {seq, stored_hash, received_hash} */
static void r9_conflict(tb *b, const cJSON *e)
{
    field(b, "Record #%" PRId64 " resent with different content", integer(e, "seq"));
    line(b);
    field(b, "stored hash %s", txt(e, "stored_hash"));
    line(b);
    field(b, "received hash %s", txt(e, "received_hash"));
}

/* R9 cycle-conflict (rules_cycle.c): {sterilizer_id, cycle_no, kept:
 * {device, seq, ts}, conflicting: {...}}. The kept record is the cycle;
 * the other is no second one. */
static void r9_cycle_conflict(tb *b, const cJSON *e)
{
    const cJSON *kept = cJSON_GetObjectItemCaseSensitive(e, "kept");
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(e, "conflicting");

    field(b, "Sterilizer %s cycle %" PRId64 " logged twice with different content",
          txt(e, "sterilizer_id"), integer(e, "cycle_no"));
    line(b);
    field(b, "Kept as the cycle: %s #%" PRId64 ", logged %s", txt(kept, "device"),
          integer(kept, "seq"), when(b, str(kept, "ts")).s);
    line(b);
    field(b, "Not counted: %s #%" PRId64 ", logged %s", txt(other, "device"), integer(other, "seq"),
          when(b, str(other, "ts")).s);
}

/* R9 gap: {missing_seq, waiting_since} */
static void r9_gap(tb *b, const cJSON *e)
{
    field(b, "Record #%" PRId64 " missing", integer(e, "missing_seq"));
    field(b, "later records waiting since %s", when(b, str(e, "waiting_since")).s);
}

/* R9 rejected (ingest.c): {seq, reason, hash} */
static void r9_rejected(tb *b, const cJSON *e)
{
    field(b, "Record #%" PRId64 " refused: %s", integer(e, "seq"), txt(e, "reason"));
    field(b, "kept in quarantine");
    line(b);
    field(b, "hash %s", txt(e, "hash"));
}

/* R9 checkpoint signature (verifier.c): {seq, head_seq, reason,
 * previous_certificates_tried, unverified_through} */
static void r9_signature(tb *b, const cJSON *e)
{
    field(b, "Checkpoint #%" PRId64 " over records up to #%" PRId64, integer(e, "seq"),
          integer(e, "head_seq"));
    field(b, "signature: %s", txt(e, "reason"));
    field(b, "previous certificates tried: %" PRId64, integer(e, "previous_certificates_tried"));
    field(b, "records up to #%" PRId64 " have no verified signature",
          integer(e, "unverified_through"));
}

/* R10 (integrity.c, ingest.c): {seq, ts, received_at[, ahead_s]} */
static void r10(tb *b, const cJSON *e)
{
    field(b, "Record #%" PRId64 " timed %s by the device", integer(e, "seq"),
          when(b, str(e, "ts")).s);
    field(b, "received %s by the collector", when(b, str(e, "received_at")).s);
    if (has(e, "ahead_s"))
        field(b, "%s ahead", duration(integer(e, "ahead_s")).s);
}

/* A shape is known by its rule and the members only it has; the first
 * match wins (so the more specific comes first). */
static const struct {
    const char *rule, *key1, *key2;
    void (*write)(tb *, const cJSON *);
} shapes[] = {
    {"R1", "first", "reuse", r1},
    {"R2", "cartridge_uid", "expiry", r2},
    {"R3", "cartridge_uid", "cartridge_run_s", r3},
    {"R4", "sterilizer_id", "reasons", r4},
    {"R5", "grip_id", "load_id", r5},
    {"R6", "sterilizer_id", "spore_interval_days", r6},
    {"R7", "sterilizer_id", "window", r7},
    {"R8", "session_id", "last_received_at", r8_silent},
    {"R8", "session_id", "gap_s", r8_gap},
    {"R9", "kept", "conflicting", r9_cycle_conflict},
    {"R9", "unverified_through", "head_seq", r9_signature},
    {"R9", "hash_of_previous", "prev", r9_link},
    {"R9", "expected", "prev", r9_genesis},
    {"R9", "head_hash", "head_seq", r9_checkpoint},
    {"R9", "stored_hash", "received_hash", r9_conflict},
    {"R9", "missing_seq", "waiting_since", r9_gap},
    {"R9", "reason", "hash", r9_rejected},
    {"R10", "ts", "received_at", r10},
};

const char *evtext_alert(const tzlocal_zone *z, const report_violation *v, char *out, size_t cap)
{
    cJSON *e = cJSON_Parse(v->evidence);
    tb b;

    tb_init(&b, z, out, cap, true);
    if (!cJSON_IsObject(e)) {
        /* Not JSON the collector writes: shown as it is. */
        b.capitalise = false;
        if (v->evidence[0])
            field(&b, "%s", v->evidence);
        cJSON_Delete(e);
        return out;
    }
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(shapes[i].rule, v->rule) == 0 && has(e, shapes[i].key1) &&
            has(e, shapes[i].key2)) {
            shapes[i].write(&b, e);
            cJSON_Delete(e);
            return out;
        }
    }
    generic(&b, e);
    if (b.len == 0)
        field(&b, "No details recorded");
    cJSON_Delete(e);
    return out;
}

/* ---- records ---------------------------------------------------------------- */

static void rec_session_start(tb *b, const cJSON *r)
{
    field(b, "Session %s started", txt(r, "session_id"));
    field(b, "operator %s", txt(r, "operator_id"));
    field(b, "client %s", txt(r, "client_ref"));
    field(b, "treatment %" PRId64, integer(r, "treatment_no"));
}

static void rec_session_end(tb *b, const cJSON *r)
{
    field(b, "Session %s ended", txt(r, "session_id"));
    field(b, "needle running %s", duration(integer(r, "run_s")).s);
    field(b, "%s strokes", grouped(integer(r, "strokes")).s);
}

static void rec_insert(tb *b, const cJSON *r)
{
    field(b, "Cartridge %s inserted", txt(r, "cartridge_uid"));
    field(b, "SKU %s", txt(r, "sku"));
    field(b, "%" PRId64 " needle%s", integer(r, "needles"), integer(r, "needles") == 1 ? "" : "s");
    field(b, "configuration %s", txt(r, "config"));
    if (str(r, "lot"))
        field(b, "lot %s", str(r, "lot"));
    else
        field(b, "no lot number");
    field(b, "expiry %s", txt(r, "expiry"));
    field(b, "session %s", txt(r, "session_id"));
}

static void rec_remove(tb *b, const cJSON *r)
{
    const char *reason = txt(r, "reason");

    field(b, "Cartridge %s removed (%s)", txt(r, "cartridge_uid"),
          strcmp(reason, "session_end") == 0 ? "session end" : reason);
    field(b, "in use %s", duration(integer(r, "run_s")).s);
    field(b, "%s strokes", grouped(integer(r, "strokes")).s);
    field(b, "session %s", txt(r, "session_id"));
}

static void rec_counters(tb *b, const cJSON *r)
{
    field(b, "Counters: motor %s in total", duration(integer(r, "motor_s_total")).s);
    field(b, "%s strokes in total", grouped(integer(r, "strokes_total")).s);
    if (str(r, "cartridge_uid")) {
        field(b, "cartridge %s in use %s", str(r, "cartridge_uid"),
              duration(integer(r, "cartridge_run_s")).s);
        field(b, "%s strokes", grouped(integer(r, "cartridge_strokes")).s);
    }
}

static void rec_grip(tb *b, const cJSON *r)
{
    field(b, "Grip %s from load %s", txt(r, "grip_id"), txt(r, "load_id"));
    field(b, "session %s", txt(r, "session_id"));
}

static void rec_cycle(tb *b, const cJSON *r)
{
    field(b, "Sterilizer %s cycle %" PRId64, txt(r, "sterilizer_id"), integer(r, "cycle_no"));
    field(b, "load %s", txt(r, "load_id"));
    field(b, "program %s", txt(r, "program"));
    field(b, "setpoint %s °C", dec1(r, "setpoint_c").s);
    field(b, "measured %s–%s °C", dec1(r, "temp_min_c").s, dec1(r, "temp_max_c").s);
    field(b, "exposure %" PRId64 " s", integer(r, "exposure_s"));
    field(b, "pressure %s–%s kPa", dec1(r, "pressure_min_kpa").s, dec1(r, "pressure_max_kpa").s);
    field(b, "drying %" PRId64 " s", integer(r, "dry_s"));
    field(b, "chemical indicator %s", txt(r, "ci_result"));
    field(b, "result %s", txt(r, "result"));
    if (str(r, "alarm_code"))
        field(b, "alarm %s", str(r, "alarm_code"));
    field(b, "operator %s", txt(r, "operator_id"));
}

static void rec_test(tb *b, const cJSON *r)
{
    const char *kind = txt(r, "kind");

    field(b, "%s test of sterilizer %s cycle %" PRId64,
          strcmp(kind, "spore") == 0 ? "Spore" : strcmp(kind, "bowie_dick") == 0 ? "Bowie-Dick"
                                                                                  : kind,
          txt(r, "sterilizer_id"), integer(r, "cycle_no"));
    field(b, "indicator lot %s", txt(r, "bi_lot"));
    field(b, "result %s", txt(r, "result"));
    field(b, "read %s", when(b, str(r, "read_ts")).s);
}

static void rec_checkpoint(tb *b, const cJSON *r)
{
    field(b, "Checkpoint: records up to #%" PRId64 " signed by the device",
          integer(r, "head_seq"));
    field(b, "head hash %s", txt(r, "head_hash"));
}

static const struct {
    const char *type;
    void (*write)(tb *, const cJSON *);
} record_types[] = {
    {"session.start", rec_session_start}, {"session.end", rec_session_end},
    {"cartridge.insert", rec_insert},     {"cartridge.remove", rec_remove},
    {"usage.counters", rec_counters},     {"grip.assign", rec_grip},
    {"sterilization.cycle", rec_cycle},   {"sterilization.test", rec_test},
    {"checkpoint", rec_checkpoint},
};

/* A record of a type this version does not know: its own members (not the
 * chain fields). */
static void rec_generic(tb *b, const cJSON *r)
{
    cJSON *copy = cJSON_Duplicate(r, 1);

    if (!copy)
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "prev");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "seq");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "ts");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "type");
    generic(b, copy);
    cJSON_Delete(copy);
}

static void record_fields(tb *b, const char *type, const char *body)
{
    cJSON *r = cJSON_Parse(body);

    if (!cJSON_IsObject(r)) {
        field(b, "(not a JSON object: see the appendix)");
        cJSON_Delete(r);
        return;
    }
    for (size_t i = 0; i < sizeof record_types / sizeof record_types[0]; i++) {
        if (type && strcmp(record_types[i].type, type) == 0) {
            record_types[i].write(b, r);
            cJSON_Delete(r);
            return;
        }
    }
    field(b, "Record %s", type ? type : "of no type");
    rec_generic(b, r);
    cJSON_Delete(r);
}

const char *evtext_record(const tzlocal_zone *z, const char *type, const char *body, char *out,
                          size_t cap)
{
    tb b;

    tb_init(&b, z, out, cap, true);
    record_fields(&b, type, body ? body : "");
    return out;
}

const char *evtext_cited(const tzlocal_zone *z, const report_cited *c, char *out, size_t cap)
{
    tb b;

    tb_init(&b, z, out, cap, false);
    if (c->body == NULL) {
        field(&b, "%s #%" PRId64 ": not in this clinic's records", c->device_id, c->seq);
        return out;
    }
    field(&b, "%s #%" PRId64, c->device_id, c->seq);
    field(&b, "%s: ", when(&b, c->ts).s);
    b.fields = 0;
    b.capitalise = true;
    record_fields(&b, c->type, c->body);
    return out;
}

/* ---- the appendix ----------------------------------------------------------- */

static int cmp_cited(const void *a, const void *b)
{
    const report_cited *x = *(const report_cited *const *)a, *y = *(const report_cited *const *)b;
    int c = strcmp(x->device_id, y->device_id);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

int evtext_appendix(const report_data *d, const report_cited ***out, size_t *n)
{
    const report_cited **list;
    size_t total = 0, k = 0;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < d->nviolations; i++)
        total += d->violations[i].ncited;
    if (total == 0)
        return 0;
    if ((list = malloc(total * sizeof *list)) == NULL)
        return -1;
    for (size_t i = 0; i < d->nviolations; i++)
        for (size_t j = 0; j < d->violations[i].ncited; j++)
            if (d->violations[i].cited[j].body)
                list[k++] = &d->violations[i].cited[j];
    qsort(list, k, sizeof *list, cmp_cited);
    total = k;
    k = 0;
    for (size_t i = 0; i < total; i++)
        if (k == 0 || cmp_cited(&list[k - 1], &list[i]) != 0)
            list[k++] = list[i];
    if (k == 0) {
        free(list);
        return 0;
    }
    *out = list;
    *n = k;
    return 0;
}
