/* notify_retry: when a notification sink is tried again. Each sink has its
 * own (notify_sender.c): a sink that is down waits 1 s, then 2, 4, ... up
 * to 5 min between tries of its oldest event, while the other sinks go on.
 * Pure state on an injected clock (monotonic ms), so it is tested alone. */
#ifndef SMP_NOTIFY_RETRY_H
#define SMP_NOTIFY_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define NOTIFY_RETRY_FIRST_MS 1000
#define NOTIFY_RETRY_MAX_MS   300000

typedef struct notify_retry {
    int64_t first_ms, max_ms;
    int64_t delay_ms;     /* the wait after the next failure */
    int64_t next_ms;      /* no try before this (0: now) */
    int64_t failures;     /* in a row */
} notify_retry;

void notify_retry_init(notify_retry *r, int64_t first_ms, int64_t max_ms);
/* True when a try may start at now_ms. */
bool notify_retry_due(const notify_retry *r, int64_t now_ms);
/* ms until the next try may start (0 when due). */
int64_t notify_retry_wait_ms(const notify_retry *r, int64_t now_ms);
/* A try failed at now_ms: the next waits delay_ms, and the delay doubles
 * up to max_ms. */
void notify_retry_failed(notify_retry *r, int64_t now_ms);
/* The sink accepted: the next event goes at once, and a later failure
 * waits first_ms again. */
void notify_retry_ok(notify_retry *r);

#endif
