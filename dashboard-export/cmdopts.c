#include "cmdopts.h"

#include <stdio.h>
#include <string.h>

static cmdopt *find(cmdopt *opts, size_t nopts, const char *name)
{
    for (size_t k = 0; k < nopts; k++)
        if (strcmp(name, opts[k].name) == 0)
            return &opts[k];
    return NULL;
}

int cmdopts_parse(const char *cmd, int argc, char **argv, cmdopt *opts, size_t nopts)
{
    bool missing = false;

    for (int i = 0; i < argc; i++) {
        cmdopt *o = find(opts, nopts, argv[i]);
        if (o == NULL) {
            fprintf(stderr, "smpctl %s: unknown option '%s'\n", cmd, argv[i]);
            return -1;
        }
        if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0) {
            fprintf(stderr, "smpctl %s: option %s needs a value\n", cmd, o->name);
            return -1;
        }
        if (*o->value != NULL) {
            fprintf(stderr, "smpctl %s: option %s given twice\n", cmd, o->name);
            return -1;
        }
        *o->value = argv[++i];
    }
    for (size_t i = 0; i < nopts; i++) {
        if (opts[i].required && *opts[i].value == NULL) {
            fprintf(stderr, "smpctl %s: %s is required\n", cmd, opts[i].name);
            missing = true;
        }
    }
    return missing ? -1 : 0;
}
