/* metrics: the collector's Prometheus endpoint (GET /metrics, text format
 * 0.0.4; docs/collector.md "Metrics").
 *
 * Two sources. Ingest counters live in memory (metrics_counters): the
 * committer adds a group's results after its COMMIT, so smp_records_stored_total
 * counts exactly what is durable. They are this process's own and carry a
 * collector="<name>" label, so the counters of several collectors add up.
 * Everything else is read per scrape from the database over the server's
 * own read-only connection, so a scrape never takes the writer's lock and
 * cannot change the database. Those families describe the whole fleet's
 * database: with several collectors on one PostgreSQL each serves the same
 * numbers, and a dashboard takes max, not sum, across collectors.
 *
 * The HTTP server is libmicrohttpd with its own polling thread; it binds to
 * metrics_bind (127.0.0.1 by default): the numbers name clinics and devices,
 * and nothing here authenticates the scraper. */
#ifndef SMP_METRICS_H
#define SMP_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sqldb.h"

/* Ingest counters since start-up. Written by the committing threads (and the
 * checkpoint counts by the verifier thread), read by the HTTP thread:
 * relaxed atomics, each value is independent. */
typedef struct metrics_counters {
    atomic_uint_fast64_t messages_received;  /* handed to ingest */
    atomic_uint_fast64_t records_stored;     /* inserted and committed */
    atomic_uint_fast64_t duplicates;         /* same seq, same hash: acked, not stored */
    atomic_uint_fast64_t conflicts;          /* same seq, other hash (R9) */
    atomic_uint_fast64_t quarantined;        /* messages rejected as a whole */
    atomic_uint_fast64_t groups_committed;   /* group transactions committed */
    atomic_uint_fast64_t commit_failures;    /* groups rolled back (not acked) */
    atomic_uint_fast64_t group_conflicts;    /* groups run again at once after a
                                              * retryable failure (committer.h) */
    atomic_uint_fast64_t storage_failing;    /* gauge: 1 while the committer retries a group
                                              * the store cannot commit (committer.h) */
    /* gauge: messages the committer took from its inbox and has not
     * finished with (stored, refused or given up); the verifier holds back
     * while it is not 0 (verifier.h). */
    atomic_uint_fast64_t messages_waiting;
    /* Checkpoint signatures this collector's verifier marked (verifier.h),
     * added after the commit that marked them. */
    atomic_uint_fast64_t checkpoints_verified;
    atomic_uint_fast64_t checkpoints_failed;  /* R9 raised */
} metrics_counters;

/* Zeroes every counter. */
void metrics_counters_init(metrics_counters *c);

/* Writes v escaped as a Prometheus label value (\ → \\, " → \", newline →
 * \n; a byte that is not UTF-8 → U+FFFD, so the value is always valid
 * UTF-8) into out, NUL-terminated; when outlen is short, only whole
 * characters and whole escapes are kept. Returns the length the full
 * escaped text needs (without the NUL), like snprintf. */
size_t metrics_escape_label(const char *v, char *out, size_t outlen);

/* Renders the whole exposition: counters from c labelled with collector
 * (this process's name), the rest from db (may be NULL: the database
 * families are then left out and smp_metrics_db_ok is 0; likewise when a
 * query fails). On success *out is a malloc'd text the caller frees, *len
 * its length; returns -1 when out of memory. */
int metrics_render(sqldb *db, const metrics_counters *c, const char *collector, char **out,
                   size_t *len);

typedef struct metrics_server metrics_server;

/* Opens the database at db_target read-only (db_open_readonly) and serves
 * /metrics on bind_addr:port (an IPv4 or IPv6 address), its counters
 * labelled collector (copied). Borrows c, which must outlive the server.
 * Returns 0 and *out, or -1 with err naming the setting to fix. */
int metrics_start(const char *bind_addr, int port, const char *db_target, const char *collector,
                  const metrics_counters *c, metrics_server **out, char *err, size_t errlen);
/* Stops the HTTP thread and closes the connection. NULL is a no-op. */
void metrics_stop(metrics_server *m);

#endif
