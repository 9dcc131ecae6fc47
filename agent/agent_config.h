/* agent_config: smp-agent's settings file (key = value), and the checks of
 * what the settings point at (--check-config, start-up). */
#ifndef SMP_AGENT_CONFIG_H
#define SMP_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "tls_identity.h"

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
    char alerts_socket[CONFIG_STR_MAX]; /* "" = no alerts socket */
    /* Local wear warnings (wear.h): keep in step with the collector's policy. */
    int64_t cartridge_max_run_s, cartridge_max_strokes;
    int64_t local_alert_wait_s;  /* the collector's time to ack a crossing record */
    char log_level[CONFIG_STR_MAX];
    log_level log_min;           /* log_level, parsed */
} agent_config;

/* Loads and checks path; returns 0 or -1 with err naming file, line, setting.
 * Relative paths in the file are resolved against its directory. */
int agent_config_load(const char *path, agent_config *cfg, char *err, size_t errlen);

/* The lock file that says an agent runs on cfg's data_dir (pidlock.h). */
void agent_config_lock_path(const agent_config *cfg, char *out, size_t cap);

/* Checks that key_file is the private key of cert_file and that the
 * certificate's CN is device_id; fills id. Returns 0, or -1 with err saying
 * which setting is wrong and what to do. */
int agent_config_check_identity(const agent_config *cfg, tls_identity *id, char *err,
                                size_t errlen);

/* --check-config: checks every file and directory the settings of the
 * loaded cfg (from path) name, printing one line per problem to out.
 * Returns the number of problems. */
int agent_config_check(const char *path, const agent_config *cfg, FILE *out);

/* For a reload: names (", "-separated) of the settings that differ between
 * the running a and the re-read b and need a restart to apply (all but
 * log_level). Returns how many. */
int agent_config_changed(const agent_config *a, const agent_config *b, char *out, size_t cap);

#endif
