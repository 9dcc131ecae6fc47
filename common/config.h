/* config: key = value files, driven by a table of settings.
 *
 * Each setting has a name, a type, a default (as text, parsed like a file
 * value) and bounds. Lines are "key = value"; '#' starts a comment; blank
 * lines are ignored. An unknown key, a repeated key, a bad value or a
 * missing required setting stops loading with a message naming the file and
 * line. */
#ifndef SMP_CONFIG_H
#define SMP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_STR_MAX 512

typedef enum { CONFIG_STR, CONFIG_INT } config_type;

typedef struct config_setting {
    const char *name;
    config_type type;
    const char *default_value;   /* NULL: required */
    int64_t min, max;            /* CONFIG_INT bounds */
    size_t offset;               /* into the target struct: char[CONFIG_STR_MAX] or int64_t */
    const char *help;            /* shown in errors: what the setting is for */
} config_setting;

/* Applies defaults, then the file at path, to target. Returns 0, or -1 with
 * err filled ("agent.conf:12: port: must be 1..65535"). */
int config_load(const char *path, const config_setting *table, void *target, char *err,
                size_t errlen);

#endif
