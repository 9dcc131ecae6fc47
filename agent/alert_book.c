#include "alert_book.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

void alert_book_init(alert_book *b)
{
    memset(b, 0, sizeof *b);
}

static int find_id(const alert_book *b, int64_t id)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->e[i].source == ALERT_SRC_COLLECTOR && b->e[i].id == id)
            return (int)i;
    }
    return -1;
}

static void remove_at(alert_book *b, size_t i)
{
    memmove(&b->e[i], &b->e[i + 1], (b->n - i - 1) * sizeof b->e[0]);
    b->n--;
}

/* Adds a (replacing an alert with its id); when full, forgets the oldest
 * collector alert — the collector keeps them all, the chair the newest. */
static void put(alert_book *b, const chair_alert *a)
{
    int at = a->source == ALERT_SRC_COLLECTOR ? find_id(b, a->id) : -1;
    if (at >= 0) {
        b->e[at] = *a;
        return;
    }
    if (b->n == ALERT_BOOK_MAX) {
        size_t oldest = b->n;
        for (size_t i = 0; i < b->n; i++) {
            if (b->e[i].source == ALERT_SRC_COLLECTOR && (oldest == b->n || b->e[i].id < b->e[oldest].id))
                oldest = i;
        }
        if (oldest == b->n)
            return;
        remove_at(b, oldest);
    }
    b->e[b->n++] = *a;
}

const chair_alert *alert_book_find(const alert_book *b, chair_alert_source source,
                                   const char *rule, const char *cause)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->e[i].source == source && strcmp(b->e[i].rule, rule) == 0 &&
            strcmp(b->e[i].cause, cause) == 0)
            return &b->e[i];
    }
    return NULL;
}

void alert_book_put_local(alert_book *b, const chair_alert *a)
{
    if (!alert_book_find(b, ALERT_SRC_AGENT, a->rule, a->cause))
        put(b, a);
}

void alert_book_remove_local(alert_book *b, const char *rule, const char *cause)
{
    const chair_alert *a = alert_book_find(b, ALERT_SRC_AGENT, rule, cause);
    if (a)
        remove_at(b, (size_t)(a - b->e));
}

/* Copies a string member; false when absent or not a string. */
static bool get_str(const cJSON *o, const char *name, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsString(v))
        return false;
    snprintf(out, cap, "%s", v->valuestring);
    return true;
}

static bool get_id(const cJSON *o, const char *name, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9007199254740991.0)
        return false;
    *out = (int64_t)v->valuedouble;
    return true;
}

static bool read_alert(const cJSON *o, chair_alert *a)
{
    memset(a, 0, sizeof *a);
    a->source = ALERT_SRC_COLLECTOR;
    return cJSON_IsObject(o) && get_id(o, "id", &a->id) && get_str(o, "rule", a->rule, sizeof a->rule) &&
           get_str(o, "severity", a->severity, sizeof a->severity) &&
           get_str(o, "cause", a->cause, sizeof a->cause) &&
           get_str(o, "message", a->message, sizeof a->message) &&
           get_str(o, "at", a->at, sizeof a->at);
}

/* The event's own line: a change the book did not know yet. */
static void apply_event(alert_book *b, const char *event, const chair_alert *ev,
                        alert_book_emit_fn emit, void *ctx)
{
    int i = find_id(b, ev->id);

    if (strcmp(event, "raised") == 0 || strcmp(event, "escalated") == 0) {
        if (i >= 0 && strcmp(b->e[i].severity, ev->severity) == 0)
            return;  /* known already (from an open list, or delivered twice) */
        put(b, ev);
        emit(ctx, event, ev);
    } else if ((strcmp(event, "cleared") == 0 || strcmp(event, "withdrawn") == 0) && i >= 0) {
        remove_at(b, (size_t)i);
        emit(ctx, event, ev);
    }
}

static void reconcile(alert_book *b, const cJSON *open, double total, const char *at,
                      alert_book_emit_fn emit, void *ctx)
{
    int64_t min_listed = INT64_MAX;
    size_t listed = 0;
    const cJSON *item;
    chair_alert a;

    cJSON_ArrayForEach(item, open) {
        if (!read_alert(item, &a))
            continue;
        listed++;
        if (a.id < min_listed)
            min_listed = a.id;
        if (find_id(b, a.id) < 0) {
            put(b, &a);
            emit(ctx, "open", &a);
        }
    }
    /* The list holds the newest alerts: one older than all of them may be
     * open beyond it unless the list is complete. */
    bool complete = total <= (double)listed;
    for (size_t i = 0; i < b->n;) {
        chair_alert *e = &b->e[i];
        bool in_list = false;
        cJSON_ArrayForEach(item, open) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
            in_list |= cJSON_IsNumber(id) && (int64_t)id->valuedouble == e->id;
        }
        if (e->source != ALERT_SRC_COLLECTOR || in_list || (!complete && e->id < min_listed)) {
            i++;
            continue;
        }
        a = *e;
        snprintf(a.at, sizeof a.at, "%s", at);
        remove_at(b, i);
        emit(ctx, "cleared", &a);
    }
}

int alert_book_apply(alert_book *b, const char *payload, size_t len, bool retained,
                     alert_book_emit_fn emit, void *ctx, char *err, size_t errlen)
{
    cJSON *o = cJSON_ParseWithLength(payload, len);
    const cJSON *v, *open, *total;
    char event[16];
    chair_alert ev;
    int rc = -1;

    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "not a JSON object");
        goto cleanup;
    }
    v = cJSON_GetObjectItemCaseSensitive(o, "v");
    open = cJSON_GetObjectItemCaseSensitive(o, "open");
    total = cJSON_GetObjectItemCaseSensitive(o, "open_total");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        snprintf(err, errlen, "v: unsupported version (expected 1)");
        goto cleanup;
    }
    if (!get_str(o, "event", event, sizeof event) || !read_alert(o, &ev)) {
        snprintf(err, errlen, "event, id, rule, severity, cause, message, at: required");
        goto cleanup;
    }
    if (!cJSON_IsArray(open) || !cJSON_IsNumber(total)) {
        snprintf(err, errlen, "open, open_total: required");
        goto cleanup;
    }
    if (!retained)
        apply_event(b, event, &ev, emit, ctx);
    reconcile(b, open, total->valuedouble, ev.at, emit, ctx);
    rc = 0;
cleanup:
    cJSON_Delete(o);
    return rc;
}
