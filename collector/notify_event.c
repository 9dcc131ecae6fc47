#include "notify_event.h"

#include <cjson/cJSON.h>

char *notify_event_json(const alert *a, const char *event, int64_t event_id, const char *at)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *evidence = cJSON_Parse(a->evidence);
    char *out = NULL;

    /* cJSON escapes every string: clinic, cause and message may hold any
     * text a device or an operator chose. */
    if (!o || !cJSON_AddNumberToObject(o, "v", 1) ||
        !cJSON_AddNumberToObject(o, "event_id", (double)event_id) ||
        !cJSON_AddStringToObject(o, "event", event) ||
        !cJSON_AddNumberToObject(o, "id", (double)a->id) ||
        !cJSON_AddStringToObject(o, "rule", a->rule) ||
        !cJSON_AddStringToObject(o, "severity", a->severity) ||
        !cJSON_AddStringToObject(o, "device", a->device) ||
        !cJSON_AddStringToObject(o, "clinic", a->clinic) ||
        !cJSON_AddStringToObject(o, "cause", a->cause) ||
        !cJSON_AddStringToObject(o, "message", a->message) ||
        !cJSON_AddStringToObject(o, "at", at))
        goto cleanup;
    if (!evidence)
        evidence = cJSON_CreateObject();
    if (!evidence || !cJSON_AddItemToObject(o, "evidence", evidence))
        goto cleanup;
    evidence = NULL;
    out = cJSON_PrintUnformatted(o);
cleanup:
    cJSON_Delete(evidence);
    cJSON_Delete(o);
    return out;
}
