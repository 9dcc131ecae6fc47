/* store: everything the collector keeps, behind one narrow interface on
 * the storage seam (sqldb.h): a SQLite file or a PostgreSQL database
 * (docs/collector.md). Per-device chain state is derivable from stored
 * records; device_state is a cache of it kept in the same transaction. The
 * compliance rules' state is the other half of this interface:
 * store_rules.h. Not thread-safe: one store per thread.
 *
 * Several collectors may share one PostgreSQL database. What keeps them
 * correct is in the database, not in any one process: every change to a
 * device's records, chain head and alerts is made after store_lock_device
 * in the same transaction, the head only moves forward, and alerts are
 * once per cause by a UNIQUE constraint (docs/collector.md, "Several
 * collectors on PostgreSQL"). */
#ifndef SMP_STORE_H
#define SMP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "ids.h"
#include "record.h"

typedef struct store store;

typedef enum { DEVICE_UNKNOWN, DEVICE_ACTIVE, DEVICE_RETIRED } device_status;

#define STORE_CERT_MAX 4096

typedef struct device_info {
    device_status status;
    char clinic[RECORD_STR_MAX + 1];
    char cert_pem[STORE_CERT_MAX];   /* "" when none was registered */
} device_info;

/* The contiguous chain head: every seq 1..acked_seq is stored and linked. */
typedef struct chain_head {
    uint64_t acked_seq;
    char acked_hash[RECORD_HASH_HEX];
} chain_head;

typedef enum { STORE_INSERTED, STORE_DUPLICATE, STORE_CONFLICT } store_put_result;

/* Opens the database at target (a SQLite path or a postgresql:// URI, see
 * sqldb.h) with db_open: an existing database of this build's schema
 * version, nothing created. */
int store_open(const char *target, store **out, char *err, size_t errlen);
void store_close(store *s);

/* A write transaction: on SQLite the one writer's lock, on PostgreSQL READ
 * COMMITTED, where store_lock_device orders the work. */
int store_begin(store *s);
int store_commit(store *s);
void store_rollback(store *s);
/* True when a failure since store_begin is one the whole transaction may
 * pass if it is rolled back and run again (a deadlock between collectors,
 * a serialization failure, a lost connection: sqldb_retryable). */
bool store_retryable(const store *s);
/* Whether other connections write beside this one, so that its locks
 * (store_lock_device, store_lock_clinic) make others wait: PostgreSQL.
 * SQLite admits one writer at a time. */
bool store_shared(const store *s);

/* Inside a transaction: waits for, then holds to its end, the lock of one
 * device ("device:<id>"), so that no other collector's transaction
 * changes the device's records, head or alerts meanwhile. Every read of
 * the device's chain that decides a write comes after it. Taking it again
 * in the same transaction never waits. SQLite: nothing to do (one writer). */
int store_lock_device(store *s, const char *device);
/* Inside a transaction: one message's changes, undone alone if it fails. */
int store_savepoint(store *s);
int store_release(store *s);
int store_rollback_to(store *s);

int store_device(store *s, const char *device, device_info *out);
/* A stored record's link to its predecessor, and its device time. */
typedef struct store_link {
    uint64_t seq;
    char prev[RECORD_HASH_HEX];
    char hash[RECORD_HASH_HEX];
    char ts[RECORD_TS_LEN + 1];   /* "" for a quarantined record */
    bool quarantined;             /* a row of quarantined_records, not of records */
} store_link;

/* What a message of a device needs to know of its stored state, read with
 * its registry row under its lock (store_device_view). */
typedef struct device_view {
    chain_head head;      /* the genesis (0) before the device's first record */
    /* Its stored record of the highest seq, top.seq 0: none. The usual
     * message continues right above it and needs no other stored link. */
    store_link top;
    uint64_t top_quarantined;   /* of its records quarantined alone, 0: none */
    /* Of the alerts each message may clear, the open ones: a message clears
     * only these. Whoever raises them holds the device's lock too. */
    bool silent_open;     /* R8 silent */
    bool gap_open;        /* R9 gap */
    bool wear_open;       /* any R3 (a worn cartridge) */
    /* Its newest session boundary (the session.start or session.end of
     * the highest seq its rules have seen stored, rule_devices): seq 0
     * none. */
    uint64_t boundary_seq;
    bool boundary_start;  /* a session.start, else an end */
} device_view;
/* store_device and the device's view in one statement (one round trip on
 * PostgreSQL, where each took one or two of their own). view NULL: the
 * registry row alone, read by a statement of its own that reads nothing
 * else (store_device). */
int store_device_view(store *s, const char *device, device_info *out, device_view *view);
/* PostgreSQL, inside a transaction: takes the device's lock
 * (store_lock_device) and sends its view ahead (sqldb_send_ahead), so
 * that the server reads it while the caller works on another device's
 * message; the next store_device_view of this device takes the answer.
 * Nothing sent in between may write what the view reads of this device
 * (its head, records, open alerts, session state): the answer is as of
 * when it was sent. Another device's view, a savepoint's rollback or the
 * transaction's end drops it. SQLite has no server to read it meanwhile:
 * nothing is done, and store_device_view reads it when asked. 0, or -1
 * when sending failed. */
int store_device_view_ahead(store *s, const char *device);
/* The device's previous certificates (device_cert_history) that stopped
 * being its registered one after `after` (a record ts), newest first, at
 * most STORE_CERT_HISTORY_MAX of them: fn is called with each until it
 * returns nonzero. Only read when a checkpoint fails with the current
 * certificate (docs/collector.md, "Certificate renewal and checkpoints").
 * fn must not use the store. Returns 0, or -1 on a database error. */
#define STORE_CERT_HISTORY_MAX 8
typedef int (*store_cert_fn)(void *ctx, const char *cert_pem, const char *registered_until);
int store_cert_history(store *s, const char *device, const char *after, store_cert_fn fn,
                       void *ctx);
/* Writes the head and last_seen, unless the stored head is higher: the
 * head never moves back, whoever writes it. */
int store_set_chain_head(store *s, const char *device, const chain_head *h, const char *now_ts);

/* Fetches prev and hash of a stored record; 1 if found, 0 if not, -1 error. */
int store_get_link(store *s, const char *device, uint64_t seq, char prev[RECORD_HASH_HEX],
                   char hash[RECORD_HASH_HEX]);

/* Calls fn with every record of device stored at lo <= seq <= hi, and every
 * record quarantined alone there (store_quarantine_record), lowest seq
 * first, from one statement; fn must not use the store. 0 or -1. */
typedef void (*store_link_fn)(void *ctx, const store_link *l);
int store_links(store *s, const char *device, uint64_t lo, uint64_t hi, store_link_fn fn,
                void *ctx);

/* One record of a message for store_put_records: what to insert and, on
 * return, what became of it. */
typedef struct store_put_item {
    const record *r;
    const char *canon;         /* its canonical bytes (the stored body) */
    size_t canon_len;
    const char *hash;          /* their SHA-256, hex */
    store_put_result result;   /* out */
} store_put_item;

/* The most rows one INSERT carries (records, queued checkpoints);
 * store_put_records and store_queue_checkpoints take any number. */
#define STORE_PUT_MAX 64

/* Seqs lo..hi of a device, both included. */
typedef struct store_range {
    uint64_t lo, hi;
} store_range;

/* Inserts items[0..n) (distinct seqs) with one multi-row INSERT per
 * STORE_PUT_MAX items. A record whose (device, seq) was already stored is a
 * DUPLICATE when its hash matches and a CONFLICT (tampering or a reset
 * device) when it does not, and is not inserted; every other one is
 * INSERTED. What is stored is read before inserting: with range (which
 * must cover every item's seq) in one statement, the records stored in it
 * then handed to seen(ctx, link) too (seen may be NULL; it must not use
 * the store); without, one lookup per item (for seqs far apart). Under
 * store_lock_device of device: that no one else inserts in between is
 * what makes the read decide. */
int store_put_records(store *s, const char *device, store_put_item *items, size_t n,
                      const char *received_ts, const store_range *range, store_link_fn seen,
                      void *ctx);
/* The insert of store_put_records for a caller that judged the items
 * itself (each one's result set), from what it knows is stored under the
 * device's lock: inserts those that are STORE_INSERTED. 0 or -1. */
int store_insert_records(store *s, const char *device, const store_put_item *items, size_t n,
                         const char *received_ts);

/* Keeps a rejected message (payload cut to max_payload bytes), counts its
 * reason, and trims the table to max_rows. */
int store_quarantine(store *s, const char *device, const char *topic, const char *reason,
                     const char *counter_key, const void *payload, size_t len,
                     size_t max_payload, int64_t max_rows, const char *now_ts);

/* Keeps one record of a registered device's message that breaks the record
 * schema but has a readable seq (docs/collector.md, "Bad input"): its exact
 * bytes, their hash, its prev ("" when none valid) and the reason, once per
 * (device, seq). The first time, *inserted is set and counter_key counted
 * in quarantine_counts; a resend changes nothing. */
int store_quarantine_record(store *s, const char *device, uint64_t seq, const char *prev,
                            const char *hash, const void *body, size_t len, const char *reason,
                            const char *counter_key, const char *now_ts, bool *inserted);
/* Like store_get_link, for a record kept by store_quarantine_record. */
int store_get_quarantined_link(store *s, const char *device, uint64_t seq,
                               char prev[RECORD_HASH_HEX], char hash[RECORD_HASH_HEX]);

/* Raises a (rule, device, cause) once: *raised is true only the first time,
 * or when an earlier alert for the same cause had been cleared (it is
 * reopened). Fills a->id. */
int store_raise_alert(store *s, alert *a, const char *now_ts, bool *raised);
/* *known: an alert for (rule, device, cause) is on record, open or not. */
int store_alert_known(store *s, const char *rule, const char *device, const char *cause,
                      bool *known);
/* Clears the open alert for (rule, device, cause), if any; fills *out with
 * it and sets *cleared. */
int store_clear_alert(store *s, const char *rule, const char *device, const char *cause,
                      const char *now_ts, alert *out, bool *cleared);

/* Moves the open alert (a->rule, a->device, a->cause) to a->severity,
 * message and evidence if its severity differs; sets *escalated and a->id
 * when it did. */
int store_escalate_alert(store *s, alert *a, bool *escalated);

/* Clears every open alert of (rule, device) whose cause starts with prefix,
 * calling fn (which must not use the store) once per cleared alert. */
typedef void (*store_alert_fn)(void *ctx, const alert *a);
int store_clear_alerts_prefix(store *s, const char *rule, const char *device, const char *prefix,
                              const char *now_ts, store_alert_fn fn, void *ctx);

/* Lowest received_at of records stored above seq for device ("" if none):
 * how long a gap in the chain has been waiting to be filled. */
int store_oldest_above(store *s, const char *device, uint64_t seq, char ts[RECORD_TS_LEN + 1]);

/* What a device last said on its status topic (collector/presence.c). */
typedef struct store_presence {
    bool online;
    int64_t backlog, head_seq, acked_seq;  /* the agent's numbers; -1: not given */
    char at[RECORD_TS_LEN + 1];            /* the agent's time of it; "" when not given */
} store_presence;

/* Upserts device_presence for device, heard at now_ts. since (when the
 * state began) moves only when the state changes, so the retained status
 * the broker sends again at every collector (re)connect keeps its time. */
int store_put_presence(store *s, const char *device, const store_presence *p,
                       const char *now_ts);

/* ---- checkpoint signatures (collector/verifier.c) ---- */

/* The signature of the checkpoint record at head_seq + 1, to queue. */
typedef struct store_ckpt_item {
    uint64_t head_seq;
    const char *head_hash, *sig;
} store_ckpt_item;

/* Queues items[0..n) (distinct head_seqs) for the verifier: 'pending' rows
 * of checkpoints, in the caller's transaction, so they commit (or roll
 * back) with their records, one statement per STORE_PUT_MAX. Only for
 * checkpoints just inserted that describe the record before them; a row
 * left by a record since superseded (smpctl device recover-chain) is
 * replaced. */
int store_queue_checkpoints(store *s, const char *device, const store_ckpt_item *items, size_t n,
                            const char *received_ts);

/* A pending checkpoint, as the verifier reads it. */
typedef struct store_checkpoint {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t head_seq;                 /* the checkpoint record is head_seq + 1 */
    char head_hash[RECORD_HASH_HEX];
    char sig[RECORD_STR_MAX + 1];
    char ts[RECORD_TS_LEN + 1];        /* the checkpoint record's ts (device time) */
} store_checkpoint;

/* Up to max pending checkpoints whose record is stored, oldest received
 * first, into out[0..*n). Outside a transaction or inside one. */
int store_pending_checkpoints(store *s, store_checkpoint *out, size_t max, size_t *n);

/* Marks c 'verified' (ok) or 'failed' at now_ts, if it is still pending
 * with the same head_hash and sig: *marked says whether it was. It is not
 * when another verifier marked it first or the row was replaced: whoever
 * marks a row raises its alert, so nothing is raised twice. Inside a
 * transaction, after store_lock_device of c->device. */
/* Marks rows[0..n) 'verified' at now_ts, each if it is still pending with
 * the same head_hash and sig, with one statement per STORE_PUT_MAX rows:
 * marked[i] says whether rows[i] was (as store_mark_checkpoint's). A
 * verified mark raises nothing, so it needs no device lock. */
int store_mark_verified(store *s, const store_checkpoint *rows, size_t n, const char *now_ts,
                        bool *marked);
int store_mark_checkpoint(store *s, const store_checkpoint *c, bool ok, const char *now_ts,
                          bool *marked);

/* sqldb_try_lock_session on the store's connection: *held tells whether
 * this connection holds the session lock on key now (SQLite: always). */
int store_try_lock_session(store *s, const char *key, bool *held);

const char *store_errmsg(store *s);
/* Statements run on the store's connection so far (sqldb_statements). */
int64_t store_statements(const store *s);
/* Round trips to the database on it so far (sqldb_round_trips). */
int64_t store_round_trips(const store *s);

#endif
