/* uplink: the agent's MQTT session. Paho calls back on its own thread; the
 * uplink turns those calls into a snapshot the agent's single main loop
 * reads (uplink_snapshot_get) and a pipe that wakes the loop's poll(). */
#ifndef SMP_UPLINK_H
#define SMP_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_link.h"

typedef struct uplink uplink;

typedef struct uplink_snapshot {
    bool connected;
    bool connecting;
    uint64_t generation;   /* +1 per successful connect: resend from acked+1 */
    uint64_t ack_seq;      /* highest seq the collector acked (0: none yet) */
    int inflight;          /* publishes the broker has not yet PUBACKed */
    uint64_t failures;     /* connect attempts that failed, in a row */
} uplink_snapshot;

int uplink_new(const mqtt_link_config *cfg, const char *device_id, uplink **out, char *err,
               size_t errlen);
/* Publishes the status {"state":"offline"} retained, disconnects, frees. */
void uplink_free(uplink *u);

/* Starts a connect attempt (no-op while connected or connecting). */
int uplink_connect(uplink *u);
/* Publishes an events payload at QoS 1. Paho copies the payload. */
int uplink_publish_events(uplink *u, const char *payload, size_t len);

/* Publishes the retained status (docs/protocol.md), QoS 1: the caller's
 * JSON object, {"state":"online",...}. */
int uplink_publish_status(uplink *u, const char *json);

/* Messages of smp/v1/dev/<device>/alerts, in arrival order. Paho's thread
 * only copies them here (at most UPLINK_ALERT_QUEUE; when more wait, the
 * oldest is dropped and logged: every message carries the full list of
 * open alerts, so the newest is what counts). Returns false when none
 * waits; *payload is the caller's to free(). retained: delivered because
 * we subscribed (old news), not as it was published. */
#define UPLINK_ALERT_QUEUE   32
#define UPLINK_ALERT_MSG_MAX (256 * 1024)
bool uplink_take_alert(uplink *u, char **payload, size_t *len, bool *retained);

void uplink_snapshot_get(uplink *u, uplink_snapshot *out);
/* Why the last connect failed ("hostname-mismatch: the broker's certificate
 * does not name ..."), or "" when connected or not yet known. */
void uplink_connect_error(uplink *u, char *out, size_t len);
/* Readable whenever a callback changed the snapshot: poll it beside other
 * fds, then uplink_wake_drain before taking the next snapshot. */
int uplink_wake_fd(uplink *u);
void uplink_wake_drain(uplink *u);

#endif
