#include "alert.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

const char *alert_event_name(alert_event_kind kind)
{
    switch (kind) {
    case ALERT_RAISED:
        return "raised";
    case ALERT_CLEARED:
        return "cleared";
    case ALERT_ESCALATED:
        return "escalated";
    case ALERT_WITHDRAWN:
        return "withdrawn";
    }
    return "?";
}

int alert_encode(const alert_event *ev, const char *now_ts, char *buf, size_t cap)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *evidence = cJSON_Parse(ev->a.evidence);
    int rc = -1;

    if (!o)
        goto cleanup;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "event", alert_event_name(ev->kind));
    cJSON_AddNumberToObject(o, "id", (double)ev->a.id);
    cJSON_AddStringToObject(o, "rule", ev->a.rule);
    cJSON_AddStringToObject(o, "severity", ev->a.severity);
    cJSON_AddStringToObject(o, "device", ev->a.device);
    cJSON_AddStringToObject(o, "clinic", ev->a.clinic);
    cJSON_AddStringToObject(o, "cause", ev->a.cause);
    cJSON_AddStringToObject(o, "message", ev->a.message);
    cJSON_AddStringToObject(o, "at", now_ts);
    if (evidence)
        cJSON_AddItemToObject(o, "evidence", evidence), evidence = NULL;
    rc = cJSON_PrintPreallocated(o, buf, (int)cap, 0) ? (int)strlen(buf) : -1;
cleanup:
    cJSON_Delete(evidence);
    cJSON_Delete(o);
    return rc;
}
