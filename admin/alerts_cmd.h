/* alerts_cmd: `smpctl alerts list|ack|notify-test`, the command-line face
 * of alert_admin.h and of the collector's notification sinks. */
#ifndef SMP_ALERTS_CMD_H
#define SMP_ALERTS_CMD_H

/* argv[0] is the subcommand:
 *   list --db PATH [--clinic C] [--open] [--since DATE]
 *   ack ID --by NAME --db PATH
 *   notify-test --sink NAME -c COLLECTOR_CONF
 * Borrows argv. Returns 0 on success, 1 on an error (reported on stderr
 * naming the option, alert or database), 2 on a usage error. */
int alerts_cmd(int argc, char **argv);

#endif
