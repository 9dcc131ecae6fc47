#include "sterilizer_cmd.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certfile.h"
#include "cmdgroup.h"
#include "cmdopts.h"
#include "db.h"
#include "registry.h"
#include "sterilizers.h"

#define ERRLEN 768

static const char usage_add[] =
    "smpctl sterilizer add <id> --clinic C [--model M] [--serial S] [--cert FILE] --db PATH|URI\n"
    "    registers an autoclave of clinic C. <id> is the sterilizer_id its cycles and\n"
    "    tests carry (3-64 of a-z, 0-9, -). With --cert it reports through an agent of\n"
    "    its own (device <id>, kind sterilizer; issue the certificate with smpctl pki\n"
    "    issue-device <id>); without, through the machines of its clinic. Alerts about\n"
    "    it (failed cycles, spore tests) are filed under <id>\n";
static const char usage_list[] = "smpctl sterilizer list --db PATH|URI [--clinic C]\n";
static const char usage_db[] =
    "  --db PATH|URI  the fleet database: a SQLite file, or a postgresql:// URI for\n"
    "                 PostgreSQL\n";

static void usage(FILE *out)
{
    fprintf(out, "usage: %s       %s%s", usage_add, usage_list, usage_db);
}

static bool wants_help(int argc, char **argv, const char *text)
{
    if (!cmdopts_wants_help(argc - 1, argv + 1))
        return false;
    printf("usage: %s%s", text, usage_db);
    return true;
}

static int open_db(const char *cmd, const char *target, bool readonly, sqldb **db)
{
    char err[ERRLEN];

    if ((readonly ? db_open_readonly : db_open)(target, db, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

static int cmd_add(int argc, char **argv)
{
    const char *db_path = NULL, *cert_path = NULL;
    sterilizers_new st = {0};
    cmdopt opts[] = {{"--clinic", &st.clinic, true}, {"--model", &st.model, false},
                     {"--serial", &st.serial, false}, {"--cert", &cert_path, false},
                     {"--db", &db_path, true}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    char *pem = NULL;
    sqldb *db = NULL;
    int64_t moved = 0;
    int rc = 1;

    if (wants_help(argc, argv, usage_add))
        return 0;
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl sterilizer add: missing <id>\nusage: %s", usage_add);
        return 2;
    }
    st.sterilizer_id = argv[1];
    if (cmdopts_parse("sterilizer add", argc - 2, argv + 2, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    /* The certificate is checked before the database is opened. */
    if (cert_path) {
        if (!(pem = certfile_read("sterilizer add", cert_path, st.sterilizer_id)))
            return 1;
        st.cert_pem = pem;
    }
    if (open_db("sterilizer add", db_path, false, &db) != 0)
        goto cleanup;
    registry_now(now);
    if (sterilizers_add(db, &st, now, &moved, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl sterilizer add: %s\n", err);
        goto cleanup;
    }
    printf("sterilizer %s added to clinic '%s', %s\n", st.sterilizer_id, st.clinic,
           pem ? "reporting through its own agent (device of kind sterilizer)"
               : "logged through the clinic's machines");
    if (moved > 0)
        printf("%" PRId64 " alert%s about it moved to it from the machine%s that logged it\n",
               moved, moved == 1 ? "" : "s", moved == 1 ? "" : "s");
    rc = 0;
cleanup:
    sqldb_close(db);
    free(pem);
    return rc;
}

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

static void print_table(const sterilizers_row *rows, size_t n)
{
    int w[4] = {2, 6, 5, 6}; /* "id", "clinic", "model", "serial" */

    for (size_t i = 0; i < n; i++) {
        const char *cols[4] = {rows[i].sterilizer_id, rows[i].clinic, or_dash(rows[i].model),
                               or_dash(rows[i].serial)};
        for (int c = 0; c < 4; c++)
            if ((int)strlen(cols[c]) > w[c])
                w[c] = (int)strlen(cols[c]);
    }
    printf("%-*s  %-*s  %-*s  %-*s  %s\n", w[0], "id", w[1], "clinic", w[2], "model", w[3],
           "serial", "reports through");
    for (size_t i = 0; i < n; i++)
        printf("%-*s  %-*s  %-*s  %-*s  %s%s\n", w[0], rows[i].sterilizer_id, w[1],
               rows[i].clinic, w[2], or_dash(rows[i].model), w[3], or_dash(rows[i].serial),
               rows[i].device_id[0] ? "its own agent " : "the clinic's machines",
               rows[i].device_id);
}

static int cmd_list(int argc, char **argv)
{
    const char *db_path = NULL, *clinic = NULL;
    cmdopt opts[] = {{"--db", &db_path, true}, {"--clinic", &clinic, false}};
    sterilizers_row *rows = NULL;
    char err[ERRLEN];
    sqldb *db = NULL;
    size_t n = 0;
    int rc = 1;

    if (wants_help(argc, argv, usage_list))
        return 0;
    if (cmdopts_parse("sterilizer list", argc - 1, argv + 1, opts, sizeof opts / sizeof opts[0]) != 0)
        return 2;
    if (open_db("sterilizer list", db_path, true, &db) != 0)
        goto cleanup;
    if (sterilizers_list(db, clinic, &rows, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl sterilizer list: %s\n", err);
        goto cleanup;
    }
    print_table(rows, n);
    rc = 0;
cleanup:
    free(rows);
    sqldb_close(db);
    return rc;
}

int sterilizer_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"add", cmd_add, false},
        {"list", cmd_list, false},
    };
    static const cmdgroup group = {"sterilizer", subs, sizeof subs / sizeof subs[0], usage, false};

    return cmdgroup_run(&group, argc, argv);
}
