#include "notify_sink.h"

#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "notify_transport.h"

static const char *const names[NOTIFY_NSINKS] = {
    [NOTIFY_WEBHOOK] = "webhook", [NOTIFY_SMTP] = "smtp", [NOTIFY_COMMAND] = "command"};

const char *notify_sink_name(notify_kind kind)
{
    return kind < NOTIFY_NSINKS ? names[kind] : "?";
}

int notify_sink_kind(const char *name, notify_kind *out)
{
    for (int k = 0; k < NOTIFY_NSINKS; k++) {
        if (strcmp(names[k], name) == 0) {
            *out = (notify_kind)k;
            return 0;
        }
    }
    return -1;
}

unsigned notify_sinks_route(const notify_sinks *s, const char *clinic, const char *rule,
                            const char *severity, const char *event)
{
    unsigned mask = 0;
    for (int k = 0; k < NOTIFY_NSINKS; k++)
        if (s->sink[k].enabled &&
            notify_filter_match(&s->sink[k].filter, clinic, rule, severity, event))
            mask |= 1u << k;
    return mask;
}

void notify_target_display(const notify_sink *s, char *out, size_t cap)
{
    const char *t = s->target, *sep, *host, *end, *at;

    if (s->kind == NOTIFY_COMMAND) {
        size_t n = strcspn(t, " \t");
        snprintf(out, cap, "%.*s", (int)n, t);
        return;
    }
    if (!(sep = strstr(t, "://"))) {
        snprintf(out, cap, "(not a URL)");
        return;
    }
    host = sep + 3;
    end = host + strcspn(host, "/?");
    /* user:password@ is dropped: the last '@' before the path ends it. */
    for (at = end; at > host && at[-1] != '@'; at--)
        ;
    if (at > host)
        host = at;
    snprintf(out, cap, "%.*s://%.*s%s", (int)(sep - t), t, (int)(end - host), host,
             *end ? "/…" : "");
}

int notify_global_init(char *err, size_t errlen)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

int notify__curl_cancel(void *clientp, long long dltotal, long long dlnow, long long ultotal,
                        long long ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const atomic_bool *cancel = clientp;
    return cancel && atomic_load(cancel) ? 1 : 0;
}

int notify_deliver(const notify_sink *s, int64_t event_id, const char *json,
                   const atomic_bool *cancel, char *detail, size_t cap)
{
    switch (s->kind) {
    case NOTIFY_WEBHOOK:
        return notify__webhook(s, event_id, json, cancel, detail, cap);
    case NOTIFY_SMTP:
        return notify__smtp(s, event_id, json, cancel, detail, cap);
    case NOTIFY_COMMAND:
        return notify__command(s, event_id, json, cancel, detail, cap);
    case NOTIFY_NSINKS:
        break;
    }
    snprintf(detail, cap, "no such sink");
    return -1;
}

int notify_read_secret(const char *path, const char *setting, char *out, size_t cap, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f) {
        snprintf(err, errlen, "%s %s: cannot read: %s; check the path and that the collector's "
                 "user may read it", setting, path, strerror(errno));
        return -1;
    }
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    fclose(f);
    n = strcspn(out, "\r\n");
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = '\0';
    if (n == 0) {
        snprintf(err, errlen, "%s %s: empty; write the secret on its first line", setting, path);
        return -1;
    }
    return (int)n;
}
