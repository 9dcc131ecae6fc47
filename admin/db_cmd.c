/* db_cmd: `smpctl db migrate` (db_cmd.h). */
#include "db_cmd.h"

#include <stdio.h>
#include <string.h>

#include "cmdopts.h"
#include "db.h"

#define ERRLEN 1024

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl db migrate --db PATH\n"
            "  Creates the database at PATH (mode 0600) if there is none, or brings its\n"
            "  schema to version %d, in one transaction; a database already at %d is left\n"
            "  as it is. Run it before the first 'device add' or collector start, and after\n"
            "  installing a new smpfleet with the collector stopped: nothing else changes a\n"
            "  schema, and the collector and smpctl refuse a database of another version.\n",
            DB_SCHEMA_VERSION, DB_SCHEMA_VERSION);
}

static int migrate_cmd(int argc, char **argv)
{
    const char *path = NULL;
    cmdopt opts[] = {{"--db", &path, true}};
    char err[ERRLEN];
    int from = 0, to = 0;

    if (cmdopts_parse("db migrate", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0) {
        usage(stderr);
        return 2;
    }
    if (db_migrate(path, &from, &to, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl db migrate: %s\n", err);
        return 1;
    }
    if (from == to)
        printf("database %s: schema version %d, up to date\n", path, to);
    else
        printf("database %s: schema version %d -> %d\n", path, from, to);
    return 0;
}

int db_cmd(int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return 2;
    }
    if (cmdopts_wants_help(argc, argv)) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[0], "migrate") == 0)
        return migrate_cmd(argc - 1, argv + 1);
    fprintf(stderr, "smpctl db: unknown subcommand '%s'\n", argv[0]);
    usage(stderr);
    return 2;
}
