/* publisher: the one collector thread that hands acks and alerts to Paho.
 *
 * Paho holds its lock while it runs our message callback, and that
 * callback blocks while the inbox is full (back-pressure). If the committer
 * called Paho itself it could wait for that lock while the callback waits
 * for the committer to drain the inbox: a deadlock. So the committer only
 * records what to publish here and goes on draining; this thread publishes.
 *
 * Acks are kept per device, latest seq only (bounded by the fleet size);
 * alert events queue up to PUBLISHER_ALERTS_MAX (beyond that they are
 * stored in the database but not published, and logged). */
#ifndef SMP_PUBLISHER_H
#define SMP_PUBLISHER_H

#include <stdint.h>

#include "alert.h"

#define PUBLISHER_ALERTS_MAX 1024

typedef struct publisher_sink {
    void *ctx;
    void (*ack)(void *ctx, const char *device, uint64_t seq);
    void (*alerts)(void *ctx, const alert_batch *b, int64_t at_ms);
} publisher_sink;

typedef struct publisher publisher;

publisher *publisher_start(const publisher_sink *sink);
/* Publishes what is pending, then stops the thread. */
void publisher_stop(publisher *p);

/* Never block on Paho: callable from the committer. */
void publisher_ack(publisher *p, const char *device, uint64_t seq);
void publisher_alerts(publisher *p, const alert_batch *b);

#endif
