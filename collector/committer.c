#include "committer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "monoclock.h"
#include "prepare.h"
#include "presence.h"

/* The queue between the preparing thread and the committing one: a group
 * is at most COMMITTER_GROUP_MAX messages. 64 MB of prepared records and
 * their payloads hold that many messages of 64 records (~85 kB each), so
 * a burst is stored in groups as big as the preparing thread fills while
 * the one before commits, and the bound is the message count: on SQLite a
 * group writes each page it touched to the WAL once, so bigger groups
 * write the same half-filled pages less often (docs/performance.md). */
#define READY_BYTES (64u * 1024 * 1024)
/* Messages the preparing thread takes from the inbox at once. */
#define PREPARE_TAKE 16

struct committer {
    pthread_t thread, prepare_thread;
    ingest *in;
    inbox *q;                     /* Paho's: as received */
    inbox *ready;                 /* prepared, in the same order */
    prepare_scratch *scratch;     /* the preparing thread's */
    committer_publish pub;
    committer_retry retry;
    /* The committer thread's own, never shared: */
    bool failing;                 /* since the first failed try of a group */
    int64_t failing_since;        /* monotonic ms */
    uint64_t retries;             /* tries after the first, this outage */
    size_t given_up;              /* messages dropped unacked at shutdown */
    int conflicts;                /* retryable failures of the group in a row */
    uint64_t rand_state;          /* xorshift64 for the conflict backoff */
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

static void count_committed(metrics_counters *c, const group_tally *t)
{
    if (!c)
        return;
    atomic_fetch_add_explicit(&c->messages_received, t->messages, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->records_stored, t->stored, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->duplicates, t->duplicates, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->conflicts, t->conflicts, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->quarantined, t->quarantined, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->groups_committed, 1, memory_order_relaxed);
}

/* Takes the device locks of msgs[first..n) in sorted order, before any
 * message runs (ingest_group_lock): two collectors' groups then never
 * wait on each other's device locks in a cycle. */
static int lock_group(committer *c, inbox_msg *msgs, size_t n, size_t first)
{
    const char *topics[COMMITTER_GROUP_MAX];

    for (size_t i = first; i < n; i++)
        topics[i - first] = msgs[i].topic;
    return ingest_group_lock(c->in, topics, n - first);
}

/* The topic of the first events message after msgs[i] (a device's status
 * is not one), NULL: none. */
static const char *next_events_topic(const inbox_msg *msgs, size_t i, size_t n)
{
    for (; i < n; i++)
        if (!presence_is_status(msgs[i].topic))
            return msgs[i].topic;
    return NULL;
}

/* try_group's answer when a message failed outside a careful group
 * (INGEST_RETRY_CAREFULLY): rolled back, to run again at once carefully. */
#define GROUP_RUN_CAREFULLY 1

/* One try of a group: msgs from first on, until the end or until half the
 * alert budget is used (so the next message still has room for its
 * alerts); *next is where the group ended. careful: a savepoint per
 * message (ingest_group_careful). Acks and alerts are published only after
 * the commit. 0 when committed; GROUP_RUN_CAREFULLY; -1 when the store
 * could not begin, run or commit it (rolled back, nothing published),
 * *what saying which. */
static int try_group(committer *c, inbox_msg *msgs, size_t n, size_t first, bool careful,
                     size_t *next, const char **what)
{
    pending_ack acks[COMMITTER_GROUP_MAX];
    size_t nacks = 0;
    group_tally tally = {0};
    ingest_result r;
    int rc;

    *next = first;
    if (ingest_group_begin(c->in) != 0) {
        *what = "begin";
        return -1;
    }
    if (careful)
        ingest_group_careful(c->in);
    if (lock_group(c, msgs, n, first) != 0) {
        *what = "lock the devices of";
        goto undo;
    }
    while (*next < n) {
        inbox_msg *m = &msgs[(*next)++];
        /* A device's online/offline word: into device_presence, in this
         * transaction and in arrival order; never acked, no alerts, not
         * counted as an events message. Its failure is its own (logged):
         * it never holds up the group, unless the group must run again. */
        if (presence_is_status(m->topic)) {
            if (presence_message(ingest_store(c->in), m->topic, m->payload, m->len, now_ms()) != 0 &&
                store_retryable(ingest_store(c->in))) {
                *what = "store";
                goto undo;
            }
            continue;
        }
        tally.messages++;
        ingest_expect_next(c->in, next_events_topic(msgs, *next, n));
        if ((rc = ingest_message_prepared(c->in, m->topic, m->payload, m->len, m->prepared,
                                          now_ms(), &r)) == 0) {
            tally_add(&tally, &r);
            if (r.ack)
                note_ack(acks, &nacks, &r);
        } else if (rc == INGEST_RETRY_GROUP) {
            *what = "store";
            goto undo;
        } else if (rc == INGEST_RETRY_CAREFULLY) {
            ingest_group_rollback(c->in);
            return GROUP_RUN_CAREFULLY;
        }
        if (ingest_alerts(c->in)->count >= ALERT_BATCH_MAX / 2)
            break;
    }
    if ((rc = ingest_group_commit(c->in)) != 0) {
        if (rc == INGEST_RETRY_CAREFULLY)
            return GROUP_RUN_CAREFULLY;
        *what = "commit";
        return -1;
    }
    count_committed(c->pub.counters, &tally);
    for (size_t i = 0; i < nacks; i++)
        c->pub.ack(c->pub.ctx, acks[i].device, acks[i].seq);
    c->pub.alerts(c->pub.ctx, ingest_alerts(c->in), now_ms());
    log_debug("group stored messages=%zu acks=%zu", *next - first, nacks);
    return 0;
undo:
    ingest_group_rollback(c->in);
    return -1;
}

/* xorshift64: the jitter of the conflict backoff, so that two collectors
 * that failed each other do not meet again at the same instant. */
static uint64_t next_rand(committer *c)
{
    uint64_t x = c->rand_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return c->rand_state = x;
}

/* A group that failed in a way that may pass at once if run again (a
 * deadlock with another collector, a serialization failure, a lost
 * connection: store_retryable) is run again after a short random pause,
 * up to COMMITTER_CONFLICT_TRIES times in a row, without counting it as a
 * storage outage. True when it should be; false when the failure was not
 * of that kind or the tries are used up (the outage path takes over). */
static bool retry_conflict(committer *c, const char *what)
{
    long cap_ms, pause_ms;

    if (!store_retryable(ingest_store(c->in)) || c->conflicts >= c->retry.conflict_tries)
        return false;
    c->conflicts++;
    if (c->pub.counters)
        atomic_fetch_add_explicit(&c->pub.counters->group_conflicts, 1, memory_order_relaxed);
    cap_ms = c->retry.conflict_first_ms << (c->conflicts - 1);
    pause_ms = 1 + (long)(next_rand(c) % (uint64_t)cap_ms);
    log_debug("group could not %s (%s); running it again in %ld ms (try %d of %d)", what,
              ingest_store_error(c->in), pause_ms, c->conflicts + 1, c->retry.conflict_tries + 1);
    nanosleep(&(struct timespec){pause_ms / 1000, (pause_ms % 1000) * 1000000L}, NULL);
    return true;
}

static void set_failing_gauge(committer *c, bool failing)
{
    if (c->pub.counters)
        atomic_store_explicit(&c->pub.counters->storage_failing, failing ? 1 : 0,
                              memory_order_relaxed);
}

/* The one line an outage gets when it starts, with the store's own words. */
static void outage_starts(committer *c, const char *what, size_t held)
{
    c->failing = true;
    c->failing_since = mono_ms();
    c->retries = 0;
    set_failing_gauge(c, true);
    log_error("storage failing: the store cannot %s a group (%s);"
              " holding %zu messages unacked and retrying after %ld ms, doubling to %ld ms,"
              " while new messages wait (back-pressure). To fix: on SQLite, free disk space on"
              " the filesystem of db_path, check that it is mounted writable and that the"
              " collector's user may write the database and its -wal and -shm files; on"
              " PostgreSQL, check that the server at db_path is up and reachable and that the"
              " collector's role may write the tables",
              what, ingest_store_error(c->in), held, c->retry.first_ms, c->retry.max_ms);
}

static void outage_ends(committer *c)
{
    int64_t took = mono_ms() - c->failing_since;

    c->failing = false;
    set_failing_gauge(c, false);
    log_info("storage recovered after %" PRId64 ".%01d s and %" PRIu64 " retries;"
             " the held messages are stored and acked", took / 1000, (int)(took % 1000) / 100,
             c->retries);
}

/* Stores msgs[0..n), group after group. A group that fails is tried again
 * after a backoff until it commits; once the inbox is closed, a failed try
 * is the last one and everything not yet committed is given up. */
static void store_all(committer *c, inbox_msg *msgs, size_t n)
{
    size_t next = 0;
    long delay = c->retry.first_ms;
    bool careful = false;         /* until the group a message failed in commits */

    if (c->given_up) {            /* shutting down after a failed last try */
        c->given_up += n;
        return;
    }
    while (next < n) {
        size_t first = next;
        const char *what = "";
        bool last_try = inbox_closed(c->q);
        int rc = try_group(c, msgs, n, first, careful, &next, &what);

        if (rc == 0) {
            if (c->failing)
                outage_ends(c);
            delay = c->retry.first_ms;
            c->conflicts = 0;
            careful = false;
            continue;
        }
        next = first;             /* the same group again: nothing of it is durable */
        if (rc == GROUP_RUN_CAREFULLY) {
            careful = true;
            continue;
        }
        if (!c->failing && retry_conflict(c, what))
            continue;
        if (c->pub.counters)
            atomic_fetch_add_explicit(&c->pub.counters->commit_failures, 1, memory_order_relaxed);
        if (!c->failing)
            outage_starts(c, what, n - first);
        if (last_try) {
            c->given_up = n - first;
            return;
        }
        log_debug("storage still failing: retry %" PRIu64 " of the group in %ld ms",
                  c->retries + 1, delay);
        inbox_wait_closed(c->q, delay);
        c->retries++;
        delay = delay > c->retry.max_ms / 2 ? c->retry.max_ms : delay * 2;
    }
}

/* The preparing thread: parses, checks and hashes each events message
 * (prepare.h) while the committing thread stores the ones before it, then
 * hands it on in arrival order. A message it could not prepare (out of
 * memory) goes on as it is: ingest prepares it then. Ends once the inbox
 * is closed and empty, closing the ready queue behind the last message. */
static void *prepare_run(void *arg)
{
    inbox_msg msgs[PREPARE_TAKE];
    committer *c = arg;
    size_t n;

    while ((n = inbox_take(c->q, msgs, PREPARE_TAKE)) > 0) {
        if (c->pub.counters)
            atomic_fetch_add_explicit(&c->pub.counters->messages_waiting, n,
                                      memory_order_relaxed);
        for (size_t i = 0; i < n; i++) {
            inbox_msg *m = &msgs[i];
            char device[IDS_DEVICE_ID_MAX + 1];
            const char *leaf = message_topic_device(m->topic, device);
            if (leaf && strcmp(leaf, "events") == 0 &&
                (m->prepared = prepare_message(c->scratch, device, m->payload, m->len)))
                m->weight += m->prepared->bytes;
        }
        /* Handed over together: a committing thread that waits takes
         * them as one group, not the first alone. Fails only once ready
         * is closed, which this thread does. */
        (void)inbox_put(c->ready, msgs, n);
    }
    inbox_close(c->ready);
    return NULL;
}

static void *run(void *arg)
{
    inbox_msg msgs[COMMITTER_GROUP_MAX];
    committer *c = arg;
    size_t n;

    while ((n = inbox_take(c->ready, msgs, COMMITTER_GROUP_MAX)) > 0) {
        store_all(c, msgs, n);
        for (size_t i = 0; i < n; i++)
            inbox_msg_free(&msgs[i]);
        if (c->pub.counters)
            atomic_fetch_sub_explicit(&c->pub.counters->messages_waiting, n,
                                      memory_order_relaxed);
    }
    if (c->given_up) {
        if (c->pub.counters)
            atomic_fetch_add_explicit(&c->pub.counters->messages_received, c->given_up,
                                      memory_order_relaxed);
        log_error("stopped while storage was failing: %zu messages not stored and not acked;"
                  " their agents resend them to the next collector run", c->given_up);
    }
    return NULL;
}

committer *committer_start_retry(ingest *in, inbox *q, const committer_publish *pub,
                                 const committer_retry *retry)
{
    committer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->in = in;
    c->q = q;
    c->pub = *pub;
    c->retry = *retry;
    if (c->retry.first_ms < 1)
        c->retry.first_ms = 1;
    if (c->retry.max_ms < c->retry.first_ms)
        c->retry.max_ms = c->retry.first_ms;
    if (c->retry.conflict_tries <= 0 || c->retry.conflict_tries > 16)
        c->retry.conflict_tries = COMMITTER_CONFLICT_TRIES;
    if (c->retry.conflict_first_ms < 1 || c->retry.conflict_first_ms > 1000)
        c->retry.conflict_first_ms = COMMITTER_CONFLICT_FIRST_MS;
    c->rand_state = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)c;
    if (!c->rand_state)
        c->rand_state = 1;
    if (!(c->ready = inbox_new(COMMITTER_GROUP_MAX, READY_BYTES)) ||
        !(c->scratch = prepare_scratch_new()))
        goto fail;
    if (pthread_create(&c->thread, NULL, run, c) != 0)
        goto fail;
    if (pthread_create(&c->prepare_thread, NULL, prepare_run, c) != 0) {
        inbox_close(c->ready);    /* the committing thread finds it empty and ends */
        pthread_join(c->thread, NULL);
        goto fail;
    }
    return c;
fail:
    inbox_free(c->ready);
    prepare_scratch_free(c->scratch);
    free(c);
    return NULL;
}

committer *committer_start(ingest *in, inbox *q, const committer_publish *pub)
{
    const committer_retry retry = {COMMITTER_RETRY_FIRST_MS, COMMITTER_RETRY_MAX_MS,
                                   COMMITTER_CONFLICT_TRIES, COMMITTER_CONFLICT_FIRST_MS};
    return committer_start_retry(in, q, pub, &retry);
}

void committer_stop(committer *c)
{
    if (!c)
        return;
    inbox_close(c->q);
    pthread_join(c->prepare_thread, NULL);
    pthread_join(c->thread, NULL);
    inbox_free(c->ready);
    prepare_scratch_free(c->scratch);
    free(c);
}
