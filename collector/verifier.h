/* verifier: checkpoint signatures, off the commit path.
 *
 * Storing and acking a record needs its chain link checked, not its
 * checkpoint's signature (about 1.8 ms of ECDSA P-256 with mbedTLS). So
 * ingest only checks that a checkpoint describes the record before it and
 * queues it, as a 'pending' row of the checkpoints table, in the
 * transaction that stores it (integrity.c): the ack never waits for the
 * signature, and a crash never loses one, because the pending rows are
 * the queue. This thread takes them oldest first, a batch at a time, and
 * verifies each signature with the device's registered certificate or,
 * failing that, a previous one replaced less than CERT_HISTORY_GRACE_MS
 * before the checkpoint's own ts (docs/collector.md, "Certificate renewal
 * and checkpoints"). It marks each 'verified' or 'failed' (checked_at),
 * and a failed one raises R9 against the checkpoint record (its device
 * and seq) with the cause and evidence ingest used to raise at commit:
 * `checkpoint:seq=N`, or `no-certificate` when the device has none.
 *
 * The signatures of a batch are verified outside any transaction; then one
 * short write transaction marks the batch (the verified rows with one
 * statement, store_mark_verified) and raises its alerts, after the device
 * locks of the failed rows taken in sorted order, as a commit group takes
 * them (store.h): no cycle with the committers, on either store, and no
 * commit of a device whose checkpoints verified waits.
 *
 * Several collectors on one PostgreSQL database: only the one whose
 * verifier connection holds the session lock VERIFIER_LOCK verifies, so
 * no signature is verified twice; when that collector stops or its
 * connection drops, the lock goes with its session and another collector
 * takes over at its next poll. A row is marked only while it is still
 * pending with the same signature (store_mark_verified,
 * store_mark_checkpoint), and only the one who marks it raises its alert:
 * nothing is raised twice, even by two verifiers that both believed they
 * held the lock (a connection lost in the middle of a batch). */
#ifndef SMP_VERIFIER_H
#define SMP_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "metrics.h"
#include "store.h"

/* How long after a certificate stopped being the device's registered one
 * (device_cert_history.registered_until) a checkpoint signed with its key
 * still verifies, judged by the checkpoint's own ts (the device's time
 * when it signed). `smpctl pki renew-device --db` registers the new
 * certificate at once while the machine signs with the old key until
 * someone installs the new pair, and a journal's backlog arrives later
 * still: a week covers both. Beyond it, an old key's signature is R9.
 * dashboard-export/export_chain.c uses the same value: an export must
 * judge a checkpoint as the collector did. */
#define CERT_HISTORY_GRACE_MS (7 * 24 * 3600 * 1000LL)

#define VERIFIER_BATCH   64                      /* checkpoints per pass, at most */
#define VERIFIER_POLL_MS 1000                    /* for rows another collector left */
/* While this collector's committer has messages in hand, passes wait, up
 * to VERIFIER_HOLD_MAX_MS after the first one held back: the signatures'
 * CPU (and on PostgreSQL the server's, for the batch queries and marks)
 * would otherwise come out of the acks of a burst on a machine of few
 * cores. Once that passed, passes run until the queue is short of a
 * batch, busy or not, so a committer that is never idle delays an R9 by
 * 5 s at most. */
#define VERIFIER_HOLD_MAX_MS   5000
#define VERIFIER_HOLD_CHECK_MS 20                /* how often a held pass looks again */
#define VERIFIER_LOCK    "checkpoint-verifier"   /* the session lock of the one verifier */

/* What passes did (added to). */
typedef struct verifier_tally {
    uint64_t checked;    /* checkpoints whose signature this verifier checked */
    uint64_t verified;   /* of those, marked 'verified' (committed) */
    uint64_t failed;     /* marked 'failed' (committed; R9 raised) */
} verifier_tally;

/* One batch, on s, which must not be inside a transaction: when s's
 * connection holds VERIFIER_LOCK, takes up to max (at most VERIFIER_BATCH)
 * pending checkpoints, verifies them, then marks them and raises R9 for
 * the failed ones in one transaction, timed now_ms. alerts is emptied
 * first and receives the events raised, committed, to publish. Returns how
 * many checkpoints it took (0: none pending, or another collector holds
 * the lock), or -1 when the store failed (store_errmsg(s)): nothing of the
 * batch is marked, it stays pending for the next pass. Adds to *tally. */
int verifier_pass(store *s, size_t max, int64_t now_ms, alert_batch *alerts,
                  verifier_tally *tally);

/* Where the thread's results go. */
typedef struct verifier_publish {
    void *ctx;
    /* The R9 events of a committed pass (listener_publish_alerts); NULL:
     * not published (they are stored all the same). */
    void (*alerts)(void *ctx, const alert_batch *b, int64_t at_ms);
    metrics_counters *counters;  /* borrowed; NULL: not counted */
} verifier_publish;

typedef struct verifier verifier;

/* Opens a store of its own on db_target and starts the thread. It runs a
 * pass at once (the rows a stopped collector left), then after every
 * verifier_kick and every poll_ms (<= 0: VERIFIER_POLL_MS), each time
 * passes until fewer than a batch are pending. Each pass is held back
 * while pub->counters->messages_waiting is not 0, up to hold_max_ms (<= 0:
 * VERIFIER_HOLD_MAX_MS; no counters: never held). Copies pub. Returns 0
 * and *out, or -1 with err naming what failed. */
int verifier_start(const char *db_target, const verifier_publish *pub, long poll_ms,
                   long hold_max_ms, verifier **out, char *err, size_t errlen);
/* Wakes the thread: checkpoints were queued and committed. Any thread;
 * never blocks on the database. Ignored once verifier_stop began. */
void verifier_kick(verifier *v);
/* The thread finishes the batch it is on (the rest stays pending), and is
 * joined; its store is closed, which gives VERIFIER_LOCK to another
 * collector. v stays valid for verifier_kick until verifier_free. NULL:
 * nothing. */
void verifier_stop(verifier *v);
/* Stops v if needed, and frees it. NULL: nothing. */
void verifier_free(verifier *v);

#endif
