/* jsontext: checks on raw JSON text before it is handed to cJSON.
 *
 * cJSON accepts things that are not JSON, and some of them would change
 * what we store: 036000 is read as 36000, 1. and -.5 as numbers, raw
 * control characters inside strings as text, a "\u0000" escape silently
 * cuts a string short, raw NUL bytes end the text early, and nesting is
 * limited only at 1000 levels. Catching them on the bytes (RFC 8259's
 * grammar for numbers, literals and strings) gives a precise reason. */
#ifndef SMP_JSONTEXT_H
#define SMP_JSONTEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "reason.h"

#define JSONTEXT_MAX_DEPTH 4  /* batch > records[] > record: 3 is all we use */

/* Returns 0 when text may be parsed; otherwise -1 with why filled
 * ("contains a NUL byte", "not valid UTF-8", "contains a \u0000 escape",
 * "nested deeper than 4 levels", "not valid JSON") and *code its class. */
int jsontext_check(const char *text, size_t len, char *why, size_t whylen, reason_code *code);
/* The same without the class. */
int jsontext_precheck(const char *text, size_t len, char *why, size_t whylen);

/* Parses text as exactly one JSON value: text after it (other than
 * whitespace) makes it invalid, so "{...}{...}" is not read as its first
 * half. Every number node keeps its source text in valuestring (cJSON
 * leaves it unused for numbers and cJSON_Delete frees it), so validators
 * can judge the number written rather than the double it became.
 * Returns NULL when invalid; the caller owns the result. */
cJSON *jsontext_parse(const char *text, size_t len);

#endif
