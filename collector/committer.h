/* committer: the thread that stores what the inbox holds, a group at a time.
 *
 * It takes every message waiting (up to COMMITTER_GROUP_MAX), stores them in
 * one transaction (ingest's group commit: one fsync for the group instead
 * of one per message), and only after the commit publishes one ack per
 * device — the latest head — and the group's alerts. Under light load a
 * group is a single message; under a burst groups grow, and so does
 * throughput. */
#ifndef SMP_COMMITTER_H
#define SMP_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "inbox.h"
#include "ingest.h"
#include "metrics.h"

#define COMMITTER_GROUP_MAX 256

/* Where committed results go (the listener publishes them over MQTT). */
typedef struct committer_publish {
    void *ctx;
    void (*ack)(void *ctx, const char *device, uint64_t seq);
    void (*alerts)(void *ctx, const alert_batch *b, int64_t at_ms);
    metrics_counters *counters;  /* borrowed; NULL: not counted */
} committer_publish;

typedef struct committer committer;

/* Starts the thread; borrows in and q, copies pub. */
committer *committer_start(ingest *in, inbox *q, const committer_publish *pub);
/* Closes the inbox, lets the thread store what is left, joins it. */
void committer_stop(committer *c);

/* Stores msgs[0..n) in as few groups as the alert budget allows and
 * publishes the results: the thread's body, callable from tests. */
void committer_store(ingest *in, const committer_publish *pub, inbox_msg *msgs, size_t n);

#endif
