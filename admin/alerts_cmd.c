#include "alerts_cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert_admin.h"
#include "cmdgroup.h"
#include "cmdopts.h"
#include "collector_config.h"
#include "db.h"
#include "notify_event.h"
#include "notify_sink.h"
#include "registry.h"

#define ERRLEN 512
#define NCOLS  10

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl alerts list --db PATH|URI [--clinic C] [--open] [--since DATE]\n"
            "       smpctl alerts ack ID --by NAME --db PATH|URI\n"
            "       smpctl alerts notify-test --sink webhook|smtp|command -c COLLECTOR_CONF\n"
            "  --db          the fleet database: a SQLite file, or a postgresql:// URI for\n"
            "                PostgreSQL\n"
            "  --clinic C    only clinic C (default: every clinic)\n"
            "  --open        only alerts not cleared yet\n"
            "  --since DATE  only alerts raised at or after DATE (UTC): YYYY-MM-DD or\n"
            "                YYYY-MM-DDTHH:MM\n"
            "  notify-test   sends a test event (event \"test\", event_id 0) through the\n"
            "                collector's configured sink now, whatever its filter\n");
}

typedef struct opts {
    const char *db, *clinic, *by, *since;
    bool open;
} opts;

/* Options with a value, and the one flag --open. */
static int parse(const char *cmd, int argc, char **argv, opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--db") == 0       ? &o->db
                            : strcmp(argv[i], "--clinic") == 0 ? &o->clinic
                            : strcmp(argv[i], "--by") == 0     ? &o->by
                            : strcmp(argv[i], "--since") == 0  ? &o->since
                                                               : NULL;
        if (strcmp(argv[i], "--open") == 0) {
            o->open = true;
            continue;
        }
        if (!slot) {
            fprintf(stderr, "smpctl alerts %s: unknown option '%s'\n", cmd, argv[i]);
            return -1;
        }
        if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
            fprintf(stderr, "smpctl alerts %s: option %s needs a value\n", cmd, argv[i]);
            return -1;
        }
        if (*slot) {
            fprintf(stderr, "smpctl alerts %s: option %s given twice\n", cmd, argv[i]);
            return -1;
        }
        *slot = argv[++i];
    }
    return 0;
}

/* list only reads (a read-only session); ack writes. Both refuse a
 * database that is missing or of another schema version. */
static int open_existing(const char *cmd, const char *target, bool readonly, sqldb **db)
{
    char err[ERRLEN];

    if ((readonly ? db_open_readonly : db_open)(target, db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl alerts %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

/* The columns of one row, in header order. acked is "by at". */
static void row_cols(const alert_row *r, char *id, char *acked, size_t acked_cap, char *cleared,
                     size_t cleared_cap, const char *cols[NCOLS])
{
    snprintf(id, 24, "%lld", (long long)r->id);
    if (r->acked_at[0])
        snprintf(acked, acked_cap, "%s %s", r->acked_by, r->acked_at);
    else
        snprintf(acked, acked_cap, "-");
    /* A withdrawn alert shows when, marked: it was no violation. */
    if (r->state[0])
        snprintf(cleared, cleared_cap, "%s %s", r->state, r->cleared_at);
    else
        snprintf(cleared, cleared_cap, "%s", or_dash(r->cleared_at));
    const char *c[NCOLS] = {id, r->clinic, r->rule, r->severity, r->device, r->cause, r->raised_at,
                            acked, cleared, r->message};
    memcpy(cols, c, sizeof c);
}

/* Aligned columns; the message, the longest, goes last unpadded. */
static void print_table(FILE *out, const alert_row *rows, size_t n)
{
    static const char *const head[NCOLS] = {"id", "clinic", "rule", "severity", "device", "cause",
                                            "raised", "acked by/at", "cleared", "message"};
    int w[NCOLS];
    char id[24], acked[200], cleared[ALERT_ADMIN_TS_LEN + 24];
    const char *cols[NCOLS];

    for (int c = 0; c < NCOLS; c++)
        w[c] = (int)strlen(head[c]);
    for (size_t i = 0; i < n; i++) {
        row_cols(&rows[i], id, acked, sizeof acked, cleared, sizeof cleared, cols);
        for (int c = 0; c < NCOLS - 1; c++)
            if ((int)strlen(cols[c]) > w[c])
                w[c] = (int)strlen(cols[c]);
    }
    for (int c = 0; c < NCOLS - 1; c++)
        fprintf(out, "%-*s  ", w[c], head[c]);
    fprintf(out, "%s\n", head[NCOLS - 1]);
    for (size_t i = 0; i < n; i++) {
        row_cols(&rows[i], id, acked, sizeof acked, cleared, sizeof cleared, cols);
        for (int c = 0; c < NCOLS - 1; c++)
            fprintf(out, "%-*s  ", w[c], cols[c]);
        fprintf(out, "%s\n", cols[NCOLS - 1]);
    }
}

static int cmd_list(int argc, char **argv)
{
    opts o = {0};
    alert_row *rows = NULL;
    size_t n = 0;
    char err[ERRLEN];
    sqldb *db = NULL;
    int rc = 1;

    if (parse("list", argc - 1, argv + 1, &o) != 0)
        return 2;
    if (!o.db || o.by) {
        fprintf(stderr, "smpctl alerts list: --db is required (--by is for ack)\n");
        return 2;
    }
    if (o.since && !cmdopts_utc_prefix_ok(o.since)) {
        fprintf(stderr, "smpctl alerts list: --since '%s': give a UTC date YYYY-MM-DD or "
                "YYYY-MM-DDTHH:MM\n", o.since);
        return 2;
    }
    if (open_existing("list", o.db, true, &db) != 0)
        goto cleanup;
    alert_filter f = {o.clinic, o.open, o.since};
    if (alert_admin_list(db, &f, &rows, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl alerts list: %s\n", err);
        goto cleanup;
    }
    print_table(stdout, rows, n);
    if (n == 0)
        fprintf(stderr, "smpctl alerts list: no %salerts%s%s%s%s\n", o.open ? "open " : "",
                o.clinic ? " for clinic " : "", o.clinic ? o.clinic : "",
                o.since ? " raised since " : "", o.since ? o.since : "");
    rc = 0;

cleanup:
    free(rows);
    sqldb_close(db);
    return rc;
}

static void now_ts(char out[ALERT_ADMIN_TS_LEN + 1])
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, ALERT_ADMIN_TS_LEN + 1, "%.19s.%03uZ", base, (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

static int parse_id(const char *text, int64_t *id)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 1) {
        fprintf(stderr, "smpctl alerts ack: '%s' is not an alert id (a number from smpctl alerts list)\n",
                text);
        return -1;
    }
    *id = v;
    return 0;
}

static int cmd_ack(int argc, char **argv)
{
    opts o = {0};
    char err[ERRLEN], now[ALERT_ADMIN_TS_LEN + 1];
    sqldb *db = NULL;
    int64_t id;
    int rc = 1;

    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl alerts ack: missing alert ID\n");
        usage(stderr);
        return 2;
    }
    if (parse_id(argv[1], &id) != 0 || parse("ack", argc - 2, argv + 2, &o) != 0)
        return 2;
    if (!o.db || !o.by || o.clinic || o.open || o.since) {
        fprintf(stderr, "smpctl alerts ack: --by and --db are required, and only they\n");
        return 2;
    }
    if (registry_check_text("--by", o.by, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl alerts ack: %s\n", err);
        return 1;
    }
    if (open_existing("ack", o.db, false, &db) != 0)
        goto cleanup;
    now_ts(now);
    if (alert_admin_ack(db, id, o.by, now, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl alerts ack: %s\n", err);
        goto cleanup;
    }
    printf("alert %lld acknowledged by %s at %s\n", (long long)id, o.by, now);
    rc = 0;

cleanup:
    sqldb_close(db);
    return rc;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* notify-test: the collector's own config and delivery code, one try. */
static int cmd_notify_test(int argc, char **argv)
{
    const char *sink_name = NULL, *conf = NULL;
    cmdopt copts[] = {{"--sink", &sink_name, true}, {"-c", &conf, true}};
    collector_config *cfg = NULL;
    notify_sinks sinks;
    notify_kind kind;
    char err[1200], detail[512], target[CONFIG_STR_MAX], now[ALERT_ADMIN_TS_LEN + 1];
    char *json = NULL;
    alert a = {0};
    int rc = 1;

    for (int i = 1; i < argc; i++)   /* --config is -c's long name, as for the daemon */
        if (strcmp(argv[i], "--config") == 0)
            argv[i] = "-c";
    if (cmdopts_parse("alerts notify-test", argc - 1, argv + 1, copts, 2) != 0)
        return 2;
    if (notify_sink_kind(sink_name, &kind) != 0) {
        fprintf(stderr, "smpctl alerts notify-test: --sink '%s': use webhook, smtp or command\n",
                sink_name);
        return 2;
    }
    if (!(cfg = malloc(sizeof *cfg))) {
        fprintf(stderr, "smpctl alerts notify-test: out of memory\n");
        return 1;
    }
    if (collector_config_load(conf, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl alerts notify-test: %s\n", err);
        goto cleanup;
    }
    collector_config_sinks(cfg, &sinks);
    if (!sinks.sink[kind].enabled) {
        fprintf(stderr, "smpctl alerts notify-test: %s: the %s sink is not configured (%s)\n", conf,
                sink_name, kind == NOTIFY_WEBHOOK ? "webhook_url" : kind == NOTIFY_SMTP
                                                                  ? "smtp_url" : "notify_command");
        goto cleanup;
    }
    if (notify_global_init(err, sizeof err) != 0) {
        fprintf(stderr, "smpctl alerts notify-test: %s\n", err);
        goto cleanup;
    }
    now_ts(now);
    snprintf(a.rule, sizeof a.rule, "TEST");
    snprintf(a.severity, sizeof a.severity, "maintenance");
    snprintf(a.device, sizeof a.device, "smpctl");
    snprintf(a.clinic, sizeof a.clinic, "-");
    snprintf(a.cause, sizeof a.cause, "notify-test");
    snprintf(a.message, sizeof a.message,
             "test message from smpctl alerts notify-test: the %s sink works", sink_name);
    snprintf(a.evidence, sizeof a.evidence, "{}");
    if (!(json = notify_event_json(&a, "test", 0, now))) {
        fprintf(stderr, "smpctl alerts notify-test: out of memory\n");
        goto cleanup;
    }
    signal(SIGPIPE, SIG_IGN);   /* a hook that exits without reading its stdin */
    notify_target_display(&sinks.sink[kind], target, sizeof target);
    int64_t t0 = mono_ms();
    if (notify_deliver(&sinks.sink[kind], 0, json, NULL, detail, sizeof detail) != 0) {
        fprintf(stderr, "smpctl alerts notify-test: %s %s: not accepted: %s\n", sink_name, target,
                detail);
        goto cleanup;
    }
    printf("notify-test: %s %s accepted the test event (%s) in %lld ms\n", sink_name, target, detail,
           (long long)(mono_ms() - t0));
    rc = 0;

cleanup:
    free(json);
    free(cfg);
    return rc;
}

int alerts_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"list", cmd_list, false},
        {"ack", cmd_ack, false},
        {"notify-test", cmd_notify_test, false},
    };
    static const cmdgroup group = {"alerts", subs, sizeof subs / sizeof subs[0], usage, true};

    return cmdgroup_run(&group, argc, argv);
}
