/* store_rules: the state the compliance rules keep (collector/rules*.c),
 * part of the store interface (store.h). Implementation: store_rules_sql.c,
 * tables rule_* of common/db.c, on SQLite or PostgreSQL.
 *
 * Everything here is derived from stored records and written in the
 * caller's transaction. Timestamps are RECORD_TS_LEN text (device time
 * unless named *_received_at), compared as text. Functions return 0 on
 * success (1 / 0 where they say "found") and -1 on a store error
 * (store_errmsg). Callbacks (store_*_fn) may call other store functions:
 * rows are read from their own statement. */
#ifndef SMP_STORE_RULES_H
#define SMP_STORE_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "ids.h"
#include "record.h"
#include "store.h"
#include "tzlocal.h"

/* Which record did something: the device, its seq and device time. */
typedef struct rule_ref {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t seq;
    char ts[RECORD_TS_LEN + 1];
} rule_ref;

/* ---- several collectors on one database --------------------------------- */

/* Inside a transaction: waits for, then holds to its end, the lock of one
 * clinic's shared rule state ("clinic:<clinic>": its loads, grips,
 * sterilizers, pending checks and the alerts they decide), so that two
 * collectors never decide on it at once. Take it before reading what a
 * decision rests on. Device locks (store_lock_device) come first, as in
 * ingest; a deadlock that remains (a transaction of many messages) is
 * broken by PostgreSQL aborting one side, which store_retryable reports.
 * Taking it again in the same transaction does not wait. */
int store_lock_clinic(store *s, const char *clinic);
/* The same lock shared, for a decision that writes none of that state but
 * its own rows (a grip: its row, its device's alerts and pending check):
 * such decisions run beside each other, and wait only for one that holds
 * the lock whole (a sterilization cycle or test, the timer's settling,
 * smpctl clinic set). A transaction that holds it shared must not ask for
 * it whole (two that did would deadlock): ingest takes it whole first for
 * a message that will need it so, and the committer stores such a message
 * in a transaction of its own (committer.c, order_group). */
int store_lock_clinic_shared(store *s, const char *clinic);

/* The session lock that makes one collector the one that runs the
 * time-driven rules (rules_timer.c). */
#define STORE_TIMER_LOCK "rules-timer"

/* Takes or keeps STORE_TIMER_LOCK without waiting; *leader tells whether
 * this connection holds it now. It lasts until the connection ends (a
 * collector that dies hands it on); on SQLite it is always held. */
int store_timer_leader(store *s, bool *leader);

/* ---- the clinic's calendar ---------------------------------------------- */

/* The IANA timezone registered for clinic (smpctl clinic add; table
 * clinics): 1 and tz, or 0 when the clinic is not registered (its
 * calendar is UTC). Read in the caller's transaction: a rule asks once
 * per decision, and smpctl clinic set changes it under the clinic's lock
 * (store_lock_clinic), between two decisions of the rules that take it. */
int store_clinic_timezone(store *s, const char *clinic, char tz[TZLOCAL_NAME_MAX + 1]);

/* ---- R1: cartridges ----------------------------------------------------- */

/* Records use (in session_id) as the first use of uid unless one is known.
 * Returns 1 and fills *first / first_session when uid was already used,
 * 0 when this use is now the first, -1 on error. Fleet-wide without a
 * lock: the primary key on uid makes two collectors inserting it at once
 * agree on one first use. */
int store_cartridge_first_use(store *s, const char *uid, const rule_ref *use,
                              const char *session_id, rule_ref *first,
                              char first_session[RECORD_STR_MAX + 1]);
/* Where writes are sent ahead (PostgreSQL): records use (in session_id) as
 * uid's first use, or as a re-insert in the session of its first use,
 * without waiting for the server, and returns 1. A reuse (any other first
 * use on record) fails the statement, and so the transaction's next
 * statement or its commit: run in a group without savepoints, the group
 * then runs again with one per message, where the rule asks
 * store_cartridge_first_use instead. 0: not sent (SQLite: the caller asks
 * store_cartridge_first_use); -1 on error. */
int store_cartridge_claim_ahead(store *s, const char *uid, const rule_ref *use,
                                const char *session_id);

/* ---- R4, R5, R7: loads and the grips taken from them -------------------- */

typedef struct rule_load {
    char load_id[RECORD_STR_MAX + 1];
    char sterilizer_id[RECORD_STR_MAX + 1];
    rule_ref cycle;               /* the latest cycle of the load */
    bool passed;
} rule_load;

/* What R7's recall needs of a load's sterilizer (its row of
 * rule_sterilizers, rule_sterilizer), read with the load. */
typedef struct rule_recall_dates {
    bool known;                                /* the clinic has a row for it */
    char last_negative_ts[RECORD_TS_LEN + 1];  /* "" when never tested negative */
    char flagged_ts[RECORD_TS_LEN + 1];        /* the latest positive, "" when none */
} rule_recall_dates;

/* 1 and *out when the clinic knows load_id, 0 when not; with the load's
 * sterilizer's dates in *dates (NULL: not wanted), from the same read. */
int store_load_get(store *s, const char *clinic, const char *load_id, rule_load *out,
                   rule_recall_dates *dates);
/* PostgreSQL, inside a transaction: takes the clinic's lock shared and sends the
 * read of load_id ahead (sqldb_send_ahead), so that the server answers it
 * while the caller writes a message's records; the next store_load_get of
 * this clinic and load takes the answer. Nothing written in between may
 * change the load or its sterilizer's dates (a sterilization cycle or
 * spore test of the clinic): the answer is as of when it was sent. Another
 * store_load_get, store_load_ahead_drop, a savepoint's rollback or the
 * transaction's end drops it. SQLite has no server to read it meanwhile:
 * nothing is done. 0, or -1 when sending failed. */
int store_load_get_ahead(store *s, const char *clinic, const char *load_id);
void store_load_ahead_drop(store *s);
/* Stores l as the load's latest cycle. */
int store_load_put(store *s, const char *clinic, const rule_load *l);

typedef struct rule_grip {
    rule_ref use;                 /* the grip.assign record */
    char load_id[RECORD_STR_MAX + 1];
    char grip_id[RECORD_STR_MAX + 1];
    char session_id[RECORD_STR_MAX + 1];
    bool r5_open;                 /* read from the store: an R5 of its device was open */
} rule_grip;

int store_grip_put(store *s, const char *clinic, const rule_grip *g);

typedef int (*store_grip_fn)(void *ctx, const rule_grip *g);
typedef int (*store_load_fn)(void *ctx, const rule_load *l);

/* Grips of load_id used at or after since_ts, oldest first, at most max. */
int store_grips_of_load(store *s, const char *clinic, const char *load_id, const char *since_ts,
                        int max, store_grip_fn fn, void *ctx);

/* The grip.assign (device, seq) as rule_grips holds it, and its clinic.
 * 1 found, 0 not. */
int store_grip_get(store *s, const char *device, uint64_t seq, rule_grip *out,
                   char clinic[RECORD_STR_MAX + 1]);

/* R7's recall list: loads of the sterilizer whose latest cycle ran after
 * from_ts and before until_ts (both exclusive; "~" for no end), and the
 * grips taken from them; each oldest first, at most max through fn,
 * *total counts all. A test-only cycle is not a load: one a
 * sterilization.test of the clinic names (same sterilizer and cycle_no,
 * from any device) that no grip was ever taken from. */
int store_recall_loads(store *s, const char *clinic, const char *sterilizer_id,
                       const char *from_ts, const char *until_ts, int max, store_load_fn fn,
                       void *ctx, int64_t *total);
int store_recall_grips(store *s, const char *clinic, const char *sterilizer_id,
                       const char *from_ts, const char *until_ts, int max, store_grip_fn fn,
                       void *ctx, int64_t *total);

/* A spore test of a sterilizer and the time of the cycle that carried it:
 * the clinic's cycle of that sterilizer and cycle_no (rule_cycles), logged
 * by any device; for a cycle stored before rule_cycles existed, the
 * sterilization.cycle of the test's device, sterilizer and cycle_no logged
 * at or before the test; the test's own ts when neither is on record
 * (cycle_on_record false). */
typedef struct rule_spore {
    rule_ref test;
    char cycle_ts[RECORD_TS_LEN + 1];
    char read_ts[RECORD_TS_LEN + 1];
    bool cycle_on_record;
    bool positive;                /* else negative; invalid results are left out */
} rule_spore;

/* The clinic's spore tests of sterilizer_id logged at or after since_ts
 * ("" for all), ordered by cycle_ts; at most max into out, *n of them. */
int store_spore_tests(store *s, const char *clinic, const char *sterilizer_id,
                      const char *since_ts, rule_spore *out, int max, int *n);

/* ---- R4, R7, R9: each cycle and test of a sterilizer is one fact -------- */

typedef enum {
    STORE_FACT_NEW,      /* nothing held the key: the record is now the fact */
    STORE_FACT_SAME,     /* a record with the same content holds it: a duplicate */
    STORE_FACT_OTHER     /* a record with other content holds it: *first */
} store_fact_state;

/* Claims (clinic, sterilizer_id, cycle_no) for the cycle record `cycle`,
 * whose content (every field but seq, ts, prev) hashes to digest. Under the
 * clinic's lock (store_lock_clinic), so two collectors never both see NEW.
 * *first is the record that holds the number (cycle itself when NEW). */
int store_cycle_claim(store *s, const char *clinic, const char *sterilizer_id, int64_t cycle_no,
                      const rule_ref *cycle, const char *digest, rule_ref *first,
                      store_fact_state *out);

/* store_cycle_claim for the sterilization.test record `test` of
 * sterilizer_id (table rule_tests), keyed by its content digest alone: a
 * test has no number of its own, so *out is NEW or SAME, never OTHER. */
int store_test_claim(store *s, const char *clinic, const char *sterilizer_id,
                     const rule_ref *test, const char *digest, rule_ref *first,
                     store_fact_state *out);

/* ---- R5: checks waiting to settle; alerts disproved later --------------- */

/* Queues the judgement of grip g (as an alerts row of state 'pending',
 * never counted open) at receive time now_ts; queuing it twice is one. */
int store_pending_put(store *s, const char *clinic, const rule_grip *g, const char *now_ts);

typedef int (*store_pending_fn)(void *ctx, int64_t id, const char *device, uint64_t seq);
/* Pending checks queued before cutoff_ts, oldest first (one queued exactly
 * settle_s ago still waits). */
int store_pending_due(store *s, const char *cutoff_ts, store_pending_fn fn, void *ctx);
/* Drops a pending check (it has been judged). */
int store_pending_drop(store *s, int64_t id);

/* Withdraws the open alert (rule, device, cause): later evidence shows its
 * cause never held. Fills *out like store_clear_alert. */
int store_alert_withdraw(store *s, const char *rule, const char *device, const char *cause,
                         const char *now_ts, alert *out, bool *withdrawn);
/* An alert raised again is an alert: its state goes back to NULL. */
int store_alert_state_reset(store *s, int64_t id);

/* ---- R3: cartridge wear ------------------------------------------------- */

/* 1 when device has a stored cartridge.remove of uid after its record seq
 * (the cartridge was out before this counter was judged: a counter that
 * arrives late must not reopen the wear alert the removal cleared), 0
 * when not, -1 on error. */
int store_cartridge_removed_after(store *s, const char *device, const char *uid, uint64_t seq);

/* ---- R8: device-time gaps ------------------------------------------------ */

/* ts of the stored record (device, seq): 1 found, 0 not. */
int store_record_ts(store *s, const char *device, uint64_t seq, char ts[RECORD_TS_LEN + 1]);
/* The session open on device right after its record seq (the latest
 * session.start / session.end at or before seq is a start): 1 and its
 * session_id, 0 when none is open — or when not every record between
 * that start and seq is stored yet (records judged out of order, another
 * collector holding some): a missing one may be the session's end, and a
 * gap after a session is no gap in it. */
int store_session_at(store *s, const char *device, uint64_t seq,
                     char session_id[RECORD_STR_MAX + 1]);

/* ---- R6, R7: sterilizers ------------------------------------------------ */

typedef struct rule_sterilizer {
    char clinic[RECORD_STR_MAX + 1];
    char sterilizer_id[RECORD_STR_MAX + 1];
    char home_device[IDS_DEVICE_ID_MAX + 1]; /* first device that logged it */
    /* Its own id when it is registered in this clinic (smpctl sterilizer
     * add; registered ids are device ids), "" when not: the alerts about
     * it are filed under owner, or the home device while it has none. */
    char owner[IDS_DEVICE_ID_MAX + 1];
    char first_seen_ts[RECORD_TS_LEN + 1];
    char last_negative_ts[RECORD_TS_LEN + 1]; /* "" when never tested negative */
    /* The latest positive test ("" when none ever): the sterilizer is out
     * of service while it is later than last_negative_ts. */
    char flagged_ts[RECORD_TS_LEN + 1];
} rule_sterilizer;

/* Registers the sterilizer on first sight (home = device, first seen = ts),
 * then reads it into *out. */
int store_sterilizer_touch(store *s, const char *clinic, const char *sterilizer_id,
                           const char *device, const char *ts, rule_sterilizer *out);
/* 1 and *out when the clinic knows the sterilizer, 0 when not. */
int store_sterilizer_get(store *s, const char *clinic, const char *sterilizer_id,
                         rule_sterilizer *out);
/* A negative spore test at ts: last_negative_ts moves forward to ts (which
 * lifts a flag older than ts). */
int store_sterilizer_negative(store *s, const char *clinic, const char *sterilizer_id,
                              const char *ts);
/* A positive spore test at ts: flagged_ts moves forward to ts. */
int store_sterilizer_flag(store *s, const char *clinic, const char *sterilizer_id, const char *ts);

typedef int (*store_sterilizer_fn)(void *ctx, const rule_sterilizer *st);
/* Sterilizers whose last negative test (or first sighting) is before cutoff_ts. */
int store_sterilizers_untested_since(store *s, const char *cutoff_ts, store_sterilizer_fn fn,
                                     void *ctx);

/* ---- R8: devices -------------------------------------------------------- */

/* The device was heard from at now_ts (receive time). */
int store_device_heard(store *s, const char *device, const char *clinic, const char *now_ts);
/* session.start / session.end at seq; a record older than the latest start
 * or end already seen changes nothing. The device's first one makes its
 * row, heard at now_ts (store_device_heard keeps that current). */
int store_session_open(store *s, const char *device, const char *clinic, const char *session_id,
                       uint64_t seq, const char *now_ts);
int store_session_close(store *s, const char *device, const char *clinic, uint64_t seq,
                        const char *now_ts);

typedef struct rule_silent {
    char device[IDS_DEVICE_ID_MAX + 1];
    char clinic[RECORD_STR_MAX + 1];
    char session_id[RECORD_STR_MAX + 1];
    char last_received_at[RECORD_TS_LEN + 1];
} rule_silent;

typedef int (*store_silent_fn)(void *ctx, const rule_silent *d);
/* Active devices with an open session and nothing received since cutoff_ts. */
int store_devices_silent_since(store *s, const char *cutoff_ts, store_silent_fn fn, void *ctx);
/* The same question for one device, read again (after store_lock_device):
 * 1 and *out when it is still silent, 0 when not. */
int store_device_silent(store *s, const char *device, const char *cutoff_ts, rule_silent *out);

#endif
