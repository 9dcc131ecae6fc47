/* presence: what a device says on its retained status topic
 * smp/v1/dev/<id>/status, kept in the store (device_presence) for
 * `smpctl fleet status`.
 *
 * Two payload forms are accepted, nothing else:
 *   online | offline                       (agents before the JSON form)
 *   {"state":"online","backlog":N,"head_seq":N,"acked_seq":N,"at":"<ts>"}
 *   {"state":"offline"}                    (the will; any field but state
 *                                           may be left out)
 * The JSON is strict (jsontext), an object of exactly these keys, each at
 * most once: state "online"|"offline" (required); backlog, head_seq,
 * acked_seq integers 0..2^53-1 written as plain digits; at a record
 * timestamp (YYYY-MM-DDTHH:MM:SS.mmmZ). Anything else is ignored with one
 * log line quoting it.
 *
 * Paho's thread only hands status messages to the inbox (never the
 * database); the committer stores them in its open group, each under its
 * own savepoint, in arrival order with the events. */
#ifndef SMP_PRESENCE_H
#define SMP_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "store.h"

/* A status payload longer than this is not one (the JSON form is ~120
 * bytes); the listener drops it before it takes inbox room. */
#define PRESENCE_PAYLOAD_MAX 512
#define PRESENCE_PAYLOAD_MAX_STR "512"

/* True for smp/v1/dev/<id>/status with a valid device id, copied to dev. */
bool presence_topic(const char *topic, char dev[IDS_DEVICE_ID_MAX + 1]);
/* True when topic ends in /status (the committer's dispatch; a malformed
 * one is still a status message, ignored by presence_message). */
bool presence_is_status(const char *topic);

/* Parses one payload. 0 and *out filled, or -1 with why. */
int presence_parse(const void *payload, size_t len, store_presence *out, char *why,
                   size_t whylen);

/* Stores one status message of a registered device in the open
 * transaction of s, under its own savepoint. Returns 0 when stored or
 * ignored (logged), -1 when the store failed on it (undone, logged). */
int presence_message(store *s, const char *topic, const void *payload, size_t len,
                     int64_t now_ms);

#endif
