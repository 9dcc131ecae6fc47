/* cmdopts: "--name value" options of one smpctl command (report, export),
 * each given at most once, checked against a table. */
#ifndef SMP_CMDOPTS_H
#define SMP_CMDOPTS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cmdopt {
    const char *name;     /* "--db" */
    const char **value;   /* set to the argument (borrowed from argv) */
    bool required;
} cmdopt;

/* Parses argv into opts. An unknown option, a missing value (or one that
 * looks like an option: the real value was forgotten), an option given
 * twice, or a missing required option is reported on stderr as
 * "smpctl CMD: ..." and returns -1. */
int cmdopts_parse(const char *cmd, int argc, char **argv, cmdopt *opts, size_t nopts);

/* True when any of argv[0..argc) is -h or --help: every smpctl command
 * prints its usage on stdout wherever help is asked for. */
bool cmdopts_wants_help(int argc, char **argv);

/* True for a UTC date "YYYY-MM-DD" (a day that exists) or "YYYY-MM-DDTHH:MM":
 * a prefix of the RFC 3339 times the database stores, so that it compares
 * with them as text (a date as the start of that day). For --since. */
bool cmdopts_utc_prefix_ok(const char *s);

#endif
