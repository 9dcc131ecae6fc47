/* presence: status messages into device_presence (presence.h). */
#include "presence.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "log.h"
#include "record.h"

#define PREFIX "smp/v1/dev/"
#define SUFFIX "/status"

bool presence_is_status(const char *topic)
{
    size_t n = strlen(topic), s = strlen(SUFFIX);

    return n > s && strcmp(topic + n - s, SUFFIX) == 0;
}

bool presence_topic(const char *topic, char dev[IDS_DEVICE_ID_MAX + 1])
{
    size_t n = strlen(topic), p = strlen(PREFIX), s = strlen(SUFFIX);
    char why[128];

    if (n <= p + s || strncmp(topic, PREFIX, p) != 0 || !presence_is_status(topic) ||
        n - p - s > IDS_DEVICE_ID_MAX)
        return false;
    memcpy(dev, topic + p, n - p - s);
    dev[n - p - s] = '\0';
    return ids_valid_device_id(dev, why, sizeof why);
}

/* A count as plain digits (the source text cJSON keeps in valuestring). */
static int parse_count(const cJSON *v, int64_t *out)
{
    const char *t = v->valuestring;
    size_t n = t ? strlen(t) : 0;

    if (!cJSON_IsNumber(v) || n == 0 || n > 16 || strspn(t, "0123456789") != n ||
        (n > 1 && t[0] == '0'))
        return -1;
    *out = strtoll(t, NULL, 10);
    return *out <= RECORD_INT_MAX ? 0 : -1;
}

static int parse_json(const char *text, size_t len, store_presence *out, char *why, size_t whylen)
{
    static const char *const keys[] = {"state", "backlog", "head_seq", "acked_seq", "at"};
    unsigned seen = 0;
    cJSON *root;
    int rc = -1;

    if (jsontext_precheck(text, len, why, whylen) != 0)
        return -1;
    if (!(root = jsontext_parse(text, len)) || !cJSON_IsObject(root)) {
        snprintf(why, whylen, "not a JSON object");
        goto cleanup;
    }
    for (const cJSON *it = root->child; it; it = it->next) {
        size_t k = 0;
        while (k < sizeof keys / sizeof keys[0] && strcmp(it->string, keys[k]) != 0)
            k++;
        if (k == sizeof keys / sizeof keys[0]) {
            snprintf(why, whylen, "unknown key (only state, backlog, head_seq, acked_seq, at)");
            goto cleanup;
        }
        if (seen & (1u << k)) {
            snprintf(why, whylen, "%s: duplicate key", keys[k]);
            goto cleanup;
        }
        seen |= 1u << k;
        if (k == 0) {
            if (!cJSON_IsString(it) || (strcmp(it->valuestring, "online") != 0 &&
                                        strcmp(it->valuestring, "offline") != 0)) {
                snprintf(why, whylen, "state: must be \"online\" or \"offline\"");
                goto cleanup;
            }
            out->online = it->valuestring[1] == 'n';
        } else if (k == 4) {
            int64_t ms;
            if (!cJSON_IsString(it) || strlen(it->valuestring) != RECORD_TS_LEN ||
                record_ts_parse(it->valuestring, &ms) != 0) {
                snprintf(why, whylen, "at: must be a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ");
                goto cleanup;
            }
            memcpy(out->at, it->valuestring, RECORD_TS_LEN + 1);
        } else {
            int64_t *dst = k == 1 ? &out->backlog : k == 2 ? &out->head_seq : &out->acked_seq;
            if (parse_count(it, dst) != 0) {
                snprintf(why, whylen, "%s: must be an integer 0..2^53-1", keys[k]);
                goto cleanup;
            }
        }
    }
    if (!(seen & 1u)) {
        snprintf(why, whylen, "state: required");
        goto cleanup;
    }
    rc = 0;
cleanup:
    cJSON_Delete(root);
    return rc;
}

int presence_parse(const void *payload, size_t len, store_presence *out, char *why,
                   size_t whylen)
{
    const char *p = payload;

    memset(out, 0, sizeof *out);
    out->backlog = out->head_seq = out->acked_seq = -1;
    if (len > PRESENCE_PAYLOAD_MAX) {
        snprintf(why, whylen, "longer than %d bytes", PRESENCE_PAYLOAD_MAX);
        return -1;
    }
    /* The plain form, exactly: no trailing newline or blank. */
    if ((len == 6 && memcmp(p, "online", 6) == 0) || (len == 7 && memcmp(p, "offline", 7) == 0)) {
        out->online = len == 6;
        return 0;
    }
    if (len > 0 && p[0] == '{')
        return parse_json(p, len, out, why, whylen);
    snprintf(why, whylen, "neither online, offline nor a JSON object");
    return -1;
}

int presence_message(store *s, const char *topic, const void *payload, size_t len,
                     int64_t now_ms)
{
    char dev[IDS_DEVICE_ID_MAX + 1], why[200], now[RECORD_TS_LEN + 1];
    store_presence p;
    device_info info;

    if (!presence_topic(topic, dev)) {
        log_warn("status ignored topic=%s reason=%s", LOG_Q(topic), LOG_Q("not smp/v1/dev/<device>/status"));
        return 0;
    }
    if (presence_parse(payload, len, &p, why, sizeof why) != 0) {
        log_warn("status ignored device=%s reason=%s payload=%s", dev, LOG_Q(why),
                 LOG_QN(payload, len));
        return 0;
    }
    /* Everything that reads or writes the store under the message's own
     * savepoint: on PostgreSQL a failed statement would otherwise abort
     * the whole group. After the device's lock, like every other write of
     * the device (store.h). */
    if (store_savepoint(s) != 0)
        goto fail;
    if (store_lock_device(s, dev) != 0 || store_device(s, dev, &info) != 0)
        goto undo;
    if (info.status == DEVICE_UNKNOWN) {
        if (store_release(s) != 0)
            goto fail;
        log_warn("status ignored device=%s reason=%s", dev, LOG_Q("not registered"));
        return 0;
    }
    record_ts_format(now_ms, now);
    if (store_put_presence(s, dev, &p, now) != 0)
        goto undo;
    if (store_release(s) != 0)
        goto fail;
    if (p.backlog >= 0)
        log_info("device status device=%s state=%s backlog=%lld", dev,
                 p.online ? "online" : "offline", (long long)p.backlog);
    else
        log_info("device status device=%s state=%s", dev, p.online ? "online" : "offline");
    return 0;
undo:
    log_error("status not stored device=%s error=%s", dev, LOG_Q(store_errmsg(s)));
    store_rollback_to(s);
    return -1;
fail:
    log_error("status not stored device=%s error=%s", dev, LOG_Q(store_errmsg(s)));
    return -1;
}
