/* rusage_run: runs a command and writes its peak RSS and CPU time.
 *
 *   rusage_run OUTFILE CMD [ARGS...]
 *
 * When CMD exits, OUTFILE gets one line
 *   maxrss_kb=K user_s=U sys_s=S cpu_s=C wall_s=W exit=E
 * from wait4(): maxrss is the kernel's high-water RSS of the process (what
 * /proc/PID/status calls VmHWM). SIGTERM and SIGINT are passed on to CMD,
 * so stopping this process stops the command and still records it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig)
{
    if (child > 0)
        kill(child, sig);
}

int main(int argc, char **argv)
{
    struct timespec t0, t1;
    struct rusage ru;
    struct sigaction sa;
    int status = 0;

    if (argc < 3) {
        fprintf(stderr, "usage: rusage_run OUTFILE CMD [ARGS...]\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("rusage_run: fork");
        return 1;
    }
    if (pid == 0) {
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        execvp(argv[2], argv + 2);
        perror("rusage_run: exec");
        _exit(127);
    }
    child = pid;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("rusage_run: wait4");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double u = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    double s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double w = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    FILE *f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "maxrss_kb=%ld user_s=%.3f sys_s=%.3f cpu_s=%.3f wall_s=%.3f exit=%d\n", ru.ru_maxrss,
            u, s, u + s, w, code);
    fclose(f);
    return code;
}
