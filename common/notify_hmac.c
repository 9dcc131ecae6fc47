#include "notify_hmac.h"

#include <mbedtls/md.h>

int notify_hmac_sha256_hex(const void *key, size_t keylen, const void *body, size_t len,
                           char hex[NOTIFY_HMAC_HEX])
{
    static const char digits[] = "0123456789abcdef";
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    unsigned char mac[32];

    hex[0] = '\0';
    if (!md || mbedtls_md_hmac(md, key, keylen, body, len, mac) != 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[64] = '\0';
    return 0;
}
