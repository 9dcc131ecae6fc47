#include "committer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "group_order.h"
#include "log.h"
#include "monoclock.h"
#include "prepare.h"
#include "presence.h"
#include "store.h"

/* The queues between the preparing thread and the committing ones, one
 * per lane, share this bound: a group is at most COMMITTER_GROUP_MAX
 * messages. 64 MB of prepared records and their payloads hold that many
 * messages of 64 records (~85 kB each), so
 * a burst is stored in groups as big as the preparing thread fills while
 * the one before commits, and the bound is the message count: on SQLite a
 * group writes each page it touched to the WAL once, so bigger groups
 * write the same half-filled pages less often (docs/performance.md). */
#define READY_BYTES (64u * 1024 * 1024)
/* Messages the preparing thread takes from the inbox at once. */
#define PREPARE_TAKE 16

/* One committing thread with its own ingest (and store connection): the
 * devices whose messages it stores are its own (lane_of). */
typedef struct lane {
    pthread_t thread;
    committer *c;                 /* what the lanes share */
    ingest *in;
    inbox *ready;                 /* its devices' messages, prepared, in arrival order */
    bool ordered;                 /* group_order: the store's locks are shared */
    group_stage stage[COMMITTER_GROUP_MAX];   /* of the group's messages, when ordered */
    /* The lane's committing thread's own, never shared: */
    bool failing;                 /* since the first failed try of a group */
    int64_t failing_since;        /* monotonic ms */
    uint64_t retries;             /* tries after the first, this outage */
    size_t given_up;              /* messages dropped unacked at shutdown */
    int conflicts;                /* retryable failures of the group in a row */
    uint64_t rand_state;          /* xorshift64 for the conflict backoff */
} lane;

struct committer {
    pthread_t prepare_thread;
    inbox *q;                     /* Paho's: as received */
    prepare_scratch *scratch;     /* the preparing thread's */
    committer_publish pub;
    committer_retry retry;
    atomic_int lanes_failing;     /* behind the storage_failing gauge */
    size_t nlanes;
    lane lanes[COMMITTER_LANES_MAX];
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
static int lock_group(lane *ln, inbox_msg *msgs, size_t n, size_t first)
{
    const char *topics[COMMITTER_GROUP_MAX];

    for (size_t i = first; i < n; i++)
        topics[i - first] = msgs[i].topic;
    return ingest_group_lock(ln->in, topics, n - first);
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
static int try_group(lane *ln, inbox_msg *msgs, size_t n, size_t first, bool careful,
                     size_t *next, const char **what)
{
    const committer_publish *pub = &ln->c->pub;
    pending_ack acks[COMMITTER_GROUP_MAX];
    size_t nacks = 0;
    group_tally tally = {0};
    ingest_result r;
    int rc;

    *next = first;
    if (ingest_group_begin(ln->in) != 0) {
        *what = "begin";
        return -1;
    }
    if (careful)
        ingest_group_careful(ln->in);
    if (ln->ordered && ln->stage[first] == GROUP_WHOLE)
        ingest_group_clinic_whole(ln->in);
    /* Where the group is ordered, its transactions end where group_order
     * cuts it; each locks its own devices. */
    size_t end = first + 1;
    while (end < n && !(ln->ordered && group_order_cut(msgs, ln->stage, first, end)))
        end++;
    if (lock_group(ln, msgs, end, first) != 0) {
        *what = "lock the devices of";
        goto undo;
    }
    while (*next < end) {
        inbox_msg *m = &msgs[(*next)++];
        /* A device's online/offline word: into device_presence, in this
         * transaction and in arrival order; never acked, no alerts, not
         * counted as an events message. Its failure is its own (logged):
         * it never holds up the group, unless the group must run again. */
        if (presence_is_status(m->topic)) {
            if (presence_message(ingest_store(ln->in), m->topic, m->payload, m->len, now_ms()) != 0 &&
                store_retryable(ingest_store(ln->in))) {
                *what = "store";
                goto undo;
            }
            continue;
        }
        tally.messages++;
        ingest_expect_next(ln->in, next_events_topic(msgs, *next, end));
        if ((rc = ingest_message_prepared(ln->in, m->topic, m->payload, m->len, m->prepared,
                                          now_ms(), &r)) == 0) {
            tally_add(&tally, &r);
            if (r.ack)
                note_ack(acks, &nacks, &r);
        } else if (rc == INGEST_RETRY_GROUP) {
            *what = "store";
            goto undo;
        } else if (rc == INGEST_RETRY_CAREFULLY) {
            ingest_group_rollback(ln->in);
            return GROUP_RUN_CAREFULLY;
        }
        if (ingest_alerts(ln->in)->count >= ALERT_BATCH_MAX / 2)
            break;
    }
    if ((rc = ingest_group_commit(ln->in)) != 0) {
        if (rc == INGEST_RETRY_CAREFULLY)
            return GROUP_RUN_CAREFULLY;
        *what = "commit";
        return -1;
    }
    count_committed(pub->counters, &tally);
    for (size_t i = 0; i < nacks; i++)
        pub->ack(pub->ctx, acks[i].device, acks[i].seq);
    pub->alerts(pub->ctx, ingest_alerts(ln->in), now_ms());
    log_debug("group stored messages=%zu acks=%zu", *next - first, nacks);
    return 0;
undo:
    ingest_group_rollback(ln->in);
    return -1;
}

/* xorshift64: the jitter of the conflict backoff, so that two collectors
 * that failed each other do not meet again at the same instant. */
static uint64_t next_rand(lane *ln)
{
    uint64_t x = ln->rand_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return ln->rand_state = x;
}

/* A group that failed in a way that may pass at once if run again (a
 * deadlock with another collector, a serialization failure, a lost
 * connection: store_retryable) is run again after a short random pause,
 * up to COMMITTER_CONFLICT_TRIES times in a row, without counting it as a
 * storage outage. True when it should be; false when the failure was not
 * of that kind or the tries are used up (the outage path takes over). */
static bool retry_conflict(lane *ln, const char *what)
{
    const committer *c = ln->c;
    long cap_ms, pause_ms;

    if (!store_retryable(ingest_store(ln->in)) || ln->conflicts >= c->retry.conflict_tries)
        return false;
    ln->conflicts++;
    if (c->pub.counters)
        atomic_fetch_add_explicit(&c->pub.counters->group_conflicts, 1, memory_order_relaxed);
    cap_ms = c->retry.conflict_first_ms << (ln->conflicts - 1);
    pause_ms = 1 + (long)(next_rand(ln) % (uint64_t)cap_ms);
    log_debug("group could not %s (%s); running it again in %ld ms (try %d of %d)", what,
              ingest_store_error(ln->in), pause_ms, ln->conflicts + 1, c->retry.conflict_tries + 1);
    nanosleep(&(struct timespec){pause_ms / 1000, (pause_ms % 1000) * 1000000L}, NULL);
    return true;
}

/* The gauge is 1 while any lane's store is failing. */
static void set_failing_gauge(lane *ln, bool failing)
{
    committer *c = ln->c;
    int now = atomic_fetch_add_explicit(&c->lanes_failing, failing ? 1 : -1,
                                        memory_order_relaxed) + (failing ? 1 : -1);

    if (c->pub.counters)
        atomic_store_explicit(&c->pub.counters->storage_failing, now > 0 ? 1 : 0,
                              memory_order_relaxed);
}

/* The one line an outage gets when it starts, with the store's own words. */
static void outage_starts(lane *ln, const char *what, size_t held)
{
    const committer *c = ln->c;

    ln->failing = true;
    ln->failing_since = mono_ms();
    ln->retries = 0;
    set_failing_gauge(ln, true);
    log_error("storage failing: the store cannot %s a group (%s);"
              " holding %zu messages unacked and retrying after %ld ms, doubling to %ld ms,"
              " while new messages wait (back-pressure). To fix: on SQLite, free disk space on"
              " the filesystem of db_path, check that it is mounted writable and that the"
              " collector's user may write the database and its -wal and -shm files; on"
              " PostgreSQL, check that the server at db_path is up and reachable and that the"
              " collector's role may write the tables",
              what, ingest_store_error(ln->in), held, c->retry.first_ms, c->retry.max_ms);
}

static void outage_ends(lane *ln)
{
    int64_t took = mono_ms() - ln->failing_since;

    ln->failing = false;
    set_failing_gauge(ln, false);
    log_info("storage recovered after %" PRId64 ".%01d s and %" PRIu64 " retries;"
             " the held messages are stored and acked", took / 1000, (int)(took % 1000) / 100,
             ln->retries);
}

/* Stores msgs[0..n), group after group. A group that fails is tried again
 * after a backoff until it commits; once the inbox is closed, a failed try
 * is the last one and everything not yet committed is given up. */
static void store_all(lane *ln, inbox_msg *msgs, size_t n)
{
    const committer *c = ln->c;
    size_t next = 0;
    long delay = c->retry.first_ms;
    bool careful = false;         /* until the group a message failed in commits */

    if (ln->given_up) {           /* shutting down after a failed last try */
        ln->given_up += n;
        return;
    }
    while (next < n) {
        size_t first = next;
        const char *what = "";
        bool last_try = inbox_closed(c->q);
        int rc = try_group(ln, msgs, n, first, careful, &next, &what);

        if (rc == 0) {
            if (ln->failing)
                outage_ends(ln);
            delay = c->retry.first_ms;
            ln->conflicts = 0;
            careful = false;
            continue;
        }
        next = first;             /* the same group again: nothing of it is durable */
        if (rc == GROUP_RUN_CAREFULLY) {
            careful = true;
            continue;
        }
        if (!ln->failing && retry_conflict(ln, what))
            continue;
        if (c->pub.counters)
            atomic_fetch_add_explicit(&c->pub.counters->commit_failures, 1, memory_order_relaxed);
        if (!ln->failing)
            outage_starts(ln, what, n - first);
        if (last_try) {
            ln->given_up = n - first;
            return;
        }
        log_debug("storage still failing: retry %" PRIu64 " of the group in %ld ms",
                  ln->retries + 1, delay);
        inbox_wait_closed(c->q, delay);
        ln->retries++;
        delay = delay > c->retry.max_ms / 2 ? c->retry.max_ms : delay * 2;
    }
}

/* The device's lane: FNV-1a of its id. Every message of a device goes to
 * one lane, so its messages are stored in the order they came; a topic
 * without a device (quarantined) goes to the first. */
static size_t lane_of(const committer *c, const char *topic)
{
    char device[IDS_DEVICE_ID_MAX + 1];
    uint32_t h = 2166136261u;

    if (c->nlanes == 1 || !message_topic_device(topic, device))
        return 0;
    for (const char *p = device; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % c->nlanes;
}

/* The preparing thread: parses, checks and hashes each events message
 * (prepare.h) while the committing threads store the ones before it, then
 * hands it on to its device's lane in arrival order. A message it could
 * not prepare (out of memory) goes on as it is: ingest prepares it then.
 * Ends once the inbox is closed and empty, closing the lanes' queues
 * behind the last message. */
static void *prepare_run(void *arg)
{
    inbox_msg msgs[PREPARE_TAKE], mine[PREPARE_TAKE];
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
         * them as one group, not the first alone. Fails only once a
         * lane's queue is closed, which this thread does. */
        for (size_t k = 0; k < c->nlanes; k++) {
            size_t count = 0;
            for (size_t i = 0; i < n; i++)
                if (lane_of(c, msgs[i].topic) == k)
                    mine[count++] = msgs[i];
            if (count)
                (void)inbox_put(c->lanes[k].ready, mine, count);
        }
    }
    for (size_t k = 0; k < c->nlanes; k++)
        inbox_close(c->lanes[k].ready);
    return NULL;
}

static void *run(void *arg)
{
    inbox_msg msgs[COMMITTER_GROUP_MAX];
    lane *ln = arg;
    committer_publish *pub = &ln->c->pub;
    size_t n;

    while ((n = inbox_take(ln->ready, msgs, COMMITTER_GROUP_MAX)) > 0) {
        if (ln->ordered)
            group_order(msgs, n, ln->stage);
        store_all(ln, msgs, n);
        for (size_t i = 0; i < n; i++)
            inbox_msg_free(&msgs[i]);
        if (pub->counters)
            atomic_fetch_sub_explicit(&pub->counters->messages_waiting, n, memory_order_relaxed);
    }
    if (ln->given_up) {
        if (pub->counters)
            atomic_fetch_add_explicit(&pub->counters->messages_received, ln->given_up,
                                      memory_order_relaxed);
        log_error("stopped while storage was failing: %zu messages not stored and not acked;"
                  " their agents resend them to the next collector run", ln->given_up);
    }
    return NULL;
}

static void free_lanes(committer *c)
{
    for (size_t k = 0; k < c->nlanes; k++)
        inbox_free(c->lanes[k].ready);
    prepare_scratch_free(c->scratch);
    free(c);
}

committer *committer_start_retry(ingest *const *ins, size_t nlanes, inbox *q,
                                 const committer_publish *pub, const committer_retry *retry)
{
    committer *c;
    size_t started = 0;

    if (nlanes < 1 || nlanes > COMMITTER_LANES_MAX || !(c = calloc(1, sizeof *c)))
        return NULL;
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
    c->nlanes = nlanes;
    for (size_t k = 0; k < nlanes; k++) {
        lane *ln = &c->lanes[k];
        ln->c = c;
        ln->in = ins[k];
        ln->ordered = store_shared(ingest_store(ins[k]));
        ln->rand_state = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)ln;
        if (!ln->rand_state)
            ln->rand_state = 1;
        /* The lanes share the bound (a burst of one lane's devices may
         * still fill its share while the others idle). */
        if (!(ln->ready = inbox_new(COMMITTER_GROUP_MAX, READY_BYTES / nlanes)))
            goto fail;
    }
    if (!(c->scratch = prepare_scratch_new()))
        goto fail;
    for (; started < nlanes; started++)
        if (pthread_create(&c->lanes[started].thread, NULL, run, &c->lanes[started]) != 0)
            goto stop;
    if (pthread_create(&c->prepare_thread, NULL, prepare_run, c) != 0)
        goto stop;
    return c;
stop:
    /* The committing threads started find their queues empty and end. */
    for (size_t k = 0; k < nlanes; k++)
        inbox_close(c->lanes[k].ready);
    for (size_t k = 0; k < started; k++)
        pthread_join(c->lanes[k].thread, NULL);
fail:
    free_lanes(c);
    return NULL;
}

committer *committer_start(ingest *const *ins, size_t nlanes, inbox *q,
                           const committer_publish *pub)
{
    const committer_retry retry = {COMMITTER_RETRY_FIRST_MS, COMMITTER_RETRY_MAX_MS,
                                   COMMITTER_CONFLICT_TRIES, COMMITTER_CONFLICT_FIRST_MS};
    return committer_start_retry(ins, nlanes, q, pub, &retry);
}

void committer_stop(committer *c)
{
    if (!c)
        return;
    inbox_close(c->q);
    pthread_join(c->prepare_thread, NULL);
    for (size_t k = 0; k < c->nlanes; k++)
        pthread_join(c->lanes[k].thread, NULL);
    free_lanes(c);
}
