#include "device_alerts.h"

#include <cjson/cJSON.h>
#include <string.h>

int device_alerts_encode(const alert_event *ev, const char *now_ts, const store_open_alert *open,
                         size_t n, size_t total, char *buf, size_t cap)
{
    cJSON *o = cJSON_CreateObject(), *list = NULL;
    int rc = -1;

    if (!o)
        goto cleanup;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "event", alert_event_name(ev->kind));
    cJSON_AddNumberToObject(o, "id", (double)ev->a.id);
    cJSON_AddStringToObject(o, "rule", ev->a.rule);
    cJSON_AddStringToObject(o, "severity", ev->a.severity);
    cJSON_AddStringToObject(o, "device", ev->a.device);
    cJSON_AddStringToObject(o, "cause", ev->a.cause);
    cJSON_AddStringToObject(o, "message", ev->a.message);
    cJSON_AddStringToObject(o, "at", now_ts);
    if (!(list = cJSON_AddArrayToObject(o, "open")))
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e)
            goto cleanup;
        cJSON_AddItemToArray(list, e);
        cJSON_AddNumberToObject(e, "id", (double)open[i].id);
        cJSON_AddStringToObject(e, "rule", open[i].rule);
        cJSON_AddStringToObject(e, "severity", open[i].severity);
        cJSON_AddStringToObject(e, "cause", open[i].cause);
        cJSON_AddStringToObject(e, "message", open[i].message);
        cJSON_AddStringToObject(e, "at", open[i].raised_at);
    }
    cJSON_AddNumberToObject(o, "open_total", (double)total);
    rc = cJSON_PrintPreallocated(o, buf, (int)cap, 0) ? (int)strlen(buf) : -1;
cleanup:
    cJSON_Delete(o);
    return rc;
}
