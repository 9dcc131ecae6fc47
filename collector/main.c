/* smp-collector: subscribes to every device's events over mutual-TLS MQTT,
 * validates, stores each record once in SQLite, acks after commit, and
 * evaluates the compliance rules (docs/rules.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_config.h"
#include "ingest.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "rules.h"
#include "store.h"

#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 30000
#define LOOP_MS          100

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time-driven rules, on the main thread's own store connection (the
 * listener's belongs to Paho's thread; SQLite WAL lets both write, one
 * transaction at a time). */
typedef struct timer {
    store *s;
    const policy *p;
    alert_batch *batch;
    long waited_ms;
} timer;

static void maybe_tick(timer *t, listener *l)
{
    if (t->waited_ms < t->p->rules_timer_s * 1000)
        return;
    t->waited_ms = 0;
    int64_t now = wall_ms();
    if (rules_tick(t->s, t->p, now, t->batch) == 0)
        listener_publish_alerts(l, t->batch, now);
}

/* Keeps the session up; Paho reports, this loop decides when to retry. */
static void run(listener *l, timer *t)
{
    long backoff = RECONNECT_MIN_MS, waited = 0;

    while (!stop_requested) {
        bool connecting;
        if (listener_connected(l, &connecting)) {
            backoff = RECONNECT_MIN_MS;
        } else if (!connecting && waited >= backoff) {
            listener_connect(l);
            waited = 0;
            backoff = backoff * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : backoff * 2;
        }
        maybe_tick(t, l);
        sleep_ms(LOOP_MS);
        waited += LOOP_MS;
        t->waited_ms += LOOP_MS;
    }
}

/* The policy file (docs/rules.md), or the built-in cdc policy. */
static int load_policy(const collector_config *cfg, policy *p, char *err, size_t errlen)
{
    if (!cfg->policy_file[0]) {
        if (policy_defaults(p) != 0) {
            snprintf(err, errlen, "built-in policy is broken");
            return -1;
        }
    } else if (policy_load(cfg->policy_file, p, err, errlen) != 0) {
        return -1;
    }
    log_info("policy file=%s profile=%s spore_interval_days=%lld spore_critical_days=%lld "
             "rules_timer_s=%lld",
             cfg->policy_file[0] ? cfg->policy_file : "built-in", p->profile,
             (long long)p->spore_interval_days, (long long)p->spore_critical_days,
             (long long)p->rules_timer_s);
    return 0;
}

int main(int argc, char **argv)
{
    collector_config cfg;
    policy pol;
    store *s = NULL, *timer_store = NULL;
    ingest *in = NULL;
    listener *l = NULL;
    alert_batch *batch = NULL;
    metrics_server *metrics = NULL;
    metrics_counters counters;
    char err[600];
    int status = 1;

    if (argc != 3 || strcmp(argv[1], "--config") != 0) {
        fprintf(stderr, "usage: smp-collector --config FILE\n");
        return 2;
    }
    log_set_program("smp-collector");
    if (collector_config_load(argv[2], &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "smp-collector: %s\n", err);
        return 1;
    }
    if (load_policy(&cfg, &pol, err, sizeof err) != 0) {
        fprintf(stderr, "smp-collector: policy_file: %s\n", err);
        return 1;
    }
    ingest_limits limits = {cfg.quarantine_max_rows, (size_t)cfg.quarantine_payload_bytes,
                            cfg.future_skew_s * 1000,
                            {pol.clock_skew_s * 1000, pol.gap_grace_s * 1000}};
    metrics_counters_init(&counters);
    snprintf(err, sizeof err, "out of memory");
    if (store_open(cfg.db_path, &s, err, sizeof err) != 0 ||
        store_open(cfg.db_path, &timer_store, err, sizeof err) != 0 ||
        !(in = ingest_new(s, &limits)) || !(batch = malloc(sizeof *batch)) ||
        listener_new(&cfg, in, &counters, &l, err, sizeof err) != 0) {
        log_error("%s", err);
        goto cleanup;
    }
    /* After store_open: the schema exists for the read-only connection. */
    if (cfg.metrics_port > 0) {
        if (metrics_start(cfg.metrics_bind, (int)cfg.metrics_port, cfg.db_path, &counters, &metrics,
                          err, sizeof err) != 0) {
            log_error("%s", err);
            goto cleanup;
        }
        log_info("metrics listening bind=%s port=%lld path=/metrics", cfg.metrics_bind,
                 (long long)cfg.metrics_port);
    }
    ingest_set_policy(in, &pol);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("started db=%s broker=%s:%lld", cfg.db_path, cfg.broker_host,
             (long long)cfg.broker_port);
    listener_connect(l);
    /* The first tick runs at once: catches up on time that passed while the
     * collector was down. */
    timer t = {timer_store, &pol, batch, pol.rules_timer_s * 1000};
    run(l, &t);
    log_info("stopping");
    status = 0;

cleanup:
    metrics_stop(metrics);
    listener_free(l);
    ingest_free(in);
    store_close(timer_store);
    store_close(s);
    free(batch);
    return status;
}
