/* collector_config: smp-collector's settings file (key = value). */
#ifndef SMP_COLLECTOR_CONFIG_H
#define SMP_COLLECTOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct collector_config {
    char broker_host[CONFIG_STR_MAX];
    int64_t broker_port;
    char ca_file[CONFIG_STR_MAX], cert_file[CONFIG_STR_MAX], key_file[CONFIG_STR_MAX];
    char db_path[CONFIG_STR_MAX];
    char client_id[CONFIG_STR_MAX];
    int64_t keepalive_s;
    int64_t session_expiry_s;
    int64_t quarantine_max_rows;
    int64_t quarantine_payload_bytes;
    int64_t future_skew_s;
    char policy_file[CONFIG_STR_MAX];  /* "" : built-in policy (collector/policy.h) */
    int64_t metrics_port;              /* 0: no /metrics endpoint */
    char metrics_bind[CONFIG_STR_MAX];
} collector_config;

int collector_config_load(const char *path, collector_config *cfg, char *err, size_t errlen);

#endif
