#include "batch_split.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsontext.h"

/* ---- the byte span of each element of "records" ---------------------------
 * The payload is known to be valid JSON, so these scanners only need to find
 * where things end, not to validate. Each returns the index just past what it
 * skipped, or n when the text ends first. */

static size_t skip_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i;
}

/* p[i] is the opening quote. */
static size_t skip_string(const char *p, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return n;
}

static size_t skip_value(const char *p, size_t i, size_t n)
{
    int depth = 0;

    if (i < n && p[i] == '"')
        return skip_string(p, i, n);
    if (i < n && p[i] != '{' && p[i] != '[') {
        while (i < n && !strchr(",]} \t\r\n", p[i]))
            i++;
        return i;
    }
    while (i < n) {
        if (p[i] == '"') {
            i = skip_string(p, i, n);
            continue;
        }
        if (p[i] == '{' || p[i] == '[')
            depth++;
        else if ((p[i] == '}' || p[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* Finds the elements of the top-level "records" array. A key written with
 * escapes ("rec\u006frds") is not found: only a foreign publisher writes one,
 * and its message is then quarantined whole. */
static int record_spans(const char *p, size_t n, size_t start[], size_t end[], size_t *count)
{
    size_t i = skip_ws(p, 0, n);

    *count = 0;
    if (i >= n || p[i++] != '{')
        return -1;
    for (;;) {
        i = skip_ws(p, i, n);
        if (i >= n || p[i] != '"')
            return -1;
        size_t key = i + 1, key_end = skip_string(p, i, n) - 1;
        bool is_records = key_end - key == 7 && memcmp(p + key, "records", 7) == 0;
        i = skip_ws(p, key_end + 1, n);
        if (i >= n || p[i++] != ':')
            return -1;
        i = skip_ws(p, i, n);
        if (is_records) {
            if (i >= n || p[i++] != '[')
                return -1;
            for (;;) {
                i = skip_ws(p, i, n);
                if (i < n && p[i] == ']')
                    return 0;
                if (*count == MESSAGE_MAX_RECORDS)
                    return -1;
                start[*count] = i;
                i = skip_value(p, i, n);
                end[(*count)++] = i;
                i = skip_ws(p, i, n);
                if (i >= n || (p[i] != ',' && p[i] != ']'))
                    return -1;
                if (p[i] == ',')
                    i++;
            }
        }
        i = skip_ws(p, skip_value(p, i, n), n);
        if (i >= n || p[i] != ',')
            return -1;
        i++;
    }
}

/* ---- seq and prev of a record that did not validate ---------------------- */

/* The one member called name, or NULL when there is none or more than one
 * (cJSON keeps duplicate keys). */
static const cJSON *only_member(const cJSON *obj, const char *name)
{
    const cJSON *found = NULL;
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (strcmp(it->string, name) != 0)
            continue;
        if (found)
            return NULL;
        found = it;
    }
    return found;
}

static bool readable_seq(const cJSON *obj, uint64_t *seq)
{
    const cJSON *v = cJSON_IsObject(obj) ? only_member(obj, "seq") : NULL;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= (double)RECORD_INT_MAX) ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return false;
    *seq = (uint64_t)v->valuedouble;
    return true;
}

static void readable_prev(const cJSON *obj, char prev[RECORD_HASH_HEX])
{
    const cJSON *v = only_member(obj, "prev");
    const char *s = cJSON_IsString(v) ? v->valuestring : "";

    prev[0] = '\0';
    if (strlen(s) != RECORD_HASH_HEX - 1 || strspn(s, "0123456789abcdef") != RECORD_HASH_HEX - 1)
        return;
    memcpy(prev, s, RECORD_HASH_HEX);
}

int batch_split(const char *payload, size_t len, message_batch *valid, split_rejects *out,
                record_error *err)
{
    size_t start[MESSAGE_MAX_RECORDS], end[MESSAGE_MAX_RECORDS], nspans, k = 0;
    cJSON *root = jsontext_parse(payload, len);
    const cJSON *records = cJSON_GetObjectItemCaseSensitive(root, "records");
    const cJSON *device = cJSON_GetObjectItemCaseSensitive(root, "device");
    int rc = -1;

    valid->count = out->count = 0;
    if (!cJSON_IsArray(records) || !cJSON_IsString(device) ||
        record_spans(payload, len, start, end, &nspans) != 0 ||
        nspans != (size_t)cJSON_GetArraySize(records)) {
        snprintf(err->field, sizeof err->field, "records");
        snprintf(err->reason, sizeof err->reason, "records could not be located in the payload");
        goto cleanup;
    }
    snprintf(valid->device, sizeof valid->device, "%s", device->valuestring);
    for (const cJSON *r = records->child; r; r = r->next, k++) {
        char prefix[32];
        record_error e;
        split_reject *x = &out->r[out->count];

        snprintf(prefix, sizeof prefix, "records[%zu].", k);
        if (record_from_json(r, RECORD_FULL, prefix, &valid->records[valid->count], &e) == 0) {
            valid->count++;
            continue;
        }
        if (!readable_seq(r, &x->seq)) {
            *err = e;
            goto cleanup;
        }
        x->index = k;
        readable_prev(r, x->prev);
        snprintf(x->reason, sizeof x->reason, "%s: %s", e.field, e.reason);
        x->body = payload + start[k];
        x->len = end[k] - start[k];
        record_sha256_hex(x->body, x->len, x->hash);
        out->count++;
    }
    rc = 0;

cleanup:
    cJSON_Delete(root);
    if (rc != 0)
        valid->count = out->count = 0;
    return rc;
}
