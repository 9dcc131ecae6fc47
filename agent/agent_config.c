#include "agent_config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fscheck.h"
#include "ids.h"

#define F(field) offsetof(agent_config, field)

static const config_setting settings[] = {
    {"broker_host", CONFIG_STR, "127.0.0.1", 0, 0, F(broker_host), "broker host name or address"},
    {"broker_port", CONFIG_INT, "8883", 1, 65535, F(broker_port), "broker TLS port"},
    {"ca_file", CONFIG_PATH, NULL, 0, 0, F(ca_file), "CA certificate (PEM) the broker's cert chains to"},
    {"cert_file", CONFIG_PATH, NULL, 0, 0, F(cert_file), "this device's certificate (PEM), CN = device_id"},
    {"key_file", CONFIG_PATH, NULL, 0, 0, F(key_file), "this device's private key (PEM)"},
    {"device_id", CONFIG_STR, NULL, 0, 0, F(device_id), "device id, [a-z0-9-]{3,64}"},
    {"data_dir", CONFIG_PATH, NULL, 0, 0, F(data_dir), "directory for the journal and status"},
    {"feed_socket", CONFIG_PATH, "", 0, 0, F(feed_socket), "Unix socket path for producers' JSON lines (empty: none)"},
    {"keepalive_s", CONFIG_INT, "30", 5, 3600, F(keepalive_s), "MQTT keepalive in seconds"},
    {"batch_max", CONFIG_INT, "64", 1, 64, F(batch_max), "records per events message"},
    {"window_batches", CONFIG_INT, "16", 1, 1024, F(window_batches), "messages in flight to the broker"},
    {"max_unacked", CONFIG_INT, "8192", 64, 10000000, F(max_unacked), "records sent ahead of the collector's ack"},
    {"ack_timeout_s", CONFIG_INT, "30", 1, 86400, F(ack_timeout_s), "seconds without ack progress before resending"},
    {"journal_max_mb", CONFIG_INT, "1024", 1, 1048576, F(journal_max_mb), "unacked journal size at which new events are refused (at least segment_kb)"},
    {"segment_kb", CONFIG_INT, "4096", 4, 1048576, F(segment_kb), "journal segment size (at most journal_max_mb)"},
    {"alerts_socket", CONFIG_PATH, "", 0, 0, F(alerts_socket), "Unix socket path where local software reads the device's alerts as JSON lines (empty: none)"},
    {"cartridge_max_run_s", CONFIG_INT, "3600", 1, 31536000, F(cartridge_max_run_s), "cartridge run time for a local wear warning; keep in step with the collector's policy"},
    {"cartridge_max_strokes", CONFIG_INT, "400000", 1, 100000000000LL, F(cartridge_max_strokes), "cartridge strokes for a local wear warning; keep in step with the collector's policy"},
    {"local_alert_wait_s", CONFIG_INT, "30", 1, 86400, F(local_alert_wait_s), "seconds the collector may take to ack the record that crossed a wear limit before the agent warns locally"},
    {"log_level", CONFIG_STR, "info", 0, 0, F(log_level), "error, warn, info or debug; SIGHUP re-reads it"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

/* "agent.conf:7: " when key is set on a line of path, "agent.conf: " otherwise. */
static void where(const char *path, const char *key, char *out, size_t cap)
{
    int line = config_line_of(path, key);
    if (line > 0)
        snprintf(out, cap, "%s:%d: ", path, line);
    else
        snprintf(out, cap, "%s: ", path);
}

int agent_config_load(const char *path, agent_config *cfg, char *err, size_t errlen)
{
    char why[128], at[CONFIG_STR_MAX + 32];

    if (config_load(path, settings, cfg, err, errlen) != 0)
        return -1;
    if (!ids_valid_device_id(cfg->device_id, why, sizeof why)) {
        snprintf(err, errlen, "%s: device_id: %s", path, why);
        return -1;
    }
    /* The newest segment stays on disk until it is full, acked or not
     * (journal.h): one larger than the journal limit would make disk use
     * several times journal_max_mb, which the operator set to bound it. */
    if (cfg->segment_kb > cfg->journal_max_mb * 1024) {
        where(path, "segment_kb", at, sizeof at);
        snprintf(err, errlen,
                 "%ssegment_kb: %lld KiB is larger than journal_max_mb (%lld MiB); the newest "
                 "segment is kept until it is full, so set segment_kb to at most %lld or raise "
                 "journal_max_mb",
                 at, (long long)cfg->segment_kb, (long long)cfg->journal_max_mb,
                 (long long)cfg->journal_max_mb * 1024);
        return -1;
    }
    if (!log_level_parse(cfg->log_level, &cfg->log_min)) {
        where(path, "log_level", at, sizeof at);
        snprintf(err, errlen, "%slog_level: '%s' is not a level; use error, warn, info or debug", at,
                 cfg->log_level);
        return -1;
    }
    return 0;
}

void agent_config_lock_path(const agent_config *cfg, char *out, size_t cap)
{
    snprintf(out, cap, "%s/agent.lock", cfg->data_dir);
}

int agent_config_check_identity(const agent_config *cfg, tls_identity *id, char *err,
                                size_t errlen)
{
    if (tls_identity_load(cfg->cert_file, cfg->key_file, id, err, errlen) != 0)
        return -1;
    /* The broker takes the CN as the MQTT user and grants that device's
     * topics only: any other CN publishes into a denied topic. */
    if (id->cn_count != 1 || strcmp(id->cn, cfg->device_id) != 0) {
        snprintf(err, errlen,
                 "device_id '%s' does not match the CN '%s' of cert_file %s; set device_id to the "
                 "certificate's CN, or point cert_file and key_file at this device's pair "
                 "(smpctl pki issue-device %s)",
                 cfg->device_id, id->cn, cfg->cert_file, cfg->device_id);
        return -1;
    }
    return 0;
}

int agent_config_check(const char *path, const agent_config *cfg, FILE *out)
{
    char err[1200], why[256], at[CONFIG_STR_MAX + 32];
    tls_identity id;
    int problems = 0;

    err[0] = '\0';
    if (agent_config_check_identity(cfg, &id, err, sizeof err) != 0) {
        fprintf(out, "%s: %s\n", path, err);
        problems++;
    }
    char reissue[CONFIG_STR_MAX + 32];
    snprintf(reissue, sizeof reissue, "smpctl pki renew-device %s", cfg->device_id);
    problems += tls_identity_report(path, &id, cfg->cert_file, cfg->ca_file, reissue, time(NULL), out);
    if (fscheck_writable_dir(cfg->data_dir, true, why, sizeof why) != 0) {
        where(path, "data_dir", at, sizeof at);
        fprintf(out, "%sdata_dir %s: %s; create it for the agent's user or choose another\n", at,
                cfg->data_dir, why);
        problems++;
    }
    const struct {
        const char *key, *path;
    } sockets[] = {{"feed_socket", cfg->feed_socket}, {"alerts_socket", cfg->alerts_socket}};
    for (size_t i = 0; i < sizeof sockets / sizeof sockets[0]; i++) {
        char dir[CONFIG_STR_MAX];
        if (!sockets[i].path[0])
            continue;
        fscheck_dirname(sockets[i].path, dir, sizeof dir);
        if (fscheck_writable_dir(dir, false, why, sizeof why) != 0) {
            where(path, sockets[i].key, at, sizeof at);
            fprintf(out, "%s%s %s: directory %s: %s; the agent creates the socket there\n", at,
                    sockets[i].key, sockets[i].path, dir, why);
            problems++;
        }
    }
    return problems;
}

int agent_config_changed(const agent_config *a, const agent_config *b, char *out, size_t cap)
{
    static const char *const reloadable[] = {"log_level", NULL};
    return config_changed(settings, a, b, reloadable, out, cap);
}
