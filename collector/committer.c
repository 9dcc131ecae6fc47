#include "committer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct committer {
    pthread_t thread;
    ingest *in;
    inbox *q;
    committer_publish pub;
};

typedef struct pending_ack {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t seq;
} pending_ack;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the latest head per device: a later message's ack covers an earlier one's. */
static void note_ack(pending_ack *acks, size_t *n, const ingest_result *r)
{
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(acks[i].device, r->device) == 0) {
            acks[i].seq = r->ack_seq;
            return;
        }
    }
    memcpy(acks[*n].device, r->device, sizeof acks[*n].device);
    acks[(*n)++].seq = r->ack_seq;
}

/* What a group did, added to the counters only once it is durable. */
typedef struct group_tally {
    uint64_t messages, stored, duplicates, conflicts, quarantined;
} group_tally;

static void tally_add(group_tally *t, const ingest_result *r)
{
    t->stored += (uint64_t)r->stored;
    t->duplicates += (uint64_t)r->duplicates;
    t->conflicts += (uint64_t)r->conflicts;
    t->quarantined += r->quarantined;
}

static void count_group(metrics_counters *c, const group_tally *t, bool committed)
{
    if (!c)
        return;
    atomic_fetch_add_explicit(&c->messages_received, t->messages, memory_order_relaxed);
    if (!committed) {
        atomic_fetch_add_explicit(&c->commit_failures, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&c->records_stored, t->stored, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->duplicates, t->duplicates, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->conflicts, t->conflicts, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->quarantined, t->quarantined, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->groups_committed, 1, memory_order_relaxed);
}

/* Stores msgs from *next on as one group; stops early when half the alert
 * budget is used, so the next message still has room for its alerts. */
static void store_group(ingest *in, const committer_publish *pub, inbox_msg *msgs, size_t n,
                        size_t *next)
{
    pending_ack acks[COMMITTER_GROUP_MAX];
    size_t nacks = 0, first = *next;
    group_tally tally = {0};
    ingest_result r;

    if (ingest_group_begin(in) != 0) {
        log_error("dropping %zu messages unacked; their agents will resend", n - *next);
        tally.messages = n - *next;
        count_group(pub->counters, &tally, false);
        *next = n;
        return;
    }
    while (*next < n) {
        inbox_msg *m = &msgs[(*next)++];
        tally.messages++;
        if (ingest_message(in, m->topic, m->payload, m->len, now_ms(), &r) == 0) {
            tally_add(&tally, &r);
            if (r.ack)
                note_ack(acks, &nacks, &r);
        }
        if (ingest_alerts(in)->count >= ALERT_BATCH_MAX / 2)
            break;
    }
    if (ingest_group_commit(in) != 0) {
        count_group(pub->counters, &tally, false);
        return;
    }
    count_group(pub->counters, &tally, true);
    for (size_t i = 0; i < nacks; i++)
        pub->ack(pub->ctx, acks[i].device, acks[i].seq);
    pub->alerts(pub->ctx, ingest_alerts(in), now_ms());
    log_debug("group stored messages=%zu acks=%zu", *next - first, nacks);
}

void committer_store(ingest *in, const committer_publish *pub, inbox_msg *msgs, size_t n)
{
    size_t next = 0;
    while (next < n)
        store_group(in, pub, msgs, n, &next);
}

static void *run(void *arg)
{
    inbox_msg msgs[COMMITTER_GROUP_MAX];
    committer *c = arg;
    size_t n;

    while ((n = inbox_take(c->q, msgs, COMMITTER_GROUP_MAX)) > 0) {
        committer_store(c->in, &c->pub, msgs, n);
        for (size_t i = 0; i < n; i++)
            inbox_msg_free(&msgs[i]);
    }
    return NULL;
}

committer *committer_start(ingest *in, inbox *q, const committer_publish *pub)
{
    committer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->in = in;
    c->q = q;
    c->pub = *pub;
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void committer_stop(committer *c)
{
    if (!c)
        return;
    inbox_close(c->q);
    pthread_join(c->thread, NULL);
    free(c);
}
