#include "publisher.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

typedef struct pending_ack {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t seq;
} pending_ack;

struct publisher {
    pthread_t thread;
    publisher_sink sink;
    pthread_mutex_t mu;
    pthread_cond_t work;
    bool stopping;
    pending_ack *acks;           /* guarded by mu */
    size_t nacks, cap_acks;
    alert_batch *alerts;         /* publisher thread only: what it publishes now */
    alert_event *queue;          /* guarded by mu */
    size_t nqueue;
    size_t dropped;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void publisher_ack(publisher *p, const char *device, uint64_t seq)
{
    pthread_mutex_lock(&p->mu);
    size_t i = 0;
    while (i < p->nacks && strcmp(p->acks[i].device, device) != 0)
        i++;
    if (i == p->nacks) {
        if (p->nacks == p->cap_acks) {
            size_t cap = p->cap_acks ? p->cap_acks * 2 : 64;
            pending_ack *a = realloc(p->acks, cap * sizeof *a);
            if (!a) {
                pthread_mutex_unlock(&p->mu);
                log_error("ack for device=%s not published (out of memory); the agent will resend",
                          device);
                return;
            }
            p->acks = a;
            p->cap_acks = cap;
        }
        memcpy(p->acks[i].device, device, sizeof p->acks[i].device);
        p->acks[i].seq = 0;
        p->nacks++;
    }
    if (seq > p->acks[i].seq)
        p->acks[i].seq = seq;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

void publisher_alerts(publisher *p, const alert_batch *b)
{
    if (b->count == 0)
        return;
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < b->count; i++) {
        if (p->nqueue == PUBLISHER_ALERTS_MAX)
            p->dropped++;
        else
            p->queue[p->nqueue++] = b->events[i];
    }
    p->dropped += b->dropped;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
}

/* Takes what is pending under the lock (swapping the ack buffer with the
 * spare one), publishes it outside the lock. */
static void publish_pending(publisher *p, pending_ack **spare, size_t *spare_cap)
{
    pending_ack *acks;
    size_t nacks, cap, nalerts, dropped;

    pthread_mutex_lock(&p->mu);
    acks = p->acks;
    nacks = p->nacks;
    cap = p->cap_acks;
    p->acks = *spare;
    p->cap_acks = *spare_cap;
    p->nacks = 0;
    nalerts = p->nqueue < ALERT_BATCH_MAX ? p->nqueue : ALERT_BATCH_MAX;
    p->alerts->count = nalerts;
    p->alerts->dropped = 0;
    memcpy(p->alerts->events, p->queue, nalerts * sizeof *p->queue);
    memmove(p->queue, p->queue + nalerts, (p->nqueue - nalerts) * sizeof *p->queue);
    p->nqueue -= nalerts;
    dropped = p->dropped;
    p->dropped = 0;
    pthread_mutex_unlock(&p->mu);

    for (size_t i = 0; i < nacks; i++)
        p->sink.ack(p->sink.ctx, acks[i].device, acks[i].seq);
    if (nalerts)
        p->sink.alerts(p->sink.ctx, p->alerts, now_ms());
    if (dropped)
        log_warn("alerts stored but not published count=%zu (publish queue full)", dropped);
    *spare = acks;
    *spare_cap = cap;
}

static bool has_work(const publisher *p)
{
    return p->nacks > 0 || p->nqueue > 0 || p->dropped > 0;
}

static void *run(void *arg)
{
    publisher *p = arg;
    pending_ack *spare = NULL;
    size_t spare_cap = 0;

    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stopping && !has_work(p))
            pthread_cond_wait(&p->work, &p->mu);
        bool stop = p->stopping && !has_work(p);
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        publish_pending(p, &spare, &spare_cap);
    }
    free(spare);
    return NULL;
}

publisher *publisher_start(const publisher_sink *sink)
{
    publisher *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->sink = *sink;
    p->alerts = malloc(sizeof *p->alerts);
    p->queue = malloc(PUBLISHER_ALERTS_MAX * sizeof *p->queue);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    if (!p->alerts || !p->queue || pthread_create(&p->thread, NULL, run, p) != 0) {
        free(p->alerts);
        free(p->queue);
        free(p);
        return NULL;
    }
    return p;
}

void publisher_stop(publisher *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p->acks);
    free(p->alerts);
    free(p->queue);
    free(p);
}
