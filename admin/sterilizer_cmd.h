/* sterilizer_cmd: `smpctl sterilizer add|list`, the command-line face of
 * the sterilizers table (sterilizers.h): parses options, opens the database
 * and prints; sterilizers.c checks and writes. */
#ifndef SMP_STERILIZER_CMD_H
#define SMP_STERILIZER_CMD_H

/* argv[0] is the subcommand:
 *   add <id> --clinic C [--model M] [--serial S] [--cert FILE] --db PATH|URI
 *   list --db PATH|URI [--clinic C]
 * Each answers --help with its usage on stdout (exit 0).
 * Borrows argv. Returns 0 on success, 1 on an error (reported on stderr
 * naming the option or sterilizer and what to do), 2 on a usage error. */
int sterilizer_cmd(int argc, char **argv);

#endif
