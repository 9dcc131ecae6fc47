/* collector_config: smp-collector's settings file (key = value), and the
 * checks of what the settings point at (--check-config, start-up). */
#ifndef SMP_COLLECTOR_CONFIG_H
#define SMP_COLLECTOR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "log.h"
#include "notify_sink.h"
#include "tls_identity.h"

/* Every collector certificate's CN starts with this (smpctl pki
 * issue-collector; the broker's ACL grants the collector topics by it). */
#define COLLECTOR_CN_PREFIX "smp-collector"

typedef struct collector_config {
    char broker_host[CONFIG_STR_MAX];
    int64_t broker_port;
    char ca_file[CONFIG_STR_MAX], cert_file[CONFIG_STR_MAX], key_file[CONFIG_STR_MAX];
    char db_path[CONFIG_STR_MAX];
    int64_t keepalive_s;
    int64_t session_expiry_s;
    char share_group[CONFIG_STR_MAX];  /* "": this collector takes every device's events */
    int64_t commit_lanes;              /* committing threads (committer.h), resolved from 0 */
    int64_t quarantine_max_rows;
    int64_t quarantine_payload_bytes;
    int64_t future_skew_s;
    char policy_file[CONFIG_STR_MAX];  /* "" : built-in policy (collector/policy.h) */
    int64_t metrics_port;              /* 0: no /metrics endpoint */
    char metrics_bind[CONFIG_STR_MAX];
    char log_level[CONFIG_STR_MAX];
    log_level log_min;                 /* log_level, parsed */
    /* Notification sinks (docs/collector.md, "Notifications"); "" url or
     * command: that sink is off. */
    char webhook_url[CONFIG_STR_MAX], webhook_secret_file[CONFIG_STR_MAX];
    char webhook_filter[CONFIG_STR_MAX];
    int64_t webhook_timeout_s;
    char smtp_url[CONFIG_STR_MAX], smtp_from[CONFIG_STR_MAX], smtp_to[CONFIG_STR_MAX];
    char smtp_credentials_file[CONFIG_STR_MAX], smtp_filter[CONFIG_STR_MAX];
    int64_t smtp_timeout_s;
    char notify_command[CONFIG_STR_MAX], notify_command_filter[CONFIG_STR_MAX];
    int64_t notify_command_timeout_s;
} collector_config;

/* Loads and checks path; returns 0 or -1 with err naming file, line, setting.
 * Relative paths in the file are resolved against its directory. */
int collector_config_load(const char *path, collector_config *cfg, char *err, size_t errlen);
/* commit_lanes = 0 (the default) for db_path: 2 on PostgreSQL, 1 on SQLite. */
int64_t collector_config_default_lanes(const char *db_path);

/* The notification sinks of a loaded cfg (their settings were checked by
 * collector_config_load). */
void collector_config_sinks(const collector_config *cfg, notify_sinks *out);

/* The lock file beside db_path: one collector per SQLite file (pidlock.h).
 * "" for a PostgreSQL db_path, which collectors share (their work on one
 * device is serialized in the database). */
void collector_config_lock_path(const collector_config *cfg, char *out, size_t cap);

/* Checks that key_file is the private key of cert_file and that the
 * certificate's CN starts with COLLECTOR_CN_PREFIX; fills id. Returns 0,
 * or -1 with err saying which setting is wrong and what to do. */
int collector_config_check_identity(const collector_config *cfg, tls_identity *id, char *err,
                                    size_t errlen);

/* --check-config: checks every file and directory the settings of the
 * loaded cfg (from path) name, the policy file included, printing one line
 * per problem to out. Returns the number of problems. */
int collector_config_check(const char *path, const collector_config *cfg, FILE *out);

/* For a reload: names (", "-separated) of the settings that differ between
 * the running a and the re-read b and need a restart to apply (all but
 * log_level and policy_file). Returns how many. */
int collector_config_changed(const collector_config *a, const collector_config *b, char *out,
                             size_t cap);

#endif
