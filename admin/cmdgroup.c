#include "cmdgroup.h"

#include <string.h>

#include "cmdopts.h"

static bool is_help(const char *word)
{
    return strcmp(word, "-h") == 0 || strcmp(word, "--help") == 0;
}

int cmdgroup_run(const cmdgroup *g, int argc, char **argv)
{
    if (argc < 1) {
        g->usage(stderr);
        return 2;
    }
    if (g->help_anywhere ? cmdopts_wants_help(argc, argv) : is_help(argv[0])) {
        g->usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < g->nsubs; i++)
        if (strcmp(argv[0], g->subs[i].name) == 0)
            return g->subs[i].after_name ? g->subs[i].run(argc - 1, argv + 1)
                                         : g->subs[i].run(argc, argv);
    fprintf(stderr, "smpctl %s: unknown subcommand '%s'\n", g->name, argv[0]);
    g->usage(stderr);
    return 2;
}
