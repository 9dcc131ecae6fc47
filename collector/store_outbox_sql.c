/* store_outbox_sql: store_outbox.h on the storage seam (sqldb.h). */
#include "store_outbox.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify_event.h"
#include "store_sql_int.h"

#define STR_(x) #x
#define STR(x) STR_(x)

enum { O_EVENT_ADD, O_EVENT_PAYLOAD, O_OUTBOX_ADD, O_NEXT, O_DELIVERED, O_FAILED, O_REMIND, O_COUNT };
static_assert(O_COUNT <= STORE_OUTBOX_STMTS, "raise STORE_OUTBOX_STMTS");

static const char *const sql[O_COUNT] = {
    /* The payload names its own id, so the row comes first. */
    [O_EVENT_ADD] = "INSERT INTO notify_events(alert_id, event, created_at, payload) "
                    "VALUES (?1, ?2, ?3, '') RETURNING id",
    [O_EVENT_PAYLOAD] = "UPDATE notify_events SET payload = ?2 WHERE id = ?1",
    [O_OUTBOX_ADD] = "INSERT INTO notify_outbox(sink, event_id) VALUES (?1, ?2)",
    /* Oldest first, one at a time: a sink receives an alert's events in
     * the order they happened (raised before cleared). */
    [O_NEXT] = "SELECT o.event_id, o.attempts, e.created_at, e.payload FROM notify_outbox o "
               "JOIN notify_events e ON e.id = o.event_id "
               "WHERE o.sink = ?1 AND o.delivered_at IS NULL ORDER BY o.event_id LIMIT 1",
    [O_DELIVERED] = "UPDATE notify_outbox SET attempts = attempts + 1, last_attempt_at = ?3, "
                    "delivered_at = ?3 WHERE sink = ?1 AND event_id = ?2",
    [O_FAILED] = "UPDATE notify_outbox SET attempts = attempts + 1, last_attempt_at = ?4, "
                 "last_error = ?3 WHERE sink = ?1 AND event_id = ?2 AND delivered_at IS NULL",
    /* Driven by the open alerts (few), each looked up in
     * notify_events_by_alert; an alert without events compares NULL and
     * is left out. */
    [O_REMIND] = "SELECT a.id, a.rule, a.severity, a.device_id, a.clinic, a.cause, a.message, "
                 "a.evidence FROM alerts a WHERE a.cleared_at IS NULL AND a.state IS NULL AND "
                 "(SELECT MAX(e.created_at) FROM notify_events e WHERE e.alert_id = a.id) < ?1 "
                 "ORDER BY a.id LIMIT " STR(STORE_OUTBOX_REMIND_MAX),
};

int store__prepare_outbox(store *s, char *err, size_t errlen)
{
    for (int i = 0; i < O_COUNT; i++) {
        if (sqldb_prepare(s->db, sql[i], &s->oq[i]) != 0) {
            snprintf(err, errlen, "database %s: preparing outbox statement %d: %s",
                     sqldb_name(s->db), i, sqldb_errmsg(s->db));
            return -1;
        }
    }
    return 0;
}

void store_outbox_set_route(store *s, store_outbox_route_fn fn, void *ctx,
                            const char *const sink_names[STORE_OUTBOX_SINKS])
{
    s->route = fn;
    s->route_ctx = ctx;
    for (int k = 0; k < STORE_OUTBOX_SINKS; k++)
        s->sink_names[k] = sink_names ? sink_names[k] : NULL;
}

/* Binds text or fails with the statement reset. */
static int bind_texts(store *s, sqldb_stmt *q, const char *what, int first, int n,
                      const char *const *v)
{
    for (int i = 0; i < n; i++) {
        if (sqldb_bind_text(q, first + i, v[i]) != 0) {
            store__failed(s, what);
            store__reset(q);
            return -1;
        }
    }
    return 0;
}

/* Binds an integer or fails with the statement reset. */
static int bind_int(store *s, sqldb_stmt *q, const char *what, int i, int64_t v)
{
    if (sqldb_bind_int64(q, i, v) == 0)
        return 0;
    store__failed(s, what);
    store__reset(q);
    return -1;
}

int store_outbox_lead(store *s, const char *sink, bool *held)
{
    char key[64];

    snprintf(key, sizeof key, "notify:%s", sink);
    return sqldb_try_lock_session(s->db, key, held) == 0 ? 0
                                                          : store__failed(s, "outbox sender lock");
}

int store_outbox_add(store *s, const alert *a, const char *event, const char *now_ts)
{
    sqldb_stmt *q = s->oq[O_EVENT_ADD];
    unsigned mask;
    int64_t id;
    char *payload;
    int rc;

    if (!s->route || !(mask = s->route(s->route_ctx, a, event)))
        return 0;
    if (bind_int(s, q, "outbox event insert", 1, a->id) != 0 ||
        bind_texts(s, q, "outbox event insert", 2, 2, (const char *[]){event, now_ts}) != 0)
        return -1;
    if ((rc = store__step(s, q, "outbox event insert")) != 1) {
        if (rc == 0)
            snprintf(s->err, sizeof s->err, "outbox event insert returned no id");
        return -1;
    }
    id = sqldb_column_int64(q, 0);
    store__finish(q);

    if (!(payload = notify_event_json(a, event, id, now_ts))) {
        snprintf(s->err, sizeof s->err, "outbox event: out of memory");
        return -1;
    }
    q = s->oq[O_EVENT_PAYLOAD];
    rc = bind_int(s, q, "outbox event payload", 1, id) == 0 &&
                 bind_texts(s, q, "outbox event payload", 2, 1, (const char *[]){payload}) == 0
             ? store__run(s, q, "outbox event payload")
             : -1;
    free(payload);
    if (rc != 0)
        return -1;

    q = s->oq[O_OUTBOX_ADD];
    for (int k = 0; k < STORE_OUTBOX_SINKS; k++) {
        if (!(mask & (1u << k)) || !s->sink_names[k])
            continue;
        if (bind_texts(s, q, "outbox insert", 1, 1, &s->sink_names[k]) != 0 ||
            bind_int(s, q, "outbox insert", 2, id) != 0 || store__run(s, q, "outbox insert") != 0)
            return -1;
    }
    return 0;
}

int store_outbox_next(store *s, const char *sink, store_outbox_item *out)
{
    sqldb_stmt *q = s->oq[O_NEXT];
    const char *p;
    int rc;

    memset(out, 0, sizeof *out);
    if (bind_texts(s, q, "outbox read", 1, 1, &sink) != 0)
        return -1;
    if ((rc = store__step(s, q, "outbox read")) != 1)
        return rc;
    out->event_id = sqldb_column_int64(q, 0);
    out->attempts = sqldb_column_int64(q, 1);
    store__copy_col(q, 2, out->created_at, sizeof out->created_at);
    p = sqldb_column_text(q, 3);
    out->payload = strdup(p ? p : "");
    store__reset(q);
    if (!out->payload) {
        snprintf(s->err, sizeof s->err, "outbox read: out of memory");
        return -1;
    }
    return 1;
}

static int mark(store *s, int which, const char *sink, int64_t event_id, const char *why,
                const char *now_ts, const char *what)
{
    sqldb_stmt *q = s->oq[which];
    int n = which == O_FAILED ? 4 : 3;

    if (bind_texts(s, q, what, 1, 1, &sink) != 0 || bind_int(s, q, what, 2, event_id) != 0 ||
        (which == O_FAILED && bind_texts(s, q, what, 3, 1, &why) != 0) ||
        bind_texts(s, q, what, n, 1, &now_ts) != 0)
        return -1;
    return store__run(s, q, what);
}

int store_outbox_delivered(store *s, const char *sink, int64_t event_id, const char *now_ts)
{
    return mark(s, O_DELIVERED, sink, event_id, NULL, now_ts, "outbox delivered");
}

int store_outbox_failed(store *s, const char *sink, int64_t event_id, const char *why,
                        const char *now_ts)
{
    return mark(s, O_FAILED, sink, event_id, why, now_ts, "outbox failed try");
}

int store_outbox_remind(store *s, const char *cutoff_ts, const char *now_ts, int *queued)
{
    sqldb_stmt *q = s->oq[O_REMIND];
    alert *due = NULL;
    int n = 0, rc;

    *queued = 0;
    if (!s->route)
        return 0;
    if (!(due = malloc(STORE_OUTBOX_REMIND_MAX * sizeof *due))) {
        snprintf(s->err, sizeof s->err, "outbox reminders: out of memory");
        return -1;
    }
    if (bind_texts(s, q, "outbox reminders", 1, 1, &cutoff_ts) != 0)
        goto fail;
    /* Read first, then queue: the queueing writes notify_events, which
     * this query reads. */
    while ((rc = store__step(s, q, "outbox reminders")) == 1) {
        alert *a = &due[n++];
        memset(a, 0, sizeof *a);
        a->id = sqldb_column_int64(q, 0);
        store__copy_col(q, 1, a->rule, sizeof a->rule);
        store__copy_col(q, 2, a->severity, sizeof a->severity);
        store__copy_col(q, 3, a->device, sizeof a->device);
        store__copy_col(q, 4, a->clinic, sizeof a->clinic);
        store__copy_col(q, 5, a->cause, sizeof a->cause);
        store__copy_col(q, 6, a->message, sizeof a->message);
        store__copy_col(q, 7, a->evidence, sizeof a->evidence);
        if (n == STORE_OUTBOX_REMIND_MAX) {
            store__reset(q);
            rc = 0;
            break;
        }
    }
    if (rc < 0)
        goto fail;
    for (int i = 0; i < n; i++)
        if (store_outbox_add(s, &due[i], "reminder", now_ts) != 0)
            goto fail;
    *queued = n;
    free(due);
    return 0;
fail:
    free(due);
    return -1;
}
