/* smp-agent: one per machine. Journals events durably and publishes them to
 * the collector over mutual-TLS MQTT. See docs/protocol.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "log.h"
#include "record.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smp-agent --config FILE [--simulate [--seed N] [--speed N] [--sim-days N]\n"
            "                 [--sim-start YYYY-MM-DD] [--fault-rate PCT] [--exit-when-done]]\n"
            "       smp-agent --config FILE --status\n"
            "  --speed N        simulated seconds per real second (0: as fast as possible)\n"
            "  --fault-rate PCT chance per opportunity of an injected compliance fault\n");
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

static int print_status(const agent_config *cfg)
{
    char path[CONFIG_STR_MAX + 16], line[1024];
    snprintf(path, sizeof path, "%s/status", cfg->data_dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "smp-agent: %s: %s (is the agent running?)\n", path, strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof line, f))
        fputs(line, stdout);
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    agent_options opt = {.speed = 60, .sim_days = 1};
    const char *config_path = NULL;
    bool status = false;
    agent_config cfg;
    char err[600];
    long long v;

    opt.sim_start_ms = (int64_t)(time(NULL) / 86400) * 86400 * 1000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && val) {
            config_path = argv[++i];
        } else if (strcmp(a, "--simulate") == 0) {
            opt.simulate = true;
        } else if (strcmp(a, "--exit-when-done") == 0) {
            opt.exit_when_done = true;
        } else if (strcmp(a, "--status") == 0) {
            status = true;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_int(a, val, 0, INT64_MAX, &v) != 0)
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
        return 1;
    }
    if (status)
        return print_status(&cfg);

    log_set_program("smp-agent");
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return agent_run(&cfg, &opt, &stop_requested);
}
