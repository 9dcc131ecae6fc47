/* mqtt_link: how both daemons connect to the broker — MQTT v5 over mutual
 * TLS with Paho MQTTAsync. Each daemon sets its own callbacks, will and
 * session properties; this module owns only what must be the same. */
#ifndef SMP_MQTT_LINK_H
#define SMP_MQTT_LINK_H

#include <stddef.h>

#include <MQTTAsync.h>

typedef struct mqtt_link_config {
    const char *host;
    int port;
    const char *ca_file, *cert_file, *key_file;
    int keepalive_s;
} mqtt_link_config;

/* Creates a v5 client for ssl://host:port. *out is the caller's
 * (MQTTAsync_destroy). Returns 0 or -1 with err filled. */
int mqtt_link_create(const mqtt_link_config *cfg, const char *client_id, MQTTAsync *out,
                     char *err, size_t errlen);

/* Fills connect and TLS options: v5, the keepalive, server certificate and
 * host name verified against ca_file, our cert and key presented. ssl must
 * outlive the MQTTAsync_connect call. */
void mqtt_link_connect_options(const mqtt_link_config *cfg, MQTTAsync_connectOptions *co,
                               MQTTAsync_SSLOptions *ssl);

/* Fails fast, naming the setting, when a TLS file is missing or unreadable:
 * Paho would only report a handshake failure much later. */
int mqtt_link_check_files(const mqtt_link_config *cfg, char *err, size_t errlen);

#endif
