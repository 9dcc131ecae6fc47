#include "policy.h"

#include <stdio.h>
#include <string.h>

#define F(field) offsetof(policy, field)
#define TEMP(prog) offsetof(policy, program[prog].min_temp_dc)
#define EXPO(prog) offsetof(policy, program[prog].min_exposure_s)

static const char *const program_names[POLICY_NPROGRAMS] = {
    [POLICY_GRAVITY_121] = "gravity_121",
    [POLICY_GRAVITY_132] = "gravity_132",
    [POLICY_PREVAC_132] = "prevac_132",
    [POLICY_PREVAC_134] = "prevac_134",
};

/* Defaults and their sources are in docs/rules.md. Temperatures are
 * decimals in °C (held as tenths), bounds in tenths. */
static const config_setting settings[] = {
    {"profile", CONFIG_STR, "cdc", 0, 0, F(profile), "cdc or bodyart-monthly: the spore-test interval"},
    {"cartridge_max_run_s", CONFIG_INT, "3600", 1, 31536000, F(cartridge_max_run_s), "R3: cartridge run time that asks for a replacement"},
    {"cartridge_max_strokes", CONFIG_INT, "400000", 1, 100000000000LL, F(cartridge_max_strokes), "R3: cartridge strokes that ask for a replacement"},
    /* CDC 2008 Table 7: wrapped gravity 30 min at 121 °C or 15 min at 132 °C,
     * prevacuum 4 min at 132 °C. 134 °C / 3 min is the European B-class
     * figure, not confirmed in a primary source (docs/rules.md). */
    {"gravity_121_min_temp_c", CONFIG_DEC1, "121.0", 0, 2000, TEMP(POLICY_GRAVITY_121), "R4: lowest exposure temperature of gravity_121"},
    {"gravity_121_min_exposure_s", CONFIG_INT, "1800", 1, 86400, EXPO(POLICY_GRAVITY_121), "R4: shortest exposure of gravity_121"},
    {"gravity_132_min_temp_c", CONFIG_DEC1, "132.0", 0, 2000, TEMP(POLICY_GRAVITY_132), "R4: lowest exposure temperature of gravity_132"},
    {"gravity_132_min_exposure_s", CONFIG_INT, "900", 1, 86400, EXPO(POLICY_GRAVITY_132), "R4: shortest exposure of gravity_132"},
    {"prevac_132_min_temp_c", CONFIG_DEC1, "132.0", 0, 2000, TEMP(POLICY_PREVAC_132), "R4: lowest exposure temperature of prevac_132"},
    {"prevac_132_min_exposure_s", CONFIG_INT, "240", 1, 86400, EXPO(POLICY_PREVAC_132), "R4: shortest exposure of prevac_132"},
    {"prevac_134_min_temp_c", CONFIG_DEC1, "134.0", 0, 2000, TEMP(POLICY_PREVAC_134), "R4: lowest exposure temperature of prevac_134"},
    {"prevac_134_min_exposure_s", CONFIG_INT, "180", 1, 86400, EXPO(POLICY_PREVAC_134), "R4: shortest exposure of prevac_134"},
    {"spore_interval_days", CONFIG_INT, "0", 0, 3650, F(spore_interval_days), "R6: days without a negative spore test before a warning; 0 = from profile"},
    {"spore_critical_days", CONFIG_INT, "0", 0, 3650, F(spore_critical_days), "R6: days before the warning becomes critical; 0 = twice the interval"},
    {"silent_after_s", CONFIG_INT, "7200", 60, 31536000, F(silent_after_s), "R8: silence during an open session that raises an alert"},
    {"session_gap_s", CONFIG_INT, "300", 60, 86400, F(session_gap_s), "R8: device-time gap between a session's records that flags the session"},
    {"settle_s", CONFIG_INT, "300", 0, 86400, F(settle_s), "R5: how long a grip waits for its load's cycle from another device before it is judged"},
    {"gap_grace_s", CONFIG_INT, "600", 0, 604800, F(gap_grace_s), "R9: a seq gap unfilled this long raises an alert"},
    {"clock_skew_s", CONFIG_INT, "300", 1, 86400, F(clock_skew_s), "R10: device clock this far ahead raises an alert"},
    {"motor_service_hours", CONFIG_INT, "500", 1, 1000000, F(motor_service_hours), "R11: motor hours between services"},
    {"rules_timer_s", CONFIG_INT, "60", 1, 86400, F(rules_timer_s), "how often the time-driven rules (R5 settle, R6, R8) run"},
    /* A day: an open alert nobody acted on is said again, not every tick. */
    {"renotify_s", CONFIG_INT, "86400", 0, 31536000, F(renotify_s), "notification sinks: an open alert is sent again (event reminder) this long after its last event; 0 = never"},
    {NULL, CONFIG_STR, NULL, 0, 0, 0, NULL},
};

typedef struct profile {
    const char *name;
    int64_t spore_interval_days;
} profile;

/* CDC / AAMI: weekly spore tests; many US county body-art codes: monthly. */
static const profile profiles[] = {
    {"cdc", 7},
    {"bodyart-monthly", 30},
};

static const profile *find_profile(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

/* "policy.conf:3: " when key is set on a line of path, "policy.conf: " otherwise. */
static void where(const char *path, const char *key, char *out, size_t cap)
{
    int line = path ? config_line_of(path, key) : 0;
    if (line > 0)
        snprintf(out, cap, "%s:%d: ", path, line);
    else
        snprintf(out, cap, "%s: ", path ? path : "built-in policy");
}

/* Fills in what the file left to the profile, then checks settings that
 * depend on each other. */
static int resolve(policy *p, const char *path, char *err, size_t errlen)
{
    const profile *pr = find_profile(p->profile);
    char at[CONFIG_STR_MAX + 32];

    if (!pr) {
        where(path, "profile", at, sizeof at);
        snprintf(err, errlen, "%sprofile: '%s' is not a profile (use cdc or bodyart-monthly)", at,
                 p->profile);
        return -1;
    }
    if (p->spore_interval_days == 0)
        p->spore_interval_days = pr->spore_interval_days;
    if (p->spore_critical_days == 0)
        p->spore_critical_days = 2 * p->spore_interval_days;
    if (p->spore_critical_days < p->spore_interval_days) {
        where(path, "spore_critical_days", at, sizeof at);
        snprintf(err, errlen,
                 "%sspore_critical_days: %lld is less than spore_interval_days (%lld); the critical "
                 "escalation must come at or after the warning",
                 at, (long long)p->spore_critical_days, (long long)p->spore_interval_days);
        return -1;
    }
    return 0;
}

int policy_defaults(policy *p)
{
    char err[256];
    memset(p, 0, sizeof *p);
    return config_defaults(settings, p, err, sizeof err) == 0 ? resolve(p, NULL, err, sizeof err) : -1;
}

int policy_load(const char *path, policy *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (config_load(path, settings, p, err, errlen) != 0)
        return -1;
    return resolve(p, path, err, errlen);
}

const char *policy_program_name(policy_program_id id)
{
    return id < POLICY_NPROGRAMS ? program_names[id] : "?";
}

const policy_program *policy_program_get(const policy *p, const char *program)
{
    for (int i = 0; i < POLICY_NPROGRAMS; i++)
        if (strcmp(program_names[i], program) == 0)
            return &p->program[i];
    return NULL;
}
