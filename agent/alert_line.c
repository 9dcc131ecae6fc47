#include "alert_line.h"

#include <cjson/cJSON.h>
#include <string.h>

const char *alert_source_name(chair_alert_source s)
{
    return s == ALERT_SRC_AGENT ? "agent" : "collector";
}

int alert_line_encode(const chair_alert *a, const char *event, char *buf, size_t cap)
{
    cJSON *o = cJSON_CreateObject();
    int rc = -1;

    if (!o || cap < 2)
        goto cleanup;
    /* cJSON escapes every string: cause and message hold device-supplied
     * ids and the collector's text, and a line must stay one line. */
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddStringToObject(o, "source", alert_source_name(a->source));
    if (a->source == ALERT_SRC_COLLECTOR)
        cJSON_AddNumberToObject(o, "id", (double)a->id);
    cJSON_AddStringToObject(o, "rule", a->rule);
    cJSON_AddStringToObject(o, "severity", a->severity);
    cJSON_AddStringToObject(o, "cause", a->cause);
    cJSON_AddStringToObject(o, "message", a->message);
    cJSON_AddStringToObject(o, "at", a->at);
    if (!cJSON_PrintPreallocated(o, buf, (int)cap - 1, 0))
        goto cleanup;
    rc = (int)strlen(buf);
    buf[rc++] = '\n';
    buf[rc] = '\0';
cleanup:
    cJSON_Delete(o);
    return rc;
}
