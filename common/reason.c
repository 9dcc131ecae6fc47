#include "reason.h"

#include <stdbool.h>
#include <stddef.h>

static const char *const names[REASON_COUNT] = {
    [REASON_OTHER] = "other",
    [REASON_TOPIC] = "topic",
    [REASON_UNREGISTERED] = "unregistered_device",
    [REASON_RETIRED] = "retired_device",
    [REASON_TOO_LARGE] = "too_large",
    [REASON_BAD_ENCODING] = "bad_encoding",
    [REASON_TOO_DEEP] = "too_deep",
    [REASON_NOT_JSON] = "not_json",
    [REASON_NOT_OBJECT] = "not_object",
    [REASON_BAD_VERSION] = "bad_version",
    [REASON_BAD_DEVICE_ID] = "bad_device_id",
    [REASON_DEVICE_MISMATCH] = "device_mismatch",
    [REASON_BAD_RECORD_COUNT] = "bad_record_count",
    [REASON_UNKNOWN_FIELD] = "unknown_field",
    [REASON_DUPLICATE_FIELD] = "duplicate_field",
    [REASON_MISSING_FIELD] = "missing_field",
    [REASON_UNKNOWN_TYPE] = "unknown_type",
    [REASON_BAD_TYPE] = "bad_type",
    [REASON_NEGATIVE] = "negative",
    [REASON_NOT_EXACT] = "not_exact",
    [REASON_OUT_OF_RANGE] = "out_of_range",
    [REASON_BAD_TEXT] = "bad_text",
    [REASON_BAD_CHARSET] = "bad_charset",
    [REASON_NOT_ALLOWED] = "not_allowed",
    [REASON_BAD_FORMAT] = "bad_format",
    [REASON_FUTURE_TS] = "future_ts",
};

const char *reason_code_name(reason_code code)
{
    return (unsigned)code < REASON_COUNT ? names[code] : names[REASON_OTHER];
}

/* Every reason text the validators and ingest write, as a pattern over the
 * whole stored text; '*' stands for any run of characters (a field path, a
 * device id, a number). Each pattern ends in our own words, and none of
 * those is a tail of another, so whatever a device puts in a field name
 * (the part before ": ") cannot make a text match the wrong pattern.
 * Payload-level texts come first: "payload: not valid UTF-8" is an
 * encoding problem, "<field>: not valid UTF-8" a bad value. */
static const struct {
    const char *pattern;
    reason_code code;
} patterns[] = {
    {"topic: not smp/v1/dev/<device>/events", REASON_TOPIC},
    {"device: * is not registered; add it with smpctl device add", REASON_UNREGISTERED},
    {"device: * is retired", REASON_RETIRED},
    {"payload: larger than 256 KiB", REASON_TOO_LARGE},
    {"payload: contains a NUL byte", REASON_BAD_ENCODING},
    {"payload: not valid UTF-8", REASON_BAD_ENCODING},
    {"payload: contains a \\u0000 escape", REASON_BAD_ENCODING},
    {"payload: nested deeper than * levels", REASON_TOO_DEEP},
    {"payload: not valid JSON", REASON_NOT_JSON},
    {"payload: must be a JSON object", REASON_NOT_OBJECT},
    {"*: record must be a JSON object", REASON_NOT_OBJECT},
    {"v: unsupported version (expected 1)", REASON_BAD_VERSION},
    {"device: does not match the device of the topic", REASON_DEVICE_MISMATCH},
    {"records: must hold 1..64 records", REASON_BAD_RECORD_COUNT},
    {"*: unknown field in batch", REASON_UNKNOWN_FIELD},
    {"*: unknown field for this record type", REASON_UNKNOWN_FIELD},
    {"*: assigned by the agent; leave it out", REASON_UNKNOWN_FIELD},
    {"*: duplicate field", REASON_DUPLICATE_FIELD},
    {"*: required", REASON_MISSING_FIELD},
    {"*: unknown record type", REASON_UNKNOWN_TYPE},
    {"*: must be a number", REASON_BAD_TYPE},
    {"*: must be a string", REASON_BAD_TYPE},
    {"*: must be an array", REASON_BAD_TYPE},
    {"*: must not be negative", REASON_NEGATIVE},
    {"*: must be an integer", REASON_NOT_EXACT},
    {"*: at most one decimal place", REASON_NOT_EXACT},
    {"*: must be a finite number", REASON_OUT_OF_RANGE},
    {"*: out of range", REASON_OUT_OF_RANGE},
    {"*: must not be empty", REASON_BAD_TEXT},
    {"*: longer than 128 bytes", REASON_BAD_TEXT},
    {"*: not valid UTF-8", REASON_BAD_TEXT},
    {"*: contains a control character", REASON_BAD_TEXT},
    {"*: must start with A-Z a-z 0-9", REASON_BAD_CHARSET},
    {"*: may hold only A-Z a-z 0-9 . _ : / -", REASON_BAD_CHARSET},
    {"*: not one of the allowed values", REASON_NOT_ALLOWED},
    {"*: must be a calendar date YYYY-MM-DD", REASON_BAD_FORMAT},
    {"*: must be UTC time YYYY-MM-DDTHH:MM:SS.mmmZ", REASON_BAD_FORMAT},
    {"*: must be 64 lowercase hex digits", REASON_BAD_FORMAT},
    {"*: must be base64", REASON_BAD_FORMAT},
    {"*: more than * s ahead of the receive time", REASON_FUTURE_TS},
    /* Last: the only pattern that ends in '*' (the id rule's detail), so a
     * text ending in one of the fixed tails above never lands here. */
    {"device: device id *", REASON_BAD_DEVICE_ID},
};

/* Whole-string match with '*' for any run; linear backtracking to the last
 * star, so a long hostile text costs O(len * pattern). */
static bool glob(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

reason_code reason_code_of(const char *reason_text)
{
    if (!reason_text)
        return REASON_OTHER;
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        if (glob(patterns[i].pattern, reason_text))
            return patterns[i].code;
    }
    return REASON_OTHER;
}
