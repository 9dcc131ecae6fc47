/* rules_spore: what a spore test (biological indicator) means for its
 * sterilizer. Positive: R7, the sterilizer is flagged and everything
 * processed since the cycle that carried the last negative test is listed
 * for recall (rules_recall.c), with the sessions that used grips from it
 * (CDC 2008 Table 12). Negative: the overdue warning (R6) and the flag
 * (R7) are lifted.
 *
 * A test is one fact of its sterilizer, whichever devices log it
 * (rules_fact.c). Sterilizer alerts are filed under the sterilizer once it
 * is registered, else under its home device (the first that logged it), so
 * that the test that clears them can come from any device of the clinic,
 * whichever collector handles it: all of this runs under the clinic's lock
 * (store_lock_clinic), as R6's timer does. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "rules_int.h"

#define RECALL_LIST_MAX 50
#define RECALL_LOADS_BYTES 2400   /* of the evidence, so sessions get the rest */

typedef struct recall {
    evidence *e;
    size_t keep;                  /* bytes to leave free after each item */
    int listed;
} recall;

/* store_load_fn / store_grip_fn: list items while they fit. */
static int list_load(void *ctx, const rule_load *l)
{
    recall *rc = ctx;
    ev_pos at = ev_mark(rc->e);

    ev_open_object(rc->e, NULL);
    ev_str(rc->e, "load_id", l->load_id);
    ev_str(rc->e, "device", l->cycle.device);
    ev_int(rc->e, "seq", (int64_t)l->cycle.seq);
    ev_close(rc->e);
    if (!ev_fits(rc->e, rc->keep))
        ev_rewind(rc->e, at);
    else
        rc->listed++;
    return 0;
}

static int list_grip(void *ctx, const rule_grip *g)
{
    recall *rc = ctx;
    ev_pos at = ev_mark(rc->e);

    ev_open_object(rc->e, NULL);
    ev_str(rc->e, "session_id", g->session_id);
    ev_str(rc->e, "device", g->use.device);
    ev_int(rc->e, "seq", (int64_t)g->use.seq);
    ev_str(rc->e, "load_id", g->load_id);
    ev_close(rc->e);
    if (!ev_fits(rc->e, rc->keep))
        ev_rewind(rc->e, at);
    else
        rc->listed++;
    return 0;
}

/* "loads": [...], "loads_listed": n, "loads_total": N, then the same for
 * "sessions". Returns the totals for the message. */
static int ev_recall(const rules_ctx *c, evidence *e, const rule_sterilizer *st,
                     const char *from_ts, const char *until_ts, int64_t *loads, int64_t *grips)
{
    recall rc = {e, RECALL_LOADS_BYTES, 0};

    ev_open_array(e, "loads");
    if (store_recall_loads(c->s, c->clinic, st->sterilizer_id, from_ts, until_ts,
                           RECALL_LIST_MAX, list_load, &rc, loads) != 0)
        return -1;
    ev_close(e);
    ev_int(e, "loads_listed", rc.listed);
    ev_int(e, "loads_total", *loads);
    rc = (recall){e, 64, 0};
    ev_open_array(e, "sessions");
    if (store_recall_grips(c->s, c->clinic, st->sterilizer_id, from_ts, until_ts,
                           RECALL_LIST_MAX, list_grip, &rc, grips) != 0)
        return -1;
    ev_close(e);
    ev_int(e, "sessions_listed", rc.listed);
    ev_int(e, "sessions_total", *grips);
    return 0;
}

static void positive_prefix(char *cause, size_t cap, const char *sterilizer_id)
{
    cause[0] = '\0';
    rules__cause_add(cause, cap, "positive:", sterilizer_id);
    rules__cause_add(cause, cap, ":", "");
}

static int raise_r7(const rules_ctx *c, const record *r, const rule_sterilizer *st)
{
    rule_ref ref = rules__ref(c, r);
    alerting al = rules__alerting(c);
    int64_t loads = 0, grips = 0;
    char seq[24], from_ts[RECORD_TS_LEN + 1], until_ts[RECORD_TS_LEN + 2];
    rule_spore last_negative, self;
    evidence e;
    alert a;

    if (rules__recall_window(c->s, c->clinic, st->sterilizer_id, &ref, from_ts, until_ts,
                             &last_negative, &self) != 0)
        return -1;

    rules__alert_init(&a, "R7", "critical", rules__sterilizer_owner(st), c->clinic);
    positive_prefix(a.cause, sizeof a.cause, st->sterilizer_id);
    snprintf(seq, sizeof seq, "#%" PRIu64, r->seq);
    rules__cause_add(a.cause, sizeof a.cause, "", c->device);
    rules__cause_add(a.cause, sizeof a.cause, "", seq);
    ev_begin(&e, a.evidence, sizeof a.evidence);
    ev_str(&e, "sterilizer_id", st->sterilizer_id);
    ev_open_object(&e, "test");
    rules__ev_ref(&e, &ref);
    ev_str(&e, "bi_lot", record_get_str(r, "bi_lot"));
    ev_str(&e, "read_ts", record_get_str(r, "read_ts"));
    ev_str(&e, "cycle_ts", self.cycle_ts[0] ? self.cycle_ts : r->ts);
    ev_bool(&e, "cycle_on_record", self.cycle_on_record);
    ev_close(&e);
    /* The recall window: from the cycle that carried the last negative
     * test (not when it was read) to the one that carries a negative
     * re-test (null: not yet). */
    if (last_negative.test.seq) {
        ev_str(&e, "last_negative_ts", last_negative.test.ts);
        ev_open_object(&e, "last_negative");
        rules__ev_ref(&e, &last_negative.test);
        ev_str(&e, "cycle_ts", last_negative.cycle_ts);
        ev_bool(&e, "cycle_on_record", last_negative.cycle_on_record);
        ev_close(&e);
    } else {
        ev_null(&e, "last_negative_ts");
        ev_null(&e, "last_negative");
    }
    ev_open_object(&e, "window");
    if (from_ts[0])
        ev_str(&e, "after", from_ts);
    else
        ev_null(&e, "after");
    if (strcmp(until_ts, "~") != 0)
        ev_str(&e, "before", until_ts);
    else
        ev_null(&e, "before");
    ev_close(&e);
    if (ev_recall(c, &e, st, from_ts, until_ts, &loads, &grips) != 0)
        return -1;
    ev_end(&e);
    rules__message(&a,
                   "positive spore test on sterilizer %s: take it out of service; recall %" PRId64
                   " load(s) since the cycle of the last negative test, used in %" PRId64
                   " session grip(s)",
                   st->sterilizer_id, loads, grips);
    return alerting_raise(&al, &a);
}

/* A negative test newer than the flag lifts R7; one newer than the last
 * negative and within the interval of today (local calendar days, as R6
 * counts them: rules_timer.c) ends R6 (an old one sent late would only be
 * raised again by the next tick). */
static int on_negative(const rules_ctx *c, const record *r, const rule_sterilizer *st)
{
    alerting al = rules__alerting(c);
    char cause[sizeof ((alert *)0)->cause];
    const tzlocal_zone *z;
    int64_t ts_ms = 0;

    if (store_sterilizer_negative(c->s, c->clinic, st->sterilizer_id, r->ts) != 0)
        return -1;
    if (st->flagged_ts[0] && strcmp(r->ts, st->flagged_ts) > 0) {
        positive_prefix(cause, sizeof cause, st->sterilizer_id);
        if (alerting_clear_prefix(&al, "R7", rules__sterilizer_owner(st), cause) != 0)
            return -1;
    }
    if (strcmp(r->ts, st->last_negative_ts) < 0)
        return 0;
    if (!(z = rules__zone(c->s, c->clinic)))
        return -1;
    record_ts_parse(r->ts, &ts_ms);
    if (rules__local_day(z, c->now_ms) - rules__local_day(z, ts_ms) > c->p->spore_interval_days)
        return 0;
    cause[0] = '\0';
    rules__cause_add(cause, sizeof cause, "spore-overdue:", st->sterilizer_id);
    return alerting_clear(&al, "R6", rules__sterilizer_owner(st), cause);
}

int rules__sterilization_test(const rules_ctx *c, const record *r)
{
    const char *kind = record_get_str(r, "kind"), *result = record_get_str(r, "result");
    rule_sterilizer st;

    int fact;

    if (store_lock_clinic(c->s, c->clinic) != 0 ||
        store_sterilizer_touch(c->s, c->clinic, record_get_str(r, "sterilizer_id"), c->device,
                               r->ts, &st) != 0 ||
        (fact = rules__claim_fact(c, r, &st)) < 0)
        return -1;
    if (!fact)
        return 0;                 /* logged before, by this or another device */
    if (strcmp(kind, "spore") != 0)
        return 0;                 /* Bowie-Dick tests air removal, not sterility */
    if (strcmp(result, "negative") == 0)
        return on_negative(c, r, &st);
    if (strcmp(result, "positive") != 0)
        return 0;                 /* invalid: neither proves nor disproves */
    if (raise_r7(c, r, &st) != 0)
        return -1;
    return store_sterilizer_flag(c->s, c->clinic, st.sterilizer_id, r->ts);
}
