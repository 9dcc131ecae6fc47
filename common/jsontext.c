#include "jsontext.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

int jsontext_precheck(const char *text, size_t len, char *why, size_t whylen)
{
    int depth = 0;
    bool in_string = false;

    if (len == 0)
        return 0; /* nothing to check; the parser will call it invalid */
    if (memchr(text, '\0', len)) {
        snprintf(why, whylen, "contains a NUL byte");
        return -1;
    }
    if (!utf8_valid(text, len)) {
        snprintf(why, whylen, "not valid UTF-8");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                if (i + 5 < len && strncmp(text + i + 1, "u0000", 5) == 0) {
                    snprintf(why, whylen, "contains a \\u0000 escape");
                    return -1;
                }
                i++; /* skip the escaped character */
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > JSONTEXT_MAX_DEPTH) {
                snprintf(why, whylen, "nested deeper than %d levels", JSONTEXT_MAX_DEPTH);
                return -1;
            }
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

cJSON *jsontext_parse(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);

    if (!root)
        return NULL;
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != text + len) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}
