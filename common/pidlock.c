#include "pidlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The whole file, from byte 0 to any length. */
static struct flock whole_file(short type)
{
    struct flock fl = {0};
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    return fl;
}

static pid_t query(int fd, char *err, size_t errlen, const char *path)
{
    struct flock fl = whole_file(F_WRLCK);

    if (fcntl(fd, F_GETLK, &fl) != 0) {
        snprintf(err, errlen, "lock file %s: cannot query the lock: %s", path, strerror(errno));
        return -1;
    }
    return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

int pidlock_acquire(const char *path, const char *note, pid_t *holder, char *err, size_t errlen)
{
    struct flock fl = whole_file(F_WRLCK);
    char text[256];
    int fd, len;

    *holder = 0;
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        snprintf(err, errlen, "lock file %s: cannot open: %s; check that its directory exists "
                 "and is writable", path, strerror(errno));
        return -1;
    }
    if (fcntl(fd, F_SETLK, &fl) != 0) {
        int e = errno;
        if (e == EACCES || e == EAGAIN) {
            pid_t p = query(fd, err, errlen, path);
            *holder = p > 0 ? p : 0;
            snprintf(err, errlen, "lock file %s is held by pid %ld", path, (long)*holder);
        } else {
            snprintf(err, errlen, "lock file %s: cannot lock: %s", path, strerror(e));
        }
        close(fd);
        return -1;
    }
    /* Informational only: the kernel's lock is the truth. */
    len = snprintf(text, sizeof text, "%ld %s\n", (long)getpid(), note ? note : "");
    if (len >= (int)sizeof text)
        len = (int)sizeof text - 1;
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
        snprintf(err, errlen, "lock file %s: cannot write: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

pid_t pidlock_holder(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    pid_t p;

    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "lock file %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    p = query(fd, err, errlen, path);
    close(fd);
    return p;
}

void pidlock_note(const char *path, char *out, size_t cap)
{
    char text[256], *sp, *nl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? pread(fd, text, sizeof text - 1, 0) : -1;

    if (fd >= 0)
        close(fd);
    out[0] = '\0';
    if (n <= 0)
        return;
    text[n] = '\0';
    if ((nl = strchr(text, '\n')))
        *nl = '\0';
    if ((sp = strchr(text, ' ')))
        snprintf(out, cap, "%s", sp + 1);
}

void pidlock_release(int fd)
{
    if (fd >= 0)
        close(fd);
}
