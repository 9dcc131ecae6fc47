/* rules: the compliance rules R1–R8 and R11 of docs/rules.md (R9/R10 are
 * integrity.c). docs/rules.md says what raises and clears each one.
 *
 * Incremental: ingest calls rules_on_record for every record it actually
 * inserted (never for a duplicate or a conflict, so a resend raises
 * nothing new) inside the message's transaction, and rules_after_batch
 * once per message that stored anything. What the rules must remember
 * lives in the rule_* tables (store_rules.h), so nothing re-reads all
 * records. Time-driven: rules_tick runs the R5 settle, R6 (spore test
 * overdue, escalating warning → critical) and R8 (device silent) for a
 * given "now", in its own transaction, on whatever store it is handed (the
 * collector's main thread has its own connection).
 *
 * Several collectors may share one PostgreSQL database: the rules take the
 * clinic's lock before deciding on a clinic's shared state
 * (store_lock_clinic), and only the collector holding the timer's leader
 * lock runs rules_tick's rules (docs/rules.md, "Several collectors"). */
#ifndef SMP_RULES_H
#define SMP_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "policy.h"
#include "record.h"
#include "store.h"

/* The alerts one message's rules raised (so open now: the device's lock
 * keeps every other collector's changes to them out until the commit).
 * Raising one again would change nothing, so it is not asked of the store
 * again: a device past its motor service hours sends a counters record a
 * minute, each of which would raise R11 "service:500h" once more. */
#define RULES_RAISED_MAX 8
typedef struct rules_raised {
    size_t n;
    bool overflow;   /* a raise was not remembered: the list is not all */
    struct {
        char rule[8];
        char cause[sizeof ((alert *)0)->cause];
    } a[RULES_RAISED_MAX];
} rules_raised;

/* The device's newest session boundary its rules know of: the session.start
 * or session.end of the highest seq stored, as of the record being judged
 * (read with the device, store_device_view; each boundary the message
 * stores moves it). seq 0: none. */
typedef struct rules_boundary {
    uint64_t seq;
    bool start;              /* a session.start, else an end */
} rules_boundary;

/* One message's context, borrowed for the call. */
typedef struct rules_ctx {
    store *s;
    const policy *p;
    const char *device;        /* the sending device (certificate CN) */
    const char *clinic;        /* its registered clinic */
    int64_t now_ms;            /* receive time */
    const char *now_ts;
    alert_batch *out;          /* events to publish after the commit */
    /* Where the device time of the device's stored record at seq is read:
     * like store_record_ts (1 found, 0 not, -1 error). NULL:
     * store_record_ts. Ingest answers from what it read around the
     * message at once. */
    int (*record_ts)(void *ctx, uint64_t seq, char ts[RECORD_TS_LEN + 1]);
    void *ts_ctx;
    /* Emptied by the caller for each message; NULL: every raise goes to
     * the store. */
    rules_raised *raised;
    /* R8 silent is known not open (store_device_view): the message's
     * clear of it has nothing to do. */
    bool silent_closed;
    /* No R3 of the device was open when the message began
     * (store_device_view; only the device's own messages raise its R3): a
     * removal's clear has nothing to do unless the message raised it. */
    bool wear_closed;
    /* The device's newest session boundary, moved by the message's own
     * session records: R8's gap check asks the store whether a session was
     * open only when the boundary does not tell. */
    rules_boundary *boundary;
    /* The device's highest stored seq when the message began
     * (device_view.top). No stored record is above a record of a higher
     * seq but its own message's, and of those the ones of a type its rules
     * read are stored after it is judged (rules_types_read): R3 then knows
     * without asking that no removal of its cartridge follows it. */
    uint64_t top_before;
    /* The message runs in a group without savepoints: a rule may send a
     * write ahead that fails where its answer would change the verdict
     * (store_cartridge_claim_ahead), and the group then runs again with a
     * savepoint per message, where this is false. */
    bool optimistic;
} rules_ctx;

/* Returns 0, or -1 when the store failed (the caller rolls back). Data that
 * breaks a rule is an alert, never an error. */
int rules_on_record(const rules_ctx *c, const record *r);
int rules_after_batch(const rules_ctx *c);

/* Before a message's records are stored (records[0..n), in message
 * order): sends ahead, on PostgreSQL, what its rules will read of the
 * clinic's shared state, so the server answers it while the records are
 * written rather than the caller waiting for it at the record
 * (store_load_get_ahead: R5's read of the first grip's load, when nothing
 * before that grip in the message changes loads). Only outside a
 * savepoint. rules_read_ahead_done, after the message's last
 * rules_on_record, drops what no rule took. 0, or -1 when the store
 * failed. */
int rules_read_ahead(const rules_ctx *c, const record *const *records, size_t n);
void rules_read_ahead_done(const rules_ctx *c);

/* The types of the stored records that rules_on_record(r) may read beyond
 * the records next to r and those of lower seq (a removal after a worn
 * cartridge's counter, the spore tests and cycles behind R5 and R7), as a
 * mask of 1u << record_type; 0 for most records. Ingest stores a later
 * record of the message of such a type only after r's rules ran, so that
 * they judge r exactly as they did one record at a time: a rule that reads
 * stored records of another type must add it here. */
unsigned rules_types_read(const policy *p, const record *r);

/* Whether rules_on_record(r) may take the lock of r's clinic (grips,
 * sterilization cycles and tests, whose rules span the clinic's devices):
 * shared (store_lock_clinic_shared) for a grip, whole (store_lock_clinic)
 * when rules_clinic_writes(r). These rules read no stored record of another
 * device but of these types (rules_types_read). */
bool rules_clinic_wide(const record *r);
/* Whether rules_on_record(r) writes its clinic's shared rule state
 * (sterilization cycles and tests: loads, sterilizers' dates, other
 * devices' grip alerts) and so takes the clinic's lock whole. */
bool rules_clinic_writes(const record *r);

/* What the rules of records[0..n) (a message) take of their clinic's lock:
 * the most any of them takes. */
typedef enum { RULES_CLINIC_NONE, RULES_CLINIC_SHARED, RULES_CLINIC_WHOLE } rules_clinic_lock;
rules_clinic_lock rules_clinic_lock_of(const record *const *records, size_t n);

/* Runs the time-driven rules at now_ms in one transaction on s, when s
 * holds the leader lock (store_timer_leader: taken here, kept while the
 * connection lasts; always on SQLite); otherwise does nothing. out is reset
 * and receives the events to publish. Returns 0 (also when another
 * collector leads), or -1 (rolled back, out emptied) when the store
 * failed. */
int rules_tick(store *s, const policy *p, int64_t now_ms, alert_batch *out);

#endif
