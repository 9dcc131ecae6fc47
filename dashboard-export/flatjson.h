/* flatjson: the members of a stored record body, read without a JSON
 * library. A body is a record's canonical form (docs/protocol.md): one
 * flat object, string and integer or one-decimal values, strings with
 * only \" and \\ escaped. Splitting it once and reading fields from the
 * spans is several times faster than a parse per field, which matters
 * for a clinic-year report (docs/reports.md). Anything else is rejected,
 * not guessed at. */
#ifndef SMP_FLATJSON_H
#define SMP_FLATJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLATJSON_MAX 32   /* members; the widest record type has 19 */

typedef struct flatjson_member {
    const char *key, *val;     /* spans into the text: key without quotes, */
    size_t klen, vlen;         /* a string value without quotes, still escaped */
    bool string;
} flatjson_member;

typedef struct flatjson {
    flatjson_member m[FLATJSON_MAX];
    int n;
} flatjson;

/* Splits text (len bytes) into *out, borrowing text. Returns 0, or -1
 * when text is not a flat object of at most FLATJSON_MAX members. */
int flatjson_parse(const char *text, size_t len, flatjson *out);

/* The member named key, or NULL. */
const flatjson_member *flatjson_get(const flatjson *j, const char *key);

/* A string member unescaped into buf (cap bytes, NUL-terminated; cut if
 * longer); "" when absent or not a string. Returns buf. */
const char *flatjson_str(const flatjson *j, const char *key, char *buf, size_t cap);

/* An integer member; 0 when absent or not an integer. */
int64_t flatjson_int(const flatjson *j, const char *key);

/* A number with at most one decimal place as tenths ("132.1" -> 1321,
 * "-0.5" -> -5, "121" -> 1210); 0 when absent. */
int64_t flatjson_tenths(const flatjson *j, const char *key);

#endif
