#include "notify_sender.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "monoclock.h"
#include "notify_retry.h"
#include "record.h"
#include "store.h"
#include "store_outbox.h"

typedef struct worker {
    struct notify_sender *ns;
    notify_sink sink;
    store *s;
    notify_retry retry;
    pthread_t th;
    bool started;
    bool leading;   /* this collector sends the sink's events (store_outbox_lead) */
} worker;

struct notify_sender {
    worker w[NOTIFY_NSINKS];
    int64_t poll_ms;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* CLOCK_MONOTONIC: stop wakes a wait at once */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wait_ms(notify_sender *ns, int64_t ms)
{
    struct timespec until = mono_deadline((long)ms);
    pthread_mutex_lock(&ns->mu);
    if (!atomic_load(&ns->stop))
        pthread_cond_timedwait(&ns->cv, &ns->mu, &until);
    pthread_mutex_unlock(&ns->mu);
}

/* Whether this collector is the one sending the sink's events now: with
 * several collectors on one database only one delivers per sink, the one
 * holding its lock; the others wait to stand in. 1 leading, 0 not, -1 on a
 * store error. Said once each time it changes. */
static int lead(worker *w, const char *name)
{
    bool held;

    if (store_outbox_lead(w->s, name, &held) != 0)
        return -1;
    if (held != w->leading)
        log_info("notification sink=%s %s", name,
                 held ? "sending from this collector"
                      : "sent by another collector; this one stands by");
    w->leading = held;
    return held ? 1 : 0;
}

/* One event to the sink; 0 when there was one and it was tried, 1 when
 * the outbox is empty (or another collector sends it), -1 on a store error. */
static int deliver_next(worker *w)
{
    const char *name = notify_sink_name(w->sink.kind);
    char detail[512], now[RECORD_TS_LEN + 1], target[CONFIG_STR_MAX];
    store_outbox_item it;
    int64_t created_ms = 0, now_ms;
    int rc = lead(w, name);

    if (rc <= 0)
        return rc == 0 ? 1 : -1;
    if ((rc = store_outbox_next(w->s, name, &it)) <= 0)
        return rc == 0 ? 1 : -1;
    notify_target_display(&w->sink, target, sizeof target);
    rc = notify_deliver(&w->sink, it.event_id, it.payload, &w->ns->stop, detail, sizeof detail);
    now_ms = wall_ms();
    record_ts_format(now_ms, now);
    record_ts_parse(it.created_at, &created_ms);
    if (rc == 0) {
        notify_retry_ok(&w->retry);
        log_info("notified sink=%s event_id=%" PRId64 " target=%s result=%s attempts=%" PRId64
                 " after_ms=%" PRId64, name, it.event_id, LOG_Q(target), LOG_Q(detail),
                 it.attempts + 1, now_ms - created_ms);
        if (store_outbox_delivered(w->s, name, it.event_id, now) != 0)
            log_error("notification sink=%s event_id=%" PRId64 " was accepted but could not be "
                      "marked delivered: %s; it will be sent again (receivers de-duplicate by "
                      "event id)", name, it.event_id, LOG_Q(store_errmsg(w->s)));
    } else if (atomic_load(&w->ns->stop)) {
        log_info("notification sink=%s event_id=%" PRId64 " not sent: stopping; the next run "
                 "sends it", name, it.event_id);
    } else {
        notify_retry_failed(&w->retry, mono_ms());
        log_warn("notification failed sink=%s event_id=%" PRId64 " target=%s error=%s "
                 "failures_in_a_row=%" PRId64 " retry_in_s=%" PRId64, name, it.event_id,
                 LOG_Q(target), LOG_Q(detail), w->retry.failures,
                 notify_retry_wait_ms(&w->retry, mono_ms()) / 1000);
        if (store_outbox_failed(w->s, name, it.event_id, detail, now) != 0)
            log_error("notification sink=%s: counting a failed try: %s", name,
                      LOG_Q(store_errmsg(w->s)));
    }
    free(it.payload);
    return 0;
}

static void *run(void *arg)
{
    worker *w = arg;
    notify_sender *ns = w->ns;
    bool store_failing = false;

    while (!atomic_load(&ns->stop)) {
        int64_t wait = notify_retry_wait_ms(&w->retry, mono_ms());
        if (wait > 0) {
            wait_ms(ns, wait < 1000 ? wait : 1000);
            continue;
        }
        int rc = deliver_next(w);
        if (rc < 0) {
            if (!store_failing)
                log_error("notification sink=%s: reading the outbox: %s; trying again every "
                          "second", notify_sink_name(w->sink.kind), LOG_Q(store_errmsg(w->s)));
            store_failing = true;
            wait_ms(ns, 1000);
            continue;
        }
        store_failing = false;
        if (rc == 1)
            wait_ms(ns, ns->poll_ms);
    }
    return NULL;
}

int notify_sender_start(const char *db_path, const notify_sinks *sinks,
                        const notify_sender_opts *opts, notify_sender **out, char *err,
                        size_t errlen)
{
    notify_sender *ns = NULL;
    pthread_condattr_t ca;
    int any = 0;

    *out = NULL;
    for (int k = 0; k < NOTIFY_NSINKS; k++)
        any += sinks->sink[k].enabled;
    if (!any)
        return 0;
    if (!(ns = calloc(1, sizeof *ns))) {
        snprintf(err, errlen, "notification sender: out of memory");
        return -1;
    }
    ns->poll_ms = opts && opts->poll_ms > 0 ? opts->poll_ms : 200;
    atomic_init(&ns->stop, false);
    pthread_mutex_init(&ns->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ns->cv, &ca);
    pthread_condattr_destroy(&ca);
    for (int k = 0; k < NOTIFY_NSINKS; k++) {
        worker *w = &ns->w[k];
        w->ns = ns;
        w->sink = sinks->sink[k];
        if (!w->sink.enabled)
            continue;
        notify_retry_init(&w->retry,
                          opts && opts->retry_first_ms ? opts->retry_first_ms : NOTIFY_RETRY_FIRST_MS,
                          opts && opts->retry_max_ms ? opts->retry_max_ms : NOTIFY_RETRY_MAX_MS);
        if (store_open(db_path, &w->s, err, errlen) != 0)
            goto fail;
        if (pthread_create(&w->th, NULL, run, w) != 0) {
            snprintf(err, errlen, "notification sender: cannot start a thread");
            goto fail;
        }
        w->started = true;
    }
    *out = ns;
    return 0;
fail:
    notify_sender_stop(ns);
    return -1;
}

void notify_sender_stop(notify_sender *ns)
{
    if (!ns)
        return;
    pthread_mutex_lock(&ns->mu);
    atomic_store(&ns->stop, true);
    pthread_cond_broadcast(&ns->cv);
    pthread_mutex_unlock(&ns->mu);
    for (int k = 0; k < NOTIFY_NSINKS; k++) {
        if (ns->w[k].started)
            pthread_join(ns->w[k].th, NULL);
        store_close(ns->w[k].s);
    }
    pthread_cond_destroy(&ns->cv);
    pthread_mutex_destroy(&ns->mu);
    free(ns);
}
