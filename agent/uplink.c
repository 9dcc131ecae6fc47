#include "uplink.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "conn_diag.h"
#include "log.h"
#include "message.h"

struct uplink {
    MQTTAsync client;
    mqtt_link_config cfg;
    char device[IDS_DEVICE_ID_MAX + 1];
    char topic_events[MESSAGE_TOPIC_MAX], topic_status[MESSAGE_TOPIC_MAX],
        topic_ack[MESSAGE_TOPIC_MAX], topic_alerts[MESSAGE_TOPIC_MAX];

    pthread_mutex_t mu;
    uplink_snapshot s;          /* guarded by mu */
    int wake[2];                /* pipe: a byte per change wakes the main loop */
    conn_diag *diag;            /* names why a connect failed, on its own thread */

    /* guarded by mu: alerts messages waiting for the main loop */
    struct alert_msg {
        char *payload;
        size_t len;
        bool retained;
    } alerts[UPLINK_ALERT_QUEUE];
    size_t alerts_head, alerts_count;
};

#define STATUS_OFFLINE "{\"state\":\"offline\"}"

/* Called with mu held: releases it and wakes the main loop. */
static void notify(uplink *u)
{
    pthread_mutex_unlock(&u->mu);
    /* A full pipe already holds a wake-up; nothing is lost by EAGAIN. */
    if (write(u->wake[1], "", 1) < 0 && errno != EAGAIN)
        log_warn("uplink wake pipe write failed error=%s", strerror(errno));
}

static int publish_status(uplink *u, const char *json)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    m.payload = (void *)json;
    m.payloadlen = (int)strlen(json);
    m.qos = 1;
    m.retained = 1;
    int rc = MQTTAsync_sendMessage(u->client, u->topic_status, &m, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        log_warn("status publish failed status=%s error=%s", json, MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

int uplink_publish_status(uplink *u, const char *json) { return publish_status(u, json); }

static void on_subscribe_failure(void *ctx, MQTTAsync_failureData5 *r)
{
    uplink *u = ctx;
    log_error("subscription refused topics=%s,%s code=%d; check the broker ACL", u->topic_ack,
              u->topic_alerts, r ? r->code : -1);
}

static void on_connect(void *ctx, MQTTAsync_successData5 *r)
{
    uplink *u = ctx;
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    (void)r;

    opts.onFailure5 = on_subscribe_failure;
    opts.context = u;
    /* Both are retained: subscribing delivers the latest ack and the
     * collector's latest list of this device's open alerts. The status
     * (birth) is published by the main loop when it sees the connection,
     * with the journal's numbers. */
    char *topics[] = {u->topic_ack, u->topic_alerts};
    int qos[] = {1, 1};
    int rc = MQTTAsync_subscribeMany(u->client, 2, topics, qos, &opts);
    if (rc != MQTTASYNC_SUCCESS)
        log_error("ack/alerts subscribe failed error=%s", MQTTAsync_strerror(rc));

    conn_diag_connected(u->diag);
    pthread_mutex_lock(&u->mu);
    u->s.connected = true;
    u->s.connecting = false;
    u->s.generation++;
    u->s.failures = 0;
    u->s.inflight = 0;
    log_info("connected broker=%s:%d generation=%llu", u->cfg.host, u->cfg.port,
             (unsigned long long)u->s.generation);
    notify(u);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData5 *r)
{
    uplink *u = ctx;
    pthread_mutex_lock(&u->mu);
    u->s.connecting = false;
    u->s.failures++;
    log_warn("connect failed broker=%s:%d code=%d reason=%s attempt=%llu", u->cfg.host,
             u->cfg.port, r ? r->code : -1, r && r->message ? r->message : "-",
             (unsigned long long)u->s.failures);
    notify(u);
    /* Paho rarely says why; the probe thread finds out and logs it. */
    conn_diag_request(u->diag);
}

static void on_connection_lost(void *ctx, char *cause)
{
    uplink *u = ctx;
    pthread_mutex_lock(&u->mu);
    u->s.connected = false;
    u->s.connecting = false;
    u->s.inflight = 0;
    log_warn("connection lost broker=%s:%d cause=%s", u->cfg.host, u->cfg.port,
             cause ? cause : "-");
    notify(u);
}

/* Paho's thread: copy and return; the main loop parses (never block here). */
static void queue_alert(uplink *u, const MQTTAsync_message *m)
{
    size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    char *copy;

    if (len > UPLINK_ALERT_MSG_MAX || !(copy = malloc(len + 1))) {
        log_warn("alerts message ignored bytes=%zu (larger than %d or out of memory)", len,
                 UPLINK_ALERT_MSG_MAX);
        return;
    }
    memcpy(copy, m->payload, len);
    copy[len] = '\0';
    pthread_mutex_lock(&u->mu);
    if (u->alerts_count == UPLINK_ALERT_QUEUE) {
        free(u->alerts[u->alerts_head].payload);
        u->alerts_head = (u->alerts_head + 1) % UPLINK_ALERT_QUEUE;
        u->alerts_count--;
        log_warn("alerts message dropped: %d waiting (the next one lists every open alert)",
                 UPLINK_ALERT_QUEUE);
    }
    u->alerts[(u->alerts_head + u->alerts_count) % UPLINK_ALERT_QUEUE] =
        (struct alert_msg){copy, len, m->retained != 0};
    u->alerts_count++;
    notify(u);
}

bool uplink_take_alert(uplink *u, char **payload, size_t *len, bool *retained)
{
    bool got = false;
    pthread_mutex_lock(&u->mu);
    if (u->alerts_count > 0) {
        struct alert_msg *a = &u->alerts[u->alerts_head];
        *payload = a->payload;
        *len = a->len;
        *retained = a->retained;
        u->alerts_head = (u->alerts_head + 1) % UPLINK_ALERT_QUEUE;
        u->alerts_count--;
        got = true;
    }
    pthread_mutex_unlock(&u->mu);
    return got;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    uplink *u = ctx;
    uint64_t seq;
    (void)topic_len;

    if (strcmp(topic, u->topic_ack) == 0 &&
        message_parse_ack(m->payload, (size_t)m->payloadlen, u->device, &seq) == 0) {
        pthread_mutex_lock(&u->mu);
        if (seq > u->s.ack_seq)
            u->s.ack_seq = seq;
        notify(u);
    } else if (strcmp(topic, u->topic_alerts) == 0) {
        queue_alert(u, m);
    } else {
        log_warn("ignoring unexpected message topic=%s bytes=%d", LOG_Q(topic), m->payloadlen);
    }
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_published(void *ctx, MQTTAsync_successData5 *r)
{
    uplink *u = ctx;
    (void)r;
    pthread_mutex_lock(&u->mu);
    if (u->s.inflight > 0)
        u->s.inflight--;
    notify(u);
}

static void on_publish_failure(void *ctx, MQTTAsync_failureData5 *r)
{
    uplink *u = ctx;
    /* Nothing to redo here: the records stay in the journal and are resent
     * from the oldest unacked one after the next (re)connect. */
    log_warn("publish failed code=%d", r ? r->code : -1);
    on_published(u, NULL);
}

int uplink_new(const mqtt_link_config *cfg, const char *device_id, uplink **out, char *err,
               size_t errlen)
{
    uplink *u = calloc(1, sizeof *u);
    char client_id[96];

    *out = NULL;
    if (!u)
        return -1;
    u->cfg = *cfg;
    snprintf(u->device, sizeof u->device, "%s", device_id);
    snprintf(u->topic_events, sizeof u->topic_events, "smp/v1/dev/%s/events", device_id);
    snprintf(u->topic_status, sizeof u->topic_status, "smp/v1/dev/%s/status", device_id);
    snprintf(u->topic_ack, sizeof u->topic_ack, "smp/v1/dev/%s/ack", device_id);
    snprintf(u->topic_alerts, sizeof u->topic_alerts, "smp/v1/dev/%s/alerts", device_id);
    /* The broker replaces it with our certificate's CN anyway
     * (use_username_as_clientid); the same name keeps both logs alike. */
    snprintf(client_id, sizeof client_id, "%s", device_id);
    pthread_mutex_init(&u->mu, NULL);
    if (pipe(u->wake) != 0) {
        snprintf(err, errlen, "uplink: pipe: %s", strerror(errno));
        pthread_mutex_destroy(&u->mu);
        free(u);
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(u->wake[i], F_SETFL, fcntl(u->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(u->wake[i], F_SETFD, FD_CLOEXEC);
    }
    /* u->cfg, not cfg: the diagnosis thread keeps a pointer to it. */
    if (!(u->diag = conn_diag_start(&u->cfg))) {
        snprintf(err, errlen, "uplink: cannot start the connection diagnosis thread");
        close(u->wake[0]);
        close(u->wake[1]);
        pthread_mutex_destroy(&u->mu);
        free(u);
        return -1;
    }
    if (mqtt_link_create(cfg, client_id, &u->client, err, errlen) != 0) {
        conn_diag_stop(u->diag);
        close(u->wake[0]);
        close(u->wake[1]);
        pthread_mutex_destroy(&u->mu);
        free(u);
        return -1;
    }
    MQTTAsync_setCallbacks(u->client, u, on_connection_lost, on_message, NULL);
    *out = u;
    return 0;
}

void uplink_free(uplink *u)
{
    if (!u)
        return;
    if (MQTTAsync_isConnected(u->client)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
        publish_status(u, STATUS_OFFLINE);
        d.timeout = 2000;
        MQTTAsync_disconnect(u->client, &d);
        for (int i = 0; i < 40 && MQTTAsync_isConnected(u->client); i++)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    MQTTAsync_destroy(&u->client);
    conn_diag_stop(u->diag);
    close(u->wake[0]);
    close(u->wake[1]);
    for (size_t i = 0; i < u->alerts_count; i++)
        free(u->alerts[(u->alerts_head + i) % UPLINK_ALERT_QUEUE].payload);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

int uplink_connect(uplink *u)
{
    MQTTAsync_connectOptions co;
    MQTTAsync_SSLOptions ssl;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    int rc;

    pthread_mutex_lock(&u->mu);
    if (u->s.connected || u->s.connecting) {
        pthread_mutex_unlock(&u->mu);
        return 0;
    }
    u->s.connecting = true;
    pthread_mutex_unlock(&u->mu);

    mqtt_link_connect_options(&u->cfg, &co, &ssl);
    /* Clean start: the agent keeps no broker session. Everything unacked is
     * in the journal and is resent from acked+1 on every connect. */
    co.cleanstart = 1;
    will.topicName = u->topic_status;
    will.message = STATUS_OFFLINE;
    will.retained = 1;
    will.qos = 1;
    co.will = &will;
    co.onSuccess5 = on_connect;
    co.onFailure5 = on_connect_failure;
    co.context = u;
    if ((rc = MQTTAsync_connect(u->client, &co)) != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&u->mu);
        u->s.connecting = false;
        u->s.failures++;
        pthread_mutex_unlock(&u->mu);
        log_warn("connect not started error=%s", MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

int uplink_publish_events(uplink *u, const char *payload, size_t len)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    int rc;

    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = 1;
    opts.onSuccess5 = on_published;
    opts.onFailure5 = on_publish_failure;
    opts.context = u;
    pthread_mutex_lock(&u->mu);
    u->s.inflight++;
    pthread_mutex_unlock(&u->mu);
    if ((rc = MQTTAsync_sendMessage(u->client, u->topic_events, &m, &opts)) != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&u->mu);
        u->s.inflight--;
        pthread_mutex_unlock(&u->mu);
        log_warn("publish not started error=%s", MQTTAsync_strerror(rc));
        return -1;
    }
    return 0;
}

void uplink_snapshot_get(uplink *u, uplink_snapshot *out)
{
    pthread_mutex_lock(&u->mu);
    *out = u->s;
    pthread_mutex_unlock(&u->mu);
}

void uplink_connect_error(uplink *u, char *out, size_t len) { conn_diag_last(u->diag, out, len); }

int uplink_wake_fd(uplink *u) { return u->wake[0]; }

void uplink_wake_drain(uplink *u)
{
    char buf[64];
    while (read(u->wake[0], buf, sizeof buf) > 0)
        ;
}
