/* smp-collector: subscribes to every device's events over mutual-TLS MQTT,
 * validates, stores each record once in SQLite and acks after commit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_config.h"
#include "ingest.h"
#include "listener.h"
#include "log.h"
#include "store.h"

#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 30000

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

/* Keeps the session up; Paho reports, this loop decides when to retry. */
static void run(listener *l)
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
        sleep_ms(100);
        waited += 100;
    }
}

int main(int argc, char **argv)
{
    collector_config cfg;
    store *s = NULL;
    ingest *in = NULL;
    listener *l = NULL;
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
    ingest_limits limits = {cfg.quarantine_max_rows, (size_t)cfg.quarantine_payload_bytes,
                            cfg.future_skew_s * 1000,
                            {cfg.clock_skew_s * 1000, cfg.gap_grace_s * 1000}};
    if (store_open(cfg.db_path, &s, err, sizeof err) != 0 || !(in = ingest_new(s, &limits)) ||
        listener_new(&cfg, in, &l, err, sizeof err) != 0) {
        log_error("%s", err);
        goto cleanup;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    log_info("started db=%s broker=%s:%lld", cfg.db_path, cfg.broker_host,
             (long long)cfg.broker_port);
    listener_connect(l);
    run(l);
    log_info("stopping");
    status = 0;

cleanup:
    listener_free(l);
    ingest_free(in);
    store_close(s);
    return status;
}
