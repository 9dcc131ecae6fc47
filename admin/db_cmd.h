/* db_cmd: `smpctl db migrate --db PATH` — the one command that creates a
 * database or upgrades its schema (db_migrate, common/db.h). Nothing else,
 * not the collector nor any package script, does it. */
#ifndef SMP_DB_CMD_H
#define SMP_DB_CMD_H

/* argv[0] is the subcommand ("migrate"). Returns 0, 1 on an error, 2 on a
 * usage error. */
int db_cmd(int argc, char **argv);

#endif
