/* fscheck: can this process use a path the way a setting means it? For
 * --check-config, which reports every problem before anything is opened. */
#ifndef SMP_FSCHECK_H
#define SMP_FSCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* 0 when path is a regular file this process can read; -1 with why
 * ("cannot read: Permission denied") otherwise. */
int fscheck_readable_file(const char *path, char *why, size_t whylen);

/* 0 when dir is a directory this process can create files in, or, with
 * may_create, does not exist but its parent is one (the daemon creates it
 * with mkdir); -1 with why otherwise. */
int fscheck_writable_dir(const char *dir, bool may_create, char *why, size_t whylen);

/* The directory part of path ("." when there is none) into out. */
void fscheck_dirname(const char *path, char *out, size_t cap);

#endif
