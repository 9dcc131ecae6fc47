/* fleet_cmd: `smpctl fleet status` (fleet_cmd.h). */
#include "fleet_cmd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdgroup.h"
#include "cmdopts.h"
#include "db.h"
#include "rowlist.h"
#include "termtext.h"

#define ERRLEN 512
#define CELL_MAX 600        /* an escaped clinic: up to 4 bytes per byte of 128 */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: smpctl fleet status --db PATH|URI [--clinic C]\n"
            "  One line per active device: its clinic; online or offline and since when\n"
            "  (what the collector heard on its status topic; 'unknown' before the first\n"
            "  word); the last record stored (chain head seq and when); the backlog the\n"
            "  agent last reported (records not yet acknowledged; '-' when it did not\n"
            "  say); and its open alerts (smpctl alerts list --open).\n"
            "  --db PATH|URI  the fleet database, read only: a SQLite file, or a\n"
            "                 postgresql:// URI for PostgreSQL\n");
}

/* rowlist_fn: one row of fleet_status_load's query. */
static void fleet_row_read(sqldb_stmt *st, void *entry)
{
    fleet_row *r = entry;

    memset(r, 0, sizeof *r);
    sqldb_column_copy(st, 0, r->device_id, sizeof r->device_id);
    sqldb_column_copy(st, 1, r->clinic, sizeof r->clinic);
    sqldb_column_copy(st, 2, r->state, sizeof r->state);
    sqldb_column_copy(st, 3, r->since, sizeof r->since);
    r->has_head = !sqldb_column_null(st, 4);
    r->acked_seq = sqldb_column_int64(st, 4);
    sqldb_column_copy(st, 5, r->last_seen, sizeof r->last_seen);
    r->has_backlog = !sqldb_column_null(st, 6);
    r->backlog = sqldb_column_int64(st, 6);
    r->open_alerts = sqldb_column_int64(st, 7);
}

int fleet_status_load(sqldb *db, const char *clinic, fleet_row **rows, size_t *n, char *err,
                      size_t errlen)
{
    static const char sql[] =
        "SELECT d.device_id, d.clinic, COALESCE(p.state, ''), COALESCE(p.since, ''),"
        " s.acked_seq, COALESCE(s.last_seen, ''), p.backlog,"
        " (SELECT COUNT(*) FROM alerts a WHERE a.device_id = d.device_id"
        "  AND a.cleared_at IS NULL)"
        " FROM devices d"
        " LEFT JOIN device_presence p ON p.device_id = d.device_id"
        " LEFT JOIN device_state s ON s.device_id = d.device_id"
        " WHERE d.retired_at IS NULL AND (CAST(?1 AS TEXT) IS NULL OR d.clinic = ?1)"
        " ORDER BY d.clinic, d.device_id";
    sqldb_stmt *st = NULL;
    void *arr = NULL;
    int rc;

    *rows = NULL;
    *n = 0;
    if (sqldb_prepare(db, sql, &st) != 0 || sqldb_bind_text(st, 1, clinic) != 0) {
        sqldb_finalize(st);
        return db_error(db, "fleet status", err, errlen);
    }
    rc = rowlist_collect(db, st, "fleet status", sizeof **rows, fleet_row_read, &arr, n, err,
                         errlen);
    *rows = arr;
    return rc;
}

enum { C_DEVICE, C_CLINIC, C_STATE, C_SINCE, C_LAST, C_BACKLOG, C_ALERTS, NCOLS };

static const char *const headers[NCOLS] = {"DEVICE", "CLINIC", "STATE", "SINCE", "LAST RECORD",
                                           "BACKLOG", "OPEN ALERTS"};

/* The cells of one row as they are printed. */
static void cells_of(const fleet_row *r, char cells[NCOLS][CELL_MAX])
{
    termtext_escape(cells[C_DEVICE], CELL_MAX, r->device_id);
    termtext_escape(cells[C_CLINIC], CELL_MAX, r->clinic);
    snprintf(cells[C_STATE], CELL_MAX, "%s", r->state[0] ? r->state : "unknown");
    termtext_escape(cells[C_SINCE], CELL_MAX, r->since[0] ? r->since : "-");
    if (r->has_head)
        snprintf(cells[C_LAST], CELL_MAX, "seq %" PRId64 " at %.*s", r->acked_seq,
                 REGISTRY_TS_LEN, r->last_seen);
    else
        snprintf(cells[C_LAST], CELL_MAX, "-");
    if (r->has_backlog)
        snprintf(cells[C_BACKLOG], CELL_MAX, "%" PRId64, r->backlog);
    else
        snprintf(cells[C_BACKLOG], CELL_MAX, "-");
    snprintf(cells[C_ALERTS], CELL_MAX, "%" PRId64, r->open_alerts);
}

/* The last column is not padded: no trailing blanks. */
static void print_line(FILE *out, const size_t w[NCOLS], const char *const cells[NCOLS])
{
    for (int c = 0; c + 1 < NCOLS; c++)
        fprintf(out, "%-*s  ", (int)w[c], cells[c]);
    fprintf(out, "%s\n", cells[NCOLS - 1]);
}

void fleet_status_print(FILE *out, const fleet_row *rows, size_t n)
{
    size_t w[NCOLS];
    char (*cells)[CELL_MAX] = malloc(sizeof(char[NCOLS][CELL_MAX]));

    if (!cells) {
        fprintf(out, "fleet status: out of memory\n");
        return;
    }
    for (int c = 0; c < NCOLS; c++)
        w[c] = strlen(headers[c]);
    for (size_t i = 0; i < n; i++) {
        cells_of(&rows[i], cells);
        for (int c = 0; c < NCOLS; c++)
            if (strlen(cells[c]) > w[c])
                w[c] = strlen(cells[c]);
    }
    print_line(out, w, headers);
    for (size_t i = 0; i < n; i++) {
        const char *line[NCOLS];
        cells_of(&rows[i], cells);
        for (int c = 0; c < NCOLS; c++)
            line[c] = cells[c];
        print_line(out, w, line);
    }
    free(cells);
}

static int status_cmd(int argc, char **argv)
{
    const char *target = NULL, *clinic = NULL;
    cmdopt opts[] = {{"--db", &target, true}, {"--clinic", &clinic, false}};
    char err[ERRLEN];
    sqldb *db = NULL;
    fleet_row *rows = NULL;
    size_t n = 0;
    int rc = 1;

    if (cmdopts_parse("fleet status", argc, argv, opts, sizeof opts / sizeof opts[0]) != 0) {
        usage(stderr);
        return 2;
    }
    if (db_open_readonly(target, &db, err, sizeof err) != 0 ||
        fleet_status_load(db, clinic, &rows, &n, err, sizeof err) != 0) {
        fprintf(stderr, "smpctl fleet status: %s\n", err);
        goto cleanup;
    }
    if (n == 0 && clinic) {
        char shown[CELL_MAX];
        fprintf(stderr, "smpctl fleet status: no active device in clinic '%s'; see smpctl device "
                "list\n", termtext_escape(shown, sizeof shown, clinic));
        goto cleanup;
    }
    fleet_status_print(stdout, rows, n);
    rc = 0;
cleanup:
    free(rows);
    sqldb_close(db);
    return rc;
}

int fleet_cmd(int argc, char **argv)
{
    static const cmdgroup_sub subs[] = {
        {"status", status_cmd, true},
    };
    static const cmdgroup group = {"fleet", subs, sizeof subs / sizeof subs[0], usage, true};

    return cmdgroup_run(&group, argc, argv);
}
