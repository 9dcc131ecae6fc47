/* message: the MQTT payloads of docs/protocol.md.
 *
 *   events:  {"v":1,"device":"<id>","records":[<record>, ...]}  (1..64)
 *   ack:     {"v":1,"device":"<id>","seq":<highest committed seq>}
 */
#ifndef SMP_MESSAGE_H
#define SMP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ids.h"
#include "record.h"

#define MESSAGE_MAX_BYTES   (256 * 1024)
#define MESSAGE_MAX_RECORDS 64
#define MESSAGE_TOPIC_MAX   128

typedef struct message_batch {
    char device[IDS_DEVICE_ID_MAX + 1];
    size_t count;
    record records[MESSAGE_MAX_RECORDS];
} message_batch;

/* Validates an events payload end to end: size, raw text, JSON, envelope and
 * every record (RECORD_FULL). topic_device is the device named by the topic
 * (the broker guarantees it is the sender's certificate CN); the payload must
 * name the same device. On failure err names the field, e.g.
 * "records[2].strokes". out is large: allocate it on the heap. */
int message_parse_batch(const char *payload, size_t len, const char *topic_device,
                        message_batch *out, record_error *err);

/* Where a record's text lies in a payload. */
typedef struct message_span {
    size_t offset, len;
} message_span;

/* The fast path of message_parse_batch for a payload written exactly as
 * message_encode_batch writes it: its envelope keys in that order, every
 * record in canonical form (record_from_canonical). Fills out and spans
 * (record i's canonical bytes are payload[spans[i].offset ..]) and returns
 * 0 when the payload is one; then message_parse_batch would have accepted
 * it with the same records. Returns -1 for any other payload, valid or
 * not: message_parse_batch decides it. */
int message_parse_canonical(const char *payload, size_t len, const char *topic_device,
                            message_batch *out, message_span spans[MESSAGE_MAX_RECORDS]);

/* Writes the events payload for n canonical records into buf (NUL-terminated).
 * Returns the length, or -1 if cap is too small. */
int message_encode_batch(const char *device, const char *const *canon, const size_t *lens,
                         size_t n, char *buf, size_t cap);

int message_encode_ack(const char *device, uint64_t seq, char *buf, size_t cap);
/* Parses an ack for expected_device; -1 if malformed or for another device. */
int message_parse_ack(const char *payload, size_t len, const char *expected_device,
                      uint64_t *seq);

/* Splits "smp/v1/dev/<device>/<leaf>"; copies the device id (validated) and
 * returns a pointer to leaf inside topic, or NULL if the topic is not ours. */
const char *message_topic_device(const char *topic, char device[IDS_DEVICE_ID_MAX + 1]);

#endif
