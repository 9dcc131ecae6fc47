/* policy: every threshold of the compliance rules (docs/rules.md,
 * docs/rules.md) as a named setting of one key = value file, loaded with
 * the table-driven config loader (common/config.h).
 *
 * `profile` picks the jurisdiction's spore-test interval (cdc: 7 days,
 * bodyart-monthly: 30); every other value has the default of docs/rules.md
 * and can be set on its own. Temperatures are held in tenths of a degree,
 * like the records' *_c fields. */
#ifndef SMP_POLICY_H
#define SMP_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The sterilization programs of the record schema (common/record.c). */
typedef enum {
    POLICY_GRAVITY_121,
    POLICY_GRAVITY_132,
    POLICY_PREVAC_132,
    POLICY_PREVAC_134,
    POLICY_NPROGRAMS
} policy_program_id;

typedef struct policy_program {
    int64_t min_temp_dc;        /* R4: temp_min_c below this fails the cycle (tenths °C) */
    int64_t min_exposure_s;     /* R4: exposure_s below this fails the cycle */
} policy_program;

typedef struct policy {
    char profile[CONFIG_STR_MAX];          /* "cdc" | "bodyart-monthly" */
    int64_t cartridge_max_run_s;           /* R3 */
    int64_t cartridge_max_strokes;         /* R3 */
    policy_program program[POLICY_NPROGRAMS]; /* R4 */
    int64_t spore_interval_days;           /* R6 warning; 0 in the file: from profile */
    int64_t spore_critical_days;           /* R6 critical; 0 in the file: 2 × interval */
    int64_t silent_after_s;                /* R8: collector time */
    int64_t session_gap_s;                 /* R8: device time between records of a session */
    int64_t settle_s;                      /* R5: wait for another device's facts; 0 = judge at once */
    int64_t clock_skew_s;                  /* R10 */
    int64_t gap_grace_s;                   /* R9 */
    int64_t motor_service_hours;           /* R11 */
    int64_t rules_timer_s;                 /* how often time-driven rules run */
    int64_t renotify_s;                    /* re-notify an open alert's sinks this often; 0 = never */
} policy;

/* Fills p with the built-in policy (profile cdc, docs/rules.md defaults).
 * Fails (-1) only if the built-in table is broken, which the unit tests
 * rule out. */
int policy_defaults(policy *p);

/* Loads the policy file at path over the built-in defaults and resolves
 * the profile. Returns 0, or -1 with err naming the file, line and setting
 * ("policy.conf:4: spore_interval_days: must be an integer 0..3650 (...)"). */
int policy_load(const char *path, policy *p, char *err, size_t errlen);

/* The minimums of a program by its record name ("prevac_134"); NULL for a
 * program the policy does not know. */
const policy_program *policy_program_get(const policy *p, const char *program);
const char *policy_program_name(policy_program_id id);

#endif
