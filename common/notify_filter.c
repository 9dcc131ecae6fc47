#include "notify_filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int rank;
} severities[] = {
    {"maintenance", 1}, {"warning", 2}, {"cycle-failed", 3}, {"critical", 4}, {"integrity", 4},
};
#define NSEVERITIES (sizeof severities / sizeof severities[0])

/* "test": smpctl alerts notify-test; the other five are the lifecycle
 * events of docs/rules.md plus the re-notification of an open alert. */
static const char *const event_names[] = {"raised", "escalated", "cleared", "withdrawn",
                                          "reminder", "test"};
#define NEVENTS (sizeof event_names / sizeof event_names[0])

static int known_rank(const char *severity)
{
    for (size_t i = 0; i < NSEVERITIES; i++)
        if (strcmp(severities[i].name, severity) == 0)
            return severities[i].rank;
    return 0;
}

int notify_severity_rank(const char *severity)
{
    int r = known_rank(severity);
    return r ? r : 4;
}

static int event_bit(const char *event)
{
    for (size_t i = 0; i < NEVENTS; i++)
        if (strcmp(event_names[i], event) == 0)
            return (int)i;
    return -1;
}

/* "R1".."R11" → 1..11, else 0. */
static int rule_number(const char *rule)
{
    char *end;
    if (rule[0] != 'R' || rule[1] < '1' || rule[1] > '9')
        return 0;
    long n = strtol(rule + 1, &end, 10);
    return *end == '\0' && n >= 1 && n <= NOTIFY_RULE_MAX ? (int)n : 0;
}

/* One value of term name into f. */
static int add_value(notify_filter *f, const char *name, const char *v, char *err, size_t errlen)
{
    if (!*v) {
        snprintf(err, errlen, "%s: empty value; list values separated by ',' without spaces", name);
        return -1;
    }
    if (strcmp(name, "clinic") == 0) {
        if (f->nclinics == NOTIFY_FILTER_CLINICS || strlen(v) > NOTIFY_FILTER_CLINIC_MAX) {
            snprintf(err, errlen, "clinic: at most %d clinics of at most %d bytes each",
                     NOTIFY_FILTER_CLINICS, NOTIFY_FILTER_CLINIC_MAX);
            return -1;
        }
        snprintf(f->clinic[f->nclinics++], NOTIFY_FILTER_CLINIC_MAX + 1, "%s", v);
        return 0;
    }
    if (strcmp(name, "rule") == 0) {
        int n = rule_number(v);
        if (!n) {
            snprintf(err, errlen, "rule: '%.40s' is not a rule; use R1..R%d (docs/rules.md)", v,
                     NOTIFY_RULE_MAX);
            return -1;
        }
        f->rules |= 1u << n;
        return 0;
    }
    if (strcmp(name, "min_severity") == 0) {
        int r = known_rank(v);
        if (!r || f->min_rank) {
            snprintf(err, errlen,
                     "min_severity: '%.40s' is not one severity; use maintenance, warning, "
                     "cycle-failed, critical or integrity (critical and integrity rank alike)", v);
            return -1;
        }
        f->min_rank = r;
        return 0;
    }
    int b = event_bit(v);
    if (b < 0 || strcmp(v, "test") == 0) {
        snprintf(err, errlen,
                 "event: '%.40s' is not an event; use raised, escalated, cleared, withdrawn or "
                 "reminder", v);
        return -1;
    }
    f->events |= 1u << b;
    return 0;
}

int notify_filter_parse(const char *text, notify_filter *f, char *err, size_t errlen)
{
    static const char *const names[] = {"clinic", "rule", "min_severity", "event"};
    char *copy = strdup(text), *save = NULL, *term;
    unsigned seen = 0;
    bool all = false;
    int rc = -1;

    memset(f, 0, sizeof *f);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (term = strtok_r(copy, " \t", &save); term; term = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(term, '='), *vsave = NULL, *v;
        size_t i;

        if (strcmp(term, "all") == 0 || all) {
            if (seen || all) {
                snprintf(err, errlen, "'all' stands alone: leave the filter empty or write only "
                         "'all' to select every event, or list terms without it");
                goto cleanup;
            }
            all = true;
            continue;
        }
        if (!eq) {
            snprintf(err, errlen, "'%.40s' is not a term; write NAME=VALUE[,VALUE...] with NAME "
                     "clinic, rule, min_severity or event (or 'all' alone)", term);
            goto cleanup;
        }
        *eq = '\0';
        for (i = 0; i < sizeof names / sizeof names[0] && strcmp(names[i], term) != 0; i++)
            ;
        if (i == sizeof names / sizeof names[0] || (seen & (1u << i))) {
            snprintf(err, errlen, "%s '%.40s'; use each of clinic, rule, min_severity and event "
                     "at most once", i == sizeof names / sizeof names[0] ? "unknown term" :
                     "repeated term", term);
            goto cleanup;
        }
        seen |= 1u << i;
        if (eq[1] == ',' || (eq[1] && eq[strlen(eq + 1)] == ',') || strstr(eq + 1, ",,")) {
            snprintf(err, errlen, "%s: empty value; list values separated by ',' without spaces",
                     term);
            goto cleanup;
        }
        if (!eq[1] && add_value(f, term, "", err, errlen) != 0)
            goto cleanup;
        for (v = strtok_r(eq + 1, ",", &vsave); v; v = strtok_r(NULL, ",", &vsave))
            if (add_value(f, term, v, err, errlen) != 0)
                goto cleanup;
    }
    rc = 0;
cleanup:
    free(copy);
    return rc;
}

bool notify_filter_match(const notify_filter *f, const char *clinic, const char *rule,
                         const char *severity, const char *event)
{
    if (f->nclinics) {
        int i;
        for (i = 0; i < f->nclinics && strcmp(f->clinic[i], clinic) != 0; i++)
            ;
        if (i == f->nclinics)
            return false;
    }
    if (f->rules && !(f->rules & (1u << rule_number(rule))))
        return false;
    if (f->min_rank && notify_severity_rank(severity) < f->min_rank)
        return false;
    if (f->events) {
        int b = event_bit(event);
        /* A test message goes wherever it is sent. */
        if (b >= 0 && strcmp(event, "test") != 0 && !(f->events & (1u << b)))
            return false;
    }
    return true;
}
