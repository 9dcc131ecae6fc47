/* inbox: a bounded queue of messages: between Paho's receive thread and
 * the committer, and inside the committer between its preparing thread
 * and the one that stores (committer.h).
 *
 * Paho pushes each message and returns; the committer takes everything
 * waiting and stores it in one transaction (group commit). When the inbox
 * is full, push blocks Paho's thread: no more is read from the socket, and
 * the broker keeps the backlog in our session queue. Memory stays bounded
 * by max_messages and max_bytes, whatever the burst — also while the store
 * fails and the committer retries a group instead of taking more
 * (committer.h). */
#ifndef SMP_INBOX_H
#define SMP_INBOX_H

#include <stdbool.h>
#include <stddef.h>

struct prepared_msg;

typedef struct inbox_msg {
    char *topic;
    char *payload;
    size_t len;
    struct prepared_msg *prepared; /* prepare.h; NULL until prepared (or not events) */
    size_t weight;                 /* what it counts against max_bytes */
} inbox_msg;

typedef struct inbox inbox;

inbox *inbox_new(size_t max_messages, size_t max_bytes);
/* Frees the inbox and any message still in it. */
void inbox_free(inbox *q);

/* Copies topic and payload in; blocks while full. Returns -1 when the
 * inbox is closed or out of memory (the message is not taken). */
int inbox_push(inbox *q, const char *topic, const void *payload, size_t len);

/* Moves m[0..n) in, in order (each counted by its weight), blocking while
 * full, and wakes a taker once: a taker that is waiting gets them together
 * (unless they do not fit at once), so a group is what was put together.
 * Each m[i] moved in is emptied; once the inbox is closed the rest are
 * freed and -1 returned. The committer's hand-over from its preparing
 * thread (committer.c). */
int inbox_put(inbox *q, inbox_msg *m, size_t n);

/* Moves up to max waiting messages into out (the caller frees each with
 * inbox_msg_free); blocks until at least one waits. Returns the count, 0
 * once the inbox is closed and empty. */
size_t inbox_take(inbox *q, inbox_msg *out, size_t max);

/* Wakes everyone: pushes fail from now on, takes drain what is left. */
void inbox_close(inbox *q);

/* True once inbox_close was called. */
bool inbox_closed(inbox *q);
/* Sleeps up to timeout_ms, waking early when the inbox is closed: the
 * committer's wait between two tries of a group the store cannot commit,
 * so that shutdown never waits out a backoff. Returns inbox_closed(q). */
bool inbox_wait_closed(inbox *q, long timeout_ms);

void inbox_msg_free(inbox_msg *m);

#endif
