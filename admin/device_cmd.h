/* device_cmd: `smpctl device add|list|retire|replace|set-cert|recover-chain|history`, the command-line face of the
 * device registry (registry.h). Parses options, reads the --cert file,
 * opens the database and prints; the registry does the rest. */
#ifndef SMP_DEVICE_CMD_H
#define SMP_DEVICE_CMD_H

/* argv[0] is the subcommand:
 *   add <id> --clinic C --db PATH|URI [--model M] [--serial S] [--cert FILE]
 *   list --db PATH|URI [--clinic C]
 *   retire <id> --db PATH|URI
 *   replace <id> --cert FILE --db PATH|URI    new certificate (or a first one)
 *   set-cert <id> --cert FILE --db PATH|URI   first certificate only
 *   recover-chain <id> --from-seq N --by NAME --reason TEXT --db PATH|URI
 *                                         (device_recover.h)
 *   history <id> --db PATH|URI                its chain recoveries
 * --db is a SQLite file or a postgresql:// URI (PostgreSQL).
 * Each answers --help with its usage on stdout (exit 0).
 * Borrows argv. Returns 0 on success, 1 on an error (reported on stderr
 * naming the option, file or device and what to do), 2 on a usage error. */
int device_cmd(int argc, char **argv);

#endif
