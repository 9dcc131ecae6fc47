/* rules_recall: which loads a positive spore test recalls (CDC 2008 Table
 * 12, AAMI ST79): every load processed in the sterilizer since the cycle
 * that CARRIED the last negative spore test, up to the positive result and
 * on until a negative re-test. Times are the carrying cycles' (device
 * time), not when a result was read: a BI is read 24-48 h after its cycle,
 * and the loads run in between are just as unproven.
 *
 * With the clinic's spore tests of the sterilizer ordered by the time of
 * their cycle, a load run at t is recalled when the first test carried at
 * or after t is positive (no negative proved it before that positive), or,
 * unless its own cycle carried a negative test, when the last test carried
 * before t is positive (the sterilizer had not been re-tested). Invalid
 * results prove nothing and are left out. */
#include <stdlib.h>
#include <string.h>

#include "rules_int.h"

/* Spore tests considered per question: years of weekly tests. */
#define SPORE_TESTS_MAX 512

static rule_spore *fetch(store *s, const char *clinic, const char *sterilizer_id,
                         const char *since_ts, int *n)
{
    rule_spore *t = malloc(SPORE_TESTS_MAX * sizeof *t);

    if (!t)
        return NULL;
    if (store_spore_tests(s, clinic, sterilizer_id, since_ts, t, SPORE_TESTS_MAX, n) != 0) {
        free(t);
        return NULL;
    }
    return t;
}

int rules__recalled_by(store *s, const policy *p, const char *clinic, const char *sterilizer_id,
                       const rule_recall_dates *dates, const char *load_ts,
                       rule_spore *positive)
{
    char since[RECORD_TS_LEN + 1];
    int64_t load_ms = 0;
    rule_spore *t;
    int n, found = 0, i;

    /* Cheap first: a sterilizer that never had a positive test, or whose
     * last one is long before the load and re-tested since, recalls
     * nothing, and most grips stop here. */
    if (!dates->known)
        return 0;
    record_ts_parse(load_ts, &load_ms);
    record_ts_format(load_ms - p->spore_critical_days * DAY_MS, since);
    if (!dates->flagged_ts[0] || (strcmp(dates->flagged_ts, since) < 0 &&
                                  strcmp(dates->flagged_ts, dates->last_negative_ts) <= 0))
        return 0;
    /* A test is logged after the cycle that carried it: older tests can
     * only be the "last before" of the load, looked for this far back. */
    if (!(t = fetch(s, clinic, sterilizer_id, since, &n)))
        return -1;
    for (i = 0; i < n && strcmp(t[i].cycle_ts, load_ts) < 0; i++)
        ;
    if (i < n && t[i].positive)
        found = 1, *positive = t[i];
    else if (i < n && strcmp(t[i].cycle_ts, load_ts) == 0)
        found = 0;   /* the load's own cycle carried a negative BI: proven */
    else if (i > 0 && t[i - 1].positive)
        found = 1, *positive = t[i - 1];
    free(t);
    return found;
}

int rules__recall_window(store *s, const char *clinic, const char *sterilizer_id,
                         const rule_ref *test, char from_ts[RECORD_TS_LEN + 1],
                         char until_ts[RECORD_TS_LEN + 2], rule_spore *last_negative,
                         rule_spore *self)
{
    rule_spore *t;
    int n, me = -1;

    strcpy(from_ts, "");
    strcpy(until_ts, "~");   /* after every ts */
    memset(last_negative, 0, sizeof *last_negative);
    memset(self, 0, sizeof *self);
    if (!(t = fetch(s, clinic, sterilizer_id, "", &n)))
        return -1;
    for (int i = 0; i < n && me < 0; i++)
        if (t[i].test.seq == test->seq && strcmp(t[i].test.device, test->device) == 0)
            me = i;
    if (me >= 0) {
        *self = t[me];
        for (int i = me - 1; i >= 0; i--)
            if (!t[i].positive && strcmp(t[i].cycle_ts, t[me].cycle_ts) < 0) {
                *last_negative = t[i];
                strcpy(from_ts, t[i].cycle_ts);
                break;
            }
        for (int i = me + 1; i < n; i++)
            if (!t[i].positive && strcmp(t[i].cycle_ts, t[me].cycle_ts) > 0) {
                strcpy(until_ts, t[i].cycle_ts);
                break;
            }
    }
    free(t);
    return 0;
}
