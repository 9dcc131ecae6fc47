#include "feed.h"

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

#include "event_ids.h"
#include "jsontext.h"
#include "log.h"

#define ANSWER_MAX  400       /* longest answer line handle_line writes */
#define ANSWERS_MAX 16384

typedef struct producer {
    int fd;
    bool skipping;               /* inside an oversized line: drop until '\n' */
    bool eof;                    /* sent all it will; answer it, then drop it */
    size_t in_len, out_len;
    char in[FEED_LINE_MAX];
    char out[ANSWERS_MAX];
} producer;

struct feed {
    int listen_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    producer *p[FEED_CLIENTS];
};

int feed_open(const char *path, feed **out, char *err, size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    feed *f = calloc(1, sizeof *f);
    struct stat st;

    *out = NULL;
    if (!f)
        return -1;
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(err, errlen, "feed_socket %s: longer than %zu bytes", path, sizeof addr.sun_path - 1);
        goto fail;
    }
    strcpy(addr.sun_path, path);
    strcpy(f->path, path);
    /* A socket left by a previous run is ours to replace; anything else is not. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        chmod(path, 0660) != 0 || listen(f->listen_fd, 16) != 0) {
        snprintf(err, errlen, "feed_socket %s: %s", path, strerror(errno));
        goto fail;
    }
    *out = f;
    return 0;
fail:
    if (f->listen_fd > 0)
        close(f->listen_fd);
    free(f);
    return -1;
}

static void drop_producer(feed *f, int i)
{
    close(f->p[i]->fd);
    free(f->p[i]);
    f->p[i] = NULL;
}

void feed_close(feed *f)
{
    if (!f)
        return;
    for (int i = 0; i < FEED_CLIENTS; i++) {
        if (f->p[i])
            drop_producer(f, i);
    }
    close(f->listen_fd);
    unlink(f->path);
    free(f);
}

size_t feed_pollfds(feed *f, struct pollfd *fds, size_t cap)
{
    size_t n = 0;
    if (n < cap)
        fds[n++] = (struct pollfd){f->listen_fd, POLLIN, 0};
    for (int i = 0; i < FEED_CLIENTS && n < cap; i++) {
        if (f->p[i] && !f->p[i]->eof)
            fds[n++] = (struct pollfd){f->p[i]->fd, POLLIN, 0};
    }
    return n;
}

static void answer(producer *p, const char *text)
{
    size_t n = strlen(text);
    if (p->out_len + n + 1 > sizeof p->out)
        return; /* a producer that never reads its answers loses the surplus */
    memcpy(p->out + p->out_len, text, n);
    p->out[p->out_len + n] = '\n';
    p->out_len += n + 1;
}

/* Takes the optional "event_id" out of json (the record schema does not
 * know it: it never leaves the device). Returns 0 with id filled ("" when
 * absent), or -1 with why. */
static int take_event_id(cJSON *json, char id[EVENT_ID_MAX + 1], const char **why)
{
    int n = 0;

    id[0] = '\0';
    if (!cJSON_IsObject(json))
        return 0;
    for (const cJSON *item = json->child; item; item = item->next)
        n += item->string && strcmp(item->string, "event_id") == 0;
    if (n == 0)
        return 0;
    if (n > 1) {
        *why = "duplicate field";
        return -1;
    }
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(json, "event_id");
    int rc = -1;
    if (!cJSON_IsString(v))
        *why = "must be a string";
    else if (!event_id_valid(v->valuestring))
        *why = "must be " EVENT_ID_SYNTAX;
    else {
        snprintf(id, EVENT_ID_MAX + 1, "%s", v->valuestring);
        rc = 0;
    }
    cJSON_Delete(v);
    return rc;
}

static int handle_line(producer *p, char *line, size_t len, feed_submit_fn submit, void *ctx)
{
    char why[160], text[320], id[EVENT_ID_MAX + 1];
    const char *id_why = NULL;
    record_error err;
    record ev;
    cJSON *json;

    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len == 0)
        return 0;
    if (jsontext_precheck(line, len, why, sizeof why) != 0) {
        snprintf(text, sizeof text, "error line: %s", why);
        answer(p, text);
        return 0;
    }
    if (!(json = jsontext_parse(line, len))) {
        answer(p, "error line: not valid JSON");
        return 0;
    }
    if (take_event_id(json, id, &id_why) != 0) {
        cJSON_Delete(json);
        snprintf(text, sizeof text, "error event_id: %s", id_why);
        answer(p, text);
        return 0;
    }
    int rc = record_from_json(json, RECORD_EVENT, "", &ev, &err);
    cJSON_Delete(json);
    if (rc != 0) {
        snprintf(text, sizeof text, "error %s: %s", err.field[0] ? err.field : "line", err.reason);
        answer(p, text);
        return 0;
    }
    if (submit(ctx, &ev, id[0] ? id : NULL, text, sizeof text) != 0)
        return -1;
    answer(p, text);
    return 0;
}

/* Handles complete lines while the answer buffer has room for the worst
 * case, so answers stay one per line and in order; the rest wait for the
 * next turn. Returns 1 if complete lines are left, 0 if not, -1 on error. */
static int consume(producer *p, feed_submit_fn submit, void *ctx)
{
    size_t start = 0;
    char *nl;

    while ((nl = memchr(p->in + start, '\n', p->in_len - start)) != NULL) {
        if (p->out_len + ANSWER_MAX > sizeof p->out)
            break;
        size_t end = (size_t)(nl - p->in);
        *nl = '\0';
        if (p->skipping)
            p->skipping = false;  /* the tail of an oversized line */
        else if (handle_line(p, p->in + start, end - start, submit, ctx) != 0)
            return -1;
        start = end + 1;
    }
    memmove(p->in, p->in + start, p->in_len - start);
    p->in_len -= start;
    if (p->in_len == sizeof p->in && !memchr(p->in, '\n', p->in_len)) {
        char text[96];
        if (!p->skipping) {
            snprintf(text, sizeof text, "error line: longer than %d bytes", FEED_LINE_MAX - 1);
            answer(p, text);
        }
        p->skipping = true;
        p->in_len = 0;
    }
    return memchr(p->in, '\n', p->in_len) != NULL;
}

static void accept_producers(feed *f)
{
    int fd;
    while ((fd = accept(f->listen_fd, NULL, NULL)) >= 0) {
        int i = 0;
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        while (i < FEED_CLIENTS && f->p[i])
            i++;
        if (i == FEED_CLIENTS || !(f->p[i] = calloc(1, sizeof *f->p[i]))) {
            static const char busy[] = "error feed: too many producers connected\n";
            if (write(fd, busy, sizeof busy - 1) < 0) { /* nothing more to do */ }
            close(fd);
            continue;
        }
        f->p[i]->fd = fd;
    }
}

static producer *find(feed *f, int fd, int *idx)
{
    for (int i = 0; i < FEED_CLIENTS; i++) {
        if (f->p[i] && f->p[i]->fd == fd) {
            *idx = i;
            return f->p[i];
        }
    }
    return NULL;
}

int feed_service(feed *f, const struct pollfd *fds, size_t n, feed_submit_fn submit, void *ctx)
{
    int more = 0;

    for (size_t k = 0; k < n; k++) {
        int i;
        producer *p;
        if (!fds[k].revents)
            continue;
        if (fds[k].fd == f->listen_fd) {
            accept_producers(f);
            continue;
        }
        if (!(p = find(f, fds[k].fd, &i)) || p->in_len == sizeof p->in)
            continue;
        ssize_t got = read(p->fd, p->in + p->in_len, sizeof p->in - p->in_len);
        if (got > 0)
            p->in_len += (size_t)got;
        /* A producer may shut down its writing side and still wait for
         * its answers (socat, nc -N): answer at the flush, then drop.
         * An unterminated last line is not an event. */
        else if (got == 0 || (errno != EAGAIN && errno != EINTR))
            p->eof = true;
    }
    for (int i = 0; i < FEED_CLIENTS; i++) {
        int rc = f->p[i] ? consume(f->p[i], submit, ctx) : 0;
        if (rc < 0)
            return -1;
        more |= rc;
    }
    return more;
}

void feed_flush(feed *f)
{
    for (int i = 0; i < FEED_CLIENTS; i++) {
        producer *p = f->p[i];
        if (!p)
            continue;
        if (p->out_len > 0) {
            ssize_t w = write(p->fd, p->out, p->out_len);
            if (w != (ssize_t)p->out_len) {
                if (!p->eof)
                    log_warn("feed producer not reading its answers; disconnecting it");
                drop_producer(f, i);
                continue;
            }
            p->out_len = 0;
        }
        if (p->eof)
            drop_producer(f, i);
    }
}
