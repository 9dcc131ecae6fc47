#include "cmdopts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

bool cmdopts_utc_prefix_ok(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd";
    size_t n = strlen(s);
    struct tm tm = {0};

    if (n != 10 && n != 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    /* A day that does not exist (2026-02-30) changes when normalised. */
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    int mday = tm.tm_mday, mon = tm.tm_mon;
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    if (tm.tm_mday != mday || tm.tm_mon != mon)
        return false;
    return n == 10 || ((s[11] - '0') * 10 + (s[12] - '0') < 24 && (s[14] - '0') * 10 + (s[15] - '0') < 60);
}

bool cmdopts_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}
