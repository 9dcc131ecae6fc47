/* db_cmd: `smpctl db migrate` and `smpctl db copy` (db_cmd.h). */
#include "db_cmd.h"

#include <stdio.h>
#include <string.h>

#include "cmdgroup.h"
#include "cmdopts.h"
#include "db.h"
#include "db_copy.h"

#define ERRLEN 1024

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl db migrate --db PATH|URI\n"
            "  Creates the schema in the database, or brings it to version %d, in one\n"
            "  transaction; a database already at %d is left as it is. PATH is a SQLite\n"
            "  file (made with mode 0600 if there is none); a postgresql:// URI is a\n"
            "  PostgreSQL database, which must exist (createdb) and be empty or smpfleet's.\n"
            "  Run it before the first 'device add' or collector start, and after\n"
            "  installing a new smpfleet with the collectors stopped: nothing else changes a\n"
            "  schema, and the collector and smpctl refuse a database of another version.\n",
            DB_SCHEMA_VERSION, DB_SCHEMA_VERSION);
    fprintf(out,
            "usage: smpctl db copy --from PATH|URI --to PATH|URI\n"
            "  Copies a whole fleet (records, registry, alerts, quarantine, rule state,\n"
            "  notifications) into a new database made with 'smpctl db migrate', in one\n"
            "  transaction, then compares every table's row count and re-verifies every\n"
            "  record's hash and chain link in the copy. Typically from the SQLite file\n"
            "  into PostgreSQL; stop the collector first so that nothing arrives after\n"
            "  the copy began.\n");
}

static int migrate_cmd(int argc, char **argv)
{
    const char *path = NULL;
    cmdopt opts[] = {{"--db", &path, true}};
    char err[ERRLEN], name[ERRLEN];
    int from = 0, to = 0;

    if (cmdopts_parse("db migrate", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0) {
        usage(stderr);
        return 2;
    }
    if (db_migrate(path, &from, &to, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl db migrate: %s\n", err);
        return 1;
    }
    /* A URI may carry a password: only its masked form is shown. */
    sqldb_mask(path, name, sizeof name);
    if (from == to)
        printf("database %s: schema version %d, up to date\n", name, to);
    else
        printf("database %s: schema version %d -> %d\n", name, from, to);
    return 0;
}

static int copy_cmd(int argc, char **argv)
{
    const char *from = NULL, *to = NULL;
    cmdopt opts[] = {{"--from", &from, true}, {"--to", &to, true}};
    char err[ERRLEN], name[ERRLEN];

    if (cmdopts_parse("db copy", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0) {
        usage(stderr);
        return 2;
    }
    if (db_copy(from, to, stdout, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl db copy: %s\n", err);
        return 1;
    }
    sqldb_mask(to, name, sizeof name);
    printf("copied into %s\n", name);
    return 0;
}

int db_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"migrate", migrate_cmd, true},
        {"copy", copy_cmd, true},
    };
    static const cmdgroup group = {"db", subs, sizeof subs / sizeof subs[0], usage, true};

    return cmdgroup_run(&group, argc, argv);
}
