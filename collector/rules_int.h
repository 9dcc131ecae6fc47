/* rules_int: what the rules files (rules*.c) share. Private to them. */
#ifndef SMP_RULES_INT_H
#define SMP_RULES_INT_H

#include <stddef.h>

#include "alerting.h"
#include "evidence.h"
#include "rules.h"
#include "store_rules.h"

#define DAY_MS (24LL * 3600 * 1000)

/* An alert of rule/severity filed under device and clinic; the caller
 * adds cause, message and evidence, then raises it. */
void rules__alert_init(alert *a, const char *rule, const char *severity, const char *device,
                       const char *clinic);

/* printf into a->message, cut to fit (messages are for people; the
 * evidence holds the exact values). */
void rules__message(alert *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends id to a cause with ':' and '%' percent-encoded, so that the
 * prefix "positive:<id>:" of one id can never match another id's causes. */
void rules__cause_add(char *cause, size_t cap, const char *sep, const char *id);

/* The alerting context of c. */
alerting rules__alerting(const rules_ctx *c);

/* For an alert whose cause only a raise opens and only the message's own
 * rules clear (R3 wear, R11 service): whether this message raised (rule,
 * cause) already, so that raising it again would change nothing
 * (rules_raised); rules__raise_once raises a and remembers it;
 * rules__forget is for the rule that clears it. */
bool rules__raised(const rules_ctx *c, const char *rule, const char *cause);
int rules__raise_once(const rules_ctx *c, alert *a);
void rules__forget(const rules_ctx *c, const char *rule, const char *cause);
/* Whether every alert this message raised is remembered (rules__raised
 * then answers for all of them). */
bool rules__raised_all_known(const rules_ctx *c);

/* The device id alerts about sterilizer st are filed under: its own id
 * once registered in the clinic, else the first device that logged it. */
const char *rules__sterilizer_owner(const rule_sterilizer *st);

/* A duration for people: "5 min", "5 min 1 s", "45 s" (messages; the
 * evidence keeps exact seconds). */
void rules__duration_text(int64_t seconds, char *out, size_t cap);

/* A rule_ref for record r of c's device. */
rule_ref rules__ref(const rules_ctx *c, const record *r);

/* Writes {"device":..,"seq":..,"ts":..} members for ref (inside an open object). */
void rules__ev_ref(evidence *e, const rule_ref *ref);

/* The zone whose local calendar the rules use for clinic (docs/rules.md,
 * "Clocks and calendar"): its registered timezone; UTC for a clinic not
 * registered, or whose zone the tz database cannot give (logged once).
 * NULL when the store failed. */
const tzlocal_zone *rules__zone(store *s, const char *clinic);

/* Record time ts (RECORD_TS_LEN) in zone z: its local date, its local
 * calendar day as a number (days since 1970-01-01), and "2026-03-02 16:23
 * PST" for messages. */
void rules__local_date(const tzlocal_zone *z, const char *ts, char out[TZLOCAL_DATE_LEN + 1]);
int64_t rules__local_day(const tzlocal_zone *z, int64_t ms);
void rules__local_text(const tzlocal_zone *z, const char *ts, char out[TZLOCAL_TEXT_LEN + 1]);

/* R5's causes of one grip: "no-cycle:", "failed-load:", "recalled:" +
 * session:grip (rules_grip.c). */
int rules__grip_recheck(const rules_ctx *c, const char *load_id, const char *since_ts);
/* Judges a pending grip once settle_s has passed (rules_timer.c). */
int rules__grip_settle(store *s, const policy *p, const char *now_ts, alert_batch *out,
                       const char *device, uint64_t seq);

/* R7's recall (rules_recall.c). The positive spore test whose recall covers
 * a load processed on sterilizer_id at load_ts: 1 and *positive, 0 none.
 * dates: the sterilizer's, read with the load (store_load_get). */
int rules__recalled_by(store *s, const policy *p, const char *clinic, const char *sterilizer_id,
                       const rule_recall_dates *dates, const char *load_ts,
                       rule_spore *positive);
/* The recall window of positive test `test`: loads after from_ts (the cycle
 * of the last negative test before it, "" when none; *last_negative is
 * that test, seq 0 when none) and before until_ts (the cycle of the first
 * negative test after it, "~" while there is none). */
int rules__recall_window(store *s, const char *clinic, const char *sterilizer_id,
                         const rule_ref *test, char from_ts[RECORD_TS_LEN + 1],
                         char until_ts[RECORD_TS_LEN + 2], rule_spore *last_negative,
                         rule_spore *self);

/* Whether record r (a sterilization.cycle or .test of sterilizer st) is
 * the fact of its cycle or test: 1 yes (the first stored), 0 a duplicate
 * or a cycle's conflicting copy (R9 raised), -1 on error. Under the
 * clinic's lock (rules_fact.c). */
int rules__claim_fact(const rules_ctx *c, const record *r, const rule_sterilizer *st);

/* Per record type (rules_cartridge.c, rules_cycle.c, rules_grip.c,
 * rules_spore.c, rules_device.c). */
int rules__cartridge_insert(const rules_ctx *c, const record *r);   /* R1, R2 */
int rules__cartridge_remove(const rules_ctx *c, const record *r);   /* clears R3 */
int rules__counters(const rules_ctx *c, const record *r);           /* R3, R11 */
int rules__cartridge_wear(const rules_ctx *c, const record *r);     /* R3 */
int rules__cycle(const rules_ctx *c, const record *r);              /* R4; rechecks R5 */
int rules__grip(const rules_ctx *c, const record *r);               /* R5 */
int rules__sterilization_test(const rules_ctx *c, const record *r); /* R7; clears R6, R7 */
int rules__session(const rules_ctx *c, const record *r);            /* R8 state */
int rules__session_gap(const rules_ctx *c, const record *r);        /* R8 device-time gap */

#endif
