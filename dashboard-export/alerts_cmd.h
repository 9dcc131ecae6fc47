/* alerts_cmd: `smpctl alerts list|ack`, the command-line face of
 * alert_admin.h. */
#ifndef SMP_ALERTS_CMD_H
#define SMP_ALERTS_CMD_H

/* argv[0] is the subcommand:
 *   list --db PATH --clinic C [--open]
 *   ack ID --by NAME --db PATH
 * Borrows argv. Returns 0 on success, 1 on an error (reported on stderr
 * naming the option, alert or database), 2 on a usage error. */
int alerts_cmd(int argc, char **argv);

#endif
