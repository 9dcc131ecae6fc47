#include "jsontext.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int reject(char *why, size_t whylen, reason_code *code, reason_code c, const char *text)
{
    snprintf(why, whylen, "%s", text);
    *code = c;
    return -1;
}

/* Where the plain text of a string that goes on at t[i] stops: the first
 * quote, backslash or control byte (len when there is none). Strings are
 * most of a payload's bytes, so eight are looked at at once; a word holding
 * one of the three is then walked byte by byte. */
static size_t string_run_end(const char *t, size_t i, size_t len)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones * 0x80;

    while (i + 8 <= len) { /* i may be past len after an escape at the end */
        uint64_t w, quote, backslash;
        memcpy(&w, t + i, sizeof w);
        quote = w ^ (ones * '"');
        backslash = w ^ (ones * '\\');
        /* (x - ones) & ~x has a high bit set exactly when some byte of x is
         * zero; (w - ones * 0x20) & ~w when some byte of w is below 0x20. */
        if ((((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) |
             ((w - ones * 0x20) & ~w)) & highs)
            break;
        i += 8;
    }
    while (i < len && t[i] != '"' && t[i] != '\\' && (unsigned char)t[i] >= 0x20)
        i++;
    return i;
}

/* Length of the JSON number at text[i..len) by RFC 8259
 * (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or 0 when the bytes
 * there are not one: a leading zero, a bare sign, "1." or ".5". */
static size_t number_len(const char *t, size_t i, size_t len)
{
    size_t j = i;

    if (j < len && t[j] == '-')
        j++;
    if (j < len && t[j] == '0')
        j++;
    else if (j < len && t[j] >= '1' && t[j] <= '9')
        while (j < len && is_digit(t[j]))
            j++;
    else
        return 0;
    if (j < len && t[j] == '.') {
        if (++j >= len || !is_digit(t[j]))
            return 0;
        while (j < len && is_digit(t[j]))
            j++;
    }
    if (j < len && (t[j] == 'e' || t[j] == 'E')) {
        j++;
        if (j < len && (t[j] == '+' || t[j] == '-'))
            j++;
        if (j >= len || !is_digit(t[j]))
            return 0;
        while (j < len && is_digit(t[j]))
            j++;
    }
    /* "036000" stops after the 0: what follows must end the token. */
    if (j < len && (is_digit(t[j]) || t[j] == '.' || t[j] == 'e' || t[j] == 'E' ||
                    t[j] == '+' || t[j] == '-'))
        return 0;
    return j - i;
}

/* Length of the literal true / false / null at text[i..len), or 0. */
static size_t literal_len(const char *t, size_t i, size_t len)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t w = 0; w < 3; w++) {
        size_t n = strlen(words[w]);
        if (len - i >= n && memcmp(t + i, words[w], n) == 0)
            return n;
    }
    return 0;
}

/* The escape at text[i] (a backslash) is one RFC 8259 allows: \" \\ \/ \b
 * \f \n \r \t or \u and four hex digits. (Surrogate pairing is cJSON's.) */
static bool valid_escape(const char *t, size_t i, size_t len)
{
    if (i + 1 >= len)
        return true; /* an unterminated string: cJSON refuses it */
    if (strchr("\"\\/bfnrt", t[i + 1]) != NULL && t[i + 1] != '\0')
        return true;
    if (t[i + 1] != 'u' || i + 5 >= len)
        return false;
    for (size_t k = i + 2; k < i + 6; k++) {
        char c = t[k];
        if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
}

int jsontext_check(const char *text, size_t len, char *why, size_t whylen, reason_code *code)
{
    int depth = 0;

    if (len == 0)
        return 0; /* nothing to check; the parser will call it invalid */
    if (memchr(text, '\0', len))
        return reject(why, whylen, code, REASON_BAD_ENCODING, "contains a NUL byte");
    if (!utf8_valid(text, len))
        return reject(why, whylen, code, REASON_BAD_ENCODING, "not valid UTF-8");
    for (size_t i = 0; i < len;) {
        char c = text[i];
        size_t n;

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ':' || c == ',') {
            i++;
        } else if (c == '"') {
            for (i = string_run_end(text, i + 1, len); i < len && text[i] != '"';
                 i = string_run_end(text, i, len)) {
                /* RFC 8259: control characters inside a string must be
                 * escaped; cJSON would take a raw newline as text. */
                if ((unsigned char)text[i] < 0x20)
                    return reject(why, whylen, code, REASON_NOT_JSON, "not valid JSON");
                /* a backslash */
                if (i + 5 < len && strncmp(text + i + 1, "u0000", 5) == 0)
                    return reject(why, whylen, code, REASON_BAD_ENCODING,
                                  "contains a \\u0000 escape");
                /* cJSON takes "\uZZZZ" and drops the string's text. */
                if (!valid_escape(text, i, len))
                    return reject(why, whylen, code, REASON_NOT_JSON, "not valid JSON");
                i += 2; /* past the escaped character (\uXXXX's digits are plain) */
            }
            i++; /* the closing quote (an unterminated string is cJSON's to refuse) */
        } else if (c == '{' || c == '[') {
            if (++depth > JSONTEXT_MAX_DEPTH) {
                char msg[48];
                snprintf(msg, sizeof msg, "nested deeper than %d levels", JSONTEXT_MAX_DEPTH);
                return reject(why, whylen, code, REASON_TOO_DEEP, msg);
            }
            i++;
        } else if (c == '}' || c == ']') {
            depth--;
            i++;
        } else if ((n = c == '-' || is_digit(c) ? number_len(text, i, len) : literal_len(text, i, len))) {
            i += n;
        } else {
            return reject(why, whylen, code, REASON_NOT_JSON, "not valid JSON");
        }
    }
    return 0;
}

int jsontext_precheck(const char *text, size_t len, char *why, size_t whylen)
{
    reason_code code;
    return jsontext_check(text, len, why, whylen, &code);
}

/* The next number token of the text from *pos on (strings skipped), as
 * cJSON reads it: a '-' or digit and what follows of [0-9.eE+-]. */
static bool next_number(const char *t, size_t len, size_t *pos, size_t *start, size_t *n)
{
    for (size_t i = *pos; i < len; i++) {
        if (t[i] == '"') {
            /* stops on the closing quote; skips escapes and control bytes */
            for (i = string_run_end(t, i + 1, len); i < len && t[i] != '"';
                 i = string_run_end(t, i + (t[i] == '\\' ? 2 : 1), len))
                ;
        } else if (t[i] == '-' || is_digit(t[i])) {
            size_t j = i;
            while (j < len && (is_digit(t[j]) || t[j] == '.' || t[j] == 'e' || t[j] == 'E' ||
                               t[j] == '+' || t[j] == '-'))
                j++;
            *start = i;
            *n = j - i;
            *pos = j;
            return true;
        }
    }
    return false;
}

/* Depth first, in document order: the k-th number node is the k-th number
 * token. Out of memory leaves a node without its text (validators then
 * judge the double, as before). */
static void attach_numbers(cJSON *item, const char *t, size_t len, size_t *pos)
{
    for (; item; item = item->next) {
        size_t start, n;
        if (cJSON_IsNumber(item) && next_number(t, len, pos, &start, &n)) {
            char *raw = cJSON_malloc(n + 1);
            if (raw) {
                memcpy(raw, t + start, n);
                raw[n] = '\0';
                item->valuestring = raw;
            }
        }
        attach_numbers(item->child, t, len, pos);
    }
}

cJSON *jsontext_parse(const char *text, size_t len)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t pos = 0;

    if (!root)
        return NULL;
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
        end++;
    if (end != text + len) {
        cJSON_Delete(root);
        return NULL;
    }
    attach_numbers(root, text, len, &pos);
    return root;
}
