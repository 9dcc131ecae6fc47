/* cmdgroup: the dispatch every `smpctl <group> <subcommand> ...` command
 * shares (device, clinic, sterilizer, alerts, quarantine, db, broker,
 * fleet): no subcommand, help, an unknown one, each answered the same way. */
#ifndef SMP_CMDGROUP_H
#define SMP_CMDGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct cmdgroup_sub {
    const char *name;
    /* Runs it: argv[0] is the subcommand's name, or, with after_name, the
     * first word after it. Returns the exit code. */
    int (*run)(int argc, char **argv);
    bool after_name;
} cmdgroup_sub;

typedef struct cmdgroup {
    const char *name;              /* "device": messages say "smpctl device: ..." */
    const cmdgroup_sub *subs;
    size_t nsubs;
    void (*usage)(FILE *out);      /* the group's usage */
    /* -h / --help anywhere prints the group's usage; without it only as
     * the first word, so that each subcommand can answer its own. */
    bool help_anywhere;
} cmdgroup;

/* Runs the subcommand argv[0] names. No subcommand: the usage on stderr,
 * exit 2. Help: the usage on stdout, exit 0. An unknown one:
 * "smpctl <group>: unknown subcommand 'x'" and the usage on stderr, 2. */
int cmdgroup_run(const cmdgroup *g, int argc, char **argv);

#endif
