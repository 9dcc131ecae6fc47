/* notify_filter: which alert events a notification sink is sent
 * (docs/collector.md, "Notifications").
 *
 * A filter is a collector setting: space-separated terms, each
 * NAME=VALUE[,VALUE...], every term given at most once, all of them must
 * hold; an empty filter (or "all") selects every event:
 *
 *   clinic=clinic-north,clinic-south rule=R1,R4,R7 min_severity=cycle-failed
 *   event=raised,escalated,reminder
 *
 * Severities are ordered integrity = critical > cycle-failed > warning >
 * maintenance (docs/rules.md uses these five). A severity this version does
 * not know ranks with critical: a filter never silences what it cannot
 * judge. ('#' starts a comment in the config file, so the syntax has none.) */
#ifndef SMP_NOTIFY_FILTER_H
#define SMP_NOTIFY_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTIFY_FILTER_CLINICS    16
#define NOTIFY_FILTER_CLINIC_MAX 128   /* bytes, like a record string */
#define NOTIFY_RULE_MAX          11    /* R1..R11 */

typedef struct notify_filter {
    int nclinics;                                        /* 0: any clinic */
    char clinic[NOTIFY_FILTER_CLINICS][NOTIFY_FILTER_CLINIC_MAX + 1];
    uint32_t rules;                                      /* bit n: Rn; 0: any rule */
    int min_rank;                                        /* 0: any severity */
    uint32_t events;                                     /* bit per notify_event_names; 0: any */
} notify_filter;

/* Parses text into f. Returns 0, or -1 with err saying which term is wrong
 * and what is allowed (the caller prefixes file, line and setting). */
int notify_filter_parse(const char *text, notify_filter *f, char *err, size_t errlen);

/* True when the event (its alert's clinic, rule, severity, and the event
 * name: raised, escalated, cleared, withdrawn, reminder, test) passes f. */
bool notify_filter_match(const notify_filter *f, const char *clinic, const char *rule,
                         const char *severity, const char *event);

/* 1 maintenance, 2 warning, 3 cycle-failed, 4 critical or integrity (and
 * any severity not known here); 0 never. */
int notify_severity_rank(const char *severity);

#endif
