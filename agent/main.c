/* smp-agent: one per machine. Journals events durably and publishes them to
 * the collector over mutual-TLS MQTT. See docs/protocol.md. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent.h"
#include "ids.h"
#include "log.h"
#include "pidlock.h"
#include "record.h"
#include "version.h"

/* LSB init-script exit codes of --status. */
#define STATUS_RUNNING     0
#define STATUS_NOT_RUNNING 3
#define STATUS_UNKNOWN     4

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smp-agent -c FILE [--simulate [--seed N] [--speed N] [--sim-days N]\n"
            "                 [--sim-start YYYY-MM-DD] [--fault-rate PCT]\n"
            "                 [--sim-role machine|autoclave|both] [--sim-sterilizer ID]\n"
            "                 [--exit-when-done]]\n"
            "       smp-agent -c FILE --check-config\n"
            "       smp-agent -c FILE --status\n"
            "       smp-agent --version | --help\n"
            "  -c, --config FILE  settings (docs/agent.md); relative paths in it are taken\n"
            "                     relative to its directory\n"
            "  --check-config     check the settings and every file they name (certificate CN =\n"
            "                     device_id, key matches, data_dir writable); exit 0 or 1\n"
            "  --status           print the last status; exit 0 when an agent runs on data_dir,\n"
            "                     3 when none does\n"
            "  --simulate         generate a simulated clinic day instead of waiting for producers\n"
            "  --seed N           simulator seed (0)\n"
            "  --speed N          simulated seconds per real second (60; 0: as fast as possible)\n"
            "  --sim-days N       simulated days (1)\n"
            "  --sim-start DATE   first simulated day, YYYY-MM-DD (today)\n"
            "  --fault-rate PCT   chance per opportunity of an injected compliance fault (0)\n"
            "  --sim-role ROLE    machine: sessions, cartridges, grips from the clinic's\n"
            "                     autoclave; autoclave: the autoclave's own logger, its cycles\n"
            "                     and tests only; both (default): a machine that also logs the\n"
            "                     autoclave (one per clinic; the others machine). Give a\n"
            "                     clinic's agents the same --fault-rate and --sim-sterilizer\n"
            "  --sim-sterilizer ID  the autoclave logged or taken from (ac-1; autoclave: the\n"
            "                     device id)\n"
            "  --exit-when-done   exit once the simulation is over and acked\n"
            "  --version          print the version and exit\n"
            "  -h, --help         print this help and exit\n"
            "signals: TERM/INT stop; HUP re-reads log_level (other settings need a restart)\n");
}

static int parse_int(const char *opt, const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v ? v : "", &end, 10);
    if (!v || errno || end == v || *end || n < lo || n > hi) {
        fprintf(stderr, "smp-agent: %s needs an integer %lld..%lld\n", opt, lo, hi);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_role(const char *v, sim_role *role)
{
    if (sim_role_parse(v, role) == 0)
        return 0;
    fprintf(stderr, "smp-agent: --sim-role needs machine, autoclave or both\n");
    return -1;
}

/* A sterilizer id is registered like a device id (its logger's CN). */
static int parse_sterilizer(const char *v, const char **out)
{
    char why[200];
    if (v && ids_valid_device_id(v, why, sizeof why)) {
        *out = v;
        return 0;
    }
    fprintf(stderr, "smp-agent: --sim-sterilizer needs an id as a device id is spelled: %s\n",
            v ? why : "none given");
    return -1;
}

static int parse_start(const char *v, int64_t *ms)
{
    char ts[RECORD_TS_LEN + 1];
    if (v && strlen(v) == 10) {
        snprintf(ts, sizeof ts, "%sT00:00:00.000Z", v);
        if (record_ts_parse(ts, ms) == 0)
            return 0;
    }
    fprintf(stderr, "smp-agent: --sim-start needs a date YYYY-MM-DD\n");
    return -1;
}

/* Tells whether an agent holds data_dir (its lock), then prints the last
 * status. Exit codes follow LSB: 0 running, 3 not running, 4 unknown. */
static int print_status(const agent_config *cfg)
{
    char path[CONFIG_STR_MAX + 16], lock[CONFIG_STR_MAX + 16], line[1024], err[600], when[32];
    struct stat st;
    pid_t holder;

    agent_config_lock_path(cfg, lock, sizeof lock);
    if ((holder = pidlock_holder(lock, err, sizeof err)) < 0) {
        fprintf(stderr, "smp-agent: %s\n", err);
        return STATUS_UNKNOWN;
    }
    snprintf(path, sizeof path, "%s/status", cfg->data_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (holder > 0) {
            fprintf(stderr, "smp-agent: agent running (pid %ld) but %s: %s\n", (long)holder, path,
                    strerror(errno));
            return STATUS_RUNNING;
        }
        fprintf(stderr, "smp-agent: agent not running (no status: %s: %s)\n", path,
                strerror(errno));
        return STATUS_NOT_RUNNING;
    }
    if (holder == 0) {
        struct tm tm;
        if (fstat(fileno(f), &st) == 0 && gmtime_r(&st.st_mtime, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        else
            snprintf(when, sizeof when, "unknown");
        fprintf(stderr, "smp-agent: agent not running (last status written at %s)\n", when);
    }
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    return holder > 0 ? STATUS_RUNNING : STATUS_NOT_RUNNING;
}

static int check_config(const char *path, const agent_config *cfg)
{
    int problems = agent_config_check(path, cfg, stderr);

    if (problems) {
        fprintf(stderr, "smp-agent: %s: %d problem%s\n", path, problems, problems == 1 ? "" : "s");
        return 1;
    }
    printf("smp-agent: %s: ok (device %s, data_dir %s)\n", path, cfg->device_id, cfg->data_dir);
    return 0;
}

/* A wrong certificate or key can never connect; say which file is wrong
 * now instead of failing every publish later. An expired certificate only
 * stops the uplink: the agent still journals what producers send, so it
 * starts and says so. */
static int check_identity(const agent_config *cfg)
{
    char err[1200], why[128];
    tls_identity id;

    if (agent_config_check_identity(cfg, &id, err, sizeof err) != 0) {
        log_error("%s", err);
        return -1;
    }
    if (tls_identity_expired(&id, time(NULL), why, sizeof why))
        log_error("cert_file %s %s; the broker will refuse the connection: events are journaled "
                  "until a new certificate is installed (smpctl pki issue-device %s) and the agent "
                  "restarted", cfg->cert_file, why, cfg->device_id);
    return 0;
}

/* One agent per data_dir: two would append to the same journal. The lock
 * is held until the process exits. */
static int lock_data_dir(const agent_config *cfg)
{
    char lock[CONFIG_STR_MAX + 16], note[CONFIG_STR_MAX + 32], err[1200];
    pid_t holder;

    if (mkdir(cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        log_error("data_dir %s: cannot create: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    agent_config_lock_path(cfg, lock, sizeof lock);
    snprintf(note, sizeof note, "smp-agent device=%s", cfg->device_id);
    if (pidlock_acquire(lock, note, &holder, err, sizeof err) >= 0)
        return 0;
    if (holder > 0)
        log_error("data_dir %s is in use by another smp-agent (pid %ld, lock %s); stop it first, "
                  "or give this agent its own data_dir", cfg->data_dir, (long)holder, lock);
    else
        log_error("%s", err);
    return -1;
}

/* SIGHUP: re-reads the config file on this thread (SIGHUP is blocked in
 * every other thread, so sigwait receives it here). log_level applies at
 * once; every other change is named as needing a restart. */
typedef struct reloader {
    const char *config_path;
    const agent_config *running;
    sigset_t set;
} reloader;

static void reload(const reloader *r)
{
    agent_config *next = malloc(sizeof *next);
    char err[600], changed[1024];
    log_level was = log_get_level();

    if (!next || agent_config_load(r->config_path, next, err, sizeof err) != 0) {
        log_error("reload failed: %s; keeping the running configuration",
                  next ? err : "out of memory");
        free(next);
        return;
    }
    int n = agent_config_changed(r->running, next, changed, sizeof changed);
    /* The line is logged at the more verbose of the two levels, so going
     * from info to error still says so once. */
    if (next->log_min < was)
        log_set_level(next->log_min);
    log_info("reloaded config=%s log_level=%s (was %s); restart needed for: %s", r->config_path,
             log_level_name(next->log_min), log_level_name(was), n ? changed : "nothing");
    log_set_level(next->log_min);
    free(next);
}

static void *reload_thread(void *arg)
{
    const reloader *r = arg;
    int sig;

    for (;;) {
        if (sigwait(&r->set, &sig) == 0 && sig == SIGHUP)
            reload(r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    agent_options opt = {.speed = 60, .sim_days = 1};
    const char *config_path = NULL;
    bool status = false, check = false;
    static agent_config cfg;
    static reloader rl;
    pthread_t reload_tid;
    char err[600];
    long long v;

    /* Blocked before any thread exists, so every thread inherits it and
     * only the reload thread's sigwait takes SIGHUP. */
    sigemptyset(&rl.set);
    sigaddset(&rl.set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &rl.set, NULL);

    opt.sim_start_ms = (int64_t)(time(NULL) / 86400) * 86400 * 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && val) {
            config_path = argv[++i];
        } else if (strcmp(a, "--simulate") == 0) {
            opt.simulate = true;
        } else if (strcmp(a, "--exit-when-done") == 0) {
            opt.exit_when_done = true;
        } else if (strcmp(a, "--status") == 0) {
            status = true;
        } else if (strcmp(a, "--check-config") == 0) {
            check = true;
        } else if (strcmp(a, "--version") == 0) {
            printf("smp-agent %s\n", SMP_VERSION);
            return 0;
        } else if (strcmp(a, "--seed") == 0) {            if (parse_int(a, val, 0, INT64_MAX, &v) != 0)
                return 2;
            opt.seed = (uint64_t)v, i++;
        } else if (strcmp(a, "--speed") == 0) {
            if (parse_int(a, val, 0, 1000000, &v) != 0)
                return 2;
            opt.speed = v, i++;
        } else if (strcmp(a, "--sim-days") == 0) {
            if (parse_int(a, val, 1, 3650, &v) != 0)
                return 2;
            opt.sim_days = (int)v, i++;
        } else if (strcmp(a, "--fault-rate") == 0) {
            if (parse_int(a, val, 0, 100, &v) != 0)
                return 2;
            opt.fault_pct = (int)v, i++;
        } else if (strcmp(a, "--sim-role") == 0) {
            if (parse_role(val, &opt.sim_role) != 0)
                return 2;
            i++;
        } else if (strcmp(a, "--sim-sterilizer") == 0) {
            if (parse_sterilizer(val, &opt.sim_sterilizer) != 0)
                return 2;
            i++;
        } else if (strcmp(a, "--sim-start") == 0) {
            if (parse_start(val, &opt.sim_start_ms) != 0)
                return 2;
            i++;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "smp-agent: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!config_path) {
        usage(stderr);
        return 2;
    }
    if (agent_config_load(config_path, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "smp-agent: %s\n", err);
        return status ? STATUS_UNKNOWN : 1;
    }
    if (status)
        return print_status(&cfg);
    if (check)
        return check_config(config_path, &cfg);

    log_set_program("smp-agent");
    log_set_level(cfg.log_min);
    if (check_identity(&cfg) != 0 || lock_data_dir(&cfg) != 0)
        return 1;
    rl.config_path = config_path;
    rl.running = &cfg;
    if (pthread_create(&reload_tid, NULL, reload_thread, &rl) != 0) {
        log_error("cannot start the reload thread");
        return 1;
    }
    pthread_detach(reload_tid);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return agent_run(&cfg, &opt, &stop_requested);
}
