/* listener: the collector's MQTT session — a persistent v5 session (clean
 * start off, session expiry set) subscribed to every device's events. Each
 * message is ingested on Paho's thread and its ack published after commit;
 * while a message is being stored no further one is read, so a slow disk
 * slows the broker's delivery instead of growing our memory. */
#ifndef SMP_LISTENER_H
#define SMP_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "collector_config.h"
#include "ingest.h"

typedef struct listener listener;

int listener_new(const collector_config *cfg, ingest *in, listener **out, char *err, size_t errlen);
void listener_free(listener *l);

/* Starts a connect attempt unless connected or connecting. */
void listener_connect(listener *l);
bool listener_connected(listener *l, bool *connecting);

/* Publishes each event of b on smp/v1/alerts/<clinic> (QoS 1) and logs it.
 * Callable from any thread. Events are stored already: a publish that
 * fails (broker away) is logged, and the alert stays in the database. */
void listener_publish_alerts(listener *l, const alert_batch *b, int64_t at_ms);

#endif
