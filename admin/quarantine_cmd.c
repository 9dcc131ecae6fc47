#include "quarantine_cmd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdgroup.h"
#include "cmdopts.h"
#include "db.h"
#include "quarantine_admin.h"
#include "termtext.h"

#define ERRLEN 512
/* A reason is one line of the list; the whole of it is in `show`. */
#define LIST_REASON_MAX 100

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl quarantine list --db PATH|URI [--device ID] [--since DATE] [--limit N]\n"
            "       smpctl quarantine show ID --db PATH|URI\n"
            "  list    the newest quarantined messages (default 50): id, received, device, bytes\n"
            "          kept, reason\n"
            "  show    one message: topic, reason and the payload bytes the collector kept\n"
            "  --db          the fleet database, read only: a SQLite file, or a postgresql://\n"
            "                URI for PostgreSQL\n"
            "  --since DATE  received at or after DATE (UTC): YYYY-MM-DD or YYYY-MM-DDTHH:MM\n"
            "Text a device sent is printed with every byte outside printable ASCII (and the\n"
            "backslash) as \\xNN.\n");
}

/* Both subcommands only read: a read-only session. */
static int open_existing(const char *cmd, const char *target, sqldb **db)
{
    char err[ERRLEN];

    if (db_open_readonly(target, db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl quarantine %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

static int parse_number(const char *what, const char *text, long long lo, long long hi, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(text, &end, 10);
    if (errno || end == text || *end || *v < lo || *v > hi) {
        fprintf(stderr, "smpctl quarantine: %s '%s' must be a number %lld..%lld\n", what, text, lo, hi);
        return -1;
    }
    return 0;
}

static int cmd_list(int argc, char **argv)
{
    const char *db_path = NULL, *device = NULL, *since = NULL, *limit_text = NULL;
    cmdopt opts[] = {{"--db", &db_path, true}, {"--device", &device, false},
                     {"--since", &since, false}, {"--limit", &limit_text, false}};
    quarantine_row *rows = NULL;
    size_t n = 0;
    long long limit = 0;
    char err[ERRLEN], reason[LIST_REASON_MAX * 4 + 1], dev[65 * 4 + 1];
    sqldb *db = NULL;
    int rc = 1;

    if (cmdopts_parse("quarantine list", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (since && !cmdopts_utc_prefix_ok(since)) {
        fprintf(stderr, "smpctl quarantine list: --since '%s': give a UTC date YYYY-MM-DD or "
                "YYYY-MM-DDTHH:MM\n", since);
        return 2;
    }
    if (limit_text && parse_number("--limit", limit_text, 1, 100000, &limit) != 0)
        return 2;
    if (open_existing("list", db_path, &db) != 0)
        goto cleanup;
    quarantine_filter f = {device, since, (int)limit};
    if (quarantine_admin_list(db, &f, &rows, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl quarantine list: %s\n", err);
        goto cleanup;
    }
    printf("%-8s  %-24s  %-24s  %7s  %s\n", "id", "received", "device", "bytes", "reason");
    for (size_t i = 0; i < n; i++) {
        termtext_escape(reason, LIST_REASON_MAX, rows[i].reason);
        printf("%-8lld  %-24s  %-24s  %7zu  %s%s\n", (long long)rows[i].id, rows[i].received_at,
               rows[i].device[0] ? termtext_escape(dev, sizeof dev, rows[i].device) : "-",
               rows[i].payload_len, reason,
               strlen(reason) < strlen(rows[i].reason) ? " ..." : "");
    }
    if (n == 0)
        fprintf(stderr, "smpctl quarantine list: nothing quarantined%s%s%s%s\n",
                device ? " from " : "", device ? device : "", since ? " since " : "", since ? since : "");
    rc = 0;

cleanup:
    free(rows);
    sqldb_close(db);
    return rc;
}

static int cmd_show(int argc, char **argv)
{
    const char *db_path = NULL;
    cmdopt opts[] = {{"--db", &db_path, true}};
    quarantine_row r = {0};
    long long id;
    char err[ERRLEN];
    sqldb *db = NULL;
    int rc = 1;

    if (argc < 1 || strncmp(argv[0], "--", 2) == 0) {
        fprintf(stderr, "smpctl quarantine show: missing entry ID (from smpctl quarantine list)\n");
        return 2;
    }
    if (parse_number("entry ID", argv[0], 1, INT64_MAX, &id) != 0 ||
        cmdopts_parse("quarantine show", argc - 1, argv + 1, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (open_existing("show", db_path, &db) != 0)
        goto cleanup;
    if (quarantine_admin_get(db, id, &r, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl quarantine show: %s\n", err);
        goto cleanup;
    }
    printf("id:       %lld\nreceived: %s\ndevice:   ", (long long)r.id, r.received_at);
    termtext_write(stdout, r.device[0] ? r.device : "-", r.device[0] ? strlen(r.device) : 1);
    printf("\ntopic:    ");
    termtext_write(stdout, r.topic, strlen(r.topic));
    printf("\nreason:   ");
    termtext_write(stdout, r.reason, strlen(r.reason));
    printf("\npayload:  %zu bytes kept\n", r.payload_len);
    termtext_write(stdout, r.payload, r.payload_len);
    printf("\n");
    rc = 0;

cleanup:
    free(r.payload);
    sqldb_close(db);
    return rc;
}

int quarantine_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"list", cmd_list, true},
        {"show", cmd_show, true},
    };
    static const cmdgroup group = {"quarantine", subs, sizeof subs / sizeof subs[0], usage, true};

    return cmdgroup_run(&group, argc, argv);
}
