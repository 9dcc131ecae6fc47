#include "ids.h"

#include <stdio.h>
#include <string.h>

bool ids_valid_device_id(const char *id, char *why, size_t whylen)
{
    size_t n = id ? strlen(id) : 0;

    if (n < 3 || n > IDS_DEVICE_ID_MAX) {
        if (why)
            snprintf(why, whylen, "device id must be 3..64 characters, got %zu", n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            if (why)
                snprintf(why, whylen, "device id may hold only a-z, 0-9 and '-' (bad character at %zu)", i);
            return false;
        }
    }
    if (strncmp(id, "smp-", 4) == 0) {
        if (why)
            snprintf(why, whylen, "device id may not start with 'smp-' (reserved for fleet services)");
        return false;
    }
    return true;
}
