/* broker_cmd: `smpctl broker acl` — writes the broker's complete ACL
 * (broker_acl.h) to a file, atomically. */
#ifndef SMP_BROKER_CMD_H
#define SMP_BROKER_CMD_H

/* argv[0] is the subcommand ("acl"). Returns 0, 1 on an error, 2 on a
 * usage error. */
int broker_cmd(int argc, char **argv);

#endif
