/* agent_config: smp-agent's settings file (key = value). */
#ifndef SMP_AGENT_CONFIG_H
#define SMP_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef struct agent_config {
    char broker_host[CONFIG_STR_MAX];
    int64_t broker_port;
    char ca_file[CONFIG_STR_MAX], cert_file[CONFIG_STR_MAX], key_file[CONFIG_STR_MAX];
    char device_id[CONFIG_STR_MAX];
    char data_dir[CONFIG_STR_MAX];
    char feed_socket[CONFIG_STR_MAX]; /* "" = no feed socket (simulator only) */
    int64_t keepalive_s;
    int64_t batch_max;           /* records per events message */
    int64_t window_batches;      /* publishes awaiting the broker's PUBACK */
    int64_t max_unacked;         /* records sent but not yet acked by the collector */
    int64_t ack_timeout_s;       /* resend from acked+1 when no ack comes */
    int64_t journal_max_mb, segment_kb;
} agent_config;

/* Loads and checks path; returns 0 or -1 with err naming file, line, setting. */
int agent_config_load(const char *path, agent_config *cfg, char *err, size_t errlen);

#endif
