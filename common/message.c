#include "message.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "jsontext.h"

/* field may be the sender's (an envelope key): record_fail escapes it. */
static int fail(record_error *err, reason_code code, const char *field, const char *reason)
{
    return record_fail(err, code, "", field, reason);
}

/* The envelope may hold exactly v, device and records. */
static int check_envelope_keys(const cJSON *root, record_error *err)
{
    int seen_v = 0, seen_device = 0, seen_records = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        int *seen = strcmp(it->string, "v") == 0        ? &seen_v
                    : strcmp(it->string, "device") == 0  ? &seen_device
                    : strcmp(it->string, "records") == 0 ? &seen_records
                                                         : NULL;
        if (!seen)
            return fail(err, REASON_UNKNOWN_FIELD, it->string, "unknown field in batch");
        if ((*seen)++)
            return fail(err, REASON_DUPLICATE_FIELD, it->string, "duplicate field");
    }
    return 0;
}

static int parse_envelope(const cJSON *root, const char *topic_device, message_batch *out,
                          const cJSON **records, record_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    const cJSON *device = cJSON_GetObjectItemCaseSensitive(root, "device");
    char why[96];

    if (!cJSON_IsObject(root))
        return fail(err, REASON_NOT_OBJECT, "payload", "must be a JSON object");
    if (check_envelope_keys(root, err) != 0)
        return -1;
    if (!cJSON_IsNumber(v) || v->valuedouble != 1.0)
        return v ? fail(err, REASON_BAD_VERSION, "v", "unsupported version (expected 1)")
                 : fail(err, REASON_MISSING_FIELD, "v", "required");
    if (!cJSON_IsString(device))
        return device ? fail(err, REASON_BAD_TYPE, "device", "must be a string")
                      : fail(err, REASON_MISSING_FIELD, "device", "required");
    if (!ids_valid_device_id(device->valuestring, why, sizeof why))
        return fail(err, REASON_BAD_DEVICE_ID, "device", why);
    if (topic_device && strcmp(device->valuestring, topic_device) != 0)
        return fail(err, REASON_DEVICE_MISMATCH, "device", "does not match the device of the topic");
    snprintf(out->device, sizeof out->device, "%s", device->valuestring);

    *records = cJSON_GetObjectItemCaseSensitive(root, "records");
    if (!cJSON_IsArray(*records))
        return *records ? fail(err, REASON_BAD_TYPE, "records", "must be an array")
                        : fail(err, REASON_MISSING_FIELD, "records", "required");
    int n = cJSON_GetArraySize(*records);
    if (n < 1 || n > MESSAGE_MAX_RECORDS)
        return fail(err, REASON_BAD_RECORD_COUNT, "records", "must hold 1..64 records");
    return 0;
}

int message_parse_batch(const char *payload, size_t len, const char *topic_device,
                        message_batch *out, record_error *err)
{
    const cJSON *records = NULL;
    cJSON *root = NULL;
    char why[96];
    reason_code code;
    int rc = -1;

    out->count = 0;
    if (len > MESSAGE_MAX_BYTES)
        return fail(err, REASON_TOO_LARGE, "payload", "larger than 256 KiB");
    if (jsontext_check(payload, len, why, sizeof why, &code) != 0)
        return fail(err, code, "payload", why);
    root = jsontext_parse(payload, len);
    if (!root)
        return fail(err, REASON_NOT_JSON, "payload", "not valid JSON");
    if (parse_envelope(root, topic_device, out, &records, err) != 0)
        goto cleanup;

    for (const cJSON *r = records->child; r; r = r->next) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "records[%zu].", out->count);
        if (record_from_json(r, RECORD_FULL, prefix, &out->records[out->count], err) != 0)
            goto cleanup;
        out->count++;
    }
    rc = 0;

cleanup:
    cJSON_Delete(root);
    if (rc != 0)
        out->count = 0;
    return rc;
}

/* Where payload[*at ..] starts with the literal s, moves *at past it. */
static bool skip_literal(const char *payload, size_t len, size_t *at, const char *s)
{
    size_t n = strlen(s);
    if (len - *at < n || memcmp(payload + *at, s, n) != 0)
        return false;
    *at += n;
    return true;
}

int message_parse_canonical(const char *payload, size_t len, const char *topic_device,
                            message_batch *out, message_span spans[MESSAGE_MAX_RECORDS])
{
    size_t at = 0, n;
    const char *device, *quote;

    out->count = 0;
    if (len > MESSAGE_MAX_BYTES || !skip_literal(payload, len, &at, "{\"v\":1,\"device\":\""))
        return -1;
    device = payload + at;
    quote = memchr(device, '"', len - at);
    if (!quote || (n = (size_t)(quote - device)) > IDS_DEVICE_ID_MAX)
        return -1;
    memcpy(out->device, device, n);
    out->device[n] = '\0';
    at += n;
    if (strlen(out->device) != n || !ids_valid_device_id(out->device, NULL, 0) ||
        (topic_device && strcmp(out->device, topic_device) != 0) ||
        !skip_literal(payload, len, &at, "\",\"records\":["))
        return -1;
    for (;;) {
        size_t used;
        if (out->count == MESSAGE_MAX_RECORDS ||
            !(used = record_from_canonical(payload + at, len - at, &out->records[out->count]))) {
            out->count = 0;
            return -1;
        }
        spans[out->count++] = (message_span){at, used};
        at += used;
        if (at < len && payload[at] == ',')
            at++;
        else
            break;
    }
    if (!skip_literal(payload, len, &at, "]}") || at != len) {
        out->count = 0;
        return -1;
    }
    return 0;
}

int message_encode_batch(const char *device, const char *const *canon, const size_t *lens,
                         size_t n, char *buf, size_t cap)
{
    int head = snprintf(buf, cap, "{\"v\":1,\"device\":\"%s\",\"records\":[", device);
    size_t len;

    if (head < 0 || (size_t)head >= cap)
        return -1;
    len = (size_t)head;
    for (size_t i = 0; i < n; i++) {
        if (len + lens[i] + 3 > cap)
            return -1;
        if (i)
            buf[len++] = ',';
        memcpy(buf + len, canon[i], lens[i]);
        len += lens[i];
    }
    if (len + 3 > cap)
        return -1;
    memcpy(buf + len, "]}", 3);
    return (int)(len + 2);
}

int message_encode_ack(const char *device, uint64_t seq, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "{\"v\":1,\"device\":\"%s\",\"seq\":%llu}", device,
                     (unsigned long long)seq);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int message_parse_ack(const char *payload, size_t len, const char *expected_device,
                      uint64_t *seq)
{
    char why[96];
    cJSON *root = jsontext_precheck(payload, len, why, sizeof why) == 0 ? jsontext_parse(payload, len)
                                                                       : NULL;
    const cJSON *device = cJSON_GetObjectItemCaseSensitive(root, "device");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "seq");
    int rc = -1;

    if (cJSON_IsString(device) && strcmp(device->valuestring, expected_device) == 0 &&
        cJSON_IsNumber(s) && s->valuedouble >= 0 && s->valuedouble <= (double)RECORD_INT_MAX &&
        s->valuedouble == (double)(uint64_t)s->valuedouble) {
        *seq = (uint64_t)s->valuedouble;
        rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}

const char *message_topic_device(const char *topic, char device[IDS_DEVICE_ID_MAX + 1])
{
    static const char prefix[] = "smp/v1/dev/";
    const char *start, *slash;
    size_t n;

    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return NULL;
    start = topic + sizeof prefix - 1;
    slash = strchr(start, '/');
    if (!slash || (n = (size_t)(slash - start)) > IDS_DEVICE_ID_MAX)
        return NULL;
    memcpy(device, start, n);
    device[n] = '\0';
    if (!ids_valid_device_id(device, NULL, 0) || strchr(slash + 1, '/'))
        return NULL;
    return slash + 1;
}
