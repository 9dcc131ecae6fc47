/* clinic_cmd: `smpctl clinic add|set|list`, the command-line face of the
 * clinics table (clinics.h): parses options, opens the database and prints;
 * clinics.c checks and writes. */
#ifndef SMP_CLINIC_CMD_H
#define SMP_CLINIC_CMD_H

/* argv[0] is the subcommand:
 *   add <id> --name N --timezone TZ [--address A] [--licence L] --db PATH|URI
 *   set <id> [--name N] [--timezone TZ] [--address A] [--licence L] --db PATH|URI
 *   list --db PATH|URI
 * Each answers --help with its usage on stdout (exit 0).
 * Borrows argv. Returns 0 on success, 1 on an error (reported on stderr
 * naming the option or clinic and what to do), 2 on a usage error. */
int clinic_cmd(int argc, char **argv);

#endif
