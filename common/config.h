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

/* CONFIG_DEC1: a decimal with at most one place ("121", "121.5"), held as
 * tenths in an int64_t (1215); min and max are in tenths too.
 * CONFIG_PATH: a file or directory, held like CONFIG_STR. A relative path
 * set in a file is resolved against that file's directory (made absolute
 * from the working directory when the file was named relatively), so a
 * daemon finds its files wherever it was started from. Empty stays empty
 * ("none"); defaults are taken as they are.
 * CONFIG_DATABASE: a database, held like CONFIG_STR: a postgresql:// (or
 * postgres://) URI is taken as it is, anything else is a SQLite file path
 * resolved as CONFIG_PATH. */
typedef enum { CONFIG_STR, CONFIG_INT, CONFIG_DEC1, CONFIG_PATH, CONFIG_DATABASE } config_type;

typedef struct config_setting {
    const char *name;
    config_type type;
    const char *default_value;   /* NULL: required */
    int64_t min, max;            /* CONFIG_INT bounds */
    size_t offset;               /* into the target struct: char[CONFIG_STR_MAX] (STR, PATH, DATABASE) or int64_t */
    const char *help;            /* shown in errors: what the setting is for */
} config_setting;

/* Applies defaults, then the file at path, to target. Returns 0, or -1 with
 * err filled ("agent.conf:12: port: must be 1..65535"). */
int config_load(const char *path, const config_setting *table, void *target, char *err,
                size_t errlen);

/* Applies only the built-in defaults (for a file that is optional and
 * absent). Returns 0, or -1 with err filled when a default is broken or a
 * setting is required. */
int config_defaults(const config_setting *table, void *target, char *err, size_t errlen);

/* The line of path that sets key, 0 when none does or the file cannot be
 * read: for checks across settings made after loading, so their errors can
 * still name the line. */
int config_line_of(const char *path, const char *key);

/* Writes the names of the settings whose values differ between a and b
 * (two targets of table), ", "-separated, into out, leaving out those in
 * skip (NULL-terminated; NULL: none). Returns how many differ. For a
 * reload: what changed on disk but needs a restart. */
int config_changed(const config_setting *table, const void *a, const void *b,
                   const char *const *skip, char *out, size_t cap);

#endif
