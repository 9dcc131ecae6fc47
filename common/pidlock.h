/* pidlock: "only one of us here" for daemons, with the holder's pid.
 *
 * An exclusive POSIX record lock (fcntl F_SETLK) on a small lock file. The
 * kernel drops it when the holder exits however it exits (kill -9, crash),
 * so a lock is never stale, and F_GETLK names the pid holding it without
 * taking it (smp-agent --status). The file also holds the holder's pid and
 * a note for humans (cat, lslocks).
 *
 * POSIX locks belong to the process: taking the same lock twice in one
 * process succeeds, and closing any descriptor of the file drops it. Only
 * this module opens lock files, once per process. */
#ifndef SMP_PIDLOCK_H
#define SMP_PIDLOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Creates path (mode 0600) if needed and locks it; on success writes
 * "<pid> <note>\n" into it and returns the open descriptor (keep it open
 * for as long as the lock should hold). Returns -1 with *holder set to the
 * pid holding it (0 if it cannot be learned) when another process does,
 * and -1 with *holder = 0 and err filled on any other failure. */
int pidlock_acquire(const char *path, const char *note, pid_t *holder, char *err, size_t errlen);

/* The pid holding path's lock, 0 when nobody does (or path does not
 * exist), -1 with err filled when it cannot be told. Never takes the lock. */
pid_t pidlock_holder(const char *path, char *err, size_t errlen);

/* The note the holder wrote (after its pid), "" when none; for messages. */
void pidlock_note(const char *path, char *out, size_t cap);

/* Unlocks and closes (also done by exit). fd < 0 is ignored. */
void pidlock_release(int fd);

#endif
