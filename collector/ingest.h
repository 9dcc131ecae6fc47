/* ingest: one events message in, one committed transaction out.
 *
 * Validates the message (topic, registry, schema, time), stores each record
 * once per (device, seq), checks integrity (R9/R10) and the compliance
 * rules (rules.h) on what it stored, advances the device's contiguous chain
 * head and tells the caller which ack and alerts to publish. A rejected message is quarantined
 * with its reason, never silently dropped. No MQTT here, so every path is
 * testable with a database alone. */
#ifndef SMP_INGEST_H
#define SMP_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "integrity.h"
#include "message.h"
#include "policy.h"
#include "store.h"

typedef struct ingest_limits {
    int64_t quarantine_max_rows;
    size_t quarantine_payload_bytes;
    int64_t future_skew_ms;       /* ts further ahead of receive time is rejected */
    integrity_limits integrity;
} ingest_limits;

typedef struct ingest_result {
    bool ack;                     /* publish ack_seq for device after this call */
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t ack_seq;
    int stored, duplicates, conflicts;
    bool quarantined;
    char reason[256];             /* why it was quarantined */
    const alert_batch *alerts;    /* raised/cleared by this message; valid until the next call */
} ingest_result;

/* Context reused across messages (the batch buffer is large). */
typedef struct ingest ingest;

/* Borrows s; copies limits. NULL when out of memory. Until
 * ingest_set_policy, only integrity (R9/R10) is checked: storage and
 * integrity stay testable on their own. */
ingest *ingest_new(store *s, const ingest_limits *limits);
/* Turns the compliance rules (rules.h) on for later messages, with a copy
 * of p. smp-collector always calls it. */
void ingest_set_policy(ingest *in, const policy *p);
void ingest_free(ingest *in);

/* Returns 0 when the message was stored or quarantined (both committed), -1
 * when the store failed: then nothing is acked and the agent resends. */
int ingest_events(ingest *in, const char *topic, const void *payload, size_t len, int64_t now_ms,
                  ingest_result *out);

#endif
