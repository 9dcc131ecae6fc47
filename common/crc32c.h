/* crc32c: CRC-32C (Castagnoli), the checksum of journal frames. */
#ifndef SMP_CRC32C_H
#define SMP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, data, n) starts a checksum; pass the result back to continue. */
uint32_t crc32c(uint32_t crc, const void *data, size_t n);

#endif
