/* record: the record schema of docs/protocol.md as C types, strict
 * validation from JSON (cJSON), the canonical byte form and its SHA-256.
 *
 * One schema table drives everything, so agent, collector and verifier can
 * never disagree on what a field is or how it is written. */
#ifndef SMP_RECORD_H
#define SMP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "reason.h"

#define RECORD_STR_MAX      128   /* bytes, per string field */
#define RECORD_MAX_FIELDS   20
#define RECORD_HASH_HEX     65    /* 64 hex digits + NUL */
#define RECORD_TS_LEN       24    /* YYYY-MM-DDTHH:MM:SS.mmmZ */
#define RECORD_CANON_MAX    4096  /* canonical bytes never exceed this */
#define RECORD_INT_MAX      9007199254740991LL /* 2^53-1: exact in JSON doubles */

typedef enum {
    RT_SESSION_START,
    RT_SESSION_END,
    RT_CARTRIDGE_INSERT,
    RT_CARTRIDGE_REMOVE,
    RT_USAGE_COUNTERS,
    RT_GRIP_ASSIGN,
    RT_STERILIZATION_CYCLE,
    RT_STERILIZATION_TEST,
    RT_CHECKPOINT,
    RT_COUNT
} record_type;

/* How a field is written and checked. */
typedef enum {
    FK_STR,     /* identifier: 1..128 of [A-Za-z0-9._:/-], starting with
                 * [A-Za-z0-9] (docs/protocol.md "Identifiers"). Every
                 * string field is an id, a code or a token, never free
                 * text: what lands in a CSV cell or a log stays inert. */
    FK_ENUM,    /* string from a fixed set */
    FK_UINT,    /* integer 0..max */
    FK_DEC1,    /* fixed decimal with one place, held as tenths */
    FK_DATE,    /* YYYY-MM-DD */
    FK_TS,      /* YYYY-MM-DDTHH:MM:SS.mmmZ (UTC) */
    FK_HASH,    /* 64 lowercase hex digits */
    FK_B64      /* base64 text */
} field_kind;

typedef struct field_spec {
    const char *name;
    field_kind kind;
    bool optional;
    int64_t min, max;            /* FK_UINT / FK_DEC1 (DEC1 in tenths) */
    const char *const *values;   /* FK_ENUM: NULL-terminated */
} field_spec;

typedef struct field_value {
    const field_spec *spec;      /* NULL: slot unused */
    bool present;
    int64_t i;                   /* FK_UINT, FK_DEC1 (tenths) */
    char s[RECORD_STR_MAX + 1];  /* string kinds */
} field_value;

typedef struct record {
    record_type type;
    uint64_t seq;                /* 0 when not yet assigned (feed events) */
    char ts[RECORD_TS_LEN + 1];  /* "" when not yet assigned */
    char prev[RECORD_HASH_HEX];  /* "" when not yet assigned */
    size_t nfields;
    field_value fields[RECORD_MAX_FIELDS]; /* in schema order */
} record;

/* Where a validation failed: field is a path ("records[3].strokes",
 * "type"), reason says what is wrong and what is expected, code is the
 * reason's fixed class (reason.h) for counting. A field name taken from the
 * input is written escaped (utf8_escape: control characters, backslashes
 * and bad bytes as \n, \\, \xNN) and, when longer than field can hold,
 * cut at a character boundary and ended with "...": field is always one
 * line of valid UTF-8. */
typedef struct record_error {
    char field[64];
    char reason[160];
    reason_code code;
} record_error;

/* Fills err with prefix + field (field escaped as above; a "records[0]."
 * prefix with an empty field names the record itself) and reason. Returns
 * -1, so validators can `return record_fail(...)`. */
int record_fail(record_error *err, reason_code code, const char *prefix, const char *field,
                const char *reason);

typedef enum {
    RECORD_FULL,   /* a record as published: seq, ts, prev required */
    RECORD_EVENT   /* a producer's event: seq and prev forbidden, ts optional */
} record_mode;

/* Parses and strictly validates obj as one record. Unknown fields, missing
 * required ones, wrong types, out-of-range numbers and over-long strings are
 * rejected. A number that carries its source text (jsontext_parse) is
 * judged on that text, so 1e-400 is not an integer 0 and 4503599627370496.5
 * is not an integer either, whatever the double says. prefix (may be "") is prepended to field paths in err.
 * Returns 0 on success, -1 with err filled otherwise. */
int record_from_json(const cJSON *obj, record_mode mode, const char *prefix,
                     record *out, record_error *err);

/* Reads the record at the start of text when it is written exactly as
 * record_canonical writes a valid RECORD_FULL record (keys sorted, no
 * whitespace, no escape, numbers in their one spelling): fills out as
 * record_from_json would and returns the length of its text, which is then
 * its canonical bytes. Returns 0 for anything else, valid or not, without
 * saying why: record_from_json then decides and names what is wrong. */
size_t record_from_canonical(const char *text, size_t len, record *out);

/* The bytes of r that hold something: everything before its fields and its
 * nfields slots. Nothing past them is ever read, so that many bytes copied
 * are the whole record to every reader (a record with all its slots is
 * about 3 kB; most use five or fewer). */
size_t record_used_size(const record *r);

/* Starts an empty record of the given type (all fields absent). */
void record_init(record *r, record_type type);
/* Set a payload field by name; returns -1 if the type has no such field of
 * that kind, or the string is longer than RECORD_STR_MAX (never truncated). */
int record_set_str(record *r, const char *name, const char *value);
int record_set_int(record *r, const char *name, int64_t value);
/* Checks that every required payload field is present and values are in
 * range: for records built in code (simulator). */
int record_check(const record *r, record_error *err);

/* Payload field lookup; NULL / -1 when absent or not of that kind. */
const char *record_get_str(const record *r, const char *name);
int record_get_int(const record *r, const char *name, int64_t *out);

/* Canonical bytes: JSON, keys sorted bytewise, no whitespace, integers in
 * decimal, DEC1 fields with exactly one decimal place, strings with only the
 * required escapes. Writes into buf (NUL-terminated); returns the length, or
 * -1 if cap is too small. */
int record_canonical(const record *r, char *buf, size_t cap);

/* hex = lowercase hex SHA-256 of bytes. */
void record_sha256_hex(const void *bytes, size_t len, char hex[RECORD_HASH_HEX]);

/* The prev value of seq 1. */
extern const char RECORD_GENESIS_PREV[RECORD_HASH_HEX];

const char *record_type_name(record_type t);
int record_type_from_name(const char *name, record_type *out);

/* Parses a ts (FK_TS form) to milliseconds since the epoch; -1 if invalid. */
int record_ts_parse(const char *ts, int64_t *ms_out);
/* Formats milliseconds since the epoch as a ts. */
void record_ts_format(int64_t ms, char out[RECORD_TS_LEN + 1]);

#endif
