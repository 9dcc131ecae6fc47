/* store_rules: the state the compliance rules keep (collector/rules*.c),
 * part of the store interface (store.h) so that a PostgreSQL store
 * implements it too. SQLite implementation: store_rules_sqlite.c, tables
 * rule_* of common/db.c.
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

/* Which record did something: the device, its seq and device time. */
typedef struct rule_ref {
    char device[IDS_DEVICE_ID_MAX + 1];
    uint64_t seq;
    char ts[RECORD_TS_LEN + 1];
} rule_ref;

/* ---- R1: cartridges ----------------------------------------------------- */

/* Records use (in session_id) as the first use of uid unless one is known.
 * Returns 1 and fills *first / first_session when uid was already used,
 * 0 when this use is now the first, -1 on error. */
int store_cartridge_first_use(store *s, const char *uid, const rule_ref *use,
                              const char *session_id, rule_ref *first,
                              char first_session[RECORD_STR_MAX + 1]);

/* ---- R4, R5, R7: loads and the grips taken from them -------------------- */

typedef struct rule_load {
    char load_id[RECORD_STR_MAX + 1];
    char sterilizer_id[RECORD_STR_MAX + 1];
    rule_ref cycle;               /* the latest cycle of the load */
    bool passed;
} rule_load;

/* 1 and *out when the clinic knows load_id, 0 when not. */
int store_load_get(store *s, const char *clinic, const char *load_id, rule_load *out);
/* Stores l as the load's latest cycle. */
int store_load_put(store *s, const char *clinic, const rule_load *l);

typedef struct rule_grip {
    rule_ref use;                 /* the grip.assign record */
    char load_id[RECORD_STR_MAX + 1];
    char grip_id[RECORD_STR_MAX + 1];
    char session_id[RECORD_STR_MAX + 1];
} rule_grip;

int store_grip_put(store *s, const char *clinic, const rule_grip *g);

typedef int (*store_grip_fn)(void *ctx, const rule_grip *g);
typedef int (*store_load_fn)(void *ctx, const rule_load *l);

/* Grips of load_id used at or after since_ts, oldest first, at most max. */
int store_grips_of_load(store *s, const char *clinic, const char *load_id, const char *since_ts,
                        int max, store_grip_fn fn, void *ctx);

/* R7's recall list: loads of the sterilizer processed after since_ts ("":
 * all), and the grips taken from them; each oldest first, at most max
 * through fn, *total counts all. */
int store_recall_loads(store *s, const char *clinic, const char *sterilizer_id,
                       const char *since_ts, int max, store_load_fn fn, void *ctx,
                       int64_t *total);
int store_recall_grips(store *s, const char *clinic, const char *sterilizer_id,
                       const char *since_ts, int max, store_grip_fn fn, void *ctx,
                       int64_t *total);

/* ---- R6, R7: sterilizers ------------------------------------------------ */

typedef struct rule_sterilizer {
    char clinic[RECORD_STR_MAX + 1];
    char sterilizer_id[RECORD_STR_MAX + 1];
    char home_device[IDS_DEVICE_ID_MAX + 1]; /* first device that logged it */
    char first_seen_ts[RECORD_TS_LEN + 1];
    char last_negative_ts[RECORD_TS_LEN + 1]; /* "" when never tested negative */
    char flagged_ts[RECORD_TS_LEN + 1];       /* "" unless a positive test flagged it */
} rule_sterilizer;

/* Registers the sterilizer on first sight (home = device, first seen = ts),
 * then reads it into *out. */
int store_sterilizer_touch(store *s, const char *clinic, const char *sterilizer_id,
                           const char *device, const char *ts, rule_sterilizer *out);
/* A negative spore test at ts: last_negative_ts moves forward to ts; a flag
 * older than ts is lifted. */
int store_sterilizer_negative(store *s, const char *clinic, const char *sterilizer_id,
                              const char *ts);
/* A positive spore test at ts flags the sterilizer. */
int store_sterilizer_flag(store *s, const char *clinic, const char *sterilizer_id, const char *ts);

typedef int (*store_sterilizer_fn)(void *ctx, const rule_sterilizer *st);
/* Sterilizers whose last negative test (or first sighting) is before cutoff_ts. */
int store_sterilizers_untested_since(store *s, const char *cutoff_ts, store_sterilizer_fn fn,
                                     void *ctx);

/* ---- R8: devices -------------------------------------------------------- */

/* The device was heard from at now_ts (receive time). */
int store_device_heard(store *s, const char *device, const char *clinic, const char *now_ts);
/* session.start / session.end at seq; a record older than the latest start
 * or end already seen changes nothing. */
int store_session_open(store *s, const char *device, const char *session_id, uint64_t seq);
int store_session_close(store *s, const char *device, uint64_t seq);

typedef struct rule_silent {
    char device[IDS_DEVICE_ID_MAX + 1];
    char clinic[RECORD_STR_MAX + 1];
    char session_id[RECORD_STR_MAX + 1];
    char last_received_at[RECORD_TS_LEN + 1];
} rule_silent;

typedef int (*store_silent_fn)(void *ctx, const rule_silent *d);
/* Active devices with an open session and nothing received since cutoff_ts. */
int store_devices_silent_since(store *s, const char *cutoff_ts, store_silent_fn fn, void *ctx);

#endif
