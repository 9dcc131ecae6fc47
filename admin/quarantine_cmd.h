/* quarantine_cmd: `smpctl quarantine list|show`, so that nobody needs a
 * SQL client to see what the collector refused and why. Device-supplied
 * text is shown escaped (termtext.h). */
#ifndef SMP_QUARANTINE_CMD_H
#define SMP_QUARANTINE_CMD_H

/* argv[0] is list or show. Returns 0, 1 on an error (on stderr, naming the
 * database or entry), 2 on a usage error. Borrows argv. */
int quarantine_cmd(int argc, char **argv);

#endif
