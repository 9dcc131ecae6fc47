/* pub_load: publishes gen_load's messages into the broker, each device's
 * file over its own mutual-TLS MQTT v5 connection with that device's
 * certificate (the ACL lets device X write only smp/v1/dev/X/events), QoS 1,
 * and waits until every message is PUBACKed.
 *
 *   pub_load --port N --pki DIR --dir LOADDIR --devices FILE
 *            [--lines N] [--parallel P] [--window W] [--timeout S]
 *
 * LOADDIR/<device>.txt holds one payload per line; --lines N sends only
 * the first N lines of each (0: all). P worker processes connect one device
 * at a time each, W messages in flight per connection. Prints
 * "pub_load: messages=M acked=A failed=F seconds=S rate=R/s"; exits 0 only
 * when every message was acked with reason code success. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mqtt_link.h"

typedef struct conn {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;            /* 0 connecting, 1 connected, -1 failed, 2 disconnected */
    long inflight, acked, failed;
} conn;

static struct {
    int port, window, timeout_s;
    long lines;
    const char *pki, *dir;
} opt = {0, 64, 300, 0, NULL, NULL};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void deadline_in(struct timespec *ts, int s)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += s;
}

static void set_state(conn *c, int st)
{
    pthread_mutex_lock(&c->mu);
    c->state = st;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData5 *r) { (void)r; set_state(ctx, 1); }
static void on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    fprintf(stderr, "pub_load: connect failed: %s (reason %d)\n",
            r && r->message ? r->message : "?", r ? (int)r->reasonCode : -1);
    set_state(ctx, -1);
}
static void on_disc(void *ctx, MQTTAsync_successData5 *r) { (void)r; set_state(ctx, 2); }
static void on_disc_fail(void *ctx, MQTTAsync_failureData5 *r) { (void)r; set_state(ctx, 2); }

static void done_one(conn *c, bool ok)
{
    pthread_mutex_lock(&c->mu);
    c->inflight--;
    if (ok)
        c->acked++;
    else
        c->failed++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_pub_ok(void *ctx, MQTTAsync_successData5 *r)
{
    /* mosquitto answers a refused publish with a reason code >= 0x80. */
    done_one(ctx, !r || r->reasonCode < 0x80);
}
static void on_pub_fail(void *ctx, MQTTAsync_failureData5 *r) { (void)r; done_one(ctx, false); }

static void on_lost(void *ctx, char *cause)
{
    fprintf(stderr, "pub_load: connection lost: %s\n", cause ? cause : "?");
    set_state(ctx, -1);
}
static int on_arrived(void *ctx, char *t, int tl, MQTTAsync_message *m)
{
    (void)ctx, (void)tl;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(t);
    return 1;
}

static bool p_settled(const conn *c) { return c->state != 0; }
static bool p_room(const conn *c) { return c->inflight < opt.window || c->state < 0; }
static bool p_drained(const conn *c) { return c->inflight == 0 || c->state < 0; }
static bool p_down(const conn *c) { return c->state != 1; }

/* Waits (holding c->mu) until pred holds or opt.timeout_s passes; returns pred. */
static bool wait_for(conn *c, bool (*pred)(const conn *))
{
    struct timespec dl;
    int rc = 0;

    deadline_in(&dl, opt.timeout_s);
    while (!pred(c) && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
    return pred(c);
}

/* Publishes one device's file; adds its counts to sent, acked and failed. */
static int publish_device(const char *dev, long *sent, long *acked, long *failed)
{
    char cert[4096], key[4096], ca[4096], path[4096], topic[200], err[512], cid[128];
    mqtt_link_config lc = {"127.0.0.1", opt.port, ca, cert, key, 60};
    MQTTAsync client;
    MQTTAsync_connectOptions co;
    MQTTAsync_SSLOptions ssl;
    conn c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};
    int status = 0;

    snprintf(ca, sizeof ca, "%s/ca.crt", opt.pki);
    snprintf(cert, sizeof cert, "%s/devices/%s.crt", opt.pki, dev);
    snprintf(key, sizeof key, "%s/devices/%s.key", opt.pki, dev);
    snprintf(path, sizeof path, "%s/%s.txt", opt.dir, dev);
    snprintf(topic, sizeof topic, "smp/v1/dev/%s/events", dev);
    snprintf(cid, sizeof cid, "bench-pub-%s", dev);

    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "pub_load: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (mqtt_link_create(&lc, cid, &client, err, sizeof err) != 0) {
        fprintf(stderr, "pub_load: %s\n", err);
        fclose(f);
        return -1;
    }
    MQTTAsync_setCallbacks(client, &c, on_lost, on_arrived, NULL);
    mqtt_link_connect_options(&lc, &co, &ssl);
    co.cleanstart = 1;
    co.maxInflight = opt.window;
    co.context = &c;
    co.onSuccess5 = on_connect_ok;
    co.onFailure5 = on_connect_fail;
    if (MQTTAsync_connect(client, &co) != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "pub_load: %s: connect did not start\n", dev);
        status = -1;
        goto out;
    }
    pthread_mutex_lock(&c.mu);
    bool up = wait_for(&c, p_settled) && c.state == 1;
    pthread_mutex_unlock(&c.mu);
    if (!up) {
        fprintf(stderr, "pub_load: %s: not connected\n", dev);
        status = -1;
        goto out;
    }

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long count = 0;
    while ((opt.lines == 0 || count < opt.lines) && (n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        if (n == 0)
            continue;
        pthread_mutex_lock(&c.mu);
        bool room = wait_for(&c, p_room);
        if (!room || c.state < 0) {
            pthread_mutex_unlock(&c.mu);
            fprintf(stderr, "pub_load: %s: stalled with %ld in flight\n", dev, c.inflight);
            status = -1;
            break;
        }
        c.inflight++;
        pthread_mutex_unlock(&c.mu);

        MQTTAsync_message m = MQTTAsync_message_initializer;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        m.payload = line;
        m.payloadlen = (int)n;
        m.qos = 1;
        ro.context = &c;
        ro.onSuccess5 = on_pub_ok;
        ro.onFailure5 = on_pub_fail;
        int rc = MQTTAsync_sendMessage(client, topic, &m, &ro);
        if (rc != MQTTASYNC_SUCCESS) {
            fprintf(stderr, "pub_load: %s: send: %s\n", dev, MQTTAsync_strerror(rc));
            done_one(&c, false);
            status = -1;
            break;
        }
        count++;
    }
    free(line);
    pthread_mutex_lock(&c.mu);
    if (!wait_for(&c, p_drained) || c.inflight != 0) {
        fprintf(stderr, "pub_load: %s: %ld messages never acked\n", dev, c.inflight);
        c.failed += c.inflight;
        status = -1;
    }
    *sent += count;
    *acked += c.acked;
    *failed += c.failed;
    pthread_mutex_unlock(&c.mu);

    if (c.state == 1) {
        MQTTAsync_disconnectOptions dopt = MQTTAsync_disconnectOptions_initializer5;
        dopt.timeout = 5000;
        dopt.context = &c;
        dopt.onSuccess5 = on_disc;
        dopt.onFailure5 = on_disc_fail;
        if (MQTTAsync_disconnect(client, &dopt) == MQTTASYNC_SUCCESS) {
            pthread_mutex_lock(&c.mu);
            wait_for(&c, p_down);
            pthread_mutex_unlock(&c.mu);
        }
    }
out:
    MQTTAsync_destroy(&client);
    fclose(f);
    return status;
}

static void usage(void)
{
    fprintf(stderr, "usage: pub_load --port N --pki DIR --dir LOADDIR --devices FILE [--lines N]\n"
                    "                [--parallel P] [--window W] [--timeout S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *list = NULL;
    int parallel = 4;
    char *devs[1000];
    int ndev = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--port")) opt.port = atoi(v);
        else if (!strcmp(a, "--pki")) opt.pki = v;
        else if (!strcmp(a, "--dir")) opt.dir = v;
        else if (!strcmp(a, "--devices")) list = v;
        else if (!strcmp(a, "--lines")) opt.lines = atol(v);
        else if (!strcmp(a, "--parallel")) parallel = atoi(v);
        else if (!strcmp(a, "--window")) opt.window = atoi(v);
        else if (!strcmp(a, "--timeout")) opt.timeout_s = atoi(v);
        else usage();
        i++;
    }
    if (opt.port <= 0 || !opt.pki || !opt.dir || !list || parallel < 1 || parallel > 64 ||
        opt.window < 1 || opt.window > 65535 || opt.timeout_s < 1 || opt.lines < 0)
        usage();

    FILE *lf = fopen(list, "r");
    char buf[256];
    if (!lf) {
        fprintf(stderr, "pub_load: %s: %s\n", list, strerror(errno));
        return 1;
    }
    while (ndev < 1000 && fgets(buf, sizeof buf, lf)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0])
            devs[ndev++] = strdup(buf);
    }
    fclose(lf);
    if (parallel > ndev)
        parallel = ndev;

    double t0 = now_s();
    int fds[64];
    pid_t pids[64];
    for (int w = 0; w < parallel; w++) {
        int p[2];
        if (pipe(p) != 0)
            return 1;
        fflush(NULL);
        pids[w] = fork();
        if (pids[w] < 0)
            return 1;
        if (pids[w] == 0) {
            long sent = 0, acked = 0, failed = 0;
            int st = 0;
            close(p[0]);
            for (int d = w; d < ndev; d += parallel)
                if (publish_device(devs[d], &sent, &acked, &failed) != 0)
                    st = 1;
            dprintf(p[1], "%ld %ld %ld\n", sent, acked, failed);
            _exit(st);
        }
        close(p[1]);
        fds[w] = p[0];
    }
    long sent = 0, acked = 0, failed = 0;
    int status = 0;
    for (int w = 0; w < parallel; w++) {
        char line[128] = "";
        ssize_t n = read(fds[w], line, sizeof line - 1);
        long s = 0, a = 0, f = 0;
        if (n > 0) {
            line[n] = '\0';
            sscanf(line, "%ld %ld %ld", &s, &a, &f);
        }
        sent += s, acked += a, failed += f;
        int ws;
        if (waitpid(pids[w], &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0 || n <= 0)
            status = 1;
    }
    double secs = now_s() - t0;
    printf("pub_load: messages=%ld acked=%ld failed=%ld seconds=%.3f rate=%.0f/s\n", sent, acked,
           failed, secs, secs > 0 ? (double)acked / secs : 0.0);
    return status || failed || acked != sent;
}
