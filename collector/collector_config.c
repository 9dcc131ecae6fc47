#include "collector_config.h"

#define F(field) offsetof(collector_config, field)

static const config_setting settings[] = {
    {"broker_host", CONFIG_STR, "127.0.0.1", 0, 0, F(broker_host), "broker host name or address"},
    {"broker_port", CONFIG_INT, "8883", 1, 65535, F(broker_port), "broker TLS port"},
    {"ca_file", CONFIG_STR, NULL, 0, 0, F(ca_file), "CA certificate (PEM) of the fleet"},
    {"cert_file", CONFIG_STR, NULL, 0, 0, F(cert_file), "collector certificate (PEM), CN smp-collector"},
    {"key_file", CONFIG_STR, NULL, 0, 0, F(key_file), "collector private key (PEM)"},
    {"db_path", CONFIG_STR, NULL, 0, 0, F(db_path), "SQLite database file"},
    {"client_id", CONFIG_STR, "smp-collector", 0, 0, F(client_id), "MQTT client id of the persistent session"},
    {"keepalive_s", CONFIG_INT, "30", 5, 3600, F(keepalive_s), "MQTT keepalive in seconds"},
    /* A week: the broker queues for a collector that is down that long. */
    {"session_expiry_s", CONFIG_INT, "604800", 60, 4294967294LL, F(session_expiry_s), "broker keeps our session this long while we are away"},
    {"quarantine_max_rows", CONFIG_INT, "100000", 100, 100000000, F(quarantine_max_rows), "rejected messages kept"},
    {"quarantine_payload_bytes", CONFIG_INT, "4096", 0, 262144, F(quarantine_payload_bytes), "bytes of a rejected payload kept"},
    {"future_skew_s", CONFIG_INT, "86400", 0, 31536000, F(future_skew_s), "records timed further ahead of receive time are rejected"},
    {"policy_file", CONFIG_STR, "", 0, 0, F(policy_file), "compliance rules policy (docs/rules.md); empty: built-in cdc defaults"},
    {"metrics_port", CONFIG_INT, "0", 0, 65535, F(metrics_port), "TCP port of the Prometheus /metrics endpoint; 0 turns it off"},
    /* Loopback: the metrics name clinics and devices and nobody is authenticated. */
    {"metrics_bind", CONFIG_STR, "127.0.0.1", 0, 0, F(metrics_bind), "address the /metrics endpoint listens on"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

int collector_config_load(const char *path, collector_config *cfg, char *err, size_t errlen)
{
    return config_load(path, settings, cfg, err, errlen);
}
