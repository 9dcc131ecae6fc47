/* feed: the machine boundary (docs/agent.md). Local producers (machine
 * controller, cartridge scanner, autoclave log importer) connect to a Unix
 * socket and write one JSON event per line; each line gets one answer line:
 *
 *   ok <seq>               journaled and fsynced (or, for a known event_id, the
 *                          seq its first copy got)
 *   ok coalesced           a usage.counters event folded into the next one (outbox full)
 *   error <field>: <reason>
 *
 * An event may carry "event_id" (event_ids.h), the producer's idempotency
 * key; it is taken out of the event here and handed to submit beside it.
 *
 * Lines are read from every ready producer, journaled together, synced once
 * (group commit), and only then answered (feed_flush). */
#ifndef SMP_FEED_H
#define SMP_FEED_H

#include <poll.h>
#include <stddef.h>

#include "record.h"

#define FEED_LINE_MAX   16384   /* longer lines are refused, the rest of the line skipped */
#define FEED_CLIENTS    32

typedef struct feed feed;

/* What the agent does with one valid event (event_id: NULL or a valid id):
 * fills answer ("ok 12", "error outbox: full; ...") and returns 0, or -1 on
 * a fatal journal error. */
typedef int (*feed_submit_fn)(void *ctx, record *event, const char *event_id, char *answer,
                              size_t cap);

int feed_open(const char *path, feed **out, char *err, size_t errlen);
void feed_close(feed *f);

/* Appends the listening socket and every producer to fds; returns the count. */
size_t feed_pollfds(feed *f, struct pollfd *fds, size_t cap);
/* Accepts, reads and handles complete lines. Returns 1 when lines are left
 * for the next turn (do not sleep), 0 when none, -1 when submit failed. */
int feed_service(feed *f, const struct pollfd *fds, size_t n, feed_submit_fn submit, void *ctx);
/* Sends the answers of everything handled since the last flush. Call after
 * the journal is synced. */
void feed_flush(feed *f);

#endif
