/* pki_files: paths and writes of `smpctl pki`. Keys and certificates are
 * created once and never replaced (a lost key cannot be recovered); only
 * the index and the CRL are replaced, and always atomically. */
#include "pki_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/error.h>

int pki_tls_fail(char *err, size_t errlen, const char *what, int ret)
{
    char reason[160];

    mbedtls_strerror(ret, reason, sizeof reason);
    snprintf(err, errlen, "%s: %s (mbedTLS -0x%04x)", what, reason, (unsigned)-ret);
    return -1;
}

int pki_path(char *out, const char *dir, const char *name, const char *ext, char *err,
             size_t errlen)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, ext);

    if (n < 0 || n >= PATH_MAX) {
        snprintf(err, errlen, "path %s/%s%s is too long; use a shorter --dir", dir, name, ext);
        return -1;
    }
    return 0;
}

/* Creates path (and missing parents) as 0755; an existing directory is left
 * as its owner set it. */
int pki_make_dir(const char *path, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    struct stat st;

    if (strlen(path) >= sizeof tmp) {
        snprintf(err, errlen, "path %s is too long; use a shorter --dir", path);
        return -1;
    }
    strcpy(tmp, path);
    for (char *p = tmp + 1; ; p++) {
        char saved = *p;
        if (saved != '/' && saved != '\0')
            continue;
        *p = '\0';
        if (mkdir(tmp, PKI_DIR_MODE) == 0) {
            /* mkdir honours the umask; certificates must be world-readable. */
            chmod(tmp, PKI_DIR_MODE);
        } else if (errno != EEXIST || stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "cannot create directory %s: %s; check the --dir path",
                     tmp, errno == EEXIST ? "exists and is not a directory" : strerror(errno));
            return -1;
        }
        *p = saved;
        if (saved == '\0')
            return 0;
    }
}

int pki_refuse_existing(const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (lstat(path, &st) == 0) {
        snprintf(err, errlen, "%s already exists; remove it or use another --dir "
                 "(smpctl pki never overwrites a key or certificate)", path);
        return -1;
    }
    return 0;
}

int pki_need_existing(const char *path, const char *dir, char *err, size_t errlen)
{
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "cannot read %s (%s); run smpctl pki init --dir %s first",
                 path, strerror(errno), dir);
        return -1;
    }
    return 0;
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    char *slash;
    int fd, rc;

    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A temp file next to path holding data with mode and group, fsynced.
 * Returns its fd (tmp filled) or -1. */
static int write_temp(const char *path, char tmp[PATH_MAX], const void *data, size_t len,
                      mode_t mode, gid_t gid, char *err, size_t errlen)
{
    int fd;

    if (snprintf(tmp, PATH_MAX, "%s.tmp.XXXXXX", path) >= PATH_MAX) {
        snprintf(err, errlen, "path %s is too long; use a shorter --dir", path);
        return -1;
    }
    fd = mkstemp(tmp); /* created 0600, so a key is never briefly readable */
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s; check permissions of its directory",
                 tmp, strerror(errno));
        return -1;
    }
    if ((gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) || fchmod(fd, mode) != 0 ||
        write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    return fd;
}

/* link() fails with EEXIST rather than replacing, so a file that appeared
 * meanwhile is never overwritten. */
int pki_write_new_file(const char *path, const void *data, size_t len, mode_t mode, gid_t gid,
                       char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    int fd, rc = -1;

    fd = write_temp(path, tmp, data, len, mode, gid, err, errlen);
    if (fd < 0)
        return -1;
    if (link(tmp, path) != 0) {
        snprintf(err, errlen, "cannot create %s: %s; remove it or use another --dir",
                 path, strerror(errno));
        goto cleanup;
    }
    rc = 0;
cleanup:
    close(fd);
    unlink(tmp);
    if (rc == 0 && fsync_dir_of(path) != 0) {
        snprintf(err, errlen, "cannot fsync the directory of %s: %s", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

int pki_replace_file(const char *path, const void *data, size_t len, mode_t mode, char *err,
                     size_t errlen)
{
    char tmp[PATH_MAX];
    int fd;

    fd = write_temp(path, tmp, data, len, mode, (gid_t)-1, err, errlen);
    if (fd < 0)
        return -1;
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot replace %s: %s; check permissions of its directory",
                 path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (fsync_dir_of(path) != 0) {
        snprintf(err, errlen, "cannot fsync the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int pki_read_text(const char *path, size_t max, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    *out = NULL;
    if (f == NULL) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    buf = malloc(max + 2);
    if (buf == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    n = fread(buf, 1, max + 1, f);
    if (ferror(f)) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    if (n > max) {
        snprintf(err, errlen, "%s is larger than %zu bytes; is it the right file?", path, max);
        goto fail;
    }
    buf[n] = '\0';
    fclose(f);
    *out = buf;
    return 0;
fail:
    free(buf);
    fclose(f);
    return -1;
}

int pki_lock(const char *dir, int *fd, char *err, size_t errlen)
{
    char path[PATH_MAX];

    *fd = -1;
    if (pki_path(path, dir, ".lock", "", err, errlen) != 0)
        return -1;
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0) {
        snprintf(err, errlen, "cannot open the lock file %s: %s; check permissions of --dir",
                 path, strerror(errno));
        return -1;
    }
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        close(*fd);
        *fd = -1;
        return -1;
    }
    return 0;
}

void pki_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}
