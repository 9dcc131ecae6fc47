#include "conn_diag.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn_probe.h"
#include "log.h"

#define PROBE_TIMEOUT_MS 5000
/* A broker that stays unreachable for hours logs its cause this often, not
 * at every reconnect attempt. */
#define REPEAT_S 600

struct conn_diag {
    const mqtt_link_config *cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool requested, stopping;   /* guarded by mu */
    char last[768];             /* guarded by mu: "cause: detail" or "" */
    time_t last_logged;         /* guarded by mu */
};

static void *run(void *arg)
{
    conn_diag *d = arg;
    char detail[640], line[768];

    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->requested && !d->stopping)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->stopping)
            break;
        d->requested = false;
        pthread_mutex_unlock(&d->mu);

        time_t now = time(NULL);
        conn_cause cause = conn_probe(d->cfg, PROBE_TIMEOUT_MS, now, detail, sizeof detail);
        snprintf(line, sizeof line, "%s: %s", conn_cause_name(cause), detail);

        pthread_mutex_lock(&d->mu);
        bool same = strcmp(line, d->last) == 0;
        if (!same || now - d->last_logged >= REPEAT_S) {
            log_error("cannot connect to the broker broker=%s:%d cause=%s detail=%s",
                      d->cfg->host, d->cfg->port, conn_cause_name(cause), LOG_Q(detail));
            d->last_logged = now;
        }
        snprintf(d->last, sizeof d->last, "%s", line);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

conn_diag *conn_diag_start(const mqtt_link_config *cfg)
{
    conn_diag *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = cfg;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if (pthread_create(&d->thread, NULL, run, d) != 0) {
        pthread_cond_destroy(&d->cv);
        pthread_mutex_destroy(&d->mu);
        free(d);
        return NULL;
    }
    return d;
}

void conn_diag_request(conn_diag *d)
{
    pthread_mutex_lock(&d->mu);
    d->requested = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void conn_diag_connected(conn_diag *d)
{
    pthread_mutex_lock(&d->mu);
    d->last[0] = '\0';
    d->last_logged = 0;
    pthread_mutex_unlock(&d->mu);
}

void conn_diag_last(conn_diag *d, char *out, size_t len)
{
    pthread_mutex_lock(&d->mu);
    snprintf(out, len, "%s", d->last);
    pthread_mutex_unlock(&d->mu);
}

void conn_diag_stop(conn_diag *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    d->stopping = true;
    pthread_cond_signal(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}
