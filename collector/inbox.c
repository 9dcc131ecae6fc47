#include "inbox.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monoclock.h"
#include "prepare.h"

struct inbox {
    pthread_mutex_t mu;
    pthread_cond_t not_full, not_empty;
    pthread_cond_t closing;       /* CLOCK_MONOTONIC: a backoff ignores clock steps */
    inbox_msg *ring;
    size_t cap, head, count;
    size_t bytes, max_bytes;
    bool closed;
};

inbox *inbox_new(size_t max_messages, size_t max_bytes)
{
    inbox *q = calloc(1, sizeof *q);
    if (!q || !(q->ring = calloc(max_messages, sizeof *q->ring))) {
        free(q);
        return NULL;
    }
    pthread_condattr_t mono;

    q->cap = max_messages;
    q->max_bytes = max_bytes;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_full, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&q->closing, &mono);
    pthread_condattr_destroy(&mono);
    return q;
}

void inbox_msg_free(inbox_msg *m)
{
    free(m->topic);
    free(m->payload);
    prepared_free(m->prepared);
    m->topic = m->payload = NULL;
    m->prepared = NULL;
}

void inbox_free(inbox *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->count; i++)
        inbox_msg_free(&q->ring[(q->head + i) % q->cap]);
    pthread_cond_destroy(&q->closing);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
}

/* A message larger than max_bytes still goes in once the inbox is empty,
 * so no single message can wedge it. */
static bool has_room(const inbox *q, size_t len)
{
    return q->count < q->cap && (q->count == 0 || q->bytes + len <= q->max_bytes);
}

int inbox_put(inbox *q, inbox_msg *m, size_t n)
{
    size_t i = 0;

    pthread_mutex_lock(&q->mu);
    for (; i < n; i++) {
        while (!q->closed && !has_room(q, m[i].weight)) {
            if (i > 0)            /* what is in may be taken meanwhile */
                pthread_cond_signal(&q->not_empty);
            pthread_cond_wait(&q->not_full, &q->mu);
        }
        if (q->closed)
            break;
        q->ring[(q->head + q->count++) % q->cap] = m[i];
        q->bytes += m[i].weight;
        m[i] = (inbox_msg){0};
    }
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    for (size_t k = i; k < n; k++)
        inbox_msg_free(&m[k]);
    return i == n ? 0 : -1;
}

int inbox_push(inbox *q, const char *topic, const void *payload, size_t len)
{
    inbox_msg m = {strdup(topic), malloc(len ? len : 1), len, NULL, len};

    if (!m.topic || !m.payload) {
        inbox_msg_free(&m);
        return -1;
    }
    memcpy(m.payload, payload, len);
    return inbox_put(q, &m, 1);
}

size_t inbox_take(inbox *q, inbox_msg *out, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->count == 0)
        pthread_cond_wait(&q->not_empty, &q->mu);
    while (n < max && q->count > 0) {
        out[n] = q->ring[q->head];
        q->bytes -= out[n].weight;
        q->head = (q->head + 1) % q->cap;
        q->count--;
        n++;
    }
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void inbox_close(inbox *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_cond_broadcast(&q->not_full);
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->closing);
    pthread_mutex_unlock(&q->mu);
}

bool inbox_closed(inbox *q)
{
    pthread_mutex_lock(&q->mu);
    bool closed = q->closed;
    pthread_mutex_unlock(&q->mu);
    return closed;
}

bool inbox_wait_closed(inbox *q, long timeout_ms)
{
    struct timespec until = mono_deadline(timeout_ms);

    pthread_mutex_lock(&q->mu);
    while (!q->closed && pthread_cond_timedwait(&q->closing, &q->mu, &until) == 0)
        ;
    bool closed = q->closed;
    pthread_mutex_unlock(&q->mu);
    return closed;
}
