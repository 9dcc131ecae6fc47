#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqldb.h"

static const config_setting *find(const config_setting *table, const char *name)
{
    for (; table->name; table++) {
        if (strcmp(table->name, name) == 0)
            return table;
    }
    return NULL;
}

/* "121", "121.5", "-3.0" → tenths; NULL end or a second decimal place
 * fails. Written by hand because strtod would accept "1e3" and round. */
static int parse_dec1(const char *value, int64_t *out)
{
    const char *p = value;
    bool neg = *p == '-';
    int64_t v = 0;
    int digits = 0;

    p += neg;
    for (; *p >= '0' && *p <= '9' && digits < 15; p++, digits++)
        v = v * 10 + (*p - '0');
    if (digits == 0 || (*p >= '0' && *p <= '9'))
        return -1;
    v *= 10;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9' || p[2] != '\0')
            return -1;
        v += p[1] - '0';
    } else if (*p) {
        return -1;
    }
    *out = neg ? -v : v;
    return 0;
}

static void dec1_text(int64_t tenths, char *out, size_t cap)
{
    int64_t a = tenths < 0 ? -tenths : tenths;
    snprintf(out, cap, "%s%lld.%lld", tenths < 0 ? "-" : "", (long long)(a / 10), (long long)(a % 10));
}

static int apply_dec1(const config_setting *s, const char *value, char *dst, char *why,
                      size_t whylen)
{
    char lo[32], hi[32];
    int64_t v;

    if (parse_dec1(value, &v) != 0 || v < s->min || v > s->max) {
        dec1_text(s->min, lo, sizeof lo);
        dec1_text(s->max, hi, sizeof hi);
        snprintf(why, whylen, "must be a number %s..%s with at most one decimal place", lo, hi);
        return -1;
    }
    memcpy(dst, &v, sizeof v);
    return 0;
}

/* A relative CONFIG_PATH value joined to base_dir (the config file's
 * directory, absolute); "./" prefixes are dropped so logs show clean paths. */
static int apply_path(const char *value, const char *base_dir, char *dst, char *why, size_t whylen)
{
    char joined[CONFIG_STR_MAX];

    if (!base_dir || value[0] == '\0' || value[0] == '/') {
        if (strlen(value) >= CONFIG_STR_MAX) {
            snprintf(why, whylen, "longer than %d bytes", CONFIG_STR_MAX - 1);
            return -1;
        }
        strcpy(dst, value);
        return 0;
    }
    while (value[0] == '.' && value[1] == '/')
        for (value += 2; *value == '/'; value++)
            ;
    if (snprintf(joined, sizeof joined, "%s%s%s", base_dir,
                 strcmp(base_dir, "/") == 0 ? "" : "/", value) >= (int)sizeof joined) {
        snprintf(why, whylen, "resolved against %s it is longer than %d bytes; use a shorter path",
                 base_dir, CONFIG_STR_MAX - 1);
        return -1;
    }
    strcpy(dst, joined);
    return 0;
}

/* base_dir: where relative CONFIG_PATH values are resolved; NULL for
 * defaults, which are taken as they are. */
static int apply(const config_setting *s, const char *value, void *target, const char *base_dir,
                 char *why, size_t whylen)
{
    char *dst = (char *)target + s->offset;

    if (s->type == CONFIG_DEC1)
        return apply_dec1(s, value, dst, why, whylen);
    if (s->type == CONFIG_PATH || (s->type == CONFIG_DATABASE && !sqldb_is_postgres(value)))
        return apply_path(value, base_dir, dst, why, whylen);

    if (s->type == CONFIG_DATABASE)
        return apply_path(value, NULL, dst, why, whylen);

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
static int parse_line(char *line, const config_setting *table, void *target, const char *base_dir,
                      char *why, size_t whylen)
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
    if (apply(s, value, target, base_dir, inner, sizeof inner) != 0) {
        snprintf(why, whylen, "%s: %s (%s)", key, inner, s->help);
        return -2;
    }
    return (int)(s - table);
}

static int apply_defaults(const config_setting *table, void *target, char *err, size_t errlen)
{
    char why[400];

    for (const config_setting *s = table; s->name; s++) {
        if (s->default_value && apply(s, s->default_value, target, NULL, why, sizeof why) != 0) {
            snprintf(err, errlen, "built-in default of %s: %s", s->name, why);
            return -1;
        }
    }
    return 0;
}

int config_defaults(const config_setting *table, void *target, char *err, size_t errlen)
{
    if (apply_defaults(table, target, err, errlen) != 0)
        return -1;
    for (const config_setting *s = table; s->name; s++) {
        if (!s->default_value) {
            snprintf(err, errlen, "required setting '%s' has no default (%s)", s->name, s->help);
            return -1;
        }
    }
    return 0;
}

int config_line_of(const char *path, const char *key)
{
    char line[1024];
    int lineno = 0, found = 0;
    FILE *f = fopen(path, "r");

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#'), *eq;
        lineno++;
        if (hash)
            *hash = '\0';
        if ((eq = strchr(line, '=')) != NULL) {
            *eq = '\0';
            found = strcmp(trim(line), key) == 0 ? lineno : 0;
        }
    }
    fclose(f);
    return found;
}

/* The absolute directory of path, without resolving symlinks: the
 * directory as the operator named it. */
static int file_dir(const char *path, char *out, size_t cap, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/'), *rel;
    char dir[CONFIG_STR_MAX], cwd[4096];

    if (snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 0, path) >= (int)sizeof dir ||
        (path[0] == '/' && snprintf(out, cap, "%s", dir[0] ? dir : "/") >= (int)cap)) {
        snprintf(err, errlen, "%s: the config file's directory path is too long", path);
        return -1;
    }
    if (path[0] == '/')
        return 0;
    if (!getcwd(cwd, sizeof cwd)) {
        snprintf(err, errlen, "%s: cannot find the working directory to resolve relative paths: %s",
                 path, strerror(errno));
        return -1;
    }
    for (rel = dir; rel[0] == '.' && (rel[1] == '/' || rel[1] == '\0');)
        for (rel++; *rel == '/'; rel++)
            ;
    if (snprintf(out, cap, "%s%s%s", cwd, rel[0] && strcmp(cwd, "/") != 0 ? "/" : "", rel) >=
        (int)cap) {
        snprintf(err, errlen, "%s: the config file's directory path is too long", path);
        return -1;
    }
    return 0;
}

int config_load(const char *path, const config_setting *table, void *target, char *err,
                size_t errlen)
{
    bool seen[64] = {false};
    char *line = NULL, why[400], base_dir[CONFIG_STR_MAX];
    size_t cap = 0;
    int lineno = 0, rc = -1;
    FILE *f = NULL;

    if (apply_defaults(table, target, err, errlen) != 0)
        return -1;
    if (!(f = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: cannot open config: %s", path, strerror(errno));
        return -1;
    }
    if (file_dir(path, base_dir, sizeof base_dir, err, errlen) != 0) {
        fclose(f);
        return -1;
    }
    /* getline: a long line (a long comment, say) is one line, not several. */
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        int idx = parse_line(line, table, target, base_dir, why, sizeof why);
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

int config_changed(const config_setting *table, const void *a, const void *b,
                   const char *const *skip, char *out, size_t cap)
{
    size_t used = 0;
    int n = 0;

    if (cap)
        out[0] = '\0';
    for (const config_setting *s = table; s->name; s++) {
        const char *pa = (const char *)a + s->offset, *pb = (const char *)b + s->offset;
        bool skipped = false;
        for (const char *const *k = skip; k && *k && !skipped; k++)
            skipped = strcmp(*k, s->name) == 0;
        bool differs = s->type == CONFIG_STR || s->type == CONFIG_PATH || s->type == CONFIG_DATABASE
                           ? strcmp(pa, pb) != 0
                           : memcmp(pa, pb, sizeof(int64_t)) != 0;
        if (skipped || !differs)
            continue;
        n++;
        if (used < cap) {
            int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", s->name);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return n;
}
