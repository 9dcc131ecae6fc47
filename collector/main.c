/* smp-collector: subscribes to every device's events over mutual-TLS MQTT,
 * validates, stores each record once (a SQLite file, or a PostgreSQL
 * database shared with other collectors), acks after commit, and evaluates
 * the compliance rules (docs/rules.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_config.h"
#include "committer.h"
#include "ingest.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "notify_sender.h"
#include "pidlock.h"
#include "policy.h"
#include "rules.h"
#include "sqldb.h"
#include "store.h"
#include "store_outbox.h"
#include "verifier.h"
#include "version.h"

#define RECONNECT_MIN_MS 500
#define RECONNECT_MAX_MS 30000
#define LOOP_MS          100

static volatile sig_atomic_t stop_requested, reload_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smp-collector -c FILE\n"
            "       smp-collector -c FILE --check-config\n"
            "       smp-collector --version | --help\n"
            "  -c, --config FILE  settings (docs/collector.md); relative paths in it are taken\n"
            "                     relative to its directory\n"
            "  --check-config     check the settings and every file they name (certificate CN\n"
            "                     starts with smp-collector, key matches, policy file valid,\n"
            "                     database directory writable); exit 0 or 1\n"
            "  --version          print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "signals: TERM/INT stop; HUP re-reads log_level and the policy file (other settings\n"
            "need a restart)\n");
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
 * committer's belongs to its thread; the database orders their
 * transactions). */
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

/* What SIGHUP may change, and what it changes it in. */
typedef struct reloader {
    const char *config_path;
    const collector_config *running;  /* as started: what a restart would change */
    policy *pol;                      /* the timer's, on this thread */
    ingest *const *lanes;             /* the committing threads' copies, via ingest_update_policy */
    size_t nlanes;
} reloader;

static void reload(const reloader *r);

/* Keeps the session up; Paho reports, this loop decides when to retry. */
static void run(listener *l, timer *t, const reloader *r)
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
        if (reload_requested) {
            reload_requested = 0;
            reload(r);
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

static integrity_limits integrity_of(const policy *p)
{
    return (integrity_limits){p->clock_skew_s * 1000, p->gap_grace_s * 1000};
}

/* Runs on the main thread, between timer ticks: the timer's policy is
 * replaced in place, the committer's through ingest_update_policy. A
 * config or policy that does not load changes nothing it covers. */
static void reload(const reloader *r)
{
    collector_config *next = malloc(sizeof *next);
    policy *np = malloc(sizeof *np);
    char err[600], changed[1024], pol_note[2 * CONFIG_STR_MAX + 32];
    log_level was = log_get_level();

    if (!next || !np || collector_config_load(r->config_path, next, err, sizeof err) != 0) {
        log_error("reload failed: %s; keeping the running configuration and policy",
                  next && np ? err : "out of memory");
        goto cleanup;
    }
    if (next->log_min < was)
        log_set_level(next->log_min);
    if (load_policy(next, np, err, sizeof err) != 0) {
        log_error("reload: policy_file: %s; keeping the running policy (profile=%s)", err,
                  r->pol->profile);
        snprintf(pol_note, sizeof pol_note, "unchanged (invalid file)");
    } else {
        *r->pol = *np;
        integrity_limits il = integrity_of(np);
        for (size_t k = 0; k < r->nlanes; k++)
            ingest_update_policy(r->lanes[k], np, &il);
        snprintf(pol_note, sizeof pol_note, "%s (profile=%s)",
                 next->policy_file[0] ? next->policy_file : "built-in", np->profile);
    }
    int n = collector_config_changed(r->running, next, changed, sizeof changed);
    /* Logged at the more verbose of the two levels, so going from info to
     * error still says so once. */
    log_info("reloaded config=%s log_level=%s (was %s) policy=%s; restart needed for: %s",
             r->config_path, log_level_name(next->log_min), log_level_name(was), pol_note,
             n ? changed : "nothing");
    log_set_level(next->log_min);

cleanup:
    free(np);
    free(next);
}

static int check_config(const char *path, const collector_config *cfg)
{
    int problems = collector_config_check(path, cfg, stderr);

    if (problems) {
        fprintf(stderr, "smp-collector: %s: %d problem%s\n", path, problems,
                problems == 1 ? "" : "s");
        return 1;
    }
    char target[CONFIG_STR_MAX];

    sqldb_mask(cfg->db_path, target, sizeof target);
    printf("smp-collector: %s: ok (db_path %s)\n", path, target);
    return 0;
}

/* A certificate that is not a collector's, or a key that is not its own,
 * can never connect: say so before anything starts. An expired one is
 * logged; the timer rules still run on what is stored. */
static int check_identity(const collector_config *cfg, tls_identity *id)
{
    char err[1200], why[128];

    if (collector_config_check_identity(cfg, id, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    if (tls_identity_expired(id, time(NULL), why, sizeof why))
        log_error("cert_file %s %s; the broker will refuse the connection until a new certificate "
                  "is installed (smpctl pki issue-collector) and the collector restarted",
                  cfg->cert_file, why);
    return 0;
}

/* store_outbox_route_fn: the sinks whose filter selects the event. */
static unsigned route_event(void *ctx, const alert *a, const char *event)
{
    return notify_sinks_route(ctx, a->clinic, a->rule, a->severity, event);
}

/* Notification sinks (docs/collector.md, "Notifications"): the writers'
 * stores queue what the filters select, in the alert's own transaction;
 * the sender threads deliver it. */
static int start_notify(const collector_config *cfg, notify_sinks *sinks, store *const *writers,
                        size_t nwriters, notify_sender **out, char *err, size_t errlen)
{
    const char *names[STORE_OUTBOX_SINKS] = {notify_sink_name(NOTIFY_WEBHOOK),
                                             notify_sink_name(NOTIFY_SMTP),
                                             notify_sink_name(NOTIFY_COMMAND)};
    char target[CONFIG_STR_MAX];

    collector_config_sinks(cfg, sinks);
    if (!sinks->sink[NOTIFY_WEBHOOK].enabled && !sinks->sink[NOTIFY_SMTP].enabled &&
        !sinks->sink[NOTIFY_COMMAND].enabled)
        return 0;
    if (notify_global_init(err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < nwriters; i++)
        store_outbox_set_route(writers[i], route_event, sinks, names);
    for (int k = 0; k < NOTIFY_NSINKS; k++) {
        if (!sinks->sink[k].enabled)
            continue;
        notify_target_display(&sinks->sink[k], target, sizeof target);
        log_info("notification sink=%s target=%s", notify_sink_name((notify_kind)k), LOG_Q(target));
    }
    return notify_sender_start(cfg->db_path, sinks, NULL, out, err, errlen);
}

/* The verifier's R9 events go out as the committer's do. */
static void publish_verified(void *ctx, const alert_batch *b, int64_t at_ms)
{
    listener_publish_alerts(ctx, b, at_ms);
}

/* ingest's hook, on a committing thread after a commit that queued
 * checkpoints: wakes the verifier, never waits for it. */
static void kick_verifier(void *ctx)
{
    verifier_kick(ctx);
}

/* SQLite takes one writer process per database file: a second collector on
 * the same file, whatever its name, would fight over the devices' chain
 * heads. The lock file beside db_path says who holds it. A PostgreSQL
 * database takes any number of collectors: what keeps them correct is in
 * the database (store.h), so there is no lock file. */
static int lock_db(const collector_config *cfg, const tls_identity *id)
{
    char lock[CONFIG_STR_MAX + 8], note[2 * CONFIG_STR_MAX + 64], held_by[256], err[1200];
    pid_t holder;

    if (sqldb_is_postgres(cfg->db_path))
        return 0;
    collector_config_lock_path(cfg, lock, sizeof lock);
    snprintf(note, sizeof note, "smp-collector cn=%s", id->cn);
    if (pidlock_acquire(lock, note, &holder, err, sizeof err) >= 0)
        return 0;
    if (holder <= 0) {
        log_error("%s", err);
        return -1;
    }
    pidlock_note(lock, held_by, sizeof held_by);
    log_error("db_path %s is in use by another collector (pid %ld, %s; lock %s): one collector per "
              "SQLite database; stop it first, or give this collector its own db_path",
              cfg->db_path, (long)holder, held_by[0] ? held_by : "identity unknown", lock);
    return -1;
}

int main(int argc, char **argv)
{
    static collector_config cfg;
    static policy pol;
    static notify_sinks sinks;
    notify_sender *sender = NULL;
    const char *config_path = NULL;
    bool check = false;
    tls_identity id;
    /* The committing threads' stores and ingests (committer.h, lanes). */
    store *writers[COMMITTER_LANES_MAX] = {NULL};
    ingest *lanes[COMMITTER_LANES_MAX] = {NULL};
    size_t nlanes = 0;
    store *timer_store = NULL;
    listener *l = NULL;
    alert_batch *batch = NULL;
    metrics_server *metrics = NULL;
    verifier *checker = NULL;
    metrics_counters counters;
    char err[600], target[CONFIG_STR_MAX];
    int status = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
            config_path = argv[++i];
        } else if (strcmp(a, "--check-config") == 0) {
            check = true;
        } else if (strcmp(a, "--version") == 0) {
            printf("smp-collector %s\n", SMP_VERSION);
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "smp-collector: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        usage(stderr);
        return 2;
    }
    log_set_program("smp-collector");
    if (collector_config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "smp-collector: %s\n", err);
        return 1;
    }
    if (check)
        return check_config(config_path, &cfg);
    log_set_level(cfg.log_min);
    /* From here a SIGHUP waits for the main loop instead of ending us. */
    sigaction(SIGHUP, &(struct sigaction){.sa_handler = on_signal}, NULL);
    if (check_identity(&cfg, &id) != 0 || lock_db(&cfg, &id) != 0)
        return 1;
    if (load_policy(&cfg, &pol, err, sizeof err) != 0) {
        fprintf(stderr, "smp-collector: policy_file: %s\n", err);
        return 1;
    }
    ingest_limits limits = {cfg.quarantine_max_rows, (size_t)cfg.quarantine_payload_bytes,
                            cfg.future_skew_s * 1000, integrity_of(&pol)};
    metrics_counters_init(&counters);
    snprintf(err, sizeof err, "out of memory");
    for (; nlanes < (size_t)cfg.commit_lanes; nlanes++) {
        if (store_open(cfg.db_path, &writers[nlanes], err, sizeof err) != 0 ||
            !(lanes[nlanes] = ingest_new(writers[nlanes], &limits))) {
            log_error("%s", err);
            goto cleanup;
        }
    }
    if (store_open(cfg.db_path, &timer_store, err, sizeof err) != 0 ||
        !(batch = malloc(sizeof *batch)) ||
        listener_new(&cfg, id.cn, lanes, nlanes, &counters, &l, err, sizeof err) != 0) {
        log_error("%s", err);
        goto cleanup;
    }
    /* After store_open: db_open has checked the schema version, so the
     * read-only connection (it runs no DDL either) finds every table. */
    if (cfg.metrics_port > 0) {
        if (metrics_start(cfg.metrics_bind, (int)cfg.metrics_port, cfg.db_path, id.cn, &counters,
                          &metrics, err, sizeof err) != 0) {
            log_error("%s", err);
            goto cleanup;
        }
        log_info("metrics listening bind=%s port=%lld path=/metrics", cfg.metrics_bind,
                 (long long)cfg.metrics_port);
    }
    store *raisers[COMMITTER_LANES_MAX + 1];   /* every store that raises alerts */
    memcpy(raisers, writers, nlanes * sizeof *raisers);
    raisers[nlanes] = timer_store;
    if (start_notify(&cfg, &sinks, raisers, nlanes + 1, &sender, err, sizeof err) != 0) {
        log_error("%s", err);
        goto cleanup;
    }
    /* Checkpoint signatures, off the commit path (verifier.h): its first
     * pass takes what a stopped collector left pending. Told of new ones
     * by the committer; started before any message can arrive (the
     * listener connects below). */
    const verifier_publish vpub = {l, publish_verified, &counters};
    if (verifier_start(cfg.db_path, &vpub, VERIFIER_POLL_MS, VERIFIER_HOLD_MAX_MS, &checker, err,
                       sizeof err) != 0) {
        log_error("%s", err);
        goto cleanup;
    }
    for (size_t k = 0; k < nlanes; k++) {
        ingest_set_checkpoint_hook(lanes[k], kick_verifier, checker);
        ingest_set_policy(lanes[k], &pol);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sqldb_mask(cfg.db_path, target, sizeof target);
    log_info("started collector=%s db=%s broker=%s:%lld commit_lanes=%zu", id.cn, target,
             cfg.broker_host, (long long)cfg.broker_port, nlanes);
    listener_connect(l);
    /* The first tick runs at once: catches up on time that passed while the
     * collector was down. */
    timer t = {timer_store, &pol, batch, pol.rules_timer_s * 1000};
    reloader r = {config_path, &cfg, &pol, lanes, nlanes};
    run(l, &t, &r);
    log_info("stopping");
    status = 0;

cleanup:
    /* The verifier publishes through the listener: it stops first, after
     * the batch it is on; what is left stays pending for the next start.
     * The committer (stopped in listener_free) may still kick it: a
     * stopped verifier ignores that until it is freed. */
    verifier_stop(checker);
    notify_sender_stop(sender);
    metrics_stop(metrics);
    listener_free(l);
    verifier_free(checker);
    for (size_t k = 0; k < COMMITTER_LANES_MAX; k++) {
        ingest_free(lanes[k]);
        store_close(writers[k]);
    }
    store_close(timer_store);
    free(batch);
    return status;
}
