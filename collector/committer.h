/* committer: the threads that store what the inbox holds, a group at a time.
 *
 * A preparing thread takes the messages from the inbox and does what needs
 * no store (prepare.h: parsing, checks, canonical bytes, hashes), handing
 * them on in order to their device's lane through a bounded queue; each
 * lane's committing thread meanwhile stores the group before. It takes
 * every prepared message waiting (up to COMMITTER_GROUP_MAX), stores them
 * in one transaction (ingest's group commit: one fsync for the group
 * instead of one per message; where group_order cuts it, a few), and only after the commit publishes one
 * ack per device — the latest head — and the group's alerts. Under light
 * load a group is a single message; under a burst groups grow, and so does
 * throughput.
 *
 * Lanes: on PostgreSQL the committer may run several committing threads,
 * each with its own ingest and connection (collector_config commit_lanes),
 * so that one lane's server process works while another's waits for its
 * thread. A device's messages all go to one lane (a hash of its id), so
 * they are stored in the order they came, and the lanes' groups never wait
 * on each other's devices; they meet on a clinic's lock (store_lock_clinic)
 * as two collectors do, and a group is stored in the order, and the
 * transactions, that hold it least (group_order.h). On SQLite, one writer
 * at a time: one lane, arrival order.
 *
 * A group the store cannot begin or commit (disk full, I/O error, a
 * read-only filesystem) is kept and tried again, 100 ms later, doubling to
 * 10 s, for as long as it takes. It used to be dropped unacked: recovery
 * then waited on every agent's ack timeout (30 s doubling to 10 min), and
 * messages stored after the outage sat above the dropped ones' hole long
 * enough to raise false R9 gap alerts. While it retries, the committer
 * takes nothing more: the prepared queue fills, then the inbox, and Paho's
 * receive thread blocks in inbox_push, the same back-pressure as a slow
 * disk (the broker queues the rest). Nothing of the group is acked before
 * its commit succeeds. The outage is logged twice, when it starts (what to do) and
 * when it ends (how long, how many retries), and metrics_counters'
 * storage_failing is 1 in between. committer_stop wakes a backoff at once;
 * a group that then fails its one last try is given up unacked, with every
 * message after it, so that shutdown stays bounded: their agents resend.
 *
 * A message the store fails on inside a group that commits (ingest_message
 * returned -1) is undone alone and left unacked, as before: its agent
 * resends it. Retrying it here could wedge the collector on one message.
 *
 * Several collectors on one PostgreSQL database: a group first takes the
 * locks of all its devices in sorted order (ingest_group_lock), so two
 * groups never wait on each other's devices in a cycle. Should they still
 * deadlock (on other locks: rows of a clinic, a reason count), PostgreSQL
 * fails one of them; that group, and any group whose failure is
 * store_retryable (a lost connection too), is rolled back whole and run
 * again after a short random pause (1..conflict_first_ms ms, doubling),
 * up to conflict_tries times in a row before it counts as a storage
 * outage (above). Never dropped, never acked before its commit. */
#ifndef SMP_COMMITTER_H
#define SMP_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "inbox.h"
#include "ingest.h"
#include "metrics.h"

#define COMMITTER_GROUP_MAX 256
#define COMMITTER_LANES_MAX 8

/* Where committed results go (the listener publishes them over MQTT). */
typedef struct committer_publish {
    void *ctx;
    void (*ack)(void *ctx, const char *device, uint64_t seq);
    void (*alerts)(void *ctx, const alert_batch *b, int64_t at_ms);
    metrics_counters *counters;  /* borrowed; NULL: not counted */
} committer_publish;

/* Backoff between tries of a group the store could not commit, and for
 * conflicts between collectors (0: the default). */
typedef struct committer_retry {
    long first_ms, max_ms;
    int conflict_tries;
    long conflict_first_ms;
} committer_retry;

#define COMMITTER_RETRY_FIRST_MS    100
#define COMMITTER_RETRY_MAX_MS      10000
#define COMMITTER_CONFLICT_TRIES    8
#define COMMITTER_CONFLICT_FIRST_MS 5

typedef struct committer committer;

/* Starts the threads: a lane per ingest of ins[0..nlanes) (1 to
 * COMMITTER_LANES_MAX, each on its own store). Borrows ins and q, copies
 * pub. NULL when nlanes is out of range or out of memory. */
committer *committer_start(ingest *const *ins, size_t nlanes, inbox *q,
                           const committer_publish *pub);
/* The same with another backoff (tests). */
committer *committer_start_retry(ingest *const *ins, size_t nlanes, inbox *q,
                                 const committer_publish *pub, const committer_retry *retry);
/* Closes the inbox, lets the threads prepare and store what is left, joins
 * them. */
void committer_stop(committer *c);

#endif
