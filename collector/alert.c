#include "alert.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

int alert_encode(const alert_event *ev, const char *now_ts, char *buf, size_t cap)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *evidence = cJSON_Parse(ev->a.evidence);
    int rc = -1;

    if (!o)
        goto cleanup;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "event", ev->kind == ALERT_RAISED ? "raised" : "cleared");
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
