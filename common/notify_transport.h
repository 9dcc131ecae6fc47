/* notify_transport: the three ways notify_deliver sends (notify_webhook.c,
 * notify_smtp.c, notify_command.c). Private to notify_*.c. Same contract as
 * notify_deliver. */
#ifndef SMP_NOTIFY_TRANSPORT_H
#define SMP_NOTIFY_TRANSPORT_H

#include "notify_sink.h"

int notify__webhook(const notify_sink *s, int64_t event_id, const char *json,
                    const atomic_bool *cancel, char *detail, size_t cap);
int notify__smtp(const notify_sink *s, int64_t event_id, const char *json,
                 const atomic_bool *cancel, char *detail, size_t cap);
int notify__command(const notify_sink *s, int64_t event_id, const char *json,
                    const atomic_bool *cancel, char *detail, size_t cap);

/* libcurl progress callback: aborts when *(atomic_bool *)clientp is set. */
int notify__curl_cancel(void *clientp, long long dltotal, long long dlnow, long long ultotal,
                        long long ulnow);

#endif
