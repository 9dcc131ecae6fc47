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

/* A rule_ref for record r of c's device. */
rule_ref rules__ref(const rules_ctx *c, const record *r);

/* Writes {"device":..,"seq":..,"ts":..} members for ref (inside an open object). */
void rules__ev_ref(evidence *e, const rule_ref *ref);

/* Per record type (rules_cartridge.c, rules_sterile.c, rules_device.c). */
int rules__cartridge_insert(const rules_ctx *c, const record *r);   /* R1, R2 */
int rules__cartridge_remove(const rules_ctx *c, const record *r);   /* clears R3 */
int rules__counters(const rules_ctx *c, const record *r);           /* R3, R11 */
int rules__cartridge_wear(const rules_ctx *c, const record *r);     /* R3 */
int rules__cycle(const rules_ctx *c, const record *r);              /* R4; clears R4, R5 */
int rules__grip(const rules_ctx *c, const record *r);               /* R5 */
int rules__sterilization_test(const rules_ctx *c, const record *r); /* R7; clears R6, R7 */
int rules__session(const rules_ctx *c, const record *r);            /* R8 state */

#endif
