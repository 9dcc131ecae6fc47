#include "clinic_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clinics.h"
#include "cmdgroup.h"
#include "cmdopts.h"
#include "db.h"
#include "registry.h"

#define ERRLEN 768

static const char usage_add[] =
    "smpctl clinic add <id> --name N --timezone TZ [--address A] [--licence L] --db PATH|URI\n"
    "    registers the clinic that devices name <id> (smpctl device add --clinic <id>):\n"
    "    its name, address and licence number for reports and exports, and its IANA\n"
    "    timezone (e.g. America/Los_Angeles), whose local calendar the rules and\n"
    "    reports use for it\n";
static const char usage_set[] =
    "smpctl clinic set <id> [--name N] [--timezone TZ] [--address A] [--licence L] --db PATH|URI\n"
    "    changes what is given (--address '' removes the address); a new timezone\n"
    "    applies to records judged from then on and to every report made after it\n";
static const char usage_list[] = "smpctl clinic list --db PATH|URI\n";
static const char usage_db[] =
    "  --db PATH|URI  the fleet database: a SQLite file, or a postgresql:// URI for\n"
    "                 PostgreSQL\n"
    "  --timezone TZ  a zone of the system tz database (" TZLOCAL_DIR "), e.g.\n"
    "                 " TZLOCAL_EXAMPLE ", Europe/London, Asia/Kolkata\n";

static void usage(FILE *out)
{
    fprintf(out, "usage: %s       %s       %s%s", usage_add, usage_set, usage_list, usage_db);
}

static bool wants_help(int argc, char **argv, const char *text)
{
    if (!cmdopts_wants_help(argc - 1, argv + 1))
        return false;
    printf("usage: %s%s", text, usage_db);
    return true;
}

/* "<sub> <id> options...": the id, then the options. 2 on a usage error. */
static int parse_id_opts(const char *cmd, int argc, char **argv, cmdopt *opts, size_t nopts,
                         const char *text)
{
    if (argc < 2 || strncmp(argv[1], "--", 2) == 0) {
        fprintf(stderr, "smpctl %s: missing <id>\nusage: %s", cmd, text);
        return 2;
    }
    return cmdopts_parse(cmd, argc - 2, argv + 2, opts, nopts) != 0 ? 2 : 0;
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

static const char *or_dash(const char *s)
{
    return s[0] ? s : "-";
}

static void describe(const clinics_row *c)
{
    printf("clinic %s: name '%s', timezone %s, licence %s, address %s%s%s\n", c->clinic_id,
           c->name, c->timezone, c->licence[0] ? c->licence : "none",
           c->address[0] ? "'" : "", c->address[0] ? c->address : "none",
           c->address[0] ? "'" : "");
}

static int cmd_add(int argc, char **argv)
{
    const char *db_path = NULL;
    clinics_fields f = {0};
    cmdopt opts[] = {{"--name", &f.name, true},       {"--timezone", &f.timezone, true},
                     {"--address", &f.address, false}, {"--licence", &f.licence, false},
                     {"--db", &db_path, true}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    clinics_row c;
    sqldb *db = NULL;
    int rc;

    if (wants_help(argc, argv, usage_add))
        return 0;
    if ((rc = parse_id_opts("clinic add", argc, argv, opts, sizeof opts / sizeof opts[0],
                            usage_add)) != 0)
        return rc;
    f.clinic_id = argv[1];
    /* Checked before the database is opened: a mistake costs nothing. */
    if (clinics_check(&f, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl clinic add: %s\n", err);
        return 1;
    }
    rc = 1;
    if (open_db("clinic add", db_path, false, &db) != 0)
        goto cleanup;
    registry_now(now);
    if (clinics_add(db, &f, now, err, sizeof err) != 0 ||
        clinics_get(db, f.clinic_id, &c, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl clinic add: %s\n", err);
        goto cleanup;
    }
    printf("added ");
    describe(&c);
    rc = 0;
cleanup:
    sqldb_close(db);
    return rc;
}

static int cmd_set(int argc, char **argv)
{
    const char *db_path = NULL;
    clinics_fields f = {0};
    cmdopt opts[] = {{"--name", &f.name, false},      {"--timezone", &f.timezone, false},
                     {"--address", &f.address, false}, {"--licence", &f.licence, false},
                     {"--db", &db_path, true}};
    char err[ERRLEN], now[REGISTRY_TS_LEN + 1];
    clinics_row before, after;
    sqldb *db = NULL;
    int rc;

    if (wants_help(argc, argv, usage_set))
        return 0;
    if ((rc = parse_id_opts("clinic set", argc, argv, opts, sizeof opts / sizeof opts[0],
                            usage_set)) != 0)
        return rc;
    f.clinic_id = argv[1];
    if (!f.name && !f.timezone && !f.address && !f.licence) {
        fprintf(stderr, "smpctl clinic set: nothing to change: give --name, --timezone, "
                "--address or --licence\nusage: %s", usage_set);
        return 2;
    }
    if (clinics_check(&f, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl clinic set: %s\n", err);
        return 1;
    }
    rc = 1;
    if (open_db("clinic set", db_path, false, &db) != 0)
        goto cleanup;
    registry_now(now);
    if (clinics_set(db, &f, now, &before, &after, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl clinic set: %s\n", err);
        goto cleanup;
    }
    printf("updated ");
    describe(&after);
    if (strcmp(before.timezone, after.timezone) != 0)
        printf("timezone changed from %s: records judged from now on and every report use %s; "
               "alerts already raised keep the dates they were judged with\n", before.timezone,
               after.timezone);
    rc = 0;
cleanup:
    sqldb_close(db);
    return rc;
}

enum { COL_ID, COL_NAME, COL_TZ, COL_DEVICES, COL_LICENCE, COL_ADDRESS, NCOLS };

/* Columns as a terminal shows them: one per character, not per byte. */
static int width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static void cell(const char *text, int w, bool last)
{
    fputs(text, stdout);
    if (last)
        fputc('\n', stdout);
    else
        printf("%*s", w - width(text) + 2, "");
}

static void print_table(const clinics_row *cs, size_t n)
{
    static const char *const titles[NCOLS] = {"id", "name", "timezone", "devices", "licence",
                                              "address"};
    int w[NCOLS];
    char devices[24];

    for (int c = 0; c < NCOLS; c++)
        w[c] = width(titles[c]);
    for (size_t pass = 0; pass < 2; pass++) {
        if (pass == 1)
            for (int c = 0; c < NCOLS; c++)
                cell(titles[c], w[c], c == NCOLS - 1);
        for (size_t i = 0; i < n; i++) {
            const char *cols[NCOLS] = {cs[i].clinic_id, cs[i].name, cs[i].timezone, devices,
                                       or_dash(cs[i].licence), or_dash(cs[i].address)};
            snprintf(devices, sizeof devices, "%lld", (long long)cs[i].devices);
            for (int c = 0; c < NCOLS; c++) {
                if (pass == 0 && width(cols[c]) > w[c])
                    w[c] = width(cols[c]);
                else if (pass == 1)
                    cell(cols[c], w[c], c == NCOLS - 1);
            }
        }
    }
}

static int cmd_list(int argc, char **argv)
{
    const char *db_path = NULL;
    cmdopt opts[] = {{"--db", &db_path, true}};
    clinics_row *cs = NULL;
    clinics_unregistered *un = NULL;
    size_t n = 0, nun = 0;
    char err[ERRLEN], hint[ERRLEN];
    sqldb *db = NULL;
    int rc = 1;

    if (wants_help(argc, argv, usage_list))
        return 0;
    if (cmdopts_parse("clinic list", argc - 1, argv + 1, opts, 1) != 0)
        return 2;
    if (open_db("clinic list", db_path, true, &db) != 0)
        goto cleanup;
    if (clinics_list(db, &cs, &n, err, sizeof err) != 0 ||
        clinics_list_unregistered(db, &un, &nun, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl clinic list: %s\n", err);
        goto cleanup;
    }
    print_table(cs, n);
    /* Devices naming a clinic nobody registered: their dates are UTC. */
    for (size_t i = 0; i < nun; i++) {
        clinics_unregistered_hint(un[i].clinic_id, sqldb_name(db), hint, sizeof hint);
        fprintf(stderr, "smpctl clinic list: %s (%lld device%s)\n", hint,
                (long long)un[i].devices, un[i].devices == 1 ? "" : "s");
    }
    rc = 0;
cleanup:
    free(cs);
    free(un);
    sqldb_close(db);
    return rc;
}

int clinic_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"add", cmd_add, false},
        {"set", cmd_set, false},
        {"list", cmd_list, false},
    };
    static const cmdgroup group = {"clinic", subs, sizeof subs / sizeof subs[0], usage, false};

    return cmdgroup_run(&group, argc, argv);
}
