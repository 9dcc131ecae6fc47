/* listener: the collector's MQTT session — a persistent v5 session (clean
 * start off, session expiry set) subscribed to every device's events.
 * Paho's thread only copies each message into a bounded inbox; the
 * committing threads (committer.h) store groups of them and publish acks
 * and alerts after each commit. A full inbox blocks Paho's thread, so a
 * slow disk slows the broker's delivery instead of growing our memory. */
#ifndef SMP_LISTENER_H
#define SMP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "collector_config.h"
#include "ingest.h"
#include "metrics.h"

typedef struct listener listener;

/* Borrows cfg, lanes (an ingest per committing thread, committer.h) and
 * counters (NULL: not counted; the committer adds each committed group's
 * results to it). client_id is the CN of our certificate:
 * smpfleet's broker makes every client's id its CN anyway, so sending the
 * same keeps the session's name the same on both sides. */
int listener_new(const collector_config *cfg, const char *client_id, ingest *const *lanes,
                 size_t nlanes, metrics_counters *counters, listener **out, char *err,
                 size_t errlen);
void listener_free(listener *l);

/* Starts a connect attempt unless connected or connecting. */
void listener_connect(listener *l);
bool listener_connected(listener *l, bool *connecting);

/* Publishes each event of b on smp/v1/alerts/<clinic> (QoS 1) and, with
 * the device's open alerts, on smp/v1/dev/<device>/alerts (QoS 1,
 * retained), and logs it. Callable from any thread: it hands b to the
 * publisher thread. Events are stored already: a publish that fails
 * (broker away) is logged, and the alert stays in the database. */
void listener_publish_alerts(listener *l, const alert_batch *b, int64_t at_ms);

#endif
