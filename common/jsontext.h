/* jsontext: checks on raw JSON text before it is handed to cJSON.
 *
 * cJSON accepts things we must not: a "\u0000" escape silently cuts a string
 * short, raw NUL bytes end the text early, and nesting is limited only at
 * 1000 levels. Catching them on the bytes gives a precise reason. */
#ifndef SMP_JSONTEXT_H
#define SMP_JSONTEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define JSONTEXT_MAX_DEPTH 4  /* batch > records[] > record: 3 is all we use */

/* Returns 0 when text may be parsed; otherwise -1 with why filled. */
int jsontext_precheck(const char *text, size_t len, char *why, size_t whylen);

/* Parses text as exactly one JSON value: text after it (other than
 * whitespace) makes it invalid, so "{...}{...}" is not read as its first
 * half. Returns NULL when invalid; the caller owns the result. */
cJSON *jsontext_parse(const char *text, size_t len);

#endif
