#include "collector_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fscheck.h"
#include "policy.h"

#define F(field) offsetof(collector_config, field)

static const config_setting settings[] = {
    {"broker_host", CONFIG_STR, "127.0.0.1", 0, 0, F(broker_host), "broker host name or address"},
    {"broker_port", CONFIG_INT, "8883", 1, 65535, F(broker_port), "broker TLS port"},
    {"ca_file", CONFIG_PATH, NULL, 0, 0, F(ca_file), "CA certificate (PEM) of the fleet"},
    {"cert_file", CONFIG_PATH, NULL, 0, 0, F(cert_file), "collector certificate (PEM), CN smp-collector"},
    {"key_file", CONFIG_PATH, NULL, 0, 0, F(key_file), "collector private key (PEM)"},
    {"db_path", CONFIG_PATH, NULL, 0, 0, F(db_path), "SQLite database file"},
    {"keepalive_s", CONFIG_INT, "30", 5, 3600, F(keepalive_s), "MQTT keepalive in seconds"},
    /* A week: the broker queues for a collector that is down that long. */
    {"session_expiry_s", CONFIG_INT, "604800", 60, 4294967294LL, F(session_expiry_s), "broker keeps our session this long while we are away"},
    {"quarantine_max_rows", CONFIG_INT, "100000", 100, 100000000, F(quarantine_max_rows), "rejected messages kept"},
    {"quarantine_payload_bytes", CONFIG_INT, "4096", 0, 262144, F(quarantine_payload_bytes), "bytes of a rejected payload kept"},
    {"future_skew_s", CONFIG_INT, "86400", 0, 31536000, F(future_skew_s), "records timed further ahead of receive time are rejected"},
    {"policy_file", CONFIG_PATH, "", 0, 0, F(policy_file), "compliance rules policy (docs/rules.md); empty: built-in cdc defaults; SIGHUP re-reads it"},
    {"metrics_port", CONFIG_INT, "0", 0, 65535, F(metrics_port), "TCP port of the Prometheus /metrics endpoint; 0 turns it off"},
    /* Loopback: the metrics name clinics and devices and nobody is authenticated. */
    {"metrics_bind", CONFIG_STR, "127.0.0.1", 0, 0, F(metrics_bind), "address the /metrics endpoint listens on"},
    {"log_level", CONFIG_STR, "info", 0, 0, F(log_level), "error, warn, info or debug; SIGHUP re-reads it"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

/* "collector.conf:7: " when key is set on a line of path, "collector.conf: " otherwise. */
static void where(const char *path, const char *key, char *out, size_t cap)
{
    int line = config_line_of(path, key);
    if (line > 0)
        snprintf(out, cap, "%s:%d: ", path, line);
    else
        snprintf(out, cap, "%s: ", path);
}

int collector_config_load(const char *path, collector_config *cfg, char *err, size_t errlen)
{
    char at[CONFIG_STR_MAX + 32];

    if (config_load(path, settings, cfg, err, errlen) != 0)
        return -1;
    if (!log_level_parse(cfg->log_level, &cfg->log_min)) {
        where(path, "log_level", at, sizeof at);
        snprintf(err, errlen, "%slog_level: '%s' is not a level; use error, warn, info or debug", at,
                 cfg->log_level);
        return -1;
    }
    return 0;
}

void collector_config_lock_path(const collector_config *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s.lock", cfg->db_path);
}

int collector_config_check_identity(const collector_config *cfg, tls_identity *id, char *err,
                                    size_t errlen)
{
    if (tls_identity_load(cfg->cert_file, cfg->key_file, id, err, errlen) != 0)
        return -1;
    if (id->cn_count != 1 || strncmp(id->cn, COLLECTOR_CN_PREFIX, strlen(COLLECTOR_CN_PREFIX)) != 0) {
        snprintf(err, errlen,
                 "cert_file %s has the CN '%s', not a collector's: the broker grants the collector "
                 "topics only to a CN starting with '%s'; point cert_file and key_file at the "
                 "pair from smpctl pki issue-collector",
                 cfg->cert_file, id->cn, COLLECTOR_CN_PREFIX);
        return -1;
    }
    return 0;
}

/* The database's directory must take the -wal, -shm and lock files too. */
static int check_db(const char *path, const collector_config *cfg, FILE *out)
{
    char dir[CONFIG_STR_MAX], why[256], at[CONFIG_STR_MAX + 32];
    int problems = 0;

    where(path, "db_path", at, sizeof at);
    fscheck_dirname(cfg->db_path, dir, sizeof dir);
    if (fscheck_writable_dir(dir, false, why, sizeof why) != 0) {
        fprintf(out, "%sdb_path %s: directory %s: %s; create it for the collector's user or "
                "choose another db_path\n", at, cfg->db_path, dir, why);
        problems++;
    }
    if (access(cfg->db_path, F_OK) == 0 && access(cfg->db_path, R_OK | W_OK) != 0) {
        fprintf(out, "%sdb_path %s: exists but is not readable and writable by this user\n", at,
                cfg->db_path);
        problems++;
    }
    return problems;
}

int collector_config_check(const char *path, const collector_config *cfg, FILE *out)
{
    char err[1200], why[256], at[CONFIG_STR_MAX + 32];
    tls_identity id;
    policy *p = NULL;
    int problems = 0;

    if (collector_config_check_identity(cfg, &id, err, sizeof err) != 0) {
        fprintf(out, "%s: %s\n", path, err);
        problems++;
    }
    /* id.not_after is set once the certificate parsed; its errors are not
     * repeated by the issuer check, which then only looks at ca_file. */
    if (tls_identity_check_issuer(id.not_after ? cfg->cert_file : NULL, cfg->ca_file, err,
                                  sizeof err) != 0) {
        fprintf(out, "%s: %s\n", path, err);
        problems++;
    }
    if (id.not_after && tls_identity_expired(&id, time(NULL), why, sizeof why)) {
        fprintf(out, "%s: cert_file %s %s; the broker will refuse it: issue a new one (smpctl pki "
                "issue-collector)\n", path, cfg->cert_file, why);
        problems++;
    }
    if (cfg->policy_file[0]) {
        if (!(p = malloc(sizeof *p))) {
            fprintf(out, "%s: out of memory\n", path);
            return problems + 1;
        }
        if (policy_load(cfg->policy_file, p, err, sizeof err) != 0) {
            where(path, "policy_file", at, sizeof at);
            fprintf(out, "%spolicy_file: %s\n", at, err);
            problems++;
        }
        free(p);
    }
    return problems + check_db(path, cfg, out);
}

int collector_config_changed(const collector_config *a, const collector_config *b, char *out,
                             size_t cap)
{
    static const char *const reloadable[] = {"log_level", "policy_file", NULL};
    return config_changed(settings, a, b, reloadable, out, cap);
}
