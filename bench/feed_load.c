/* feed_load: K producers on the agent's feed socket, each sending one event
 * line and waiting for its answer before the next, for SECONDS.
 *
 *   feed_load SOCKET K SECONDS
 *
 * Measures the journal's group commit: the agent answers `ok <seq>` only
 * after fsync, and syncs once per loop turn for every producer's lines.
 * Prints "feed_load: producers=K answered=N ok=M seconds=S rate=R/s
 * mean_latency_ms=L"; exits 1 when any answer was not `ok`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One producer: returns its counts through fd. */
static int producer(const char *path, int id, int start_fd, double seconds, int out_fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char line[256], buf[512];
    long answered = 0, ok = 0;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "feed_load: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char go;
    if (read(start_fd, &go, 1) < 0) /* EOF when the parent starts everyone */
        return 1;
    double t0 = now_s();
    size_t have = 0;
    for (long i = 0; now_s() - t0 < seconds; i++) {
        int n = snprintf(line, sizeof line,
                         "{\"type\":\"grip.assign\",\"grip_id\":\"grip-%d-%ld\",\"load_id\":\"L-%d\","
                         "\"session_id\":\"S-%d-%ld\"}\n",
                         id, i % 7, id, id, i / 50);
        if (write(s, line, (size_t)n) != n) {
            fprintf(stderr, "feed_load: write: %s\n", strerror(errno));
            return 1;
        }
        char *nl;
        while (!(nl = memchr(buf, '\n', have))) {
            ssize_t r = read(s, buf + have, sizeof buf - 1 - have);
            if (r <= 0) {
                fprintf(stderr, "feed_load: agent closed the socket\n");
                return 1;
            }
            have += (size_t)r;
        }
        answered++;
        if (strncmp(buf, "ok ", 3) == 0)
            ok++;
        else if (ok == 0 || answered - ok < 3)
            fprintf(stderr, "feed_load: answer: %.*s\n", (int)(nl - buf), buf);
        have -= (size_t)(nl + 1 - buf);
        memmove(buf, nl + 1, have);
    }
    dprintf(out_fd, "%ld %ld %.6f\n", answered, ok, now_s() - t0);
    close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4 || atoi(argv[2]) < 1 || atoi(argv[2]) > 32 || atof(argv[3]) <= 0) {
        fprintf(stderr, "usage: feed_load SOCKET K(1..32) SECONDS\n");
        return 2;
    }
    int k = atoi(argv[2]);
    double secs = atof(argv[3]);
    int start[2], res[2];
    pid_t pids[32];

    if (pipe(start) != 0 || pipe(res) != 0)
        return 1;
    for (int i = 0; i < k; i++) {
        fflush(NULL);
        if ((pids[i] = fork()) < 0)
            return 1;
        if (pids[i] == 0) {
            close(start[1]);
            close(res[0]);
            _exit(producer(argv[1], i, start[0], secs, res[1]));
        }
    }
    close(start[0]);
    close(res[1]);
    usleep(200000); /* let every producer connect */
    close(start[1]);

    long answered = 0, ok = 0;
    double longest = 0;
    int status = 0;
    FILE *r = fdopen(res[0], "r");
    long a, o;
    double t;
    while (r && fscanf(r, "%ld %ld %lf", &a, &o, &t) == 3) {
        answered += a, ok += o;
        if (t > longest)
            longest = t;
    }
    for (int i = 0; i < k; i++) {
        int ws;
        if (waitpid(pids[i], &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            status = 1;
    }
    if (longest <= 0)
        longest = secs;
    printf("feed_load: producers=%d answered=%ld ok=%ld seconds=%.3f rate=%.0f/s mean_latency_ms=%.2f\n",
           k, answered, ok, longest, (double)ok / longest,
           answered ? 1000.0 * longest * k / (double)answered : 0.0);
    return status || ok != answered || answered == 0;
}
