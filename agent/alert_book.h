/* alert_book: the alerts open at the chair — the collector's, learned from
 * smp/v1/dev/<device>/alerts, and the agent's own local wear warnings
 * (wear.h) — and the lines each change makes on the alerts_socket.
 *
 * Every message on the device's alerts topic carries one event and the
 * device's open alerts right after it (collector/device_alerts.h). The
 * event makes its line; the open list is then the truth: an alert the
 * book lacks is added (line "open"), one the book holds and the list no
 * longer does is removed (line "cleared": it ended while we were away).
 * A retained message (delivered on subscribe) is old news for its event,
 * so only its list counts. Re-delivery makes no line twice. */
#ifndef SMP_ALERT_BOOK_H
#define SMP_ALERT_BOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "alert_line.h"

#define ALERT_BOOK_MAX 64   /* beyond it the oldest collector alert is forgotten */

typedef struct alert_book {
    size_t n;
    chair_alert e[ALERT_BOOK_MAX];
} alert_book;

/* Called once per line a change makes (event: "open", "raised", ...). */
typedef void (*alert_book_emit_fn)(void *ctx, const char *event, const chair_alert *a);

void alert_book_init(alert_book *b);

/* Applies one message of the device's alerts topic. Returns 0, or -1 with
 * err when it is not such a message (the book is unchanged). */
int alert_book_apply(alert_book *b, const char *payload, size_t len, bool retained,
                     alert_book_emit_fn emit, void *ctx, char *err, size_t errlen);

/* The open alert of source with rule and cause, or NULL. */
const chair_alert *alert_book_find(const alert_book *b, chair_alert_source source,
                                   const char *rule, const char *cause);

/* A local warning opens / ends (no line: the caller makes it). */
void alert_book_put_local(alert_book *b, const chair_alert *a);
void alert_book_remove_local(alert_book *b, const char *rule, const char *cause);

#endif
