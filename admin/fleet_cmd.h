/* fleet_cmd: `smpctl fleet status` — every device of the fleet (or of one
 * clinic) at a glance: online or offline and since when (device_presence,
 * written by the collector from the status topic), the last record stored
 * (device_state), the backlog the agent last reported and the open alerts. */
#ifndef SMP_FLEET_CMD_H
#define SMP_FLEET_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ids.h"
#include "registry.h"
#include "sqldb.h"

typedef struct fleet_row {
    char device_id[IDS_DEVICE_ID_MAX + 1];
    char clinic[REGISTRY_TEXT_MAX + 1];
    char state[16];                        /* online, offline, or "" never heard */
    char since[REGISTRY_TS_LEN + 1];
    bool has_head;                         /* a record was stored */
    int64_t acked_seq;
    char last_seen[REGISTRY_TS_LEN + 1];
    bool has_backlog;
    int64_t backlog;
    int64_t open_alerts;
} fleet_row;

/* Active devices sorted by clinic then id; clinic NULL: every clinic.
 * *rows malloc'ed (NULL when none), freed by the caller. */
int fleet_status_load(sqldb *db, const char *clinic, fleet_row **rows, size_t *n, char *err,
                      size_t errlen);

/* The table: a header and one line per row, columns aligned; text from
 * the database escaped for the terminal (termtext.h). */
void fleet_status_print(FILE *out, const fleet_row *rows, size_t n);

/* argv[0] is the subcommand ("status"). Returns 0, 1 on an error, 2 on a
 * usage error. */
int fleet_cmd(int argc, char **argv);

#endif
