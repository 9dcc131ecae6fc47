/* ids: identifiers that cross trust boundaries (certificate CN, MQTT topic
 * level, database key), validated in one place. */
#ifndef SMP_IDS_H
#define SMP_IDS_H

#include <stdbool.h>
#include <stddef.h>

#define IDS_DEVICE_ID_MAX 64

/* The collector's certificate CN and MQTT username; the broker ACL grants it
 * fleet-wide rights, so no device may ever carry this name. */
#define IDS_COLLECTOR_CN "smp-collector"

/* A device id is [a-z0-9-]{3,64} (docs/protocol.md) and must not start with
 * "smp-", the prefix reserved for the fleet's own services. On false, fills
 * why (if not NULL) with a reason a person can act on. */
bool ids_valid_device_id(const char *id, char *why, size_t whylen);

#endif
