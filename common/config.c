#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const config_setting *find(const config_setting *table, const char *name)
{
    for (; table->name; table++) {
        if (strcmp(table->name, name) == 0)
            return table;
    }
    return NULL;
}

static int apply(const config_setting *s, const char *value, void *target, char *why,
                 size_t whylen)
{
    char *dst = (char *)target + s->offset;

    if (s->type == CONFIG_STR) {
        if (strlen(value) >= CONFIG_STR_MAX) {
            snprintf(why, whylen, "longer than %d bytes", CONFIG_STR_MAX - 1);
            return -1;
        }
        strcpy(dst, value);
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < s->min || v > s->max) {
        snprintf(why, whylen, "must be an integer %lld..%lld", (long long)s->min,
                 (long long)s->max);
        return -1;
    }
    memcpy(dst, &(int64_t){v}, sizeof(int64_t));
    return 0;
}

static char *trim(char *s)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/* Parses one line; returns the setting index it set, -1 for none, -2 on error. */
static int parse_line(char *line, const config_setting *table, void *target, char *why,
                      size_t whylen)
{
    char *hash = strchr(line, '#'), *eq, *key, *value;
    const config_setting *s;

    if (hash)
        *hash = '\0';
    line = trim(line);
    if (!*line)
        return -1;
    if (!(eq = strchr(line, '='))) {
        snprintf(why, whylen, "expected 'key = value'");
        return -2;
    }
    *eq = '\0';
    key = trim(line);
    value = trim(eq + 1);
    if (!(s = find(table, key))) {
        snprintf(why, whylen, "unknown setting '%s'", key);
        return -2;
    }
    char inner[200];
    if (apply(s, value, target, inner, sizeof inner) != 0) {
        snprintf(why, whylen, "%s: %s (%s)", key, inner, s->help);
        return -2;
    }
    return (int)(s - table);
}

int config_load(const char *path, const config_setting *table, void *target, char *err,
                size_t errlen)
{
    bool seen[64] = {false};
    char *line = NULL, why[400];
    size_t cap = 0;
    int lineno = 0, rc = -1;
    FILE *f = NULL;

    for (const config_setting *s = table; s->name; s++) {
        if (s->default_value && apply(s, s->default_value, target, why, sizeof why) != 0) {
            snprintf(err, errlen, "built-in default of %s: %s", s->name, why);
            return -1;
        }
    }
    if (!(f = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: cannot open config: %s", path, strerror(errno));
        return -1;
    }
    /* getline: a long line (a long comment, say) is one line, not several. */
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        int idx = parse_line(line, table, target, why, sizeof why);
        if (idx == -2) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            goto cleanup;
        }
        if (idx >= 0 && seen[idx]) {
            snprintf(err, errlen, "%s:%d: %s set twice", path, lineno, table[idx].name);
            goto cleanup;
        }
        if (idx >= 0)
            seen[idx] = true;
    }
    for (const config_setting *s = table; s->name; s++) {
        if (!s->default_value && !seen[s - table]) {
            snprintf(err, errlen, "%s: required setting '%s' is missing (%s)", path, s->name,
                     s->help);
            goto cleanup;
        }
    }
    rc = 0;

cleanup:
    free(line);
    fclose(f);
    return rc;
}
