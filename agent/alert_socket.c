#include "alert_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

typedef struct client {
    int fd;
    size_t len;             /* unsent bytes in buf */
    char buf[ALERT_CLIENT_BUF];
} client;

struct alert_socket {
    int listen_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    client *c[ALERT_CLIENTS];
};

int alert_socket_open(const char *path, alert_socket **out, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    alert_socket *s = calloc(1, sizeof *s);
    struct stat st;

    *out = NULL;
    if (!s)
        return -1;
    s->listen_fd = -1;
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(err, errlen, "alerts_socket %s: longer than %zu bytes", path, sizeof addr.sun_path - 1);
        goto fail;
    }
    strcpy(addr.sun_path, path);
    strcpy(s->path, path);
    /* A socket left by a previous run is ours to replace; anything else is not. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        chmod(path, 0660) != 0 || listen(s->listen_fd, 16) != 0) {
        snprintf(err, errlen, "alerts_socket %s: %s", path, strerror(errno));
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    free(s);
    return -1;
}

static void drop(alert_socket *s, int i)
{
    close(s->c[i]->fd);
    free(s->c[i]);
    s->c[i] = NULL;
}

void alert_socket_close(alert_socket *s)
{
    if (!s)
        return;
    for (int i = 0; i < ALERT_CLIENTS; i++) {
        if (s->c[i])
            drop(s, i);
    }
    close(s->listen_fd);
    unlink(s->path);
    free(s);
}

size_t alert_socket_pollfds(alert_socket *s, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    if (n < cap)
        fds[n++] = (struct pollfd){s->listen_fd, POLLIN, 0};
    for (int i = 0; i < ALERT_CLIENTS && n < cap; i++) {
        if (s->c[i])
            fds[n++] = (struct pollfd){s->c[i]->fd, (short)(POLLIN | (s->c[i]->len ? POLLOUT : 0)), 0};
    }
    return n;
}

/* Writes what the socket takes now; false when the client is gone. */
static bool write_some(client *c)
{
    while (c->len > 0) {
        ssize_t w = send(c->fd, c->buf, c->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        memmove(c->buf, c->buf + w, c->len - (size_t)w);
        c->len -= (size_t)w;
    }
    return true;
}

void alert_socket_send(alert_socket *s, int i, const char *line, size_t len)
{
    client *c = s->c[i];
    if (!c)
        return;
    if (c->len + len > sizeof c->buf) {
        log_warn("alerts_socket client not reading (%zu bytes unsent); disconnecting it", c->len);
        drop(s, i);
        return;
    }
    memcpy(c->buf + c->len, line, len);
    c->len += len;
    if (!write_some(c))
        drop(s, i);
}

void alert_socket_broadcast(alert_socket *s, const char *line, size_t len)
{
    for (int i = 0; i < ALERT_CLIENTS; i++)
        alert_socket_send(s, i, line, len);
}

int alert_socket_clients(const alert_socket *s)
{
    int n = 0;
    for (int i = 0; i < ALERT_CLIENTS; i++)
        n += s->c[i] != NULL;
    return n;
}

static void accept_clients(alert_socket *s, alert_socket_replay_fn replay, void *ctx)
{
    int fd;
    while ((fd = accept(s->listen_fd, NULL, NULL)) >= 0) {
        int i = 0;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        while (i < ALERT_CLIENTS && s->c[i])
            i++;
        if (i == ALERT_CLIENTS || !(s->c[i] = calloc(1, sizeof *s->c[i]))) {
            static const char busy[] = "{\"v\":1,\"error\":\"too many alerts clients connected\"}\n";
            if (send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) { /* closing anyway */ }
            close(fd);
            continue;
        }
        s->c[i]->fd = fd;
        replay(ctx, s, i);
    }
}

static int find(const alert_socket *s, int fd)
{
    for (int i = 0; i < ALERT_CLIENTS; i++) {
        if (s->c[i] && s->c[i]->fd == fd)
            return i;
    }
    return -1;
}

void alert_socket_service(alert_socket *s, const struct pollfd *fds, size_t n,
                          alert_socket_replay_fn replay, void *ctx)
{
    char sink[512];

    for (size_t k = 0; k < n; k++) {
        int i;
        if (!fds[k].revents)
            continue;
        if (fds[k].fd == s->listen_fd) {
            accept_clients(s, replay, ctx);
            continue;
        }
        if ((i = find(s, fds[k].fd)) < 0)
            continue;
        if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) {
            /* Clients have nothing to say; EOF or an error means gone. */
            ssize_t got = recv(s->c[i]->fd, sink, sizeof sink, MSG_DONTWAIT);
            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                drop(s, i);
                continue;
            }
        }
        if (!write_some(s->c[i]))
            drop(s, i);
    }
}
