#include "notify_retry.h"

void notify_retry_init(notify_retry *r, int64_t first_ms, int64_t max_ms)
{
    r->first_ms = first_ms;
    r->max_ms = max_ms < first_ms ? first_ms : max_ms;
    r->delay_ms = first_ms;
    r->next_ms = 0;
    r->failures = 0;
}

bool notify_retry_due(const notify_retry *r, int64_t now_ms) { return now_ms >= r->next_ms; }

int64_t notify_retry_wait_ms(const notify_retry *r, int64_t now_ms)
{
    return now_ms >= r->next_ms ? 0 : r->next_ms - now_ms;
}

void notify_retry_failed(notify_retry *r, int64_t now_ms)
{
    r->next_ms = now_ms + r->delay_ms;
    r->delay_ms = r->delay_ms > r->max_ms / 2 ? r->max_ms : r->delay_ms * 2;
    r->failures++;
}

void notify_retry_ok(notify_retry *r)
{
    r->delay_ms = r->first_ms;
    r->next_ms = 0;
    r->failures = 0;
}
