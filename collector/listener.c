#include "listener.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "committer.h"
#include "conn_diag.h"
#include "device_alerts.h"
#include "inbox.h"
#include "publisher.h"
#include "log.h"
#include "message.h"
#include "mqtt_link.h"
#include "presence.h"
#include "store_alerts.h"

/* The inbox holds at most this much between Paho and the committer. */
#define INBOX_MESSAGES 1024
#define INBOX_BYTES    (64u * 1024 * 1024)

struct listener {
    MQTTAsync client;
    mqtt_link_config link;
    const collector_config *cfg;
    inbox *q;
    committer *committer;
    publisher *publisher;
    pthread_mutex_t mu;
    bool connected, connecting;
    conn_diag *diag;    /* names why a connect failed, on its own thread */
    /* The publisher thread's own: its connection to read a device's open
     * alerts for smp/v1/dev/<device>/alerts, and the buffers for them. */
    store *alert_store;
    store_open_alert *open;
    char *device_payload;
    /* What we subscribe to: the devices' events (through the shared
     * subscription $share/<share_group>/... when collectors share the
     * load) and their status, which every collector takes whole (presence
     * is an idempotent upsert, and each collector's /metrics sees it). */
    char events_topic[MESSAGE_TOPIC_MAX + CONFIG_STR_MAX];
    char *topics[2];
};

#define EVENTS_FILTER "smp/v1/dev/+/events"
#define STATUS_FILTER "smp/v1/dev/+/status"

static void set_state(listener *l, bool connected, bool connecting)
{
    pthread_mutex_lock(&l->mu);
    l->connected = connected;
    l->connecting = connecting;
    pthread_mutex_unlock(&l->mu);
}

static void publish_ack(void *ctx, const char *device, uint64_t seq)
{
    listener *l = ctx;
    MQTTAsync_message m = MQTTAsync_message_initializer;
    char topic[MESSAGE_TOPIC_MAX], payload[160];
    int len = message_encode_ack(device, seq, payload, sizeof payload);

    snprintf(topic, sizeof topic, "smp/v1/dev/%s/ack", device);
    m.payload = payload;
    m.payloadlen = len;
    m.qos = 1;
    m.retained = 1; /* a reconnecting agent learns its ack on subscribe */
    int rc = MQTTAsync_sendMessage(l->client, topic, &m, NULL);
    if (rc != MQTTASYNC_SUCCESS)
        log_warn("ack publish failed device=%s seq=%" PRIu64 " error=%s", device, seq,
                 MQTTAsync_strerror(rc));
}

/* A clinic name is a topic level: it must not be empty or hold / + #. */
static bool topic_level_ok(const char *s)
{
    return *s && !strpbrk(s, "/+#");
}

/* The device's own topic, for the practitioner at the chair. Retained:
 * every message carries the device's open alerts, read after the event's
 * commit, so the last one tells a (re)connecting agent what is open even
 * while the collector is down. Publisher thread only (alert_store). */
static void publish_device_alert(listener *l, const alert_event *ev, const char *ts)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    char topic[MESSAGE_TOPIC_MAX];
    size_t n, total;

    if (store_device_open_alerts(l->alert_store, ev->a.device, l->open, DEVICE_ALERTS_OPEN_MAX, &n,
                                 &total) != 0) {
        log_error("device alert not published id=%lld device=%s: %s", (long long)ev->a.id,
                  ev->a.device, store_errmsg(l->alert_store));
        return;
    }
    int len = device_alerts_encode(ev, ts, l->open, n, total, l->device_payload,
                                   DEVICE_ALERTS_ENCODED_MAX);
    if (len < 0) {
        log_error("device alert not published id=%lld device=%s (cannot encode)",
                  (long long)ev->a.id, ev->a.device);
        return;
    }
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/alerts", ev->a.device);
    m.payload = l->device_payload;
    m.payloadlen = len;
    m.qos = 1;
    m.retained = 1;
    int rc = MQTTAsync_sendMessage(l->client, topic, &m, NULL);
    if (rc != MQTTASYNC_SUCCESS)
        log_warn("device alert publish failed id=%lld device=%s error=%s", (long long)ev->a.id,
                 ev->a.device, MQTTAsync_strerror(rc));
}

/* Publisher thread only (publisher.h: it never waits on Paho's lock). */
static void publish_alerts_now(listener *l, const alert_batch *b, int64_t at_ms)
{
    char topic[MESSAGE_TOPIC_MAX + RECORD_STR_MAX], payload[ALERT_ENCODED_MAX], ts[RECORD_TS_LEN + 1];

    record_ts_format(at_ms, ts);
    for (size_t i = 0; i < b->count; i++) {
        const alert_event *ev = &b->events[i];
        MQTTAsync_message m = MQTTAsync_message_initializer;
        int len = alert_encode(ev, ts, payload, sizeof payload);
        /* cause and message embed device-supplied ids: quoted. */
        log_warn("alert %s rule=%s severity=%s device=%s cause=%s message=%s",
                 alert_event_name(ev->kind), ev->a.rule, ev->a.severity, ev->a.device,
                 LOG_Q(ev->a.cause), LOG_Q(ev->a.message));
        publish_device_alert(l, ev, ts);
        if (len < 0 || !topic_level_ok(ev->a.clinic)) {
            log_error("alert not published id=%lld clinic=%s (not a valid topic level)",
                      (long long)ev->a.id, LOG_Q(ev->a.clinic));
            continue;
        }
        snprintf(topic, sizeof topic, "smp/v1/alerts/%s", ev->a.clinic);
        m.payload = payload;
        m.payloadlen = len;
        m.qos = 1;
        int rc = MQTTAsync_sendMessage(l->client, topic, &m, NULL);
        if (rc != MQTTASYNC_SUCCESS)
            log_warn("alert publish failed id=%lld error=%s", (long long)ev->a.id, MQTTAsync_strerror(rc));
    }
    if (b->dropped)
        log_warn("alerts stored but not published count=%zu (more than %d at once)", b->dropped,
                 ALERT_BATCH_MAX);
}

/* The rules timer's alerts (main thread) go through the publisher too: one
 * thread publishes every alert, so a device's retained message is always
 * the newest of its open-alert lists, and alert_store has one user. */
void listener_publish_alerts(listener *l, const alert_batch *b, int64_t at_ms)
{
    (void)at_ms;
    publisher_alerts(l->publisher, b);
}

/* publisher_sink.alerts. */
static void publish_group_alerts(void *ctx, const alert_batch *b, int64_t at_ms)
{
    publish_alerts_now(ctx, b, at_ms);
}

/* committer_publish: never calls Paho, only hands over to the publisher
 * thread (see publisher.h for the deadlock this avoids). */
static void queue_ack(void *ctx, const char *device, uint64_t seq)
{
    listener *l = ctx;
    publisher_ack(l->publisher, device, seq);
}

static void queue_alerts(void *ctx, const alert_batch *b, int64_t at_ms)
{
    listener *l = ctx;
    (void)at_ms;
    publisher_alerts(l->publisher, b);
}

/* Paho's receive thread: hand events and status messages to the
 * committer and return; never the database (the committer stores status
 * in device_presence, presence.h). While the inbox is full this blocks,
 * which is the back-pressure. */
static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m)
{
    listener *l = ctx;
    size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    (void)topic_len;

    /* A status that cannot be one takes no inbox room; its bytes are the
     * device's: quoted and cut short. */
    if (presence_is_status(topic) && len > PRESENCE_PAYLOAD_MAX)
        log_warn("status ignored topic=%s reason=%s payload=%s", LOG_Q(topic),
                 LOG_Q("longer than " PRESENCE_PAYLOAD_MAX_STR " bytes"), LOG_QN(m->payload, 64));
    else if (inbox_push(l->q, topic, m->payload, len) != 0)
        log_error("message not taken (shutting down or out of memory) topic=%s; the agent will resend",
                  LOG_Q(topic));
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribed(void *ctx, MQTTAsync_successData5 *r)
{
    listener *l = ctx;
    int refused = 0;
    for (int i = 0; r && i < r->alt.sub.reasonCodeCount && i < 2; i++) {
        if (r->alt.sub.reasonCodes[i] >= 0x80) {
            log_error("subscription refused topic=%s reason=%d; check the broker ACL", l->topics[i],
                      r->alt.sub.reasonCodes[i]);
            refused++;
        }
    }
    if (r && r->alt.sub.reasonCodeCount == 0 && r->reasonCode >= 0x80) {
        log_error("subscription refused reason=%d; check the broker ACL", r->reasonCode);
        refused++;
    }
    /* Tests and the demo wait for this line before starting agents. */
    if (!refused)
        log_info("subscribed topics=%s,%s", l->topics[0], l->topics[1]);
}

static void on_connect(void *ctx, MQTTAsync_successData5 *r)
{
    listener *l = ctx;
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    int qos[] = {1, 1};
    /* A device can publish its events with the retain flag, and mosquitto's
     * ACL cannot refuse that. Retain handling 2 means the broker never sends
     * retained messages when we subscribe, so a retained batch is processed
     * once, when it is published, and never again at each reconnect. The
     * retained birth/will on the status topic is what we want on subscribe.
     * (A shared subscription never gets retained messages at all.) */
    MQTTSubscribe_options sub_opts[] = {{.struct_id = {'M', 'Q', 'S', 'O'}, .retainHandling = 2},
                                        {.struct_id = {'M', 'Q', 'S', 'O'}, .retainHandling = 0}};

    opts.onSuccess5 = on_subscribed;
    opts.context = l;
    opts.subscribeOptionsList = sub_opts;
    opts.subscribeOptionsCount = 2;
    set_state(l, true, false);
    conn_diag_connected(l->diag);
    log_info("connected broker=%s:%d session_present=%d", l->link.host, l->link.port,
             r ? r->alt.connect.sessionPresent : -1);
    int rc = MQTTAsync_subscribeMany(l->client, 2, l->topics, qos, &opts);
    if (rc != MQTTASYNC_SUCCESS)
        log_error("subscribe failed error=%s", MQTTAsync_strerror(rc));
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData5 *r)
{
    listener *l = ctx;
    set_state(l, false, false);
    log_warn("connect failed broker=%s:%d code=%d reason=%s", l->link.host, l->link.port,
             r ? r->code : -1, r && r->message ? r->message : "-");
    /* Paho rarely says why; the probe thread finds out and logs it. */
    conn_diag_request(l->diag);
}

static void on_connection_lost(void *ctx, char *cause)
{
    listener *l = ctx;
    set_state(l, false, false);
    log_warn("connection lost broker=%s:%d cause=%s", l->link.host, l->link.port, cause ? cause : "-");
}

int listener_new(const collector_config *cfg, const char *client_id, ingest *const *lanes,
                 size_t nlanes, metrics_counters *counters, listener **out, char *err,
                 size_t errlen)
{
    listener *l = calloc(1, sizeof *l);
    committer_publish pub = {l, queue_ack, queue_alerts, counters};
    publisher_sink sink = {l, publish_ack, publish_group_alerts};

    *out = NULL;
    if (!l)
        return -1;
    l->cfg = cfg;
    if (cfg->share_group[0])
        snprintf(l->events_topic, sizeof l->events_topic, "$share/%s/" EVENTS_FILTER,
                 cfg->share_group);
    else
        snprintf(l->events_topic, sizeof l->events_topic, EVENTS_FILTER);
    l->topics[0] = l->events_topic;
    l->topics[1] = STATUS_FILTER;
    l->link = (mqtt_link_config){cfg->broker_host, (int)cfg->broker_port, cfg->ca_file,
                                 cfg->cert_file, cfg->key_file, (int)cfg->keepalive_s};
    pthread_mutex_init(&l->mu, NULL);
    if (mqtt_link_check_files(&l->link, err, errlen) != 0)
        goto fail;
    if (!(l->diag = conn_diag_start(&l->link))) {
        snprintf(err, errlen, "cannot start the connection diagnosis thread");
        goto fail;
    }
    if (store_open(cfg->db_path, &l->alert_store, err, errlen) != 0)
        goto fail;
    l->open = malloc(DEVICE_ALERTS_OPEN_MAX * sizeof *l->open);
    l->device_payload = malloc(DEVICE_ALERTS_ENCODED_MAX);
    if (!l->open || !l->device_payload) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (mqtt_link_create(&l->link, client_id, &l->client, err, errlen) != 0)
        goto fail;
    if (!(l->q = inbox_new(INBOX_MESSAGES, INBOX_BYTES)) ||
        !(l->publisher = publisher_start(&sink)) ||
        !(l->committer = committer_start(lanes, nlanes, l->q, &pub))) {
        snprintf(err, errlen, "cannot start the committer threads (out of memory?)");
        publisher_stop(l->publisher);
        MQTTAsync_destroy(&l->client);
        goto fail;
    }
    MQTTAsync_setCallbacks(l->client, l, on_connection_lost, on_message, NULL);
    *out = l;
    return 0;
fail:
    conn_diag_stop(l->diag);
    inbox_free(l->q);
    store_close(l->alert_store);
    free(l->open);
    free(l->device_payload);
    pthread_mutex_destroy(&l->mu);
    free(l);
    return -1;
}

void listener_free(listener *l)
{
    if (!l)
        return;
    /* Store what the inbox holds and publish its acks while still
     * connected; a message arriving meanwhile is refused, stays unacked and
     * is resent by its agent. */
    committer_stop(l->committer);
    publisher_stop(l->publisher);
    if (MQTTAsync_isConnected(l->client)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
        d.timeout = 2000;
        MQTTAsync_disconnect(l->client, &d);
        for (int i = 0; i < 40 && MQTTAsync_isConnected(l->client); i++)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    MQTTAsync_destroy(&l->client);
    conn_diag_stop(l->diag);
    inbox_free(l->q);
    store_close(l->alert_store);
    free(l->open);
    free(l->device_payload);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void listener_connect(listener *l)
{
    MQTTAsync_connectOptions co;
    MQTTAsync_SSLOptions ssl;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    int rc;

    pthread_mutex_lock(&l->mu);
    if (l->connected || l->connecting) {
        pthread_mutex_unlock(&l->mu);
        return;
    }
    l->connecting = true;
    pthread_mutex_unlock(&l->mu);

    mqtt_link_connect_options(&l->link, &co, &ssl);
    /* Persistent session: the broker queues events while we are down. */
    co.cleanstart = 0;
    expiry.value.integer4 = (unsigned int)l->cfg->session_expiry_s;
    MQTTProperties_add(&props, &expiry);
    co.connectProperties = &props;
    co.onSuccess5 = on_connect;
    co.onFailure5 = on_connect_failure;
    co.context = l;
    if ((rc = MQTTAsync_connect(l->client, &co)) != MQTTASYNC_SUCCESS) {
        set_state(l, false, false);
        log_warn("connect not started error=%s", MQTTAsync_strerror(rc));
    }
    MQTTProperties_free(&props);
}

bool listener_connected(listener *l, bool *connecting)
{
    pthread_mutex_lock(&l->mu);
    bool c = l->connected;
    if (connecting)
        *connecting = l->connecting;
    pthread_mutex_unlock(&l->mu);
    return c;
}
