#include "agent_config.h"

#include <stdio.h>

#include "ids.h"

#define F(field) offsetof(agent_config, field)

static const config_setting settings[] = {
    {"broker_host", CONFIG_STR, "127.0.0.1", 0, 0, F(broker_host), "broker host name or address"},
    {"broker_port", CONFIG_INT, "8883", 1, 65535, F(broker_port), "broker TLS port"},
    {"ca_file", CONFIG_STR, NULL, 0, 0, F(ca_file), "CA certificate (PEM) the broker's cert chains to"},
    {"cert_file", CONFIG_STR, NULL, 0, 0, F(cert_file), "this device's certificate (PEM), CN = device_id"},
    {"key_file", CONFIG_STR, NULL, 0, 0, F(key_file), "this device's private key (PEM)"},
    {"device_id", CONFIG_STR, NULL, 0, 0, F(device_id), "device id, [a-z0-9-]{3,64}"},
    {"data_dir", CONFIG_STR, NULL, 0, 0, F(data_dir), "directory for the journal and status"},
    {"feed_socket", CONFIG_STR, "", 0, 0, F(feed_socket), "Unix socket path for producers' JSON lines (empty: none)"},
    {"keepalive_s", CONFIG_INT, "30", 5, 3600, F(keepalive_s), "MQTT keepalive in seconds"},
    {"batch_max", CONFIG_INT, "64", 1, 64, F(batch_max), "records per events message"},
    {"window_batches", CONFIG_INT, "16", 1, 1024, F(window_batches), "messages in flight to the broker"},
    {"max_unacked", CONFIG_INT, "8192", 64, 10000000, F(max_unacked), "records sent ahead of the collector's ack"},
    {"ack_timeout_s", CONFIG_INT, "30", 1, 86400, F(ack_timeout_s), "seconds without ack progress before resending"},
    {"journal_max_mb", CONFIG_INT, "1024", 1, 1048576, F(journal_max_mb), "journal size at which new events are refused"},
    {"segment_kb", CONFIG_INT, "4096", 4, 1048576, F(segment_kb), "journal segment size"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

int agent_config_load(const char *path, agent_config *cfg, char *err, size_t errlen)
{
    char why[128];

    if (config_load(path, settings, cfg, err, errlen) != 0)
        return -1;
    if (!ids_valid_device_id(cfg->device_id, why, sizeof why)) {
        snprintf(err, errlen, "%s: device_id: %s", path, why);
        return -1;
    }
    return 0;
}
