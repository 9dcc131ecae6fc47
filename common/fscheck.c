#include "fscheck.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fscheck_readable_file(const char *path, char *why, size_t whylen)
{
    struct stat st;

    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        return -1;
    }
    return 0;
}

void fscheck_dirname(const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

int fscheck_writable_dir(const char *dir, bool may_create, char *why, size_t whylen)
{
    char parent[4096];
    struct stat st;

    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || !may_create) {
            snprintf(why, whylen, "cannot use: %s", strerror(errno));
            return -1;
        }
        fscheck_dirname(dir, parent, sizeof parent);
        int e = 0;
        if (stat(parent, &st) != 0)
            e = errno;
        else if (!S_ISDIR(st.st_mode))
            e = ENOTDIR;
        else if (access(parent, W_OK | X_OK) != 0)
            e = errno;
        if (e) {
            snprintf(why, whylen, "does not exist and cannot be created in %s: %s", parent,
                     strerror(e));
            return -1;
        }
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "not a directory");
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(why, whylen, "not writable: %s", strerror(errno));
        return -1;
    }
    return 0;
}
