/* notify_hmac: the webhook signature, HMAC-SHA256 of the request body with
 * the sink's shared secret, as lowercase hex (docs/collector.md,
 * "Notifications": header X-Smpfleet-Signature: sha256=<hex>). */
#ifndef SMP_NOTIFY_HMAC_H
#define SMP_NOTIFY_HMAC_H

#include <stddef.h>

#define NOTIFY_HMAC_HEX 65   /* 64 hex digits and a NUL */

/* Returns 0 and hex, or -1 (mbedTLS failed; hex is then ""). */
int notify_hmac_sha256_hex(const void *key, size_t keylen, const void *body, size_t len,
                           char hex[NOTIFY_HMAC_HEX]);

#endif
