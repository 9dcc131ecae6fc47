/* notify_sink: where alert events are sent besides MQTT — a webhook, an
 * e-mail over SMTP, a command hook (docs/collector.md, "Notifications").
 * One sink of each kind, each a group of collector settings with its own
 * filter. The delivery itself (notify_deliver) is shared by smp-collector's
 * sender threads and `smpctl alerts notify-test`.
 *
 * Secrets (the webhook's HMAC key, the SMTP credentials) are read from
 * their files at each delivery, so a rotated secret needs no restart; they
 * never reach an error text or a log, and neither do a URL's user, path or
 * query (notify_target_display). */
#ifndef SMP_NOTIFY_SINK_H
#define SMP_NOTIFY_SINK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "notify_filter.h"

typedef enum { NOTIFY_WEBHOOK, NOTIFY_SMTP, NOTIFY_COMMAND, NOTIFY_NSINKS } notify_kind;

#define NOTIFY_ARGS_MAX 32   /* words of a command hook */

typedef struct notify_sink {
    notify_kind kind;
    bool enabled;
    notify_filter filter;
    char target[CONFIG_STR_MAX];       /* webhook / SMTP URL, or the command line */
    char secret_file[CONFIG_STR_MAX];  /* webhook: HMAC key; SMTP: "user:password" ("" none) */
    char from[CONFIG_STR_MAX];         /* SMTP envelope and header sender */
    char to[CONFIG_STR_MAX];           /* SMTP recipients, ','-separated */
    int64_t timeout_s;                 /* one delivery attempt at most */
} notify_sink;

typedef struct notify_sinks {
    notify_sink sink[NOTIFY_NSINKS];   /* indexed by notify_kind */
} notify_sinks;

/* "webhook", "smtp", "command": the outbox's sink column, metric labels. */
const char *notify_sink_name(notify_kind kind);
/* 0 and *out for a sink name, -1 for none. */
int notify_sink_kind(const char *name, notify_kind *out);

/* Bit k set for each enabled sink k whose filter selects the event. */
unsigned notify_sinks_route(const notify_sinks *s, const char *clinic, const char *rule,
                            const char *severity, const char *event);

/* What logs may show of a sink: "https://hooks.example.org:443/…" (no user,
 * password, path or query: webhook URLs often carry a token in the path)
 * or the command's program. */
void notify_target_display(const notify_sink *s, char *out, size_t cap);

/* Once per process, before any thread delivers (libcurl's global init).
 * Returns 0, or -1 with err. */
int notify_global_init(char *err, size_t errlen);

/* One delivery attempt of an event (json: the payload, event_id its stable
 * id): HTTP POST, SMTP mail, or the command with json on its stdin. 0 when
 * the sink accepted it (HTTP 2xx, SMTP 250 after DATA, exit status 0), with
 * detail saying how ("HTTP 204"); -1 with detail saying why not. *cancel
 * (may be NULL) set by another thread aborts the attempt early. */
int notify_deliver(const notify_sink *s, int64_t event_id, const char *json,
                   const atomic_bool *cancel, char *detail, size_t cap);

/* Reads the first line of a secret file (trailing white space dropped)
 * into out. Returns its length, or -1 with err naming the file and setting
 * but never its content. */
int notify_read_secret(const char *path, const char *setting, char *out, size_t cap, char *err,
                       size_t errlen);

#endif
