#include "mqtt_link.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int mqtt_link_create(const mqtt_link_config *cfg, const char *client_id, MQTTAsync *out,
                     char *err, size_t errlen)
{
    MQTTAsync_createOptions opts = MQTTAsync_createOptions_initializer5;
    char uri[300];
    int rc;

    snprintf(uri, sizeof uri, "ssl://%s:%d", cfg->host, cfg->port);
    /* Nothing is buffered by Paho while disconnected: the journal (agent) or
     * the broker session (collector) is where undelivered data waits. */
    opts.sendWhileDisconnected = 0;
    /* Paho's limit on publishes not yet handed to the socket applies while
     * connected too (default 100): a collector draining a backlog publishes
     * an ack per message faster than that, and acks past the limit were
     * refused. 10000 covers a drain burst; each entry is one small message. */
    opts.maxBufferedMessages = 10000;
    rc = MQTTAsync_createWithOptions(out, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL, &opts);
    if (rc != MQTTASYNC_SUCCESS) {
        snprintf(err, errlen, "mqtt client for %s: %s", uri, MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

void mqtt_link_connect_options(const mqtt_link_config *cfg, MQTTAsync_connectOptions *co,
                               MQTTAsync_SSLOptions *ssl)
{
    MQTTAsync_connectOptions c = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_SSLOptions s = MQTTAsync_SSLOptions_initializer;

    s.trustStore = cfg->ca_file;
    s.keyStore = cfg->cert_file;
    s.privateKey = cfg->key_file;
    s.enableServerCertAuth = 1;
    s.verify = 1; /* the broker's certificate must name the host we dialled */
    s.sslVersion = MQTT_SSL_VERSION_TLS_1_2;
    *ssl = s;

    c.keepAliveInterval = cfg->keepalive_s;
    c.connectTimeout = 10;
    c.ssl = ssl;
    *co = c;
}

int mqtt_link_check_files(const mqtt_link_config *cfg, char *err, size_t errlen)
{
    const struct {
        const char *setting, *path;
    } files[] = {{"ca_file", cfg->ca_file}, {"cert_file", cfg->cert_file}, {"key_file", cfg->key_file}};

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (access(files[i].path, R_OK) != 0) {
            snprintf(err, errlen, "%s: cannot read %s: %s", files[i].setting, files[i].path,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}
