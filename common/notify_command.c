/* notify_command: runs the hook program with the event JSON on its stdin.
 * No shell: the setting is split on blanks into the program (an absolute
 * path) and its arguments. The program runs in its own process group so a
 * timeout kills whatever it started; stdout and stderr go to /dev/null (its
 * words never reach the collector's log unquoted). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "monoclock.h"
#include "notify_transport.h"

extern char **environ;

#define ENV_MAX 256

/* Splits line on blanks into argv (pointers into line). Returns argc. */
static int split(char *line, char *argv[NOTIFY_ARGS_MAX + 1])
{
    int n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t", &save); w && n < NOTIFY_ARGS_MAX;
         w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    argv[n] = NULL;
    return n;
}

/* Only async-signal-safe calls between fork and exec. */
static void child(int in_fd, int max_fd, char *const argv[], char *const envp[])
{
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(in_fd, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(126);
    setpgid(0, 0);
    /* The collector's database, sockets and lock are not the hook's. */
    for (int fd = 3; fd < max_fd; fd++)
        close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execve(argv[0], argv, envp);
    _exit(127);
}

int notify__command(const notify_sink *s, int64_t event_id, const char *json,
                    const atomic_bool *cancel, char *detail, size_t cap)
{
    char line[CONFIG_STR_MAX], env_id[64], *argv[NOTIFY_ARGS_MAX + 1], *envp[ENV_MAX + 2];
    int fds[2] = {-1, -1}, status = 0, n = 0, rc = -1;
    long max_fd = sysconf(_SC_OPEN_MAX);
    pid_t pid;

    snprintf(line, sizeof line, "%s", s->target);
    if (split(line, argv) == 0 || argv[0][0] != '/') {
        snprintf(detail, cap, "notify_command: give the program's absolute path");
        return -1;
    }
    /* The event id also as an environment variable, for a hook that only
     * wants to de-duplicate. */
    snprintf(env_id, sizeof env_id, "SMP_NOTIFY_EVENT_ID=%" PRId64, event_id);
    for (char **e = environ; *e && n < ENV_MAX; e++)
        if (strncmp(*e, "SMP_NOTIFY_EVENT_ID=", 20) != 0)
            envp[n++] = *e;
    envp[n++] = env_id;
    envp[n] = NULL;
    if (max_fd < 0 || max_fd > 4096)
        max_fd = 4096;
    if (pipe(fds) != 0) {
        snprintf(detail, cap, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    if ((pid = fork()) < 0) {
        snprintf(detail, cap, "fork: %s", strerror(errno));
        goto cleanup;
    }
    if (pid == 0)
        child(fds[0], (int)max_fd, argv, envp);
    close(fds[0]);
    fds[0] = -1;
    /* The payload is at most a few KiB, under the pipe's buffer: the write
     * completes whether the hook reads it or not. EPIPE (it exited without
     * reading) is its business: its exit status decides. */
    size_t len = strlen(json), off = 0;
    while (off < len) {
        ssize_t w = write(fds[1], json + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break;
        off += (size_t)w;
    }
    close(fds[1]);
    fds[1] = -1;

    int64_t deadline = mono_ms() + s->timeout_s * 1000;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            snprintf(detail, cap, "waitpid: %s", strerror(errno));
            goto cleanup;
        }
        bool cancelled = cancel && atomic_load(cancel);
        if (mono_ms() >= deadline || cancelled) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            if (cancelled)
                snprintf(detail, cap, "stopped: the collector is stopping");
            else
                snprintf(detail, cap, "killed after notify_command_timeout_s = %lld s",
                         (long long)s->timeout_s);
            goto cleanup;
        }
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        snprintf(detail, cap, "exit status 0");
        rc = 0;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        snprintf(detail, cap, "exit status 127 (could not run the program?)");
    } else if (WIFEXITED(status)) {
        snprintf(detail, cap, "exit status %d", WEXITSTATUS(status));
    } else {
        snprintf(detail, cap, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }

cleanup:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return rc;
}
